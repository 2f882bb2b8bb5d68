//! The scan rules per document type (kept as data in `scan_rules`) and what judging a page
//! against its type's rule gives: passed, or warnings with their reasons.

use chrono::{DateTime, Utc};

use super::facts::{ColourMode, ScanFacts};
use crate::domain::{
    AccountNumber, Archive, Confidentiality, DocumentTypeCode, Error, MediaType, OrgUnitCode,
};

/// What the pages of one document type must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanRule {
    pub document_type: DocumentTypeCode,
    /// The least resolution, in dpi, on both axes.
    pub min_dpi: u32,
    /// The type carries seals or red headers, which a grey or black-and-white scan loses.
    pub colour_required: bool,
    /// The formats the type takes.
    pub allowed_media_types: Vec<MediaType>,
    /// Whether a page with a warning is refused instead of filed with it.
    pub refuse_on_warning: bool,
}

impl ScanRule {
    /// The rule of a type without a row: DA/T 31's general minimum, every format, filed with
    /// warnings.
    pub fn default_for(document_type: DocumentTypeCode) -> Self {
        Self {
            document_type,
            min_dpi: 200,
            colour_required: false,
            allowed_media_types: vec![
                MediaType::Jpeg,
                MediaType::Png,
                MediaType::Tiff,
                MediaType::Pdf,
            ],
            refuse_on_warning: false,
        }
    }

    /// Judges a page's header facts; the reasons are empty when the page passes. A PDF's
    /// resolution and colour are not read (see the README), only its format.
    pub fn judge(&self, media_type: MediaType, facts: &ScanFacts) -> Vec<String> {
        let mut reasons = Vec::new();
        if !self.allowed_media_types.contains(&media_type) {
            let allowed: Vec<&str> = self
                .allowed_media_types
                .iter()
                .map(|m| m.as_mime())
                .collect();
            reasons.push(format!(
                "{} is not a format {} takes ({})",
                media_type.as_mime(),
                self.document_type,
                allowed.join(", ")
            ));
        }
        if media_type == MediaType::Pdf {
            return reasons;
        }
        if facts.is_empty() {
            reasons
                .push("the image header could not be read: resolution and colour unknown".into());
            return reasons;
        }
        match facts.least_dpi() {
            Some(dpi) if dpi < self.min_dpi => reasons.push(format!(
                "{dpi} dpi, below the {} dpi {} needs",
                self.min_dpi, self.document_type
            )),
            Some(_) => {}
            None if self.min_dpi > 0 => reasons.push(format!(
                "no resolution recorded in the file; the {} dpi {} needs cannot be confirmed",
                self.min_dpi, self.document_type
            )),
            None => {}
        }
        if self.colour_required {
            let scan = match facts.colour {
                Some(ColourMode::Grey) => Some("a grey scan"),
                Some(ColourMode::Bilevel) => Some("a black-and-white scan"),
                _ => None,
            };
            if let Some(scan) = scan {
                reasons.push(format!(
                    "{scan}, but {} needs colour (its seals and red headers)",
                    self.document_type
                ));
            }
        }
        reasons
    }
}

impl Archive {
    /// The scan rule of a document type: its row, or the default.
    pub(crate) async fn scan_rule(&self, code: &DocumentTypeCode) -> Result<ScanRule, Error> {
        Ok(self
            .db
            .scan_rule(code)
            .await?
            .unwrap_or_else(|| ScanRule::default_for(code.clone())))
    }
}

/// Where a page's scan check stands, as callers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanCheckState {
    /// Filed before scan checks existed.
    NotChecked,
    Passed,
    Warnings,
}

/// A page's scan check: the warnings judged at filing from its header, and whether the
/// rendition workers found it blank (`None` until they have decoded it).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScanCheck {
    /// `None` for a page filed before scan checks existed.
    pub warnings: Option<Vec<String>>,
    pub blank: Option<bool>,
}

impl ScanCheck {
    /// The reason a blank page gets.
    pub const BLANK: &'static str = "a blank page (near-uniform): rescan it or remove it";

    /// A check made at filing.
    pub fn judged(warnings: Vec<String>) -> Self {
        Self {
            warnings: Some(warnings),
            blank: None,
        }
    }

