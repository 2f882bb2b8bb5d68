//! Doing a thing through the API as a caller would: the messages of a customer, a filing and a
//! correction, a filing held open, and the calls that several test files make (completeness,
//! retention, corrections).

use bytes::Bytes;
use custodian::proto::v1 as pb;
use custodian::proto::v1::correct_document_request;
use custodian::proto::v1::document_service_client::DocumentServiceClient;
use custodian::proto::v1::file_document_request::Part;
use futures::StreamExt;
use prost_types::FieldMask;
use tokio::task::JoinHandle;

use super::app::{Clients, TestApp};
use super::pages::jpeg_page;
use super::tokens::{Authorized, Token};

impl TestApp {
    /// Opens a residential customer of account `account` in county 120101 and returns it.
    pub async fn create_customer(&mut self, account: &str) -> pb::Customer {
        self.customers
            .create_customer(pb::CreateCustomerRequest {
                customer: Some(customer(account, "120101")),
            })
            .await
            .expect("the customer is created")
            .into_inner()
    }

    /// Files a document and returns the reply or the status.
    pub async fn file(
        &mut self,
        messages: Vec<pb::FileDocumentRequest>,
    ) -> Result<pb::Document, tonic::Status> {
        self.documents
            .file_document(futures::stream::iter(messages))
            .await
            .map(tonic::Response::into_inner)
    }

    /// Reads a whole page back: its metadata and its bytes.
    pub async fn read_page(&mut self, name: &str) -> Result<(pb::Page, Vec<u8>), tonic::Status> {
        let mut stream = self
            .pages
            .read_page(pb::ReadPageRequest {
                name: name.into(),
                ..Default::default()
            })
            .await?
            .into_inner();
        let mut page = None;
        let mut bytes = Vec::new();
        while let Some(message) = stream.next().await {
            let message = message?;
            if message.page.is_some() {
                assert!(page.is_none(), "only the first message carries the page");
                page = message.page;
            }
            bytes.extend_from_slice(&message.chunk);
        }
        Ok((page.expect("the first message carries the page"), bytes))
    }

    /// Lists every document of an account, following page tokens.
    pub async fn list_all(&mut self, request: pb::ListDocumentsRequest) -> Vec<pb::Document> {
        let mut documents = Vec::new();
        let mut request = request;
        loop {
            let response = self
                .documents
                .list_documents(request.clone())
                .await
                .expect("listing succeeds")
                .into_inner();
            documents.extend(response.documents);
            if response.next_page_token.is_empty() {
                return documents;
            }
            request.page_token = response.next_page_token;
        }
    }
}

pub fn customer(account: &str, org_unit: &str) -> pb::Customer {
    pb::Customer {
        account_number: account.into(),
        display_name: format!("Customer {account}"),
        customer_class: pb::CustomerClass::Residential.into(),
        org_unit_code: org_unit.into(),
        ..Default::default()
    }
}

/// A filing header with sensible defaults for `account`.
pub fn header(account: &str, request_id: &str) -> pb::FilingHeader {
    pb::FilingHeader {
        parent: format!("customers/{account}"),
        document_type: "application-form".into(),
        business_process: pb::BusinessProcess::NewConnection.into(),
        work_order_number: "WO-1".into(),
        title: "居民新装用电申请书".into(),
        // Empty: the calling system named by the token.
        source_system: String::new(),
        client_request_id: request_id.into(),
        legacy_origin: None,
        paper_location: None,
    }
}

/// The messages of a filing: the header, then each page in chunks of `chunk_size`.
pub fn filing(
    header: pb::FilingHeader,
    pages: &[Vec<u8>],
    chunk_size: usize,
) -> Vec<pb::FileDocumentRequest> {
    let mut messages = vec![message(Part::Header(header))];
    for page in pages {
        messages.push(message(Part::PageStart(pb::PageStart::default())));
        for chunk in page.chunks(chunk_size) {
            messages.push(message(Part::Chunk(Bytes::copy_from_slice(chunk))));
        }
    }
    messages
}

/// Starts a filing that stays open: the header and a `page_start` are sent, and the test sends
/// (or withholds) the page's chunks through the returned sender, then awaits the call.
pub async fn open_filing(
    mut client: DocumentServiceClient<Authorized>,
    account: &str,
    request_id: &str,
) -> (
    tokio::sync::mpsc::Sender<pb::FileDocumentRequest>,
    JoinHandle<Result<tonic::Response<pb::Document>, tonic::Status>>,
) {
    // Room for one message: each send returns once the client has taken the one before.
    let (sender, receiver) = tokio::sync::mpsc::channel(1);
    let call = tokio::spawn(async move {
        client
            .file_document(tokio_stream::wrappers::ReceiverStream::new(receiver))
            .await
    });
    sender
        .send(message(Part::Header(header(account, request_id))))
        .await
        .expect("the call takes the header");
    sender
        .send(message(Part::PageStart(pb::PageStart::default())))
        .await
        .expect("the call takes the page start");
    (sender, call)
}

