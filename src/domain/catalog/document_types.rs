//! The document type catalog (档案类别): classification, retention and personal-data flags.

use crate::domain::Resource;
use crate::domain::{Actor, Confidentiality, Permission};
use crate::domain::{Archive, Error};

/// How long documents of a type are kept (保管期限).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetentionClass {
    Permanent,
    ThirtyYears,
    TenYears,
}

impl RetentionClass {
    /// The period in months, or `None` for permanent records.
    pub fn months(self) -> Option<u32> {
        match self {
            Self::Permanent => None,
            Self::ThirtyYears => Some(30 * 12),
            Self::TenYears => Some(10 * 12),
        }
    }
}

/// What a retention period is counted from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetentionTrigger {
    /// The filing date.
    Filing,
    /// The account's closure: papers proving who holds the account live as long as it does.
    AccountClosure,
}

/// A document type code such as `identity-proof`: a lowercase letter, then up to 62 lowercase
/// letters, digits or `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DocumentTypeCode(String);

impl DocumentTypeCode {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut bytes = text.bytes();
        let well_formed = text.len() <= 63
            && bytes.next().is_some_and(|b| b.is_ascii_lowercase())
            && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if well_formed {
            Ok(Self(text.to_owned()))
        } else {
            Err(format!(
                "document type {text:?} is not a catalog code (lowercase letters, digits and `-`, e.g. `identity-proof`)"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for DocumentTypeCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One entry of the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentType {
    pub code: DocumentTypeCode,
    pub display_name: String,
    pub chinese_name: String,
    pub retention_class: RetentionClass,
    pub retention_trigger: RetentionTrigger,
    pub contains_personal_data: bool,
    pub confidentiality: Confidentiality,
}

impl Archive {
    /// Returns the types the caller may see, in code order.
    pub async fn document_types(&self, actor: &Actor) -> Result<Vec<DocumentType>, Error> {
        self.audited(
            actor,
            "ListDocumentTypes",
            Resource::named("documentTypes"),
            async {
                let policy = self.policy();
                let grant = policy.grant(actor)?;
                grant.require(Permission::ReadCatalog)?;
                let types = self.db.document_types().await?;
                Ok(types
                    .into_iter()
                    .filter(|t| grant.sees(&t.code, t.confidentiality))
                    .collect())
            },
        )
        .await
    }

    /// Returns one type, or `NotFound` naming the unknown code.
    pub(crate) async fn document_type(
        &self,
        code: &DocumentTypeCode,
    ) -> Result<DocumentType, Error> {
        self.db.document_type(code).await?.ok_or_else(|| {
            Error::NotFound(format!(
                "document type {code} is not in the catalog; ListDocumentTypes shows the valid codes"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_codes_are_lowercase_words_joined_by_hyphens() {
        for good in ["identity-proof", "notice", "a1"] {
            assert!(DocumentTypeCode::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Identity-proof",
            "1abc",
            "identity_proof",
            "id proof",
            &"a".repeat(64),
        ] {
            assert!(DocumentTypeCode::parse(bad).is_err(), "{bad}");
        }
    }
}
