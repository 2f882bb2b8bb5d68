//! Filing one checked manifest line through the public API: the account opened if it is new,
//! the document filed with its original date and origin, retried on transient errors, and the
//! journal line that the final verification reads back.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use sha2::{Digest as _, Sha256};
use tokio::io::AsyncReadExt as _;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;

use super::manifest::{PageFile, Prepared};
use super::report::Counts;
use crate::cli::client::Authorized;
use crate::proto::v1 as pb;
use crate::proto::v1::customer_service_client::CustomerServiceClient;
use crate::proto::v1::document_service_client::DocumentServiceClient;

/// Bytes per chunk message.
const CHUNK_BYTES: usize = 256 * 1024;

/// Attempts of one call on a transient error (UNAVAILABLE, ABORTED, RESOURCE_EXHAUSTED,
/// DEADLINE_EXCEEDED) before the line is reported failed.
const ATTEMPTS: u32 = 4;

/// How a line ended.
pub enum Outcome {
    /// Filed by this run.
    Filed(pb::Document),
    /// Filed by an earlier run: the server answered the request id with that document.
    Present(pb::Document),
}

/// Accounts known to exist, the most recent few (a manifest is usually grouped by account, and
/// the cache stays small whatever its size), and whose turn it is to open one: lines of the same
/// account check it one after the other, in the manifest's order, so the line that opens it
/// goes first.
pub struct KnownAccounts {
    order: Mutex<(VecDeque<String>, HashSet<String>)>,
    turns: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// A line's turn to check its account: taken in manifest order, waited for when filing.
pub enum Turn {
    Held(String, tokio::sync::OwnedMutexGuard<()>),
    Waiting(String, Arc<tokio::sync::Mutex<()>>),
}

const KNOWN_ACCOUNTS: usize = 4096;

impl KnownAccounts {
    pub fn new() -> Self {
        Self {
            order: Mutex::new((VecDeque::new(), HashSet::new())),
            turns: Mutex::new(HashMap::new()),
        }
    }

    /// Takes the line's place among the lines of its account now, before its filing starts.
    pub fn turn(&self, account: &str) -> Turn {
        let lock = self
            .turns
            .lock()
            .expect("not poisoned")
            .entry(account.to_owned())
            .or_default()
            .clone();
        match lock.clone().try_lock_owned() {
            Ok(guard) => Turn::Held(account.to_owned(), guard),
            Err(_) => Turn::Waiting(account.to_owned(), lock),
        }
    }

    /// Ends a turn; the last one of an account forgets its lock, so the map holds only the
    /// accounts of lines in flight.
    fn end_turn(&self, account: &str, guard: tokio::sync::OwnedMutexGuard<()>) {
        drop(guard);
        let mut turns = self.turns.lock().expect("not poisoned");
        if turns
            .get(account)
            .is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            turns.remove(account);
        }
    }

    fn contains(&self, account: &str) -> bool {
        self.order.lock().expect("not poisoned").1.contains(account)
    }

    fn insert(&self, account: &str) {
        let mut guard = self.order.lock().expect("not poisoned");
        let (order, set) = &mut *guard;
        if set.insert(account.to_owned()) {
            order.push_back(account.to_owned());
            if order.len() > KNOWN_ACCOUNTS
                && let Some(oldest) = order.pop_front()
            {
                set.remove(&oldest);
            }
        }
    }
}

/// The clients one import uses.
#[derive(Clone)]
pub struct Clients {
    pub customers: CustomerServiceClient<Authorized>,
    pub documents: DocumentServiceClient<Authorized>,
}

/// Files one line; the error is the reason to report.
pub async fn file_line(
    clients: &Clients,
    known: &KnownAccounts,
    line: &Prepared,
    turn: Turn,
    counts: &Counts,
) -> Result<Outcome, String> {
    let (account, guard) = match turn {
        Turn::Held(account, guard) => (account, guard),
        Turn::Waiting(account, lock) => (account, lock.lock_owned().await),
    };
    let opened = ensure_customer(clients, known, line).await;
    known.end_turn(&account, guard);
    opened?;
    let mut digests = Vec::with_capacity(line.pages.len());
    for page in &line.pages {
        digests.push(match page.sha256 {
            Some(digest) => digest.to_hex(),
            None => sha256_of(page).await?,
        });
    }
    let mut attempt = 0;
    let (document, retry) = loop {
        attempt += 1;
        match file_document(clients, line, &digests).await {
            Ok(answer) => break answer,
            Err(status) if attempt < ATTEMPTS && transient(status.code()) => {
                tokio::time::sleep(std::time::Duration::from_millis(200 << attempt)).await;
            }
            Err(status) => {
                return Err(format!(
                    "FileDocument: {:?}: {}",
                    status.code(),
                    status.message()
                ));
            }
        }
    };
    let returned: Vec<&str> = document.pages.iter().map(|p| p.sha256.as_str()).collect();
    if returned != digests.iter().map(String::as_str).collect::<Vec<_>>() {
        return Err(format!(
            "{} holds pages {returned:?}, the manifest's are {digests:?}",
            document.name
        ));
    }
    counts
        .pages
        .fetch_add(line.pages.len() as u64, Ordering::Relaxed);
    counts.bytes.fetch_add(line.bytes(), Ordering::Relaxed);
    if !retry {
        counts
            .filed_pages
            .fetch_add(line.pages.len() as u64, Ordering::Relaxed);
        counts
            .filed_bytes
            .fetch_add(line.bytes(), Ordering::Relaxed);
    }
    Ok(if retry {
        Outcome::Present(document)
    } else {
        Outcome::Filed(document)
    })
}

