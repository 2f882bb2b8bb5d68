//! Whether a decoded page is blank: near-uniform, with (almost) no pixel far from the paper's
//! own tone. Run by the rendition workers on the preview they make anyway (at most 1600 px on
//! the long side), so it costs one pass over about two million pixels and no second decode.

use image::DynamicImage;

/// How far from the paper's tone (the median grey) a pixel must be to count as ink.
const INK_CONTRAST: u8 = 64;
/// Below this share of ink pixels a page is blank: a single handwritten word on an A4 preview
/// is about ten times as much, scanner dust and a punched hole less.
const MAX_BLANK_INK: f64 = 0.0002;

/// Whether the page is blank (near-uniform), judged on its decoded image.
pub fn is_blank(page: &DynamicImage) -> bool {
    let grey = page.to_luma8();
    let pixels = grey.as_raw();
    if pixels.is_empty() {
        return true;
    }
    let mut histogram = [0u64; 256];
    for &value in pixels {
        histogram[value as usize] += 1;
    }
    let half = pixels.len() as u64 / 2;
    let mut seen = 0;
    let paper = (0..=255u8)
        .find(|&value| {
            seen += histogram[value as usize];
            seen > half
        })
        .unwrap_or(255);
    let ink: u64 = (0..=255u8)
        .filter(|value| value.abs_diff(paper) > INK_CONTRAST)
        .map(|value| histogram[value as usize])
        .sum();
    (ink as f64 / pixels.len() as f64) < MAX_BLANK_INK
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, Luma, Rgb, RgbImage};

    #[test]
    fn a_white_page_with_scanner_noise_is_blank() {
        let page = GrayImage::from_fn(1131, 1600, |x, y| {
            Luma([240 + ((x * 7 + y * 13) % 9) as u8])
        });
        assert!(is_blank(&DynamicImage::ImageLuma8(page)));
    }

    #[test]
    fn a_page_with_one_line_of_text_is_not_blank() {
        let mut page = RgbImage::from_pixel(1131, 1600, Rgb([250, 248, 240]));
        for x in 100..400 {
            for y in 200..212 {
                if x % 6 < 3 {
                    page.put_pixel(x, y, Rgb([20, 20, 20]));
                }
            }
        }
        assert!(!is_blank(&DynamicImage::ImageRgb8(page)));
    }

    #[test]
    fn a_uniform_dark_page_is_blank_too() {
        let page = GrayImage::from_pixel(100, 100, Luma([10]));
        assert!(is_blank(&DynamicImage::ImageLuma8(page)));
    }
}
