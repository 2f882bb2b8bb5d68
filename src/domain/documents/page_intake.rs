//! Receiving the pages of a document as a stream: each page is checked (media type by its
//! first bytes, size limits, the declared SHA-256, its scan against the type's rule) and hashed
//! chunk by chunk while its bytes go to the store. Filing and correction both take their pages
//! through here.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;

use super::filing_buffer::{FilingBuffer, Reservation};
use super::pages::{MediaType, PageInfo, Sha256Digest};
use super::renditions::RenditionState;
use crate::domain::{Error, HeaderProbe, ScanCheck, ScanRule};
use crate::storage::{PageStore, PageUpload};

/// Size limits of one filing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilingLimits {
    pub max_page_bytes: u64,
    pub max_document_bytes: u64,
    pub max_pages: u32,
    /// How long the stream may stay silent before the filing is abandoned; bounds what a
    /// caller that vanished without closing its stream holds on to.
    pub idle_timeout: Duration,
}

/// Finished pages whose objects may still be uploading while the next page arrives: receiving
/// overlaps with storing. Only pages stored with one PUT overlap, each holding less than one
/// part (`PART_SIZE`) in memory.
const PAGES_IN_FLIGHT: usize = 2;

/// The pages of one new document version, as they arrive.
pub(super) struct PageIntake<'a> {
    store: &'a PageStore,
    limits: FilingLimits,
    buffer: &'a FilingBuffer,
    /// Pages stored, in order.
    pages: Vec<PageInfo>,
    /// Pages checked and uploading, in order after `pages`.
    uploading: VecDeque<JoinHandle<Result<PageInfo, Error>>>,
    current: Option<PageInProgress>,
    document_bytes: u64,
    /// The rule each new page's scan is judged against; without one pages are not judged.
    rule: Option<&'a ScanRule>,
}

impl<'a> PageIntake<'a> {
    pub(super) fn new(
        store: &'a PageStore,
        limits: FilingLimits,
        buffer: &'a FilingBuffer,
    ) -> Self {
        Self {
            store,
            limits,
            buffer,
            pages: Vec::new(),
            uploading: VecDeque::new(),
            current: None,
            document_bytes: 0,
            rule: None,
        }
    }

    /// Judges each new page's scan against `rule` (a kept page keeps its check).
    pub(super) fn judging(mut self, rule: &'a ScanRule) -> Self {
        self.rule = Some(rule);
        self
    }

    /// The number the next page gets, after finishing the one in progress.
    async fn next_number(&mut self) -> Result<u32, Error> {
        if let Some(page) = self.current.take() {
            let multipart = page.upload.is_multipart();
            let upload = page.finish(self.rule).await?;
            while self.uploading.len() >= PAGES_IN_FLIGHT {
                self.wait_for_oldest().await?;
            }
            self.uploading.push_back(tokio::spawn(upload));
            // A large page's last parts stay in memory until its upload completes: let it
            // complete before the next page buffers, so a filing holds one page's parts.
            if multipart {
                while !self.uploading.is_empty() {
                    self.wait_for_oldest().await?;
                }
            }
        }
        let number = (self.pages.len() + self.uploading.len()) as u32 + 1;
        if number > self.limits.max_pages {
            return Err(Error::ResourceExhausted(format!(
                "a document may have at most {} pages",
                self.limits.max_pages
            )));
        }
        Ok(number)
    }

    /// Starts the next page, optionally with the checksum the caller computed.
    pub(super) async fn start_page(
        &mut self,
        expected_sha256: Option<Sha256Digest>,
    ) -> Result<(), Error> {
        let number = self.next_number().await?;
        let upload = self.store.begin_upload(expected_sha256.as_ref());
        let reservation = Reservation::new(self.buffer);
        self.current = Some(PageInProgress::new(
            number,
            expected_sha256,
            upload,
            reservation,
        ));
        Ok(())
    }

    /// Takes a page already in the store (kept from an earlier version) as the next page.
    pub(super) async fn keep(&mut self, page: &PageInfo) -> Result<(), Error> {
        let number = self.next_number().await?;
        self.count_bytes(page.size_bytes)?;
        let kept = PageInfo {
            number,
            ..page.clone()
        };
        // Queued behind the uploads of the pages before it, so the pages stay in order.
        self.uploading
            .push_back(tokio::spawn(std::future::ready(Ok(kept))));
        Ok(())
    }

    /// Adds the next bytes of the page in progress.
    pub(super) async fn write(&mut self, bytes: Bytes) -> Result<(), Error> {
        if self.current.is_none() {
            return Err(Error::invalid(
                "chunk",
                "page bytes arrived before the first page_start",
            ));
        }
        self.count_bytes(bytes.len() as u64)?;
        match self.current.as_mut() {
            Some(page) => page.write(bytes, &self.limits).await,
            None => Ok(()),
        }
    }

    fn count_bytes(&mut self, bytes: u64) -> Result<(), Error> {
        self.document_bytes += bytes;
        if self.document_bytes > self.limits.max_document_bytes {
            return Err(Error::ResourceExhausted(format!(
                "a document may have at most {} bytes",
                self.limits.max_document_bytes
            )));
        }
        Ok(())
    }

    /// Finishes the page in progress and returns every page in order (possibly none).
    /// Every page object is stored when this returns: the caller commits the rows next.
    pub(super) async fn finish(mut self) -> Result<Vec<PageInfo>, Error> {
        if let Some(page) = self.current.take() {
            let upload = page.finish(self.rule).await?;
            self.uploading.push_back(tokio::spawn(upload));
        }
        while !self.uploading.is_empty() {
            self.wait_for_oldest().await?;
        }
        Ok(std::mem::take(&mut self.pages))
    }

