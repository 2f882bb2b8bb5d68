//! Page contents and files of the repository: deterministic pages of each format, their
//! SHA-256, and the fixtures (keys, policy) found at run time.

use std::path::PathBuf;

/// A JPEG-looking page of `size` bytes whose content depends on `seed`.
pub fn jpeg_page(size: usize, seed: u64) -> Vec<u8> {
    page_with_magic(b"\xFF\xD8\xFF\xE0", size, seed)
}

pub fn png_page(size: usize, seed: u64) -> Vec<u8> {
    page_with_magic(b"\x89PNG\r\n\x1A\n", size, seed)
}

pub fn pdf_page(size: usize, seed: u64) -> Vec<u8> {
    page_with_magic(b"%PDF-1.7\n", size, seed)
}

fn page_with_magic(magic: &[u8], size: usize, seed: u64) -> Vec<u8> {
    assert!(size >= magic.len());
    let mut bytes = magic.to_vec();
    // xorshift64: cheap, deterministic noise that does not compress or repeat.
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while bytes.len() < size {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(size);
    bytes
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

pub fn fixture(name: &str) -> PathBuf {
    repository_file("tests/fixtures").join(name)
}

/// A file of this repository, found at run time: a test binary may have been
/// built in another clone sharing the target directory, so the compile-time
/// `env!("CARGO_MANIFEST_DIR")` can name a checkout that no longer exists.
pub fn repository_file(relative: &str) -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .join(relative)
}

/// A document as filed, whatever its pages' renditions have come to since: they are made in
/// the background, so a reply and a later read of the same document may differ only there.
pub fn ignoring_renditions(
    mut document: custodian::proto::v1::Document,
) -> custodian::proto::v1::Document {
    document.pages = document
        .pages
        .into_iter()
        .map(page_ignoring_renditions)
        .collect();
    document
}

/// A page without its rendition state (see [`ignoring_renditions`]), nor what the rendition
/// worker adds to its scan check (whether it is blank).
pub fn page_ignoring_renditions(page: custodian::proto::v1::Page) -> custodian::proto::v1::Page {
    let scan_check = page
        .scan_check
        .map(|check| custodian::proto::v1::ScanCheck {
            blank_checked: false,
            ..check
        });
    custodian::proto::v1::Page {
        rendition_state: 0,
        rendition_failure: String::new(),
        scan_check,
        ..page
    }
}
