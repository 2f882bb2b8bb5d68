//! Where an imported document comes from: its original date, its legacy reference number (档号)
//! and the system or department that kept it. Only the `import-records` permission sets them.

use chrono::{DateTime, Utc};

use super::document::text_field;
use crate::domain::Error;

text_field!(
    /// The legacy reference number (档号) as the source gives it, e.g. `2009-YX-0012-003`.
    LegacyReference,
    max = 100,
    allowed = |c| !c.is_control(),
    describe = "printable characters"
);

text_field!(
    /// The system or department a record comes from, e.g. `billing-2009` or `hv-inspection`.
    LegacySystem,
    max = 64,
    allowed = |c| c.is_ascii_alphanumeric() || "-_.".contains(c),
    describe = "ASCII letters, digits, `-`, `_` and `.`"
);

/// The origin of an imported document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyOrigin {
    /// When the document was formed or first filed in its source: retention counts from it.
    pub original_at: DateTime<Utc>,
    pub reference: Option<LegacyReference>,
    pub system: LegacySystem,
}

impl LegacyOrigin {
    /// Checks the original date against the archive's clock: a record cannot come from the
    /// future.
    pub fn check(&self, now: DateTime<Utc>) -> Result<(), Error> {
        if self.original_at > now {
            return Err(Error::invalid(
                "header.legacy_origin.original_time",
                format!(
                    "{} is in the future; give the date the record was formed or first filed",
                    self.original_at.to_rfc3339()
                ),
            ));
        }
        Ok(())
    }

    /// The origin as the audit trail records it.
    pub fn details(&self) -> serde_json::Value {
        serde_json::json!({
            "original_time": self.original_at.to_rfc3339(),
            "reference_number": self.reference.as_ref().map(LegacyReference::as_str),
            "legacy_system": self.system.as_str(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(original_at: DateTime<Utc>) -> LegacyOrigin {
        LegacyOrigin {
            original_at,
            reference: Some(LegacyReference::parse("2009-YX-0012").unwrap()),
            system: LegacySystem::parse("billing-2009").unwrap(),
        }
    }

    #[test]
    fn an_original_date_in_the_past_is_kept() {
        let now = Utc::now();
        let past = DateTime::from_timestamp(1_230_768_000, 0).unwrap();
        assert!(origin(past).check(now).is_ok());
    }

    #[test]
    fn an_original_date_in_the_future_is_refused_naming_the_field() {
        let now = DateTime::from_timestamp(1_230_768_000, 0).unwrap();
        let error = origin(now + chrono::TimeDelta::days(1))
            .check(now)
            .unwrap_err();
        assert!(error.to_string().contains("original_time"), "{error}");
    }

    #[test]
    fn a_legacy_reference_keeps_chinese_and_punctuation() {
        assert!(LegacyReference::parse("津营档-2009-永久-0012号").is_ok());
        assert!(LegacyReference::parse("a\nb").is_err());
    }

    #[test]
    fn a_legacy_system_with_spaces_is_refused() {
        assert!(LegacySystem::parse("old billing").is_err());
    }
}
