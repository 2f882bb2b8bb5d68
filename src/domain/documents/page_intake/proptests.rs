//! Arbitrary sequences of filing parts through the page intake, over a store in memory: each
//! ends in exactly the pages a reference model of the rules expects, or in the error it
//! expects, and the store never holds anything but whole pages that were sent.

use std::collections::BTreeSet;

use bytes::Bytes;
use futures::TryStreamExt as _;
use proptest::prelude::*;
use sha2::{Digest, Sha256};

use super::*;
use crate::storage::PageStore;
use crate::testing::proptest_config;

/// What the caller declares at a page start.
#[derive(Debug, Clone, Copy)]
enum Declared {
    Nothing,
    /// The SHA-256 of the bytes that follow.
    Right,
    /// A digest of other bytes.
    Wrong,
}

#[derive(Debug, Clone)]
enum Part {
    Start(Declared),
    Chunk(Vec<u8>),
}

/// A page's first bytes, recognised or nearly so.
fn head() -> impl Strategy<Value = Vec<u8>> {
    let magic = prop::sample::select(vec![
        &b"\xFF\xD8\xFF"[..],
        b"\x89PNG\r\n\x1A\n",
        b"II*\0",
        b"MM\0+",
        b"%PDF-",
        b"%PD",
    ]);
    (magic, prop::collection::vec(any::<u8>(), 0..40)).prop_map(|(magic, tail)| {
        let mut bytes = magic.to_vec();
        bytes.extend(tail);
        bytes
    })
}

fn chunk() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        head(),
        prop::collection::vec(any::<u8>(), 0..12),
        prop::collection::vec(any::<u8>(), 0..600),
        Just(Vec::new()),
    ]
}

fn part() -> impl Strategy<Value = Part> {
    prop_oneof![
        1 => declared().prop_map(Part::Start),
        3 => chunk().prop_map(Part::Chunk),
    ]
}

fn declared() -> impl Strategy<Value = Declared> {
    prop_oneof![
        Just(Declared::Nothing),
        Just(Declared::Right),
        Just(Declared::Wrong)
    ]
}

/// Any parts at all, or mostly well-formed pages (a start, then chunks), so that filings also
/// succeed and reach the later checks.
fn parts() -> impl Strategy<Value = Vec<Part>> {
    let page = (declared(), head(), prop::collection::vec(chunk(), 0..3)).prop_map(
        |(declared, head, chunks)| {
            [Part::Start(declared), Part::Chunk(head)]
                .into_iter()
                .chain(chunks.into_iter().map(Part::Chunk))
                .collect::<Vec<_>>()
        },
    );
    prop_oneof![
        prop::collection::vec(part(), 0..14),
        prop::collection::vec(page, 0..6).prop_map(|pages| pages.concat()),
    ]
}

fn limits() -> impl Strategy<Value = FilingLimits> {
    (1u64..1500, 1u64..3000, 1u32..6).prop_map(|(page, document, pages)| FilingLimits {
        max_page_bytes: page,
        max_document_bytes: document,
        max_pages: pages,
        idle_timeout: Duration::from_secs(60),
    })
}

fn digest(bytes: &[u8]) -> Sha256Digest {
    Sha256Digest(Sha256::digest(bytes).into())
}

/// The digest each page start declares, from the bytes that follow it up to the next start.
fn declarations(parts: &[Part]) -> Vec<Option<Sha256Digest>> {
    let mut declared = Vec::new();
    for (index, part) in parts.iter().enumerate() {
        if let Part::Start(kind) = part {
            let bytes: Vec<u8> = parts[index + 1..]
                .iter()
                .map_while(|part| match part {
                    Part::Chunk(bytes) => Some(bytes.as_slice()),
                    Part::Start(_) => None,
                })
                .flatten()
                .copied()
                .collect();
            declared.push(match kind {
                Declared::Nothing => None,
                Declared::Right => Some(digest(&bytes)),
                Declared::Wrong => Some(digest(&[bytes.as_slice(), b"x"].concat())),
            });
        }
    }
    declared
}

/// How a filing ends: its pages, or the code and (for invalid arguments) the field of its
/// error.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Pages(Vec<PageInfo>),
    Refused(&'static str, Option<&'static str>),
}

fn refused(error: &Error) -> Outcome {
    let field = match error {
        Error::InvalidArgument { field, .. } => Some(*field),
        _ => None,
    };
    Outcome::Refused(error.code_name(), field)
}

