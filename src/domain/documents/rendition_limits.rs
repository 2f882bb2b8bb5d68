//! The limits that bound a rendition's memory, and the decisions made with them before a page
//! is read or its pixels decoded: a page larger than `renditions.max_page_bytes`, or an image
//! whose header claims more than `renditions.max_pixels` (or more than 256 MiB decoded), gets
//! no renditions and is marked skipped with the reason.

use super::rendering::Unrendered;

/// The most memory one decoded page may take (a 600 dpi A3 colour scan takes about 210 MB).
pub(super) const MAX_DECODED_BYTES: u64 = 256 * 1024 * 1024;

/// What bounds a rendition's memory: the page read whole, and its decoded image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenditionLimits {
    /// Pages larger than this are not read at all (`renditions.max_page_bytes`).
    pub max_page_bytes: u64,
    /// Raster images with more pixels than this (by their header) are not decoded
    /// (`renditions.max_pixels`).
    pub max_pixels: u64,
}

impl Default for RenditionLimits {
    /// 32 MiB holds any single-page scan up to A3 at 600 dpi in JPEG or G4 (a 300 dpi A4 colour
    /// JPEG is 1–3 MB); 100 megapixels is an A3 page at 600 dpi with a margin (70 MP).
    fn default() -> Self {
        Self {
            max_page_bytes: 32 * 1024 * 1024,
            max_pixels: 100_000_000,
        }
    }
}

impl RenditionLimits {
    /// Refuses a page of `size_bytes` before it is read, when it is over `max_page_bytes`.
    pub fn admit_page(&self, size_bytes: u64) -> Result<(), Unrendered> {
        if size_bytes > self.max_page_bytes {
            return Err(Unrendered::TooLarge(format!(
                "page of {size_bytes} bytes is larger than renditions.max_page_bytes ({})",
                self.max_page_bytes
            )));
        }
        Ok(())
    }

    /// Refuses an image by what its header says, before its pixels are decoded: more pixels
    /// than `max_pixels`, or a decoded size over 256 MiB (16-bit and colour pages take several
    /// bytes a pixel).
    pub fn admit_image(
        &self,
        width: u32,
        height: u32,
        decoded_bytes: u64,
    ) -> Result<(), Unrendered> {
        let pixels = u64::from(width) * u64::from(height);
        if pixels > self.max_pixels {
            return Err(Unrendered::TooLarge(format!(
                "image of {width} × {height} pixels is larger than renditions.max_pixels ({})",
                self.max_pixels
            )));
        }
        if decoded_bytes > MAX_DECODED_BYTES {
            return Err(Unrendered::TooLarge(format!(
                "image of {width} × {height} pixels would take {decoded_bytes} bytes decoded, \
                 more than {MAX_DECODED_BYTES}"
            )));
        }
        Ok(())
    }
}
/// A page's bytes read whole for rendering, in one buffer allocated at the size the page's
/// record gives: the largest page costs its own size once (a buffer grown by doubling reaches
/// up to twice it, and copies it at each step beside the old one).
pub(super) struct PageBuffer {
    bytes: Vec<u8>,
    expected: usize,
}