    /// Waits until the oldest upload is stored.
    async fn wait_for_oldest(&mut self) -> Result<(), Error> {
        if let Some(upload) = self.uploading.pop_front() {
            let page = upload.await.map_err(|error| {
                Error::Unexpected(anyhow::anyhow!("page upload failed: {error}"))
            })??;
            self.pages.push(page);
        }
        Ok(())
    }

    /// Gives up, removing the parts of the page in progress.
    pub(super) async fn abort(mut self) {
        if let Some(page) = self.current.take() {
            page.upload.abort().await;
        }
    }
}

/// Uploads still running when a filing ends early are stopped; what they wrote is at most an
/// unreferenced object (see the storage contract).
impl Drop for PageIntake<'_> {
    fn drop(&mut self) {
        for upload in &self.uploading {
            upload.abort();
        }
    }
}

/// A page being received: checked and hashed chunk by chunk while its bytes go to the store.
struct PageInProgress {
    number: u32,
    expected_sha256: Option<Sha256Digest>,
    upload: PageUpload,
    hasher: Sha256,
    size: u64,
    head: Vec<u8>,
    media_type: Option<MediaType>,
    /// The header bytes its scan is judged from.
    probe: HeaderProbe,
    /// The page's share of the memory every filing together may hold.
    reservation: Reservation,
}

impl PageInProgress {
    fn new(
        number: u32,
        expected_sha256: Option<Sha256Digest>,
        upload: PageUpload,
        reservation: Reservation,
    ) -> Self {
        Self {
            number,
            expected_sha256,
            upload,
            reservation,
            hasher: Sha256::new(),
            size: 0,
            head: Vec::with_capacity(MediaType::SNIFF_LEN),
            media_type: None,
            probe: HeaderProbe::new(),
        }
    }

    async fn write(&mut self, bytes: Bytes, limits: &FilingLimits) -> Result<(), Error> {
        let max_page_bytes = limits.max_page_bytes;
        self.size += bytes.len() as u64;
        if self.size > max_page_bytes {
            return Err(Error::ResourceExhausted(format!(
                "page {} is larger than the limit of {max_page_bytes} bytes per page",
                self.number
            )));
        }
        if self.media_type.is_none() {
            let wanted = MediaType::SNIFF_LEN - self.head.len();
            self.head
                .extend_from_slice(&bytes[..wanted.min(bytes.len())]);
            if self.head.len() == MediaType::SNIFF_LEN {
                self.media_type = Some(self.sniff()?);
            }
        }
        // Room in memory first: the bytes are buffered until their part is sent.
        self.reservation
            .cover(self.size, limits.idle_timeout)
            .await?;
        self.hasher.update(&bytes);
        self.probe.observe(&bytes);
        self.upload.write(bytes).await?;
        Ok(())
    }

    fn sniff(&self) -> Result<MediaType, Error> {
        MediaType::sniff(&self.head).ok_or_else(|| {
            Error::invalid(
                "chunk",
                format!(
                    "page {} is not a JPEG, PNG, TIFF or PDF file (judged by its first bytes)",
                    self.number
                ),
            )
        })
    }

    /// Checks the page (and judges its scan against `rule`, refusing it if the rule says so)
    /// and returns the upload that stores it, to run while the next page arrives.
    async fn finish(
        self,
        rule: Option<&ScanRule>,
    ) -> Result<impl Future<Output = Result<PageInfo, Error>> + Send + 'static, Error> {
        if self.size == 0 {
            return Err(Error::invalid(
                "chunk",
                format!("page {} is empty", self.number),
            ));
        }
        let media_type = match self.media_type {
            Some(media_type) => media_type,
            None => match self.sniff() {
                Ok(media_type) => media_type,
                Err(error) => {
                    self.upload.abort().await;
                    return Err(error);
                }
            },
        };
        let sha256 = Sha256Digest(self.hasher.finalize().into());
        if let Some(expected) = self.expected_sha256
            && expected != sha256
        {
            self.upload.abort().await;
            return Err(Error::invalid(
                "page_start.sha256",
                format!(
                    "page {} arrived with SHA-256 {} but page_start declared {}",
                    self.number,
                    sha256.to_hex(),
                    expected.to_hex()
                ),
            ));
        }
        let scan = match rule {
            Some(rule) => {
                let warnings = rule.judge(media_type, &self.probe.facts(media_type));
                if rule.refuse_on_warning && !warnings.is_empty() {
                    self.upload.abort().await;
                    return Err(Error::FailedPrecondition(format!(
                        "page {} was refused: {}; the scan rule of {} refuses pages with warnings, so nothing was filed: rescan the page",
                        self.number,
                        warnings.join("; "),
                        rule.document_type
                    )));
                }
                ScanCheck::judged(warnings)
            }
            None => ScanCheck::default(),
        };
        let page = PageInfo {
            number: self.number,
            media_type,
            size_bytes: self.size,
            sha256,
            // Queued with the filing's commit (a content stored before keeps its own state).
            rendition: RenditionState::Pending,
            scan,
        };
        let upload = self.upload;
        let reservation = self.reservation;
        Ok(async move {
            upload.finish(&page.sha256).await?;
            // The page's bytes have left memory.
            drop(reservation);
            Ok(page)
        })
    }
}

#[cfg(test)]
mod proptests;