pub fn message(part: Part) -> pb::FileDocumentRequest {
    pb::FileDocumentRequest { part: Some(part) }
}

// Completeness: an account of a class, and one-page filings for a case.

/// Opens an account of `class` in `org_unit`.
pub async fn open(app: &mut TestApp, account: &str, class: pb::CustomerClass, org_unit: &str) {
    app.customers
        .create_customer(pb::CreateCustomerRequest {
            customer: Some(pb::Customer {
                customer_class: class.into(),
                ..customer(account, org_unit)
            }),
        })
        .await
        .expect("the customer is created");
}

/// Files a one-page document of `document_type` for the case (`process`, `work_order`).
pub async fn file(
    app: &mut TestApp,
    account: &str,
    document_type: &str,
    process: pb::BusinessProcess,
    work_order: &str,
) -> pb::Document {
    let header = pb::FilingHeader {
        document_type: document_type.into(),
        business_process: process.into(),
        work_order_number: work_order.into(),
        title: format!("{document_type} {work_order}"),
        ..header(account, &uuid::Uuid::new_v4().to_string())
    };
    app.file(filing(header, &[jpeg_page(100, rand_seed())], 100))
        .await
        .expect("filing never waits for completeness")
}

fn rand_seed() -> u64 {
    uuid::Uuid::new_v4().as_u64_pair().0
}

pub async fn completeness(
    app: &mut TestApp,
    account: &str,
    process: pb::BusinessProcess,
    work_order: &str,
) -> pb::Completeness {
    app.completeness
        .get_completeness(pb::GetCompletenessRequest {
            name: format!("customers/{account}/completeness"),
            business_process: process.into(),
            work_order_number: work_order.into(),
        })
        .await
        .expect("completeness is answered")
        .into_inner()
}

// Retention: a filing of a given type, and its retention.

/// Files a one-page document of `document_type` and returns its name.
pub async fn file_typed(
    app: &mut TestApp,
    account: &str,
    document_type: &str,
    seed: u64,
) -> String {
    let header = pb::FilingHeader {
        document_type: document_type.into(),
        title: format!("{document_type} {seed}"),
        ..header(account, &format!("{document_type}-{seed}"))
    };
    app.file(filing(header, &[jpeg_page(300, seed)], 300))
        .await
        .expect("the document is filed")
        .name
}

pub async fn retention(app: &mut TestApp, document: &str) -> pb::Retention {
    app.clients_as(&Token::custodian())
        .retention
        .get_retention(pb::GetRetentionRequest {
            name: document.into(),
        })
        .await
        .expect("the retention is read")
        .into_inner()
}

// Versions: the messages of a correction, and the call.

pub fn part(part: correct_document_request::Part) -> pb::CorrectDocumentRequest {
    pb::CorrectDocumentRequest { part: Some(part) }
}

/// A correction header that changes the title of `name`, made against `expected_version`.
pub fn retitle(name: &str, expected_version: i32, title: &str) -> pb::CorrectionHeader {
    pb::CorrectionHeader {
        name: name.into(),
        expected_version,
        reason: "标题有误".into(),
        document: Some(pb::Document {
            title: title.into(),
            ..Default::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["title".into()],
        }),
    }
}

pub async fn correct(
    clients: &mut Clients,
    header: pb::CorrectionHeader,
    pages: Vec<pb::CorrectDocumentRequest>,
) -> Result<pb::Document, tonic::Status> {
    let mut messages = vec![part(correct_document_request::Part::Header(header))];
    messages.extend(pages);
    clients
        .documents
        .correct_document(futures::stream::iter(messages))
        .await
        .map(tonic::Response::into_inner)
}

/// Changes the fields `paths` name of customer `account` to those of `customer`.
pub async fn update_customer(
    app: &mut TestApp,
    account: &str,
    customer: pb::Customer,
    paths: &[&str],
) -> pb::Customer {
    app.customers
        .update_customer(pb::UpdateCustomerRequest {
            customer: Some(pb::Customer {
                name: format!("customers/{account}"),
                ..customer
            }),
            update_mask: Some(FieldMask {
                paths: paths.iter().map(|p| p.to_string()).collect(),
            }),
        })
        .await
        .expect("the customer is updated")
        .into_inner()
}
