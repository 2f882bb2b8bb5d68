//! The blind index of ID numbers and phones: a keyed hash of each normalised value, so an
//! exact search finds them while the database keeps no searchable list of them.
//!
//! An unkeyed hash would not do: mainland ID numbers have so little entropy (region, birth
//! date, sequence, check digit) that all of them can be hashed and compared in minutes. With
//! HMAC-SHA256 under a key kept out of the database (`auth.identifier_key`), a dump's digests
//! cannot be tested against guesses.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Which identifier a digest is of; each is hashed apart, so equal texts do not match across.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentifierField {
    IdNumber,
    Phone,
}

impl IdentifierField {
    /// The field's code in the database.
    pub fn code(self) -> &'static str {
        match self {
            Self::IdNumber => "id_number",
            Self::Phone => "phone",
        }
    }

    /// The form values are compared in: an ID number without spaces, letters in upper case;
    /// a phone as its digits, without a +86 / 0086 country prefix before a mobile number.
    pub fn normalise(self, text: &str) -> String {
        match self {
            Self::IdNumber => text
                .chars()
                .filter(|c| !c.is_whitespace())
                .map(|c| c.to_ascii_uppercase())
                .collect(),
            Self::Phone => {
                let digits: String = text.chars().filter(char::is_ascii_digit).collect();
                let mobile = |rest: &str| rest.len() == 11 && rest.starts_with('1');
                match (digits.strip_prefix("0086"), digits.strip_prefix("86")) {
                    (Some(rest), _) if mobile(rest) => rest.to_owned(),
                    (_, Some(rest)) if mobile(rest) => rest.to_owned(),
                    _ => digits,
                }
            }
        }
    }
}

/// The secret the blind index is keyed with.
#[derive(Clone)]
pub struct IdentifierKey(Vec<u8>);

impl std::fmt::Debug for IdentifierKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdentifierKey(..)")
    }
}

impl IdentifierKey {
    pub fn new(key: impl Into<Vec<u8>>) -> Self {
        Self(key.into())
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes a key of any length.
        Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC accepts any key length")
    }

    /// The digest of a value of `field`, normalised first.
    pub fn digest(&self, field: IdentifierField, text: &str) -> [u8; 32] {
        let mut mac = self.mac();
        mac.update(field.code().as_bytes());
        mac.update(&[0]);
        mac.update(field.normalise(text).as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Names the key without revealing it: digests made under another key are recognised and
    /// rewritten.
    pub fn key_id(&self) -> [u8; 8] {
        let mut mac = self.mac();
        mac.update(b"custodian identifier key id");
        let digest: [u8; 32] = mac.finalize().into_bytes().into();
        digest[..8].try_into().expect("8 of 32 bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_number_matches_whatever_its_spacing_and_case() {
        let key = IdentifierKey::new("k".repeat(32));
        assert_eq!(
            key.digest(IdentifierField::IdNumber, "11010519491231002x"),
            key.digest(IdentifierField::IdNumber, " 110105 19491231 002X")
        );
    }

    #[test]
    fn a_mobile_number_matches_with_or_without_its_country_prefix() {
        let key = IdentifierKey::new("k".repeat(32));
        let plain = key.digest(IdentifierField::Phone, "13812345678");
        for text in ["+86 138 1234 5678", "0086-138-1234-5678", "138-1234-5678"] {
            assert_eq!(key.digest(IdentifierField::Phone, text), plain, "{text}");
        }
        // A landline keeps its area code, and its extension.
        assert_eq!(
            IdentifierField::Phone.normalise("022-23456789 转 123"),
            "02223456789123"
        );
    }

    #[test]
    fn the_same_text_digests_differently_per_field_and_per_key() {
        let key = IdentifierKey::new("k".repeat(32));
        let other = IdentifierKey::new("o".repeat(32));
        let id = key.digest(IdentifierField::IdNumber, "13812345678");
        assert_ne!(id, key.digest(IdentifierField::Phone, "13812345678"));
        assert_ne!(id, other.digest(IdentifierField::IdNumber, "13812345678"));
        assert_ne!(key.key_id(), other.key_id());
    }

    #[test]
    fn a_key_is_not_printed() {
        assert_eq!(
            format!("{:?}", IdentifierKey::new("secret")),
            "IdentifierKey(..)"
        );
    }
}