/// The rules of the intake written plainly, in the order the intake checks them.
fn expected(parts: &[Part], declared: &[Option<Sha256Digest>], limits: FilingLimits) -> Outcome {
    let invalid = |field| Outcome::Refused("invalid_argument", Some(field));
    let exhausted = Outcome::Refused("resource_exhausted", None);
    let mut pages = Vec::new();
    let mut current: Option<(Option<Sha256Digest>, Vec<u8>)> = None;
    let mut document_bytes = 0u64;
    let mut starts = declared.iter();
    let finish = |(declared, bytes): (Option<Sha256Digest>, Vec<u8>), number: u32| {
        if bytes.is_empty() {
            return Err(invalid("chunk"));
        }
        let head = &bytes[..bytes.len().min(MediaType::SNIFF_LEN)];
        let media_type = MediaType::sniff(head).ok_or(invalid("chunk"))?;
        let sha256 = digest(&bytes);
        if declared.is_some_and(|declared| declared != sha256) {
            return Err(invalid("page_start.sha256"));
        }
        Ok(PageInfo {
            number,
            media_type,
            size_bytes: bytes.len() as u64,
            sha256,
            rendition: crate::domain::RenditionState::Pending,
            // The intake judges scans only with a rule (`judging`).
            scan: crate::domain::ScanCheck::default(),
        })
    };
    for part in parts {
        match part {
            Part::Start(_) => {
                if let Some(page) = current.take() {
                    match finish(page, pages.len() as u32 + 1) {
                        Ok(page) => pages.push(page),
                        Err(outcome) => return outcome,
                    }
                }
                if pages.len() as u32 + 1 > limits.max_pages {
                    return exhausted;
                }
                current = Some((*starts.next().unwrap(), Vec::new()));
            }
            Part::Chunk(bytes) => {
                let Some((_, page)) = current.as_mut() else {
                    return invalid("chunk");
                };
                document_bytes += bytes.len() as u64;
                if document_bytes > limits.max_document_bytes {
                    return exhausted;
                }
                if (page.len() + bytes.len()) as u64 > limits.max_page_bytes {
                    return exhausted;
                }
                let sniffed_before = page.len() >= MediaType::SNIFF_LEN;
                page.extend_from_slice(bytes);
                if !sniffed_before
                    && page.len() >= MediaType::SNIFF_LEN
                    && MediaType::sniff(&page[..MediaType::SNIFF_LEN]).is_none()
                {
                    return invalid("chunk");
                }
            }
        }
    }
    if let Some(page) = current.take() {
        match finish(page, pages.len() as u32 + 1) {
            Ok(page) => pages.push(page),
            Err(outcome) => return outcome,
        }
    }
    Outcome::Pages(pages)
}

/// Feeds the parts as a filing does: the first error ends the intake with `abort`.
async fn run(
    store: &PageStore,
    parts: &[Part],
    declared: &[Option<Sha256Digest>],
    limits: FilingLimits,
) -> Outcome {
    // A budget no case reaches: the property is about the pages, not the shared memory.
    let buffer = FilingBuffer::new(1 << 40);
    let mut intake = PageIntake::new(store, limits, &buffer);
    let mut starts = declared.iter();
    for part in parts {
        let step = match part {
            Part::Start(_) => intake.start_page(*starts.next().unwrap()).await,
            Part::Chunk(bytes) => intake.write(Bytes::copy_from_slice(bytes)).await,
        };
        if let Err(error) = step {
            intake.abort().await;
            return refused(&error);
        }
    }
    match intake.finish().await {
        Ok(pages) => Outcome::Pages(pages),
        Err(error) => refused(&error),
    }
}

/// The digests of every page the parts send whole (its bytes up to the next start or the end).
fn whole_pages(parts: &[Part]) -> BTreeSet<[u8; 32]> {
    let mut pages = BTreeSet::new();
    let mut current: Option<Vec<u8>> = None;
    for part in parts {
        match part {
            Part::Start(_) => {
                if let Some(bytes) = current.replace(Vec::new()) {
                    pages.insert(digest(&bytes).0);
                }
            }
            Part::Chunk(bytes) => {
                if let Some(page) = current.as_mut() {
                    page.extend_from_slice(bytes);
                }
            }
        }
    }
    if let Some(bytes) = current {
        pages.insert(digest(&bytes).0);
    }
    pages
}

proptest! {
    #![proptest_config(proptest_config(64))]

    #[test]
    fn proptest_page_intake_stores_whole_pages_or_refuses_cleanly(
        parts in parts(),
        limits in limits(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let store = PageStore::in_memory();
        let declared = declarations(&parts);
        let outcome = runtime.block_on(run(&store, &parts, &declared, limits));
        prop_assert_eq!(&outcome, &expected(&parts, &declared, limits));

        let stored: Vec<(Sha256Digest, _)> =
            runtime.block_on(store.list_contents().try_collect()).unwrap();
        let staging: Vec<(String, _)> =
            runtime.block_on(store.list_staging().try_collect()).unwrap();
        prop_assert!(staging.is_empty(), "staging objects left: {staging:?}");
        let whole = whole_pages(&parts);
        for (sha256, _) in &stored {
            // Content addressed: each object is exactly the bytes of one page sent whole.
            let bytes: Vec<Bytes> = runtime
                .block_on(async { store.read(sha256).await?.try_collect().await })
                .unwrap();
            prop_assert_eq!(digest(&bytes.concat()), *sha256);
            prop_assert!(whole.contains(&sha256.0), "{sha256:?} is not a page sent whole");
        }
        if let Outcome::Pages(pages) = &outcome {
            let stored: BTreeSet<_> = stored.iter().map(|(sha256, _)| sha256.0).collect();
            let filed: BTreeSet<_> = pages.iter().map(|page| page.sha256.0).collect();
            prop_assert_eq!(stored, filed);
        }
    }
}
