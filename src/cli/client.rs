//! Client subcommands: open a customer, file page images, list an archive, save a page, and
//! the custodian's lending work (`loans`, `paper`).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use clap::{Args, Subcommand, ValueEnum};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;
use tokio::io::AsyncWriteExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::proto::v1 as pb;
use crate::proto::v1::customer_service_client::CustomerServiceClient;
use crate::proto::v1::document_service_client::DocumentServiceClient;
use crate::proto::v1::document_type_service_client::DocumentTypeServiceClient;
use crate::proto::v1::file_document_request::Part;
use crate::proto::v1::page_service_client::PageServiceClient;

/// Bytes per chunk message when filing.
const CHUNK_BYTES: usize = 256 * 1024;

#[derive(Debug, Args)]
pub struct Connection {
    /// The server's address.
    #[arg(long, env = "CUSTODIAN_URL", default_value = "http://127.0.0.1:50051")]
    url: String,
    /// A bearer token (see `custodian dev-token`).
    #[arg(long, env = "CUSTODIAN_TOKEN", hide_env_values = true)]
    token: String,
}

/// A channel whose calls carry the bearer token.
pub(super) type Authorized = InterceptedService<Channel, BearerToken>;

impl Connection {
    pub(super) async fn channel(&self) -> anyhow::Result<Authorized> {
        let channel = Channel::from_shared(self.url.clone())
            .context("invalid --url")?
            .connect()
            .await
            .with_context(|| format!("cannot connect to {}", self.url))?;
        let value = MetadataValue::try_from(format!("Bearer {}", self.token.trim()))
            .context("the token is not valid metadata")?;
        Ok(InterceptedService::new(channel, BearerToken(value)))
    }
}

/// Adds `authorization: Bearer …` to every call.
#[derive(Clone)]
pub struct BearerToken(MetadataValue<Ascii>);

