//! Reading a TIFF's first directory (classic and BigTIFF): ImageWidth, ImageLength,
//! BitsPerSample, PhotometricInterpretation, SamplesPerPixel, XResolution, YResolution and
//! ResolutionUnit. An EXIF block is a TIFF structure too: JPEG's resolution is read with the
//! same code.

use super::facts::{ColourMode, HeaderProbe, ScanFacts, to_dpi};

/// Where a TIFF's bytes come from: a slice, or what a probe kept of a stream.
pub(super) trait Source {
    fn get(&self, offset: u64, len: usize) -> Option<&[u8]>;
}

impl Source for [u8] {
    fn get(&self, offset: u64, len: usize) -> Option<&[u8]> {
        let start = usize::try_from(offset).ok()?;
        self.get(start..start.checked_add(len)?)
    }
}

impl Source for HeaderProbe {
    fn get(&self, offset: u64, len: usize) -> Option<&[u8]> {
        HeaderProbe::get(self, offset, len)
    }
}

/// The layout a TIFF's header announces.
#[derive(Debug, Clone, Copy)]
struct Layout {
    little_endian: bool,
    big: bool,
}

impl Layout {
    fn of(head: &[u8]) -> Option<(Self, u64)> {
        let little_endian = match head.get(..2)? {
            b"II" => true,
            b"MM" => false,
            _ => return None,
        };
        let mut layout = Self {
            little_endian,
            big: false,
        };
        match layout.u16(head.get(2..4)?) {
            42 => Some((layout, layout.u32(head.get(4..8)?) as u64)),
            43 => {
                layout.big = true;
                Some((layout, layout.u64(head.get(8..16)?)))
            }
            _ => None,
        }
    }

    fn u16(self, b: &[u8]) -> u16 {
        let b = [b[0], b[1]];
        if self.little_endian {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        }
    }

    fn u32(self, b: &[u8]) -> u32 {
        let b = [b[0], b[1], b[2], b[3]];
        if self.little_endian {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    }

    fn u64(self, b: &[u8]) -> u64 {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[..8]);
        if self.little_endian {
            u64::from_le_bytes(a)
        } else {
            u64::from_be_bytes(a)
        }
    }

    /// The size of one directory entry, and of its inline value field.
    fn entry(self) -> (u64, usize) {
        if self.big { (20, 8) } else { (12, 4) }
    }
}

/// The offset of the first directory, from a TIFF's first bytes.
pub(super) fn directory_offset(head: &[u8]) -> Option<u64> {
    Layout::of(head).map(|(_, offset)| offset)
}

/// One entry's first value as a number, and the first value as a fraction for RATIONALs.
#[derive(Debug, Clone, Copy)]
struct Value {
    number: Option<u64>,
    ratio: Option<f64>,
}

/// Reads the tags of the first directory that `wanted` names.
fn read_directory<S: Source + ?Sized>(source: &S, wanted: &[u16]) -> Vec<(u16, Value)> {
    let mut found = Vec::new();
    let Some((layout, offset)) = source.get(0, 16).and_then(Layout::of).or_else(|| {
        // A classic header is only 8 bytes long: a tiny EXIF block has no 16.
        source.get(0, 8).and_then(Layout::of)
    }) else {
        return found;
    };
    let (entry_size, inline) = layout.entry();
    let count = if layout.big {
        source.get(offset, 8).map(|b| layout.u64(b))
    } else {
        source.get(offset, 2).map(|b| layout.u16(b) as u64)
    };
    let Some(count) = count else { return found };
    let first = offset + if layout.big { 8 } else { 2 };
    // A directory of more than a few hundred entries is not a scan's.
    for index in 0..count.min(512) {
        let Some(entry) = source.get(first + index * entry_size, entry_size as usize) else {
            break;
        };
        let tag = layout.u16(&entry[0..2]);
        if !wanted.contains(&tag) {
            continue;
        }
        let kind = layout.u16(&entry[2..4]);
        let values = if layout.big {
            layout.u64(&entry[4..12])
        } else {
            layout.u32(&entry[4..8]) as u64
        };
        let field = &entry[entry_size as usize - inline..];
        let size: usize = match kind {
            1 | 2 | 6 | 7 => 1,
            3 | 8 => 2,
            4 | 9 | 11 => 4,
            5 | 10 | 12 | 16 | 17 | 18 => 8,
            _ => continue,
        };
        let total = size.saturating_mul(values.min(1 << 20) as usize);
        let bytes = if total <= inline {
            Some(field)
        } else {
            let at = if layout.big {
                layout.u64(field)
            } else {
                layout.u32(field) as u64
            };
            source.get(at, size)
        };
        let Some(bytes) = bytes else { continue };
        let value = match kind {
            1 | 6 | 7 => Value {
                number: Some(bytes[0] as u64),
                ratio: None,
            },
            3 | 8 => Value {
                number: Some(layout.u16(bytes) as u64),
                ratio: None,
            },
            4 | 9 => Value {
                number: Some(layout.u32(bytes) as u64),
                ratio: None,
            },
            16 | 17 => Value {
                number: Some(layout.u64(bytes)),
                ratio: None,
            },
            5 | 10 => {
                let (numerator, denominator) = (layout.u32(&bytes[0..4]), layout.u32(&bytes[4..8]));
                let ratio = (denominator != 0).then(|| numerator as f64 / denominator as f64);
                Value {
                    number: None,
                    ratio,
                }
            }
            _ => continue,
        };
        found.push((tag, value));
    }
    found
}