fn transient(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable | Code::Aborted | Code::ResourceExhausted | Code::DeadlineExceeded
    )
}

/// Opens the line's account unless it exists; a line without customer fields needs it to.
async fn ensure_customer(
    clients: &Clients,
    known: &KnownAccounts,
    line: &Prepared,
) -> Result<(), String> {
    if known.contains(&line.account) {
        return Ok(());
    }
    let mut customers = clients.customers.clone();
    let name = format!("customers/{}", line.account);
    match customers
        .get_customer(pb::GetCustomerRequest { name: name.clone() })
        .await
    {
        Ok(_) => {}
        Err(status) if status.code() == Code::NotFound => {
            let Some(customer) = line.customer.clone() else {
                return Err(format!(
                    "{name} is not in Custodian and the line gives no customer fields to open it"
                ));
            };
            match customers
                .create_customer(pb::CreateCustomerRequest {
                    customer: Some(customer),
                })
                .await
            {
                // Another line of the same account may have opened it a moment ago.
                Ok(_) => {}
                Err(status) if status.code() == Code::AlreadyExists => {}
                Err(status) => {
                    return Err(format!(
                        "CreateCustomer: {:?}: {}",
                        status.code(),
                        status.message()
                    ));
                }
            }
        }
        Err(status) => {
            return Err(format!(
                "GetCustomer: {:?}: {}",
                status.code(),
                status.message()
            ));
        }
    }
    known.insert(&line.account);
    Ok(())
}

/// One FileDocument call: the header, then each page from its file in chunks, with its
/// SHA-256 declared so the server refuses bytes that changed since they were hashed.
async fn file_document(
    clients: &Clients,
    line: &Prepared,
    digests: &[String],
) -> Result<(pb::Document, bool), tonic::Status> {
    let (sender, receiver) = tokio::sync::mpsc::channel(4);
    let header = line.header.clone();
    let pages = line
        .pages
        .iter()
        .map(|page| page.path.clone())
        .zip(digests.iter().cloned())
        .collect();
    // A read error ends the stream early, so the server files nothing; a server that answers
    // early (a retry) ends the reading.
    let reader = tokio::spawn(crate::cli::client::stream_filing(sender, header, pages));
    let mut documents = clients.documents.clone();
    let answer = documents
        .file_document(ReceiverStream::new(receiver))
        .await
        .map(|response| {
            let retry = response
                .metadata()
                .get("x-custodian-filing")
                .is_some_and(|value| value == "retry");
            (response.into_inner(), retry)
        });
    match reader.await {
        Ok(Ok(())) => answer,
        Ok(Err(error)) => Err(tonic::Status::cancelled(format!(
            "a page file could not be read: {error}"
        ))),
        Err(error) => Err(tonic::Status::internal(error.to_string())),
    }
}

async fn sha256_of(page: &PageFile) -> Result<String, String> {
    let mut file = tokio::fs::File::open(&page.path)
        .await
        .map_err(|error| format!("cannot open {}: {error}", page.path.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; CHUNK_BYTES];
    loop {
        let read = file
            .read(&mut buffer)
            .await
            .map_err(|error| format!("cannot read {}: {error}", page.path.display()))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Reads a filed document back and compares its pages with the digests the journal recorded.
pub async fn verify(clients: &Clients, name: &str, digests: &[String]) -> Result<(), String> {
    let mut documents = clients.documents.clone();
    let document = documents
        .get_document(pb::GetDocumentRequest {
            view: pb::DocumentView::Full.into(),
            name: name.to_owned(),
            version: 0,
        })
        .await
        .map_err(|status| {
            format!(
                "GetDocument {name}: {:?}: {}",
                status.code(),
                status.message()
            )
        })?
        .into_inner();
    let stored: Vec<&str> = document.pages.iter().map(|p| p.sha256.as_str()).collect();
    if stored == digests.iter().map(String::as_str).collect::<Vec<_>>() {
        Ok(())
    } else {
        Err(format!(
            "{name} holds pages {stored:?}, the manifest's are {digests:?}"
        ))
    }
}
