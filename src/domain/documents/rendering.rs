//! Rendering a page content into its renditions: decoding it whole (JPEG, PNG, the first page of
//! a TIFF, the first page of a PDF), scaling it to a preview and a thumbnail, and encoding both
//! as JPEG. Pure computation on bytes, run by the rendition workers on blocking threads.
//!
//! Decoding the whole body is also what finds a page whose header is valid and whose body is
//! not: the intake only sniffs the first bytes.
//!
//! What a rendition may cost in memory is bounded before anything is decoded: the page's size
//! against `renditions.max_page_bytes` before it is read (by the worker), and a raster image's
//! header dimensions against `renditions.max_pixels` and its decoded size against 256 MiB
//! before its pixels are decoded ([`RenditionLimits`]).

use std::io::Cursor;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

use super::pages::MediaType;
use super::rendition_limits::{MAX_DECODED_BYTES, RenditionLimits};

/// The two renditions each page gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RenditionKind {
    /// 256 px on the long side: for lists of pages.
    Thumbnail,
    /// 1600 px on the long side: for looking at one page.
    Preview,
}

impl RenditionKind {
    pub const ALL: [Self; 2] = [Self::Thumbnail, Self::Preview];

    /// The most pixels on the rendition's long side (smaller pages are not enlarged).
    pub fn long_side(self) -> u32 {
        match self {
            Self::Thumbnail => 256,
            Self::Preview => 1600,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Thumbnail => "thumbnail",
            Self::Preview => "preview",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }

    /// Every rendition is a JPEG, which every browser shows.
    pub fn media_type(self) -> MediaType {
        MediaType::Jpeg
    }
}

/// One rendition, encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub kind: RenditionKind,
    pub bytes: Bytes,
    pub width: u32,
    pub height: u32,
}

/// Why a content gets no renditions. The same bytes end the same way every time, so neither is
/// retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unrendered {
    /// The page does not decode (corrupt, or a variant no decoder here reads): marked failed.
    #[error("{0}")]
    Undecodable(String),
    /// The page is larger than the limits allow to decode: marked skipped, since raising a
    /// limit (and `backfill-renditions --retry-failed`) would render it.
    #[error("{0}")]
    TooLarge(String),
}

impl Unrendered {
    fn undecodable(reason: impl Into<String>) -> Self {
        Self::Undecodable(reason.into())
    }
}

/// JPEG quality of the renditions: sharp text, a fifth of the size of quality 100.
const JPEG_QUALITY: u8 = 85;

/// Renders a content's thumbnail and preview, in that order, within the default limits.
pub fn render(bytes: Vec<u8>, media_type: MediaType) -> Result<Vec<Rendered>, Unrendered> {
    render_page(bytes, media_type, &RenditionLimits::default()).map(|(renditions, _)| renditions)
}

/// Renders a content's thumbnail and preview, in that order, and tells whether the page is
/// blank (judged on the preview: see `scan_quality::is_blank`). Takes the bytes by value so
/// that the PDF rasteriser holds them without a copy.
pub fn render_page(
    bytes: Vec<u8>,
    media_type: MediaType,
    limits: &RenditionLimits,
) -> Result<(Vec<Rendered>, bool), Unrendered> {
    let page = match media_type {
        MediaType::Jpeg => decode_image(&bytes, ImageFormat::Jpeg, limits)?,
        MediaType::Png => decode_image(&bytes, ImageFormat::Png, limits)?,
        MediaType::Tiff => decode_image(&bytes, ImageFormat::Tiff, limits)?,
        MediaType::Pdf => rasterise_pdf(bytes, RenditionKind::Preview.long_side(), limits)?,
    };
    let preview = fit(page, RenditionKind::Preview.long_side());
    let blank = crate::domain::is_blank(&preview);
    let thumbnail = fit(preview.clone(), RenditionKind::Thumbnail.long_side());
    Ok((
        vec![
            encode(RenditionKind::Thumbnail, &thumbnail)?,
            encode(RenditionKind::Preview, &preview)?,
        ],
        blank,
    ))
}

