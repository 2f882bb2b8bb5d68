//! The single calls the workloads repeat: through Custodian (gRPC, with a bearer token) and
//! straight to the object store (the limit). Each returns the payload bytes it moved.

use std::sync::Arc;

use bytes::Bytes;
use custodian::proto::v1 as pb;
use custodian::proto::v1::document_service_client::DocumentServiceClient;
use custodian::proto::v1::file_document_request::Part;
use custodian::proto::v1::lending_service_client::LendingServiceClient;
use custodian::proto::v1::page_service_client::PageServiceClient;
use custodian::proto::v1::search_service_client::SearchServiceClient;
use custodian::proto::v1::statistics_service_client::StatisticsServiceClient;
use futures::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

/// What every Custodian call needs: a connection and the caller's token.
#[derive(Clone)]
pub struct Caller {
    pub channel: Channel,
    pub bearer: MetadataValue<Ascii>,
}

impl Caller {
    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", self.bearer.clone());
        request
    }

    pub async fn health(&self) -> anyhow::Result<u64> {
        HealthClient::new(self.channel.clone())
            .check(HealthCheckRequest::default())
            .await?;
        Ok(0)
    }

    pub async fn get_document(&self, name: &str) -> anyhow::Result<u64> {
        let document = DocumentServiceClient::new(self.channel.clone())
            .get_document(self.request(pb::GetDocumentRequest {
                name: name.into(),
                ..Default::default()
            }))
            .await?;
        anyhow::ensure!(
            !document.get_ref().pages.is_empty(),
            "a document without pages"
        );
        Ok(0)
    }

    pub async fn list_documents(&self, parent: &str) -> anyhow::Result<u64> {
        let listing = DocumentServiceClient::new(self.channel.clone())
            .list_documents(self.request(pb::ListDocumentsRequest {
                parent: parent.into(),
                ..Default::default()
            }))
            .await?;
        anyhow::ensure!(!listing.get_ref().documents.is_empty(), "an empty archive");
        Ok(0)
    }

    /// Reads a whole page; returns its size.
    pub async fn read_page(&self, name: &str) -> anyhow::Result<u64> {
        let mut stream = PageServiceClient::new(self.channel.clone())
            .read_page(self.request(pb::ReadPageRequest {
                name: name.into(),
                ..Default::default()
            }))
            .await?
            .into_inner();
        let mut bytes = 0;
        while let Some(message) = stream.next().await {
            bytes += message?.chunk.len() as u64;
        }
        Ok(bytes)
    }

    /// Files one document; returns the page bytes sent and the filed document.
    pub async fn file_document(
        &self,
        parent: &str,
        request_id: String,
        pages: Vec<Vec<Bytes>>,
    ) -> anyhow::Result<(u64, pb::Document)> {
        let undeclared = vec![String::new(); pages.len()];
        self.file_declared(parent, request_id, pages, undeclared)
            .await
    }

    /// Files one document whose `page_start`s declare these SHA-256 digests (hex), as the
    /// `custodian file` client does; an empty string declares none.
    pub async fn file_declared(
        &self,
        parent: &str,
        request_id: String,
        pages: Vec<Vec<Bytes>>,
        checksums: Vec<String>,
    ) -> anyhow::Result<(u64, pb::Document)> {
        let part = |part| pb::FileDocumentRequest { part: Some(part) };
        let mut messages = vec![part(Part::Header(pb::FilingHeader {
            parent: parent.into(),
            document_type: "application-form".into(),
            business_process: pb::BusinessProcess::NewConnection.into(),
            work_order_number: "YX202611BENCH".into(),
            title: "居民新装用电申请书".into(),
            source_system: "archive-desk".into(),
            client_request_id: request_id,
            legacy_origin: None,
            paper_location: None,
        }))];
        let mut bytes = 0;
        for (chunks, sha256) in pages.into_iter().zip(checksums) {
            messages.push(part(Part::PageStart(pb::PageStart { sha256 })));
            for chunk in chunks {
                bytes += chunk.len() as u64;
                messages.push(part(Part::Chunk(chunk)));
            }
        }
        let document = DocumentServiceClient::new(self.channel.clone())
            .file_document(self.request(futures::stream::iter(messages)))
            .await?
            .into_inner();
        Ok((bytes, document))
    }
}

/// The SHA-256 (hex) of each page, as a caller computes it before filing.
pub fn checksums(pages: &[Vec<Bytes>]) -> Vec<String> {
    use sha2::{Digest, Sha256};
    pages
        .iter()
        .map(|chunks| {
            let mut hasher = Sha256::new();
            chunks.iter().for_each(|chunk| hasher.update(chunk));
            hex::encode(hasher.finalize())
        })
        .collect()
}

/// Reads a whole object; returns its size.
pub async fn direct_get(store: &Arc<dyn ObjectStore>, key: &Path) -> anyhow::Result<u64> {
    let mut stream = store.get(key).await?.into_stream();
    let mut bytes = 0;
    while let Some(chunk) = stream.next().await {
        bytes += chunk?.len() as u64;
    }
    Ok(bytes)
}