impl PageBuffer {
    pub(super) fn with_size(expected: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(expected),
            expected,
        }
    }

    /// Appends a chunk; false, and nothing appended, when it would go past the recorded size
    /// (the stored object is not the page recorded: never a larger buffer).
    pub(super) fn push(&mut self, chunk: &[u8]) -> bool {
        if chunk.len() > self.expected - self.bytes.len() {
            return false;
        }
        self.bytes.extend_from_slice(chunk);
        true
    }

    pub(super) fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::super::pages::MediaType;
    use super::super::rendering::render_page;
    use super::*;

    /// A PNG whose IHDR claims `width` × `height` at `bit_depth` and `colour_type`, with one
    /// tiny IDAT: what decoding it would take only its header says.
    fn png_claiming(width: u32, height: u32, bit_depth: u8, colour_type: u8) -> Vec<u8> {
        fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
            out.extend_from_slice(&(data.len() as u32).to_be_bytes());
            out.extend_from_slice(kind);
            out.extend_from_slice(data);
            let mut crc = 0xFFFF_FFFFu32;
            for byte in kind.iter().chain(data) {
                crc ^= u32::from(*byte);
                for _ in 0..8 {
                    crc = if crc & 1 == 1 {
                        (crc >> 1) ^ 0xEDB8_8320
                    } else {
                        crc >> 1
                    };
                }
            }
            out.extend_from_slice(&(!crc).to_be_bytes());
        }
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = [0u8; 13];
        ihdr[..4].copy_from_slice(&width.to_be_bytes());
        ihdr[4..8].copy_from_slice(&height.to_be_bytes());
        ihdr[8] = bit_depth;
        ihdr[9] = colour_type;
        chunk(&mut png, b"IHDR", &ihdr);
        // One empty stored deflate block and the Adler-32 of nothing.
        chunk(
            &mut png,
            b"IDAT",
            &[0x78, 0x01, 0x01, 0, 0, 0xFF, 0xFF, 0, 0, 0, 1],
        );
        chunk(&mut png, b"IEND", &[]);
        png
    }

    fn grey_png(width: u32, height: u32) -> Vec<u8> {
        let mut out = Vec::new();
        image::GrayImage::from_pixel(width, height, image::Luma([200]))
            .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    fn rendered_with(
        page: Vec<u8>,
        media_type: MediaType,
        max_pixels: u64,
    ) -> Result<(), Unrendered> {
        let limits = RenditionLimits {
            max_pixels,
            ..RenditionLimits::default()
        };
        render_page(page, media_type, &limits).map(|_| ())
    }

    #[test]
    fn a_png_whose_header_claims_100000_by_100000_pixels_is_too_large_not_undecodable() {
        let refused = rendered_with(
            png_claiming(100_000, 100_000, 8, 0),
            MediaType::Png,
            100_000_000,
        )
        .unwrap_err();
        assert_eq!(
            refused,
            Unrendered::TooLarge(
                "image of 100000 × 100000 pixels is larger than renditions.max_pixels \
                 (100000000)"
                    .into()
            )
        );
    }

    #[test]
    fn a_16_bit_colour_png_within_the_pixels_but_over_256_mib_decoded_is_too_large() {
        // 9000 × 9000 16-bit RGB: 81 MP, 486 MB decoded.
        let refused = rendered_with(png_claiming(9000, 9000, 16, 2), MediaType::Png, 100_000_000)
            .unwrap_err();
        assert!(
            matches!(&refused, Unrendered::TooLarge(reason) if reason.contains("bytes decoded")),
            "{refused:?}"
        );
    }

    #[test]
    fn the_configured_pixel_limit_is_the_one_applied() {
        assert_eq!(
            rendered_with(grey_png(40, 30), MediaType::Png, 1200),
            Ok(())
        );
        assert!(matches!(
            rendered_with(grey_png(40, 30), MediaType::Png, 1199),
            Err(Unrendered::TooLarge(_))
        ));
    }

    #[test]
    fn a_pdf_whose_page_draws_an_image_over_the_pixel_limit_is_too_large() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scans");
        let pdf = std::fs::read(dir.join("scanned.pdf")).unwrap();
        assert_eq!(
            rendered_with(pdf.clone(), MediaType::Pdf, 100_000_000),
            Ok(())
        );
        let refused = rendered_with(pdf, MediaType::Pdf, 1000).unwrap_err();
        assert!(
            matches!(&refused, Unrendered::TooLarge(reason) if reason.contains("max_pixels")),
            "{refused:?}"
        );
    }

    fn limits(max_page_bytes: u64, max_pixels: u64) -> RenditionLimits {
        RenditionLimits {
            max_page_bytes,
            max_pixels,
        }
    }

    #[test]
    fn a_page_is_read_into_one_allocation_of_its_recorded_size() {
        let size = 3 * 1024 * 1024 + 17;
        let mut buffer = PageBuffer::with_size(size);
        let allocated = (buffer.bytes.as_ptr(), buffer.bytes.capacity());
        assert_eq!(allocated.1, size);
        let chunk = vec![7u8; 64 * 1024];
        let mut left = size;
        while left > 0 {
            let n = left.min(chunk.len());
            assert!(buffer.push(&chunk[..n]));
            left -= n;
            // Never reallocated: the same memory, the same capacity.
            assert_eq!((buffer.bytes.as_ptr(), buffer.bytes.capacity()), allocated);
        }
        assert_eq!(buffer.into_bytes().len(), size);
    }

    #[test]
    fn bytes_past_the_recorded_size_are_refused_not_buffered() {
        let mut buffer = PageBuffer::with_size(10);
        assert!(buffer.push(b"12345678"));
        assert!(!buffer.push(b"abc"));
        assert!(buffer.push(b"90"));
        assert!(!buffer.push(b"x"));
        assert_eq!(buffer.into_bytes(), b"1234567890");
    }

    #[test]
    fn a_page_of_exactly_the_limit_is_read() {
        assert_eq!(limits(1000, 1).admit_page(1000), Ok(()));
    }

    #[test]
    fn a_page_one_byte_over_the_limit_is_too_large_with_its_size_in_the_reason() {
        let refused = limits(1000, 1).admit_page(1001).unwrap_err();
        assert_eq!(
            refused,
            Unrendered::TooLarge(
                "page of 1001 bytes is larger than renditions.max_page_bytes (1000)".into()
            )
        );
    }

    #[test]
    fn an_image_of_exactly_the_pixel_limit_is_decoded() {
        assert_eq!(limits(0, 12).admit_image(3, 4, 12), Ok(()));
    }

    #[test]
    fn an_image_over_the_pixel_limit_is_too_large_with_its_dimensions_in_the_reason() {
        let refused = limits(0, 100_000_000)
            .admit_image(100_000, 100_000, 10_000_000_000)
            .unwrap_err();
        assert_eq!(
            refused,
            Unrendered::TooLarge(
                "image of 100000 × 100000 pixels is larger than renditions.max_pixels \
                 (100000000)"
                    .into()
            )
        );
    }

    #[test]
    fn dimensions_that_overflow_32_bits_are_still_counted() {
        assert!(
            limits(0, u64::from(u32::MAX))
                .admit_image(u32::MAX, 2, 0)
                .is_err()
        );
    }

    #[test]
    fn an_image_within_the_pixels_but_over_256_mib_decoded_is_too_large() {
        // 9000 × 9000 16-bit RGB: 81 MP, 486 MB decoded.
        let refused = RenditionLimits::default()
            .admit_image(9000, 9000, 9000 * 9000 * 6)
            .unwrap_err();
        assert!(
            matches!(&refused, Unrendered::TooLarge(reason) if reason.contains("bytes decoded")),
            "{refused:?}"
        );
    }

    #[test]
    fn the_defaults_admit_an_a3_colour_scan_at_600_dpi() {
        // 7016 × 9921 RGB: 69.6 MP, 209 MB.
        let defaults = RenditionLimits::default();
        assert_eq!(defaults.admit_image(7016, 9921, 7016 * 9921 * 3), Ok(()));
        assert_eq!(defaults.admit_page(32 * 1024 * 1024), Ok(()));
    }
}
