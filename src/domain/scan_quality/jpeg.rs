//! Reading a JPEG's markers up to its first scan: the JFIF density (APP0), the EXIF
//! resolution (APP1) and the frame header (SOFn: precision, dimensions, components).

use super::facts::{ColourMode, ScanFacts, to_dpi};
use super::tiff;

/// The facts of a JPEG from its first bytes. A JFIF density in absolute units wins over EXIF;
/// a JFIF density of unit 0 is only an aspect ratio.
pub(super) fn facts(head: &[u8]) -> ScanFacts {
    let mut facts = ScanFacts::default();
    let (mut jfif, mut exif) = (None, None);
    if !head.starts_with(b"\xFF\xD8") {
        return facts;
    }
    let mut at = 2;
    while at + 4 <= head.len() {
        if head[at] != 0xFF {
            // Not at a marker: the stream is not what it claims; stop reading.
            break;
        }
        let marker = head[at + 1];
        match marker {
            // Fill bytes before a marker.
            0xFF => {
                at += 1;
                continue;
            }
            // Markers without a length.
            0x01 | 0xD0..=0xD8 => {
                at += 2;
                continue;
            }
            _ => {}
        }
        let length = u16::from_be_bytes([head[at + 2], head[at + 3]]) as usize;
        if length < 2 {
            break;
        }
        let segment = head.get(at + 4..at + 2 + length);
        match (marker, segment) {
            (0xE0, Some(data)) if data.starts_with(b"JFIF\0") && data.len() >= 12 => {
                let unit = data[7];
                let x = u16::from_be_bytes([data[8], data[9]]) as f64;
                let y = u16::from_be_bytes([data[10], data[11]]) as f64;
                if matches!(unit, 1 | 2) && x > 0.0 && y > 0.0 {
                    jfif = Some((to_dpi(x, unit == 2), to_dpi(y, unit == 2)));
                }
            }
            (0xE1, Some(data)) if data.starts_with(b"Exif\0\0") => {
                exif = tiff::exif_resolution(&data[6..]);
            }
            // Start of frame, every coding but DHT (C4), JPG (C8) and DAC (CC).
            (0xC0..=0xCF, Some(data))
                if !matches!(marker, 0xC4 | 0xC8 | 0xCC) && data.len() >= 6 =>
            {
                facts.bit_depth = Some(data[0] as u16);
                facts.height = Some(u16::from_be_bytes([data[1], data[2]]) as u32);
                facts.width = Some(u16::from_be_bytes([data[3], data[4]]) as u32);
                facts.colour = match data[5] {
                    1 => Some(ColourMode::Grey),
                    // YCbCr or RGB, CMYK or YCCK.
                    3 | 4 => Some(ColourMode::Colour),
                    _ => None,
                };
                break;
            }
            // The scan begins: there is no frame header before it.
            (0xDA, _) | (0xD9, _) => break,
            _ => {}
        }
        at += 2 + length;
    }
    facts.dpi = jfif.or(exif);
    facts
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use image::codecs::jpeg::{JpegEncoder, PixelDensity, PixelDensityUnit};
    use image::{ExtendedColorType, ImageEncoder};

    /// A JPEG of `width` × `height` with the given density and colour.
    pub(crate) fn jpeg(width: u32, height: u32, dpi: u16, colour: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = JpegEncoder::new_with_quality(&mut out, 80);
        encoder.set_pixel_density(PixelDensity {
            density: (dpi, dpi),
            unit: PixelDensityUnit::Inches,
        });
        let (kind, channels) = if colour {
            (ExtendedColorType::Rgb8, 3)
        } else {
            (ExtendedColorType::L8, 1)
        };
        let pixels: Vec<u8> = (0..width * height * channels)
            .map(|i| (i % 251) as u8)
            .collect();
        encoder.write_image(&pixels, width, height, kind).unwrap();
        out
    }

    #[test]
    fn a_96_dpi_colour_jpeg_is_read_from_its_jfif_header() {
        let facts = facts(&jpeg(64, 48, 96, true));
        assert_eq!(facts.dpi, Some((96.0, 96.0)));
        assert_eq!((facts.width, facts.height), (Some(64), Some(48)));
        assert_eq!(facts.colour, Some(ColourMode::Colour));
        assert_eq!(facts.bit_depth, Some(8));
    }

    #[test]
    fn a_grey_jpeg_has_one_component() {
        assert_eq!(
            facts(&jpeg(16, 16, 300, false)).colour,
            Some(ColourMode::Grey)
        );
    }

    #[test]
    fn a_density_in_dots_per_centimetre_is_converted() {
        let mut page = jpeg(16, 16, 118, true);
        // APP0 follows SOI: unit at byte 2 + 4 + 7.
        assert_eq!(&page[6..11], b"JFIF\0");
        page[13] = 2;
        assert_eq!(facts(&page).least_dpi(), Some(300));
    }

    #[test]
    fn an_exif_resolution_counts_when_jfif_gives_only_an_aspect_ratio() {
        let exif_tiff = crate::domain::scan_quality::tiff::tests::tiff(
            &[(282, 5, 240), (283, 5, 240), (296, 3, 2)],
            true,
        );
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend_from_slice(&exif_tiff);
        let mut page =
            b"\xFF\xD8\xFF\xE0\x00\x10JFIF\0\x01\x01\x00\x00\x01\x00\x01\x00\x00".to_vec();
        page.extend_from_slice(&[0xFF, 0xE1]);
        page.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
        page.extend_from_slice(&app1);
        page.extend_from_slice(&jpeg(8, 8, 72, false)[20..]);
        let facts = facts(&page);
        assert_eq!(facts.dpi, Some((240.0, 240.0)));
        assert_eq!(facts.colour, Some(ColourMode::Grey));
    }

    #[test]
    fn the_cmyk_fixture_and_garbage_are_read_without_panicking() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/scans/");
        let cmyk = facts(&std::fs::read(format!("{dir}contract-cmyk.jpg")).unwrap());
        assert_eq!(cmyk.colour, Some(ColourMode::Colour));
        assert_eq!(cmyk.least_dpi(), Some(300));
        assert!(facts(b"\xFF\xD8\xFF\xE0\x00\x01").is_empty());
        assert!(facts(b"\xFF\xD8\xFF\xC0\xFF\xFF").is_empty());
    }
}
