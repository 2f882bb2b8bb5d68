//! `custodian export`: takes a set out of the archive as a BagIt bag (RFC 8493) in a
//! directory. The server records the export and streams the set's metadata; each page is read
//! with ReadPage and written to disk as it arrives, hashed on the way, so memory stays flat
//! whatever the set's size; `--parallel-reads` pages of a document at once.

mod import_manifest;
mod metadata;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;
use futures::StreamExt as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::fs::File;
use tokio::io::{AsyncWriteExt, BufWriter};

use self::import_manifest::ImportManifest;
use self::metadata::{customer_json, document_json, extension, one_line, retention_json};
use super::client::{Authorized, Connection};
use crate::proto::v1 as pb;
use crate::proto::v1::document_service_client::DocumentServiceClient;
use crate::proto::v1::export_documents_request::Set;
use crate::proto::v1::export_documents_response::Item;
use crate::proto::v1::export_service_client::ExportServiceClient;
use crate::proto::v1::page_service_client::PageServiceClient;
use crate::proto::v1::retention_service_client::RetentionServiceClient;

/// Streams one page to `path`, checking its digest; its size.
async fn fetch_page(
    mut client: PageServiceClient<Authorized>,
    page: &pb::Page,
    path: &Path,
) -> anyhow::Result<u64> {
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent).await?;
    }
    let mut stream = client
        .read_page(pb::ReadPageRequest {
            name: page.name.clone(),
            version: 0,
            rendition: pb::Rendition::Original.into(),
        })
        .await
        .with_context(|| format!("cannot read {}", page.name))?
        .into_inner();
    let mut file = BufWriter::new(File::create(path).await?);
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    while let Some(message) = stream.message().await? {
        hasher.update(&message.chunk);
        size += message.chunk.len() as u64;
        file.write_all(&message.chunk).await?;
    }
    file.flush().await?;
    let actual = hex::encode(hasher.finalize());
    if actual != page.sha256 {
        bail!(
            "{}: the received bytes do not match the page's SHA-256 ({} != {actual})",
            page.name,
            page.sha256
        );
    }
    Ok(size)
}

/// How often a progress line is printed.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    connection: Connection,
    /// Why the set is exported (recorded in the audit trail and in bag-info.txt).
    #[arg(long)]
    purpose: String,
    /// Export one account's archive.
    #[arg(long, conflicts_with_all = ["org_unit", "document"])]
    account: Option<String>,
    /// Export an org unit's archives (and those of the units below it).
    #[arg(long, conflicts_with = "document")]
    org_unit: Option<String>,
    /// With --org-unit: only documents of this type.
    #[arg(long = "type", requires = "org_unit")]
    document_type: Option<String>,
    /// Export exactly these documents (`customers/{account}/documents/{id}`; repeatable).
    #[arg(long)]
    document: Vec<String>,
    /// The bag's directory; must not exist yet.
    #[arg(long, short)]
    output: PathBuf,
    /// Pages of a document read at once (each its own ReadPage stream; the bag is the same
    /// whatever the number).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    parallel_reads: u16,
}

/// Counts for progress and the summary.
#[derive(Default)]
struct Tally {
    accounts: u64,
    documents: u64,
    pages: u64,
    /// Payload bytes and files, for Payload-Oxum.
    bytes: u64,
    files: u64,
}

/// A payload or tag manifest written line by line as files are added.
struct Manifest(BufWriter<File>);

impl Manifest {
    async fn create(path: &Path) -> anyhow::Result<Self> {
        let file = File::create(path)
            .await
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Self(BufWriter::new(file)))
    }

    async fn add(&mut self, sha256: &str, relative: &str) -> anyhow::Result<()> {
        self.0
            .write_all(format!("{sha256}  {relative}\n").as_bytes())
            .await?;
        Ok(())
    }

    async fn finish(mut self) -> anyhow::Result<()> {
        self.0.flush().await?;
        self.0.into_inner().sync_all().await?;
        Ok(())
    }
}

