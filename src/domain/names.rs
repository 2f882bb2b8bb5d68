//! Resource names (AIP-122): `customers/{account_number}` and the names below it.

use uuid::Uuid;

use super::{AccountNumber, Error};

/// Parses `customers/{account_number}`.
pub fn parse_customer_name(field: &'static str, name: &str) -> Result<AccountNumber, Error> {
    let Some(account) = name.strip_prefix("customers/") else {
        return Err(Error::invalid(
            field,
            format!("expected `customers/{{account_number}}`, got {name:?}"),
        ));
    };
    AccountNumber::parse(account).map_err(|reason| Error::invalid(field, reason))
}

/// Formats `customers/{account_number}`.
pub fn customer_name(account: &AccountNumber) -> String {
    format!("customers/{account}")
}

/// A document's full name: its archive and its id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DocumentName {
    pub account: AccountNumber,
    pub document_id: Uuid,
}

impl DocumentName {
    /// Parses `customers/{account_number}/documents/{document_id}`.
    pub fn parse(field: &'static str, name: &str) -> Result<Self, Error> {
        let malformed = || {
            Error::invalid(
                field,
                format!(
                    "expected `customers/{{account_number}}/documents/{{document_id}}`, got {name:?}"
                ),
            )
        };
        let (customer, id) = name.rsplit_once("/documents/").ok_or_else(malformed)?;
        let account = parse_customer_name(field, customer)?;
        let document_id = Uuid::parse_str(id)
            .map_err(|_| Error::invalid(field, format!("document id {id:?} is not a UUID")))?;
        Ok(Self {
            account,
            document_id,
        })
    }
}

impl std::fmt::Display for DocumentName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "customers/{}/documents/{}",
            self.account, self.document_id
        )
    }
}

/// A legal hold's name: `customers/{account_number}/legalHolds/{hold_id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegalHoldName {
    pub account: AccountNumber,
    pub hold_id: Uuid,
}

impl LegalHoldName {
    pub fn parse(field: &'static str, name: &str) -> Result<Self, Error> {
        let (customer, id) = name.rsplit_once("/legalHolds/").ok_or_else(|| {
            Error::invalid(
                field,
                format!(
                    "expected `customers/{{account_number}}/legalHolds/{{hold_id}}`, got {name:?}"
                ),
            )
        })?;
        Ok(Self {
            account: parse_customer_name(field, customer)?,
            hold_id: Uuid::parse_str(id)
                .map_err(|_| Error::invalid(field, format!("hold id {id:?} is not a UUID")))?,
        })
    }
}

impl std::fmt::Display for LegalHoldName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "customers/{}/legalHolds/{}", self.account, self.hold_id)
    }
}

/// A destruction list's name: `destructionLists/{list_id}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DestructionListName(pub Uuid);

impl DestructionListName {
    pub fn parse(field: &'static str, name: &str) -> Result<Self, Error> {
        let id = name.strip_prefix("destructionLists/").ok_or_else(|| {
            Error::invalid(
                field,
                format!("expected `destructionLists/{{list_id}}`, got {name:?}"),
            )
        })?;
        Uuid::parse_str(id)
            .map(Self)
            .map_err(|_| Error::invalid(field, format!("list id {id:?} is not a UUID")))
    }
}

impl std::fmt::Display for DestructionListName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "destructionLists/{}", self.0)
    }
}

/// A loan's name: `loans/{loan_id}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LoanName(pub Uuid);

impl LoanName {
    pub fn parse(field: &'static str, name: &str) -> Result<Self, Error> {
        let id = name.strip_prefix("loans/").ok_or_else(|| {
            Error::invalid(field, format!("expected `loans/{{loan_id}}`, got {name:?}"))
        })?;
        Uuid::parse_str(id)
            .map(Self)
            .map_err(|_| Error::invalid(field, format!("loan id {id:?} is not a UUID")))
    }
}

impl std::fmt::Display for LoanName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "loans/{}", self.0)
    }
}

/// A page's full name: its document and its 1-based number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageName {
    pub document: DocumentName,
    pub page_number: u32,
}

impl PageName {
    /// Parses `customers/{account_number}/documents/{document_id}/pages/{page_number}`.
    pub fn parse(field: &'static str, name: &str) -> Result<Self, Error> {
        let Some((document, number)) = name.rsplit_once("/pages/") else {
            return Err(Error::invalid(
                field,
                format!(
                    "expected `customers/{{account_number}}/documents/{{document_id}}/pages/{{page_number}}`, got {name:?}"
                ),
            ));
        };
        let document = DocumentName::parse(field, document)?;
        let page_number = number
            .parse::<u32>()
            .ok()
            .filter(|n| *n >= 1 && number.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| {
                Error::invalid(
                    field,
                    format!("page number {number:?} is not a positive integer"),
                )
            })?;
        Ok(Self {
            document,
            page_number,
        })
    }
}

impl std::fmt::Display for PageName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/pages/{}", self.document, self.page_number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0192f0c1-3c4e-7d2a-9b1e-5f6a7b8c9d0e";

    #[test]
    fn a_customer_name_yields_its_account_number() {
        let account = parse_customer_name("name", "customers/1234567890").unwrap();
        assert_eq!(account.as_str(), "1234567890");
    }

    #[test]
    fn a_customer_name_without_the_collection_is_rejected() {
        assert!(parse_customer_name("name", "1234567890").is_err());
        assert!(parse_customer_name("name", "accounts/1234567890").is_err());
    }

    #[test]
    fn a_customer_name_with_a_malformed_account_is_rejected() {
        let error = parse_customer_name("parent", "customers/12ab").unwrap_err();
        assert!(matches!(
            error,
            Error::InvalidArgument {
                field: "parent",
                ..
            }
        ));
    }

    #[test]
    fn a_document_name_round_trips() {
        let text = format!("customers/1234567890/documents/{ID}");
        let name = DocumentName::parse("name", &text).unwrap();
        assert_eq!(name.to_string(), text);
    }

    #[test]
    fn a_document_name_with_a_bad_id_is_rejected() {
        assert!(DocumentName::parse("name", "customers/1234567890/documents/42").is_err());
        assert!(DocumentName::parse("name", "customers/1234567890/documents/").is_err());
    }

    #[test]
    fn a_page_name_round_trips() {
        let text = format!("customers/1234567890/documents/{ID}/pages/3");
        let name = PageName::parse("name", &text).unwrap();
        assert_eq!(name.page_number, 3);
        assert_eq!(name.to_string(), text);
    }

    #[test]
    fn page_zero_and_signed_numbers_are_rejected() {
        for number in ["0", "-1", "+1", "x", ""] {
            let text = format!("customers/1234567890/documents/{ID}/pages/{number}");
            assert!(
                PageName::parse("name", &text).is_err(),
                "{number} was accepted"
            );
        }
    }
}