/// Writes the pages as objects, one after the other as a filing does; small ones with one
/// PUT, large ones as multipart uploads with the server's part size and parts in flight.
pub async fn direct_put(
    store: &Arc<dyn ObjectStore>,
    prefix: &str,
    pages: Vec<Vec<Bytes>>,
) -> anyhow::Result<u64> {
    let mut bytes = 0;
    for (number, chunks) in pages.into_iter().enumerate() {
        let key = Path::from(format!("{prefix}/{number}"));
        let size: usize = chunks.iter().map(Bytes::len).sum();
        bytes += size as u64;
        if size < custodian::storage::PART_SIZE {
            store.put(&key, chunks.into_iter().collect()).await?;
        } else {
            let mut upload = WriteMultipart::new_with_chunk_size(
                store.put_multipart(&key).await?,
                custodian::storage::PART_SIZE,
            );
            for chunk in chunks {
                upload.wait_for_capacity(2).await?;
                upload.put(chunk);
            }
            upload.finish().await?;
        }
    }
    Ok(bytes)
}

/// The calls of the newer read paths: lean listings, page URLs, searches, loans.
impl Caller {
    /// Lists an archive's first page of documents in `view`.
    pub async fn list_view(&self, parent: &str, view: pb::DocumentView) -> anyhow::Result<u64> {
        let listing = DocumentServiceClient::new(self.channel.clone())
            .list_documents(self.request(pb::ListDocumentsRequest {
                parent: parent.into(),
                view: view.into(),
                ..Default::default()
            }))
            .await?;
        anyhow::ensure!(!listing.get_ref().documents.is_empty(), "an empty archive");
        Ok(0)
    }

    /// Signs URLs for the first `pages` pages of a document.
    pub async fn sign_page_urls(&self, name: &str, pages: i32) -> anyhow::Result<u64> {
        let signed = PageServiceClient::new(self.channel.clone())
            .sign_page_urls(self.request(pb::SignPageUrlsRequest {
                name: name.into(),
                page_numbers: (1..=pages).collect(),
                ..Default::default()
            }))
            .await?;
        anyhow::ensure!(
            signed.get_ref().urls.len() == pages as usize,
            "{} URLs for {pages} pages",
            signed.get_ref().urls.len()
        );
        Ok(0)
    }

    /// One page of a document search; `at_least_one` refuses an empty result (a selective
    /// query sampled from the data always has a hit), and a basic view with pages is refused.
    pub async fn search_documents(
        &self,
        search: pb::SearchDocumentsRequest,
        at_least_one: bool,
    ) -> anyhow::Result<u64> {
        let basic = search.view() == pb::DocumentView::Basic;
        let found = SearchServiceClient::new(self.channel.clone())
            .search_documents(self.request(search))
            .await?;
        let documents = &found.get_ref().documents;
        anyhow::ensure!(!at_least_one || !documents.is_empty(), "no document found");
        anyhow::ensure!(
            !basic || documents.iter().all(|d| d.pages.is_empty()),
            "pages in the basic view"
        );
        Ok(0)
    }

    pub async fn search_customers(
        &self,
        search: pb::SearchCustomersRequest,
    ) -> anyhow::Result<u64> {
        let found = SearchServiceClient::new(self.channel.clone())
            .search_customers(self.request(search))
            .await?;
        anyhow::ensure!(!found.get_ref().customers.is_empty(), "no customer found");
        Ok(0)
    }

    /// Asks for a loan of these documents, due in a day; returns its name.
    pub async fn request_loan(&self, documents: &[String]) -> anyhow::Result<String> {
        let due = std::time::SystemTime::now() + std::time::Duration::from_secs(24 * 3600);
        let loan = LendingServiceClient::new(self.channel.clone())
            .request_loan(
                self.request(pb::RequestLoanRequest {
                    items: documents
                        .iter()
                        .map(|name| pb::LoanItem {
                            name: name.clone(),
                            pages: Vec::new(),
                        })
                        .collect(),
                    purpose: pb::LoanPurpose::BusinessHandling.into(),
                    purpose_note: "county benchmark: reads under a loan".into(),
                    start_time: None,
                    due_time: Some(due.into()),
                }),
            )
            .await?;
        Ok(loan.into_inner().name)
    }

    /// Approves a loan as asked, personal data in full.
    pub async fn approve_loan(&self, name: &str) -> anyhow::Result<()> {
        LendingServiceClient::new(self.channel.clone())
            .approve_loan(self.request(pb::ApproveLoanRequest {
                name: name.into(),
                personal_data: pb::LoanPersonalData::Full.into(),
                note: "county benchmark".into(),
                ..Default::default()
            }))
            .await?;
        Ok(())
    }

    /// Returns a loan (the end of the lending rounds).
    pub async fn return_loan(&self, name: &str) -> anyhow::Result<()> {
        LendingServiceClient::new(self.channel.clone())
            .return_loan(self.request(pb::ReturnLoanRequest {
                name: name.into(),
                note: "county benchmark done".into(),
            }))
            .await?;
        Ok(())
    }
}

impl Caller {
    /// One statistics answer; refuses an empty one.
    pub async fn get_statistics(&self, request: pb::GetStatisticsRequest) -> anyhow::Result<u64> {
        let answer = StatisticsServiceClient::new(self.channel.clone())
            .get_statistics(self.request(request))
            .await?;
        anyhow::ensure!(
            !answer.get_ref().documents.is_empty(),
            "no documents counted"
        );
        Ok(0)
    }
}