    /// Every reason, the blank page's last.
    pub fn reasons(&self) -> Vec<String> {
        let mut reasons = self.warnings.clone().unwrap_or_default();
        if self.blank == Some(true) {
            reasons.push(Self::BLANK.into());
        }
        reasons
    }

    pub fn state(&self) -> ScanCheckState {
        match (&self.warnings, self.blank) {
            (_, Some(true)) => ScanCheckState::Warnings,
            (None, _) => ScanCheckState::NotChecked,
            (Some(warnings), _) if warnings.is_empty() => ScanCheckState::Passed,
            (Some(_), _) => ScanCheckState::Warnings,
        }
    }
}

/// A page of the report: its number and why it needs rescanning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarnedPage {
    pub number: u32,
    pub reasons: Vec<String>,
}

/// A document of the report: its current version has pages with warnings. It carries no
/// title: the report shows no free text, so no role's masking is needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanWarningDocument {
    pub account: AccountNumber,
    pub document_id: uuid::Uuid,
    pub org_unit: OrgUnitCode,
    pub document_type: DocumentTypeCode,
    pub confidentiality: Confidentiality,
    pub filed_at: DateTime<Utc>,
    pub pages: Vec<WarnedPage>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(code: &str, min_dpi: u32, colour: bool) -> ScanRule {
        ScanRule {
            min_dpi,
            colour_required: colour,
            ..ScanRule::default_for(DocumentTypeCode::parse(code).unwrap())
        }
    }

    fn scan(dpi: f64, colour: ColourMode) -> ScanFacts {
        ScanFacts {
            width: Some(2480),
            height: Some(3508),
            dpi: Some((dpi, dpi)),
            colour: Some(colour),
            bit_depth: Some(8),
        }
    }

    #[test]
    fn a_96_dpi_page_is_below_the_minimum() {
        let reasons =
            rule("notice", 200, false).judge(MediaType::Jpeg, &scan(96.0, ColourMode::Colour));
        assert_eq!(reasons, ["96 dpi, below the 200 dpi notice needs"]);
    }

    #[test]
    fn a_grey_contract_needs_colour_and_a_colour_one_passes() {
        let contract = rule("supply-contract", 300, true);
        let reasons = contract.judge(MediaType::Tiff, &scan(300.0, ColourMode::Grey));
        assert_eq!(
            reasons,
            ["a grey scan, but supply-contract needs colour (its seals and red headers)"]
        );
        assert!(
            contract
                .judge(MediaType::Jpeg, &scan(300.0, ColourMode::Colour))
                .is_empty()
        );
    }

    #[test]
    fn a_page_without_a_resolution_or_a_readable_header_is_warned_and_a_pdf_is_not_read() {
        let notice = rule("notice", 200, true);
        let mut facts = scan(300.0, ColourMode::Colour);
        facts.dpi = None;
        assert_eq!(notice.judge(MediaType::Png, &facts).len(), 1);
        assert_eq!(notice.judge(MediaType::Png, &ScanFacts::default()).len(), 1);
        assert!(
            notice
                .judge(MediaType::Pdf, &ScanFacts::default())
                .is_empty()
        );
    }

    #[test]
    fn a_format_the_type_does_not_take_is_named() {
        let mut tiff_only = rule("notice", 200, false);
        tiff_only.allowed_media_types = vec![MediaType::Tiff];
        let reasons = tiff_only.judge(MediaType::Jpeg, &scan(300.0, ColourMode::Colour));
        assert_eq!(
            reasons,
            ["image/jpeg is not a format notice takes (image/tiff)"]
        );
    }

    #[test]
    fn a_blank_page_has_warnings_whatever_its_header_said() {
        let mut check = ScanCheck::judged(vec![]);
        assert_eq!(check.state(), ScanCheckState::Passed);
        check.blank = Some(true);
        assert_eq!(check.state(), ScanCheckState::Warnings);
        assert_eq!(check.reasons(), [ScanCheck::BLANK]);
        assert_eq!(ScanCheck::default().state(), ScanCheckState::NotChecked);
    }
}