impl Interceptor for BearerToken {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Opens a customer's archive.
    CreateCustomer {
        #[command(flatten)]
        connection: Connection,
        /// The account number (户号), 8 to 16 digits.
        #[arg(long)]
        account: String,
        /// The customer's name.
        #[arg(long)]
        name: String,
        #[arg(long, value_enum, default_value_t = Class::Residential)]
        class: Class,
        /// The org unit code, e.g. 120101.
        #[arg(long)]
        org_unit: String,
    },
    /// Files page images (JPEG, PNG, TIFF or PDF) as one document.
    File(FileArgs),
    /// Lists an account's archive.
    List {
        #[command(flatten)]
        connection: Connection,
        #[arg(long)]
        account: String,
    },
    /// Saves one page to a file.
    SavePage {
        #[command(flatten)]
        connection: Connection,
        /// `customers/{account}/documents/{id}/pages/{n}`.
        page: String,
        #[arg(long, short)]
        output: PathBuf,
        /// Saves the page's `thumbnail` or `preview` (a JPEG) instead of the page itself.
        #[arg(long, value_parser = ["thumbnail", "preview"])]
        rendition: Option<String>,
    },
    /// Prints short-lived URLs a browser opens for a document's pages (or their thumbnails or
    /// previews), one line per page: its number and its URL.
    PageUrls {
        #[command(flatten)]
        connection: Connection,
        /// `customers/{account}/documents/{id}`.
        document: String,
        /// Only these pages (1-based); every page when none is given.
        #[arg(long = "page")]
        pages: Vec<i32>,
        /// Links the pages' `thumbnail` or `preview` (a JPEG) instead of the pages themselves.
        #[arg(long, value_parser = ["thumbnail", "preview"])]
        rendition: Option<String>,
        /// Seconds the URLs live; the server's default when not given.
        #[arg(long, default_value_t = 0)]
        lifetime: i32,
    },
    /// Exports an account, an org unit's archives or a list of documents as a BagIt bag
    /// (RFC 8493) in a new directory; the export is recorded with its purpose.
    Export(super::export::ExportArgs),
    /// The custodian's loan work: the requests waiting, approving and rejecting them.
    #[command(subcommand)]
    Loans(super::lending::LoansCommand),
    /// Paper originals: signing them out and in, the papers out now and overdue.
    #[command(subcommand)]
    Paper(super::lending::PaperCommand),
    /// Lists the document type catalog.
    DocumentTypes {
        #[command(flatten)]
        connection: Connection,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Class {
    Residential,
    NonResidential,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Process {
    NewConnection,
    CapacityIncrease,
    CapacityReduction,
    Transfer,
    Rename,
    TariffClassChange,
    Suspension,
    Closure,
    Inspection,
}

#[derive(Debug, Args)]
pub struct FileArgs {
    #[command(flatten)]
    connection: Connection,
    #[arg(long)]
    account: String,
    /// A document type code, e.g. application-form (see `custodian document-types`).
    #[arg(long = "type")]
    document_type: String,
    #[arg(long, value_enum)]
    process: Process,
    #[arg(long)]
    title: String,
    #[arg(long, default_value = "")]
    work_order: String,
    /// Defaults to the calling system named by the token.
    #[arg(long, default_value = "")]
    source_system: String,
    /// Reuse the id of a filing whose reply was lost; a new one is made up otherwise.
    #[arg(long)]
    request_id: Option<String>,
    /// The pages, in order.
    #[arg(required = true)]
    pages: Vec<PathBuf>,
}

impl ClientCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            Self::CreateCustomer {
                connection,
                account,
                name,
                class,
                org_unit,
            } => {
                let mut client = CustomerServiceClient::new(connection.channel().await?);
                let customer_class = match class {
                    Class::Residential => pb::CustomerClass::Residential,
                    Class::NonResidential => pb::CustomerClass::NonResidential,
                };
                let customer = client
                    .create_customer(pb::CreateCustomerRequest {
                        customer: Some(pb::Customer {
                            account_number: account,
                            display_name: name,
                            customer_class: customer_class.into(),
                            org_unit_code: org_unit,
                            ..Default::default()
                        }),
                    })
                    .await?
                    .into_inner();
                println!("created {} ({})", customer.name, customer.display_name);
            }
            Self::File(args) => file(args).await?,
            Self::Export(args) => super::export::export(args).await?,
            Self::Loans(command) => command.run().await?,
            Self::Paper(command) => command.run().await?,
            Self::List {
                connection,
                account,
            } => list(connection, account).await?,
            Self::SavePage {
                connection,
                page,
                output,
                rendition,
            } => save_page(connection, page, &output, rendition.as_deref()).await?,
            Self::PageUrls {
                connection,
                document,
                pages,
                rendition,
                lifetime,
            } => {
                let mut client = PageServiceClient::new(connection.channel().await?);
                let urls = client
                    .sign_page_urls(pb::SignPageUrlsRequest {
                        name: document,
                        version: 0,
                        page_numbers: pages,
                        lifetime_seconds: lifetime,
                        rendition: rendition_of(rendition.as_deref()).into(),
                    })
                    .await?
                    .into_inner()
                    .urls;
                for url in urls {
                    let page = url.page.unwrap_or_default();
                    if url.url.is_empty() {
                        let state = page.rendition_state().as_str_name();
                        println!(
                            "{}\t(no URL: {state} {})",
                            page.page_number, page.rendition_failure
                        );
                    } else {
                        println!("{}\t{}", page.page_number, url.url);
                    }
                }
            }
            Self::DocumentTypes { connection } => {
                let mut client = DocumentTypeServiceClient::new(connection.channel().await?);
                let types = client
                    .list_document_types(pb::ListDocumentTypesRequest {})
                    .await?
                    .into_inner()
                    .document_types;
                for t in types {
                    let retention = pb::RetentionClass::try_from(t.retention_class)
                        .map(|class| class.as_str_name())
                        .unwrap_or("?");
                    println!("{:<28} {:<28} {retention}", t.code, t.display_name);
                }
            }
        }
        Ok(())
    }
}

async fn file(args: FileArgs) -> anyhow::Result<()> {
    let mut client = DocumentServiceClient::new(args.connection.channel().await?);
    let mut checksums = Vec::with_capacity(args.pages.len());
    for path in &args.pages {
        checksums.push(sha256_of(path).await?);
    }
    let process = match args.process {
        Process::NewConnection => pb::BusinessProcess::NewConnection,
        Process::CapacityIncrease => pb::BusinessProcess::CapacityIncrease,
        Process::CapacityReduction => pb::BusinessProcess::CapacityReduction,
        Process::Transfer => pb::BusinessProcess::Transfer,
        Process::Rename => pb::BusinessProcess::Rename,
        Process::TariffClassChange => pb::BusinessProcess::TariffClassChange,
        Process::Suspension => pb::BusinessProcess::Suspension,
        Process::Closure => pb::BusinessProcess::Closure,
        Process::Inspection => pb::BusinessProcess::Inspection,
    };
    let header = pb::FilingHeader {
        parent: format!("customers/{}", args.account),
        document_type: args.document_type,
        business_process: process.into(),
        work_order_number: args.work_order,
        title: args.title,
        source_system: args.source_system,
        client_request_id: args
            .request_id
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        legacy_origin: None,
        paper_location: None,
    };
    let (sender, receiver) = tokio::sync::mpsc::channel(4);
    let pages = args.pages.clone();
    // Reads the files while the call streams them; a read error ends the stream early, so
    // the server files nothing.
    let pages = pages.into_iter().zip(checksums).collect();
    let reader = tokio::spawn(stream_filing(sender, header, pages));
    let document = client
        .file_document(ReceiverStream::new(receiver))
        .await?
        .into_inner();
    reader.await??;
    println!("filed {}", document.name);
    print_document(&document);
    Ok(())
}

