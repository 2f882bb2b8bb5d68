//! What a page's header says about its scan, and the probe that keeps the few bytes needed to
//! read it while the page streams past.

use super::{jpeg, png, tiff};
use crate::domain::MediaType;

/// How a scan records colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColourMode {
    /// One bit per pixel: black and white (a fax, a CCITT G4 TIFF).
    Bilevel,
    Grey,
    Colour,
}

impl ColourMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bilevel => "bilevel",
            Self::Grey => "grey",
            Self::Colour => "colour",
        }
    }
}

/// What a page's header says; each fact is `None` when the header does not record it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ScanFacts {
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Horizontal and vertical resolution in dots per inch.
    pub dpi: Option<(f64, f64)>,
    pub colour: Option<ColourMode>,
    /// Bits per sample (per channel).
    pub bit_depth: Option<u16>,
}

impl ScanFacts {
    /// Whether the header gave anything at all.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The lower of the two resolutions, rounded: what a rule's minimum is compared with.
    pub fn least_dpi(&self) -> Option<u32> {
        self.dpi.map(|(x, y)| x.min(y).round() as u32)
    }
}

/// A resolution in the unit a header uses, as dots per inch.
pub(super) fn to_dpi(value: f64, per_centimetre: bool) -> f64 {
    if per_centimetre { value * 2.54 } else { value }
}

/// The bytes of a page a header is read from, out of a stream: its first `HEAD_LIMIT` bytes
/// and, for a TIFF whose directory lies further on (libtiff writes it after the image data),
/// `WINDOW` bytes around that directory.
#[derive(Debug, Default)]
pub struct HeaderProbe {
    head: Vec<u8>,
    seen: u64,
    window_start: Option<u64>,
    window: Vec<u8>,
}

/// Enough for JFIF, an EXIF block (at most 64 KiB), ICC profiles and a PNG's chunks before
/// its image data; held once per page in progress.
const HEAD_LIMIT: usize = 256 * 1024;
/// Enough for a TIFF directory and the values it points to, which writers put beside it.
const WINDOW: usize = 64 * 1024;
/// How far before a TIFF directory the window starts: libtiff writes values before it.
const WINDOW_LEAD: u64 = 4096;

impl HeaderProbe {
    pub fn new() -> Self {
        Self::default()
    }

    /// Looks at the next bytes of the page.
    pub fn observe(&mut self, bytes: &[u8]) {
        let start = self.seen;
        self.seen += bytes.len() as u64;
        if self.head.len() < HEAD_LIMIT {
            let take = (HEAD_LIMIT - self.head.len()).min(bytes.len());
            self.head.extend_from_slice(&bytes[..take]);
        }
        if self.window_start.is_none() {
            self.window_start = tiff::directory_offset(&self.head)
                .filter(|&offset| offset + 2 > HEAD_LIMIT as u64)
                .map(|offset| offset.saturating_sub(WINDOW_LEAD));
        }
        if let Some(window_start) = self.window_start {
            let window_end = window_start + WINDOW as u64;
            let (from, to) = (start.max(window_start), self.seen.min(window_end));
            if from < to {
                let slice = &bytes[(from - start) as usize..(to - start) as usize];
                self.window.extend_from_slice(slice);
            }
        }
    }

    /// Reads the facts of the page seen, as `media_type` (PDF pages are not read: see the
    /// README).
    pub fn facts(&self, media_type: MediaType) -> ScanFacts {
        match media_type {
            MediaType::Jpeg => jpeg::facts(&self.head),
            MediaType::Png => png::facts(&self.head),
            MediaType::Tiff => tiff::facts(self),
            MediaType::Pdf => ScanFacts::default(),
        }
    }

    /// `len` bytes at `offset` of the page, if the probe kept them.
    pub(super) fn get(&self, offset: u64, len: usize) -> Option<&[u8]> {
        let end = offset.checked_add(len as u64)?;
        if end <= self.head.len() as u64 {
            return Some(&self.head[offset as usize..end as usize]);
        }
        let window_start = self.window_start?;
        if offset >= window_start && end <= window_start + self.window.len() as u64 {
            let from = (offset - window_start) as usize;
            return Some(&self.window[from..from + len]);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_keeps_the_head_and_a_window_around_a_late_tiff_directory() {
        let mut page = vec![0u8; 600 * 1024];
        page[..8].copy_from_slice(b"II*\0\0\0\x08\0");
        // The directory at 512 KiB (0x0008_0000).
        let mut probe = HeaderProbe::new();
        for chunk in page.chunks(7000) {
            probe.observe(chunk);
        }
        assert_eq!(probe.window_start, Some(0x80000 - WINDOW_LEAD));
        assert_eq!(probe.window.len(), WINDOW);
        assert!(probe.get(0x80000, 12).is_some());
        assert!(probe.get(0x80000 + WINDOW as u64, 12).is_none());
        assert_eq!(probe.get(0, 4), Some(&b"II*\0"[..]));
    }

    #[test]
    fn the_least_resolution_is_rounded() {
        let facts = ScanFacts {
            dpi: Some((299.9, 600.0)),
            ..ScanFacts::default()
        };
        assert_eq!(facts.least_dpi(), Some(300));
        assert_eq!(to_dpi(118.11, true).round(), 300.0);
    }
}
