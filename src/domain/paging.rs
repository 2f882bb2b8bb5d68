//! List pagination (AIP-158): page sizes, and opaque page tokens that carry a keyset cursor
//! bound to the query that produced them.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::Error;

const DEFAULT_PAGE_SIZE: usize = 50;
const MAX_PAGE_SIZE: usize = 1000;

/// A position in a list that the next page starts after.
pub trait Cursor: Sized {
    fn encode(&self) -> String;
    fn decode(text: &str) -> Option<Self>;
}

/// Which page of a list to return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest<C> {
    pub size: usize,
    pub after: Option<C>,
}

impl<C: Cursor> PageRequest<C> {
    /// Parses `page_size` and `page_token`. `query` describes the filters, so a token is only
    /// accepted with the filters it was issued for.
    pub fn parse(page_size: i32, page_token: &str, query: &str) -> Result<Self, Error> {
        let size = match page_size {
            0 => DEFAULT_PAGE_SIZE,
            n if n < 0 => return Err(Error::invalid("page_size", "must not be negative")),
            // AIP-158: larger sizes are coerced, not refused.
            n => (n as usize).min(MAX_PAGE_SIZE),
        };
        if page_token.is_empty() {
            return Ok(Self { size, after: None });
        }
        let invalid = || {
            Error::invalid(
                "page_token",
                "is not a token of this list with these filters; start again without it",
            )
        };
        let decoded = URL_SAFE_NO_PAD.decode(page_token).map_err(|_| invalid())?;
        let decoded = String::from_utf8(decoded).map_err(|_| invalid())?;
        let (fingerprint, cursor) = decoded.split_once(':').ok_or_else(invalid)?;
        if fingerprint != query_fingerprint(query) {
            return Err(invalid());
        }
        let after = C::decode(cursor).ok_or_else(invalid)?;
        Ok(Self {
            size,
            after: Some(after),
        })
    }
}

/// One page of a list and where the next one starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T, C> {
    pub items: Vec<T>,
    pub next: Option<C>,
}

impl<T, C: Cursor> Page<T, C> {
    /// Builds a page from a query that asked for `size + 1` rows: the extra row only says that
    /// another page exists.
    pub fn from_overfetch(mut items: Vec<T>, size: usize, cursor_of: impl Fn(&T) -> C) -> Self {
        let next = if items.len() > size {
            items.truncate(size);
            items.last().map(cursor_of)
        } else {
            None
        };
        Self { items, next }
    }

    /// The token a caller passes to get the next page, empty on the last one.
    pub fn next_page_token(&self, query: &str) -> String {
        match &self.next {
            Some(cursor) => {
                URL_SAFE_NO_PAD.encode(format!("{}:{}", query_fingerprint(query), cursor.encode()))
            }
            None => String::new(),
        }
    }
}

fn query_fingerprint(query: &str) -> String {
    hex::encode(&Sha256::digest(query.as_bytes())[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Position(u32);

    impl Cursor for Position {
        fn encode(&self) -> String {
            self.0.to_string()
        }
        fn decode(text: &str) -> Option<Self> {
            text.parse().ok().map(Self)
        }
    }

    fn page_after(n: u32) -> Page<u32, Position> {
        Page {
            items: vec![],
            next: Some(Position(n)),
        }
    }

    #[test]
    fn a_zero_page_size_means_the_default() {
        let request = PageRequest::<Position>::parse(0, "", "q").unwrap();
        assert_eq!(request.size, DEFAULT_PAGE_SIZE);
        assert_eq!(request.after, None);
    }

    #[test]
    fn a_negative_page_size_is_rejected() {
        assert!(PageRequest::<Position>::parse(-1, "", "q").is_err());
    }

    #[test]
    fn a_huge_page_size_is_coerced_to_the_maximum() {
        let request = PageRequest::<Position>::parse(1_000_000, "", "q").unwrap();
        assert_eq!(request.size, MAX_PAGE_SIZE);
    }

    #[test]
    fn a_token_round_trips_with_the_same_query() {
        let token = page_after(42).next_page_token("account=1");
        let request = PageRequest::<Position>::parse(10, &token, "account=1").unwrap();
        assert_eq!(request.after, Some(Position(42)));
    }

    #[test]
    fn a_token_from_another_query_is_rejected() {
        let token = page_after(42).next_page_token("account=1");
        let error = PageRequest::<Position>::parse(10, &token, "account=2").unwrap_err();
        assert!(matches!(
            error,
            Error::InvalidArgument {
                field: "page_token",
                ..
            }
        ));
    }

    #[test]
    fn a_garbage_token_is_rejected() {
        for token in ["!!!", "bm90IGEgdG9rZW4", "Zm9vOmJhcg"] {
            assert!(
                PageRequest::<Position>::parse(10, token, "q").is_err(),
                "{token}"
            );
        }
    }

    #[test]
    fn overfetching_one_row_reveals_a_next_page() {
        let page = Page::from_overfetch(vec![1, 2, 3], 2, |n| Position(*n));
        assert_eq!(page.items, vec![1, 2]);
        assert_eq!(page.next, Some(Position(2)));
        let last = Page::from_overfetch(vec![1, 2], 2, |n| Position(*n));
        assert_eq!(last.next, None);
        assert_eq!(last.next_page_token("q"), "");
    }
}