/// Decodes a raster page whole (a TIFF's first page), upright as its EXIF orientation says,
/// once its header shows it within `limits`.
fn decode_image(
    bytes: &[u8],
    format: ImageFormat,
    limits: &RenditionLimits,
) -> Result<DynamicImage, Unrendered> {
    // Some decoders end their messages with a newline.
    let failed = |error: image::ImageError| {
        let error = error.to_string();
        Unrendered::undecodable(format!("the page does not decode: {}", error.trim_end()))
    };
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    // Also bounds what a decoder allocates beside the image (TIFF strips, say).
    let mut decoder_limits = Limits::default();
    decoder_limits.max_alloc = Some(MAX_DECODED_BYTES);
    reader.limits(decoder_limits);
    // Reads the header only: no pixel buffer exists before the dimensions are admitted.
    let mut decoder = reader.into_decoder().map_err(failed)?;
    let (width, height) = decoder.dimensions();
    limits.admit_image(width, height, decoder.total_bytes())?;
    let orientation = decoder.orientation().map_err(failed)?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(failed)?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// Rasterises a PDF's first page with `long_side` pixels on its long side, on white. The
/// pixmap is bounded by `long_side` whatever the page's size; the images the page draws are
/// decoded at their own size by hayro, so those its resources name are admitted by their
/// `/Width` and `/Height` first (images inside form XObjects and inline images are not seen).
fn rasterise_pdf(
    bytes: Vec<u8>,
    long_side: u32,
    limits: &RenditionLimits,
) -> Result<DynamicImage, Unrendered> {
    use hayro::hayro_interpret::{InterpreterSettings, InterpreterWarning};
    use hayro::hayro_syntax::Pdf;
    use hayro::vello_cpu::color::palette::css::WHITE;

    let pdf = Pdf::new(bytes)
        .map_err(|error| Unrendered::undecodable(format!("the PDF does not open: {error:?}")))?;
    let page = pdf
        .pages()
        .first()
        .ok_or_else(|| Unrendered::undecodable("the PDF has no pages"))?;
    admit_pdf_images(page, limits)?;
    let (width, height) = page.render_dimensions();
    if !(width >= 1.0 && height >= 1.0) {
        return Err(Unrendered::undecodable(format!(
            "the PDF's first page measures {width} × {height} points"
        )));
    }
    let scale = long_side as f32 / width.max(height);
    // A scanned page whose image does not decode renders blank: that is a failure, not a page.
    let image_failed = Arc::new(AtomicBool::new(false));
    let settings = InterpreterSettings {
        warning_sink: {
            let image_failed = Arc::clone(&image_failed);
            Arc::new(move |warning| {
                if matches!(warning, InterpreterWarning::ImageDecodeFailure) {
                    image_failed.store(true, Ordering::Relaxed);
                }
            })
        },
        ..InterpreterSettings::default()
    };
    let pixmap = hayro::render(
        page,
        &hayro::RenderCache::new(),
        &settings,
        &hayro::RenderSettings::default(),
        &hayro::PixmapSettings {
            x_scale: scale,
            y_scale: scale,
            bg_color: WHITE,
        },
    );
    if image_failed.load(Ordering::Relaxed) {
        return Err(Unrendered::undecodable(
            "an image on the PDF's first page does not decode",
        ));
    }
    let (width, height) = (u32::from(pixmap.width()), u32::from(pixmap.height()));
    // Premultiplied RGBA on an opaque white background is plain RGBA.
    let rgba = image::RgbaImage::from_raw(width, height, pixmap.data_as_u8_slice().to_vec())
        .ok_or_else(|| Unrendered::undecodable("the PDF rendered to an empty page"))?;
    Ok(DynamicImage::ImageRgba8(rgba))
}

/// Admits the image XObjects of a PDF page's resources by their declared dimensions, at one
/// byte a pixel (the least any decodes to).
fn admit_pdf_images(
    page: &hayro::hayro_syntax::page::Page<'_>,
    limits: &RenditionLimits,
) -> Result<(), Unrendered> {
    use hayro::hayro_syntax::object::Stream;

    let x_objects = &page.resources().x_objects;
    for name in x_objects.keys() {
        let Some(stream) = x_objects.get::<Stream<'_>>(&name) else {
            continue;
        };
        let dict = stream.dict();
        let (Some(width), Some(height)) = (dict.get::<u32>("Width"), dict.get::<u32>("Height"))
        else {
            continue;
        };
        limits.admit_image(width, height, u64::from(width) * u64::from(height))?;
    }
    Ok(())
}

/// Scales a page down to at most `long_side` on its long side, keeping its proportions.
fn fit(image: DynamicImage, long_side: u32) -> DynamicImage {
    if image.width().max(image.height()) <= long_side {
        image
    } else {
        image.thumbnail(long_side, long_side)
    }
}

