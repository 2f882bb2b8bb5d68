//! Reading a PNG's chunks before its image data: IHDR (dimensions, bit depth, colour type),
//! pHYs (pixels per metre) and PLTE (whether a palette holds only greys).

use super::facts::{ColourMode, ScanFacts};

const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1A\n";
const METRES_PER_INCH: f64 = 0.0254;

/// The facts of a PNG from its first bytes.
pub(super) fn facts(head: &[u8]) -> ScanFacts {
    let mut facts = ScanFacts::default();
    if !head.starts_with(SIGNATURE) {
        return facts;
    }
    let mut colour_type = None;
    let mut grey_palette = None;
    let mut at = SIGNATURE.len();
    while let Some(header) = head.get(at..at + 8) {
        let length = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let kind = &header[4..8];
        if kind == b"IDAT" || kind == b"IEND" {
            break;
        }
        let Some(data) = head.get(at + 8..(at + 8).saturating_add(length)) else {
            break;
        };
        let u32_at =
            |i: usize| u32::from_be_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
        match kind {
            b"IHDR" if data.len() >= 13 => {
                facts.width = Some(u32_at(0));
                facts.height = Some(u32_at(4));
                facts.bit_depth = Some(data[8] as u16);
                colour_type = Some(data[9]);
            }
            // Unit 1 is the metre; unit 0 gives only the aspect ratio.
            b"pHYs" if data.len() >= 9 && data[8] == 1 => {
                let (x, y) = (u32_at(0) as f64, u32_at(4) as f64);
                if x > 0.0 && y > 0.0 {
                    facts.dpi = Some((x * METRES_PER_INCH, y * METRES_PER_INCH));
                }
            }
            b"PLTE" => {
                grey_palette = Some(
                    data.chunks_exact(3)
                        .all(|rgb| rgb[0] == rgb[1] && rgb[1] == rgb[2]),
                );
            }
            _ => {}
        }
        // Length, type, data and CRC.
        at = at + 12 + length;
    }
    facts.colour = match (colour_type, facts.bit_depth) {
        (Some(0), Some(1)) => Some(ColourMode::Bilevel),
        (Some(0 | 4), _) => Some(ColourMode::Grey),
        (Some(3), _) if grey_palette == Some(true) => Some(ColourMode::Grey),
        (Some(2 | 3 | 6), _) => Some(ColourMode::Colour),
        _ => None,
    };
    facts
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use image::codecs::png::PngEncoder;
    use image::{ExtendedColorType, ImageEncoder};

    /// The CRC-32 of a PNG chunk (ISO 3309), so that decoders take the chunk.
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &byte in bytes {
            crc ^= byte as u32;
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    /// A PNG of the given pixels, with a pHYs chunk of `dpi` when given.
    pub(crate) fn png(
        width: u32,
        height: u32,
        kind: ExtendedColorType,
        pixels: &[u8],
        dpi: Option<u32>,
    ) -> Vec<u8> {
        let mut encoded = Vec::new();
        PngEncoder::new(&mut encoded)
            .write_image(pixels, width, height, kind)
            .unwrap();
        let Some(dpi) = dpi else { return encoded };
        let per_metre = (dpi as f64 / METRES_PER_INCH).round() as u32;
        let mut chunk = b"pHYs".to_vec();
        chunk.extend_from_slice(&per_metre.to_be_bytes());
        chunk.extend_from_slice(&per_metre.to_be_bytes());
        chunk.push(1);
        let mut out = encoded[..33].to_vec(); // signature and IHDR
        out.extend_from_slice(&9u32.to_be_bytes());
        out.extend_from_slice(&chunk);
        out.extend_from_slice(&crc32(&chunk).to_be_bytes());
        out.extend_from_slice(&encoded[33..]);
        out
    }

    #[test]
    fn a_png_with_phys_at_300_dpi_is_read() {
        let page = png(4, 3, ExtendedColorType::Rgb8, &[200; 36], Some(300));
        let decoded = image::load_from_memory(&page).expect("the chunk is well formed");
        assert_eq!(decoded.width(), 4);
        let facts = facts(&page);
        assert_eq!(facts.least_dpi(), Some(300));
        assert_eq!((facts.width, facts.height), (Some(4), Some(3)));
        assert_eq!(facts.colour, Some(ColourMode::Colour));
        assert_eq!(facts.bit_depth, Some(8));
    }

    #[test]
    fn a_png_without_phys_has_no_resolution_and_grey_is_grey() {
        let facts = facts(&png(2, 2, ExtendedColorType::L16, &[0; 8], None));
        assert_eq!(facts.dpi, None);
        assert_eq!(
            (facts.colour, facts.bit_depth),
            (Some(ColourMode::Grey), Some(16))
        );
    }

    #[test]
    fn a_one_bit_grey_png_is_bilevel_and_a_cut_one_gives_nothing() {
        let mut page = png(8, 1, ExtendedColorType::L8, &[0; 8], None);
        // IHDR's bit depth byte; the header is all the reader looks at.
        page[24] = 1;
        assert_eq!(facts(&page).colour, Some(ColourMode::Bilevel));
        assert!(facts(&page[..20]).is_empty());
        assert!(facts(b"\x89PNG\r\n\x1A\n\xff\xff\xff\xffIHDR").is_empty());
    }
}