pub async fn export(args: ExportArgs) -> anyhow::Result<()> {
    let set = match (&args.account, &args.org_unit, args.document.is_empty()) {
        (Some(account), None, true) => Set::Account(format!("customers/{account}")),
        (None, Some(unit), true) => Set::OrgUnit(pb::OrgUnitExport {
            org_unit_code: unit.clone(),
            document_type: args.document_type.clone().unwrap_or_default(),
            ..Default::default()
        }),
        (None, None, false) => Set::Documents(pb::DocumentList {
            names: args.document.clone(),
        }),
        _ => bail!("give one of --account, --org-unit or --document"),
    };
    if tokio::fs::try_exists(&args.output).await? {
        bail!(
            "{} exists already; give a new directory",
            args.output.display()
        );
    }
    let channel = args.connection.channel().await?;
    let mut exports = ExportServiceClient::new(channel.clone());
    let mut stream = exports
        .export_documents(pb::ExportDocumentsRequest {
            purpose: args.purpose.clone(),
            set: Some(set),
        })
        .await?
        .into_inner();
    let started = match stream.message().await? {
        Some(pb::ExportDocumentsResponse {
            item: Some(Item::Started(started)),
        }) => started,
        _ => bail!("the server did not start the export"),
    };
    // The bag is written under a name that says it is incomplete and takes its own name only
    // once whole: a failure removes it, and a killed export leaves `….partial` without its tag
    // files, which no validator accepts.
    let partial = partial_path(&args.output);
    if tokio::fs::try_exists(&partial).await? {
        bail!(
            "{} exists: an earlier export of this name did not finish; remove it first",
            partial.display()
        );
    }
    eprintln!(
        "export {} of {} ({})",
        started.name,
        started.set_definition,
        if started.pages_readable {
            "metadata and pages"
        } else {
            "metadata only: this role may not read pages"
        }
    );
    let began = Instant::now();
    let reads = usize::from(args.parallel_reads);
    let written = write_bag(&partial, &started, &channel, &mut stream, began, reads).await;
    let tally = match written {
        Ok(tally) => tally,
        Err(error) => {
            let _ = tokio::fs::remove_dir_all(&partial).await;
            return Err(error.context("the export failed; nothing was left at the output"));
        }
    };
    tokio::fs::rename(&partial, &args.output)
        .await
        .with_context(|| format!("cannot rename {} to its name", partial.display()))?;
    println!(
        "exported {} to {}: {}",
        started.name,
        args.output.display(),
        tally.line(began.elapsed())
    );
    Ok(())
}