const IMAGE_WIDTH: u16 = 256;
const IMAGE_LENGTH: u16 = 257;
const BITS_PER_SAMPLE: u16 = 258;
const PHOTOMETRIC: u16 = 262;
const SAMPLES_PER_PIXEL: u16 = 277;
const X_RESOLUTION: u16 = 282;
const Y_RESOLUTION: u16 = 283;
const RESOLUTION_UNIT: u16 = 296;

/// The resolution the directory records, in dpi: none when a resolution is missing or its
/// unit is 1 (no absolute unit, only an aspect ratio).
fn resolution(tags: &[(u16, Value)]) -> Option<(f64, f64)> {
    let ratio = |tag| {
        tags.iter()
            .find(|(t, _)| *t == tag)
            .and_then(|(_, v)| v.ratio)
    };
    let unit = tags
        .iter()
        .find(|(t, _)| *t == RESOLUTION_UNIT)
        .and_then(|(_, v)| v.number)
        // TIFF's default unit is the inch.
        .unwrap_or(2);
    let (x, y) = (
        ratio(X_RESOLUTION)?,
        ratio(Y_RESOLUTION).or(ratio(X_RESOLUTION))?,
    );
    match unit {
        2 => Some((x, y)),
        3 => Some((to_dpi(x, true), to_dpi(y, true))),
        _ => None,
    }
}

/// The resolution an EXIF block (`Exif\0\0` stripped) records, in dpi.
pub(super) fn exif_resolution(exif: &[u8]) -> Option<(f64, f64)> {
    resolution(&read_directory(
        exif,
        &[X_RESOLUTION, Y_RESOLUTION, RESOLUTION_UNIT],
    ))
}

