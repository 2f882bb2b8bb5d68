//! Doing a thing through the API as a caller would: the messages of a customer and of a filing,
//! a filing held open, and the calls tests make over and over.

use bytes::Bytes;
use custodian::proto::v1 as pb;
use custodian::proto::v1::document_service_client::DocumentServiceClient;
use custodian::proto::v1::file_document_request::Part;
use futures::StreamExt;
use tokio::task::JoinHandle;

use super::app::TestApp;
use super::tokens::Authorized;

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