async fn list(connection: Connection, account: String) -> anyhow::Result<()> {
    let mut client = DocumentServiceClient::new(connection.channel().await?);
    let mut page_token = String::new();
    loop {
        let response = client
            .list_documents(pb::ListDocumentsRequest {
                parent: format!("customers/{account}"),
                page_token,
                ..Default::default()
            })
            .await?
            .into_inner();
        for document in &response.documents {
            print_document(document);
        }
        if response.next_page_token.is_empty() {
            return Ok(());
        }
        page_token = response.next_page_token;
    }
}

async fn save_page(
    connection: Connection,
    page: String,
    output: &Path,
    rendition: Option<&str>,
) -> anyhow::Result<()> {
    let rendition = rendition_of(rendition);
    let mut client = PageServiceClient::new(connection.channel().await?);
    let mut stream = client
        .read_page(pb::ReadPageRequest {
            name: page,
            version: 0,
            rendition: rendition.into(),
        })
        .await?
        .into_inner();
    let mut file = tokio::fs::File::create(output)
        .await
        .with_context(|| format!("cannot create {}", output.display()))?;
    let mut hasher = Sha256::new();
    let mut expected = None;
    while let Some(message) = stream.message().await? {
        if let Some(page) = message.page {
            expected = Some(page.sha256);
        }
        hasher.update(&message.chunk);
        file.write_all(&message.chunk).await?;
    }
    file.flush().await?;
    let actual = hex::encode(hasher.finalize());
    if expected.as_deref() != Some(actual.as_str()) {
        bail!("the received bytes do not match the page's SHA-256 ({expected:?} != {actual})");
    }
    println!("saved {} (sha256 {actual})", output.display());
    Ok(())
}

/// The rendition a `--rendition` option names (clap admits only these two).
fn rendition_of(name: Option<&str>) -> pb::Rendition {
    match name {
        Some("thumbnail") => pb::Rendition::Thumbnail,
        Some("preview") => pb::Rendition::Preview,
        _ => pb::Rendition::Original,
    }
}

async fn sha256_of(path: &Path) -> anyhow::Result<String> {
    let mut file = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("cannot open {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; CHUNK_BYTES];
    loop {
        let read = file.read(&mut buffer).await?;
        if read == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buffer[..read]);
    }
}

fn print_document(document: &pb::Document) {
    let filed = document
        .file_time
        .as_ref()
        .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos as u32))
        .map(|t| t.to_rfc3339())
        .unwrap_or_default();
    println!(
        "{}  {}  {:?}  {}  ({} pages, {} bytes, filed {filed})",
        document.name,
        document.document_type,
        document.title,
        document.work_order_number,
        document.pages.len(),
        document.size_bytes
    );
    for page in &document.pages {
        println!(
            "    {}  {}  {} bytes",
            page.name, page.media_type, page.size_bytes
        );
    }
}

/// Streams a filing into `sender`: the header, then each page's start and its file in chunks.
/// A file that cannot be read fails the stream early, so the server files nothing; a call the
/// server has already answered (a retry, a refusal) ends the reading quietly.
pub(super) async fn stream_filing(
    sender: tokio::sync::mpsc::Sender<pb::FileDocumentRequest>,
    header: pb::FilingHeader,
    pages: Vec<(std::path::PathBuf, String)>,
) -> std::io::Result<()> {
    let send = |part| pb::FileDocumentRequest { part: Some(part) };
    if sender.send(send(Part::Header(header))).await.is_err() {
        return Ok(());
    }
    for (path, sha256) in pages {
        let start = Part::PageStart(pb::PageStart { sha256 });
        if sender.send(send(start)).await.is_err() {
            return Ok(());
        }
        let mut file = tokio::fs::File::open(&path).await.map_err(|error| {
            std::io::Error::new(
                error.kind(),
                format!("cannot open {}: {error}", path.display()),
            )
        })?;
        loop {
            let mut buffer = vec![0u8; CHUNK_BYTES];
            let read = file.read(&mut buffer).await?;
            if read == 0 {
                break;
            }
            buffer.truncate(read);
            if sender
                .send(send(Part::Chunk(Bytes::from(buffer))))
                .await
                .is_err()
            {
                return Ok(());
            }
        }
    }
    Ok(())
}