/// Encodes as JPEG: grey pages (most scans, fax pages) as grey, the rest as RGB.
fn encode(kind: RenditionKind, image: &DynamicImage) -> Result<Rendered, Unrendered> {
    let mut out = Vec::new();
    let encoder = JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY);
    let encoded = if image.color().has_color() {
        image.to_rgb8().write_with_encoder(encoder)
    } else {
        image.to_luma8().write_with_encoder(encoder)
    };
    encoded.map_err(|error| {
        Unrendered::undecodable(format!("the {} does not encode: {error}", kind.as_str()))
    })?;
    Ok(Rendered {
        kind,
        bytes: Bytes::from(out),
        width: image.width(),
        height: image.height(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image =
            image::GrayImage::from_fn(width, height, |x, y| image::Luma([((x + y) % 256) as u8]));
        let mut out = Vec::new();
        image
            .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .unwrap();
        out
    }

    fn decoded(rendered: &Rendered) -> DynamicImage {
        image::load_from_memory_with_format(&rendered.bytes, ImageFormat::Jpeg).unwrap()
    }

    #[test]
    fn a_large_page_is_scaled_to_1600_and_256_pixels_on_its_long_side() {
        let renditions = render(png(2480, 3508), MediaType::Png).unwrap();
        let [thumbnail, preview] = renditions.as_slice() else {
            panic!("two renditions")
        };
        assert_eq!((preview.width, preview.height), (1131, 1600));
        assert_eq!((thumbnail.width, thumbnail.height), (181, 256));
        assert_eq!(decoded(preview).height(), 1600);
        assert_eq!(decoded(thumbnail).width(), 181);
    }

    #[test]
    fn a_small_page_is_not_enlarged() {
        let renditions = render(png(200, 100), MediaType::Png).unwrap();
        assert!(renditions.iter().all(|r| (r.width, r.height) == (200, 100)));
    }

    #[test]
    fn a_page_whose_body_is_cut_off_behind_a_valid_header_is_undecodable() {
        let page = png(600, 800);
        let cut = &page[..page.len() / 3];
        let error = render(cut.to_vec(), MediaType::Png).unwrap_err();
        assert!(
            matches!(&error, Unrendered::Undecodable(reason) if reason.contains("does not decode")),
            "{error}"
        );
    }

    #[test]
    fn a_failure_reason_is_one_line() {
        let page = png(600, 800);
        let error = render(page[..page.len() / 3].to_vec(), MediaType::Png).unwrap_err();
        let reason = error.to_string();
        assert!(!reason.ends_with('\n') && !reason.is_empty(), "{error:?}");
    }

    #[test]
    fn random_bytes_behind_a_jpeg_signature_are_undecodable() {
        let mut page = b"\xFF\xD8\xFF\xE0".to_vec();
        page.extend((0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
        assert!(render(page, MediaType::Jpeg).is_err());
    }

    #[test]
    fn a_pdf_that_does_not_parse_is_undecodable() {
        assert!(render(b"%PDF-1.7\nnot really".to_vec(), MediaType::Pdf).is_err());
    }

    /// The scans of tests/fixtures/scans, with the size their preview must have.
    #[test]
    fn archival_scans_render_at_their_proportions() {
        let scans = [
            ("fax-g4-two-pages.tif", MediaType::Tiff, (1257, 1600)),
            ("contract-cmyk.jpg", MediaType::Jpeg, (620, 877)),
            ("contract-cmyk.tif", MediaType::Tiff, (425, 550)),
            ("grey-16bit.tif", MediaType::Tiff, (600, 800)),
            ("scanned.pdf", MediaType::Pdf, (1131, 1600)),
        ];
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scans");
        for (file, media_type, preview_size) in scans {
            let bytes = std::fs::read(dir.join(file)).unwrap();
            let renditions = render(bytes, media_type).unwrap_or_else(|e| panic!("{file}: {e}"));
            let preview = &renditions[1];
            assert_eq!((preview.width, preview.height), preview_size, "{file}");
            let thumbnail = decoded(&renditions[0]);
            assert_eq!(thumbnail.width().max(thumbnail.height()), 256, "{file}");
            // The text shows: dark ink on light paper, not a blank or inverted page.
            let luma = decoded(preview).to_luma8();
            let dark = luma.pixels().filter(|p| p.0[0] < 100).count();
            let share = dark as f64 / luma.pixels().len() as f64;
            assert!(
                (0.02..0.6).contains(&share),
                "{file}: {share:.3} of the page is ink"
            );
        }
    }

    #[test]
    fn a_cmyk_contract_keeps_its_red_seal() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scans");
        let bytes = std::fs::read(dir.join("contract-cmyk.jpg")).unwrap();
        let preview = decoded(&render(bytes, MediaType::Jpeg).unwrap()[1]).to_rgb8();
        // The seal's centre (470, 720 in the scan) is red, not inverted or grey.
        let image::Rgb([r, g, b]) = *preview.get_pixel(470, 720);
        assert!(r > 150 && g < 90 && b < 90, "({r}, {g}, {b})");
    }

    #[test]
    fn kinds_round_trip_through_their_names() {
        for kind in RenditionKind::ALL {
            assert_eq!(RenditionKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(RenditionKind::parse("original"), None);
    }
}
