//! Scan quality at ingest (DA/T 31): what a page's header says about the scan (resolution,
//! pixel dimensions, colour mode, bit depth), the rules per document type it is judged
//! against, and the report of the documents that need rescanning.
//!
//! Headers are read from the bytes as they stream past during filing, never by decoding the
//! image: the filing path stays as fast as before. Whether a page is blank needs every pixel,
//! so it is judged by the rendition workers, which decode each page anyway.

mod blank;
mod facts;
mod jpeg;
mod png;
mod report;
mod rules;
mod tiff;

pub use blank::is_blank;
pub use facts::{ColourMode, HeaderProbe, ScanFacts};
pub use report::{
    ScanQualityReport, ScanReportItem, ScanReportRequest, ScanReportScope, ScanReportSummary,
};
pub use rules::{ScanCheck, ScanCheckState, ScanRule, ScanWarningDocument, WarnedPage};