/// `OUTPUT.partial`, beside the output.
fn partial_path(output: &Path) -> PathBuf {
    let mut name = output.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

/// Writes the whole bag into `root` from the export's stream.
async fn write_bag(
    root: &Path,
    started: &pb::ExportStarted,
    channel: &Authorized,
    stream: &mut tonic::Streaming<pb::ExportDocumentsResponse>,
    began: Instant,
    parallel_reads: usize,
) -> anyhow::Result<Tally> {
    tokio::fs::create_dir_all(root.join("data")).await?;
    let withheld = import_manifest::withheld_because(started);
    let import = match withheld {
        None => Some(ImportManifest::create(&root.join(import_manifest::FILE_NAME)).await?),
        Some(_) => None,
    };
    let mut bag = Bag {
        root: root.to_owned(),
        manifest: Manifest::create(&root.join("manifest-sha256.txt")).await?,
        import,
        tally: Tally::default(),
        pages: PageServiceClient::new(channel.clone()),
        documents: DocumentServiceClient::new(channel.clone()),
        retention: RetentionServiceClient::new(channel.clone()),
        pages_readable: started.pages_readable,
        parallel_reads,
    };
    let mut last_report = Instant::now();
    while let Some(message) = stream.message().await? {
        match message.item {
            Some(Item::Customer(customer)) => bag.add_customer(&customer).await?,
            Some(Item::Document(document)) => bag.add_document(&document).await?,
            Some(Item::Started(_)) | None => bail!("unexpected message in the export stream"),
        }
        if last_report.elapsed() >= PROGRESS_EVERY {
            last_report = Instant::now();
            eprintln!("{}", bag.tally.line(began.elapsed()));
        }
    }
    if let Some(reason) = withheld {
        eprintln!("no import manifest in the bag: {reason}");
    }
    bag.finish(started).await
}

impl Tally {
    fn line(&self, elapsed: Duration) -> String {
        let seconds = elapsed.as_secs_f64().max(0.001);
        format!(
            "{} accounts, {} documents, {} pages, {} bytes in {:.1} s ({:.1} MB/s)",
            self.accounts,
            self.documents,
            self.pages,
            self.bytes,
            seconds,
            self.bytes as f64 / 1e6 / seconds
        )
    }
}

struct Bag {
    root: PathBuf,
    manifest: Manifest,
    /// The bag's import manifest, unless the set cannot be re-imported as it is.
    import: Option<ImportManifest>,
    tally: Tally,
    pages: PageServiceClient<Authorized>,
    documents: DocumentServiceClient<Authorized>,
    retention: RetentionServiceClient<Authorized>,
    pages_readable: bool,
    parallel_reads: usize,
}

impl Bag {
    /// Writes a small payload file (a metadata JSON) and adds it to the manifest.
    async fn add_json(&mut self, relative: &str, value: &Value) -> anyhow::Result<()> {
        let bytes = serde_json::to_vec_pretty(value)?;
        let path = self.root.join(relative);
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        tokio::fs::write(&path, &bytes).await?;
        self.manifest
            .add(&hex::encode(Sha256::digest(&bytes)), relative)
            .await?;
        self.tally.bytes += bytes.len() as u64;
        self.tally.files += 1;
        Ok(())
    }

    async fn add_customer(&mut self, customer: &pb::Customer) -> anyhow::Result<()> {
        self.tally.accounts += 1;
        if let Some(import) = &mut self.import {
            import.customer(customer);
        }
        let relative = format!("data/{}/customer.json", customer.account_number);
        self.add_json(&relative, &customer_json(customer)).await
    }

    async fn add_document(&mut self, document: &pb::Document) -> anyhow::Result<()> {
        self.tally.documents += 1;
        let directory = format!("data/{}/{}", document.account_number, document.document_id);
        let versions = self
            .documents
            .list_document_versions(pb::ListDocumentVersionsRequest {
                name: document.name.clone(),
            })
            .await
            .map(|reply| reply.into_inner().versions)
            .with_context(|| format!("cannot list the versions of {}", document.name))?;
        // Retention is shown to whoever reads the document; a failure leaves it out, said so.
        let retention = match self
            .retention
            .get_retention(pb::GetRetentionRequest {
                name: document.name.clone(),
            })
            .await
        {
            Ok(reply) => retention_json(&reply.into_inner()),
            Err(status) => json!({ "unavailable": status.message() }),
        };
        let file_of =
            |page: &pb::Page| format!("{}.{}", page.page_number, extension(&page.media_type));
        let mut written = Vec::with_capacity(document.pages.len());
        if self.pages_readable {
            // Read several pages at once, recorded in page order as each batch completes.
            let fetches = document.pages.iter().map(|page| {
                let relative = format!("{directory}/{}", file_of(page));
                let path = self.root.join(&relative);
                let client = self.pages.clone();
                async move {
                    let size = fetch_page(client, page, &path).await?;
                    anyhow::Ok((relative, page.sha256.clone(), size))
                }
            });
            let mut fetched = futures::stream::iter(fetches).buffered(self.parallel_reads);
            while let Some(result) = fetched.next().await {
                let (relative, sha256, size) = result?;
                self.manifest.add(&sha256, &relative).await?;
                self.tally.pages += 1;
                self.tally.bytes += size;
                self.tally.files += 1;
                written.push((relative, sha256));
            }
        }
        let mut pages = Vec::with_capacity(document.pages.len());
        for page in &document.pages {
            let file = file_of(page);
            pages.push(json!({
                "page_number": page.page_number,
                "media_type": page.media_type,
                "size_bytes": page.size_bytes,
                "sha256": page.sha256,
                "file": if self.pages_readable { Value::from(file) } else { Value::Null },
            }));
        }
        let mut metadata = document_json(document, pages, &versions, retention);
        metadata["pages_included"] = Value::from(self.pages_readable);
        self.add_json(&format!("{directory}/metadata.json"), &metadata)
            .await?;
        if let Some(import) = &mut self.import {
            import.document(document, &written).await?;
        }
        Ok(())
    }

    /// Writes the tag files: bagit.txt, bag-info.txt and the tag manifest over them.
    async fn finish(self, started: &pb::ExportStarted) -> anyhow::Result<Tally> {
        self.manifest.finish().await?;
        let mut tag_files = vec!["bagit.txt", "bag-info.txt", "manifest-sha256.txt"];
        let import_tag = match self.import {
            Some(import) => {
                import.finish().await?;
                tag_files.push(import_manifest::FILE_NAME);
                import_manifest::FILE_NAME.to_owned()
            }
            None => format!(
                "none ({})",
                import_manifest::withheld_because(started).unwrap_or("not written")
            ),
        };
        let bagit = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n".to_owned();
        let export_time = started
            .export_time
            .as_ref()
            .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos as u32))
            .unwrap_or_else(chrono::Utc::now);
        let info = [
            ("Source-Organization", "Custodian".to_owned()),
            (
                "Contact-Name",
                format!(
                    "{}/{}",
                    started.exported_by_system, started.exported_by_person
                ),
            ),
            ("Bagging-Date", export_time.format("%Y-%m-%d").to_string()),
            (
                "Payload-Oxum",
                format!("{}.{}", self.tally.bytes, self.tally.files),
            ),
            ("External-Description", one_line(&started.purpose)),
            ("Custodian-Export", started.name.clone()),
            (
                "Custodian-Exported-By",
                format!(
                    "{}/{}",
                    started.exported_by_system, started.exported_by_person
                ),
            ),
            ("Custodian-Role", started.role.clone()),
            ("Custodian-Export-Time", export_time.to_rfc3339()),
            ("Custodian-Purpose", one_line(&started.purpose)),
            ("Custodian-Set", one_line(&started.set_definition)),
            (
                "Custodian-Pages-Included",
                started.pages_readable.to_string(),
            ),
            (
                "Custodian-Personal-Data",
                if started.personal_data_masked {
                    "masked"
                } else {
                    "full"
                }
                .to_owned(),
            ),
            ("Custodian-Import-Manifest", import_tag),
        ]
        .iter()
        .map(|(key, value)| format!("{key}: {value}\n"))
        .collect::<String>();
        tokio::fs::write(self.root.join("bagit.txt"), &bagit).await?;
        tokio::fs::write(self.root.join("bag-info.txt"), &info).await?;
        let mut tags = Manifest::create(&self.root.join("tagmanifest-sha256.txt")).await?;
        for name in tag_files {
            let bytes = tokio::fs::read(self.root.join(name)).await?;
            tags.add(&hex::encode(Sha256::digest(&bytes)), name).await?;
        }
        tags.finish().await?;
        Ok(self.tally)
    }
}