/// The facts of a TIFF's first page.
pub(super) fn facts<S: Source + ?Sized>(source: &S) -> ScanFacts {
    let tags = read_directory(
        source,
        &[
            IMAGE_WIDTH,
            IMAGE_LENGTH,
            BITS_PER_SAMPLE,
            PHOTOMETRIC,
            SAMPLES_PER_PIXEL,
            X_RESOLUTION,
            Y_RESOLUTION,
            RESOLUTION_UNIT,
        ],
    );
    let number = |tag| {
        tags.iter()
            .find(|(t, _)| *t == tag)
            .and_then(|(_, v)| v.number)
    };
    // TIFF's defaults: one sample of one bit.
    let bits = number(BITS_PER_SAMPLE).or(number(IMAGE_WIDTH).map(|_| 1));
    let samples = number(SAMPLES_PER_PIXEL).unwrap_or(1);
    let colour = match (number(PHOTOMETRIC), samples, bits) {
        (None, _, None) => None,
        // WhiteIsZero, BlackIsZero.
        (Some(0 | 1) | None, 1, Some(1)) => Some(ColourMode::Bilevel),
        (Some(0 | 1), _, _) => Some(ColourMode::Grey),
        // A transparency mask is not a page.
        (Some(4), _, _) => None,
        // RGB, palette, CMYK, YCbCr, CIE L*a*b* and the rest.
        (Some(_), _, _) => Some(ColourMode::Colour),
        (None, samples, _) if samples >= 3 => Some(ColourMode::Colour),
        (None, _, _) => Some(ColourMode::Grey),
    };
    ScanFacts {
        width: number(IMAGE_WIDTH).and_then(|n| u32::try_from(n).ok()),
        height: number(IMAGE_LENGTH).and_then(|n| u32::try_from(n).ok()),
        dpi: resolution(&tags),
        colour,
        bit_depth: bits.and_then(|n| u16::try_from(n).ok()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A classic little-endian TIFF with the given (tag, type, value) entries, RATIONALs as
    /// (numerator, 1) stored after the directory.
    pub(crate) fn tiff(entries: &[(u16, u16, u32)], big_endian: bool) -> Vec<u8> {
        let w16 = |v: u16| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let w32 = |v: u32| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut out = Vec::new();
        out.extend_from_slice(if big_endian { b"MM" } else { b"II" });
        out.extend_from_slice(&w16(42));
        out.extend_from_slice(&w32(8));
        out.extend_from_slice(&w16(entries.len() as u16));
        let values_at = 8 + 2 + entries.len() as u32 * 12 + 4;
        let mut values = Vec::new();
        for &(tag, kind, value) in entries {
            out.extend_from_slice(&w16(tag));
            out.extend_from_slice(&w16(kind));
            out.extend_from_slice(&w32(1));
            match kind {
                3 => {
                    out.extend_from_slice(&w16(value as u16));
                    out.extend_from_slice(&[0, 0]);
                }
                5 => {
                    out.extend_from_slice(&w32(values_at + values.len() as u32));
                    values.extend_from_slice(&w32(value));
                    values.extend_from_slice(&w32(1));
                }
                _ => out.extend_from_slice(&w32(value)),
            }
        }
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&values);
        out
    }

    #[test]
    fn a_grey_tiff_at_300_dpi_is_read_in_either_byte_order() {
        for big_endian in [false, true] {
            let page = tiff(
                &[
                    (IMAGE_WIDTH, 4, 2480),
                    (IMAGE_LENGTH, 4, 3508),
                    (BITS_PER_SAMPLE, 3, 8),
                    (PHOTOMETRIC, 3, 1),
                    (X_RESOLUTION, 5, 300),
                    (Y_RESOLUTION, 5, 300),
                    (RESOLUTION_UNIT, 3, 2),
                ],
                big_endian,
            );
            let facts = facts(page.as_slice());
            assert_eq!(facts.width, Some(2480));
            assert_eq!(facts.height, Some(3508));
            assert_eq!(facts.dpi, Some((300.0, 300.0)));
            assert_eq!(facts.colour, Some(ColourMode::Grey));
            assert_eq!(facts.bit_depth, Some(8));
        }
    }

    #[test]
    fn a_fax_tiff_in_dots_per_centimetre_is_bilevel() {
        let page = tiff(
            &[
                (IMAGE_WIDTH, 3, 1728),
                (PHOTOMETRIC, 3, 0),
                (X_RESOLUTION, 5, 80),
                (Y_RESOLUTION, 5, 77),
                (RESOLUTION_UNIT, 3, 3),
            ],
            false,
        );
        let facts = facts(page.as_slice());
        assert_eq!(facts.colour, Some(ColourMode::Bilevel));
        assert_eq!(facts.bit_depth, Some(1));
        assert_eq!(facts.least_dpi(), Some(196));
    }

    #[test]
    fn a_resolution_without_an_absolute_unit_is_not_a_resolution() {
        let page = tiff(
            &[
                (X_RESOLUTION, 5, 1),
                (Y_RESOLUTION, 5, 1),
                (RESOLUTION_UNIT, 3, 1),
            ],
            false,
        );
        assert_eq!(facts(page.as_slice()).dpi, None);
    }

    #[test]
    fn a_cmyk_tiff_is_colour_and_a_truncated_one_gives_nothing() {
        let page = tiff(&[(PHOTOMETRIC, 3, 5), (SAMPLES_PER_PIXEL, 3, 4)], false);
        assert_eq!(facts(page.as_slice()).colour, Some(ColourMode::Colour));
        assert!(facts(&page[..9]).is_empty());
        assert!(facts(b"II*\0\xff\xff\xff\xff".as_slice()).is_empty());
    }

    #[test]
    fn the_fixture_scans_are_read() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/scans/");
        let read = |file: &str| std::fs::read(format!("{dir}{file}")).unwrap();
        let fax = facts(read("fax-g4-two-pages.tif").as_slice());
        assert_eq!(fax.colour, Some(ColourMode::Bilevel), "{fax:?}");
        assert_eq!((fax.dpi, fax.width), (Some((204.0, 196.0)), Some(1728)));
        let grey = facts(read("grey-16bit.tif").as_slice());
        assert_eq!(
            (grey.colour, grey.bit_depth),
            (Some(ColourMode::Grey), Some(16)),
            "{grey:?}"
        );
        let cmyk = facts(read("contract-cmyk.tif").as_slice());
        assert_eq!(cmyk.colour, Some(ColourMode::Colour), "{cmyk:?}");
        assert_eq!(cmyk.least_dpi(), Some(150));
        assert!(cmyk.width.is_some() && cmyk.height.is_some());
    }
}
