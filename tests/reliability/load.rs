//! The load: filers that file concurrently from a ledger of planned filings (each with its own
//! request id and pages), and the ledger's record of where every filing stood when the server
//! was killed and how it ended.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use custodian::proto::v1 as pb;
use custodian::proto::v1::document_service_client::DocumentServiceClient;
use custodian::proto::v1::file_document_request::Part;
use tokio::task::JoinHandle;

use crate::helpers::{Clients, Token, header, message, repository_file, sha256_hex};

/// The longest a filing may take; none should come near it.
pub const CALL_DEADLINE: Duration = Duration::from_secs(30);

/// The real scanned pages every filing is made of (tests/fixtures/pages).
const FIXTURE_PAGES: [&str; 3] = [
    "application-form.png",
    "identity-card.png",
    "notice-with-seal.png",
];

/// A filing as a caller plans it: its request id is its identity across retries.
#[derive(Clone, Debug)]
pub struct Planned {
    pub account: String,
    pub request_id: String,
    pub document_type: &'static str,
    pub pages: Vec<Vec<u8>>,
    /// Whether each page's SHA-256 is declared in its `page_start` (as `custodian file` does).
    pub declared: bool,
}

impl Planned {
    /// A filing of the three fixture pages, each made unique to `request_id` by a PNG text
    /// chunk (still a valid image), so that every filing stores pages of its own.
    pub fn new(account: &str, request_id: String, document_type: &'static str) -> Self {
        let pages = FIXTURE_PAGES
            .iter()
            .enumerate()
            .map(|(number, name)| {
                let image = std::fs::read(repository_file(&format!("tests/fixtures/pages/{name}")))
                    .expect("the fixture page exists");
                with_text(&image, &format!("{request_id} page {}", number + 1))
            })
            .collect();
        let declared = request_id.bytes().last().is_some_and(|b| b % 2 == 0);
        Self {
            account: account.into(),
            request_id,
            document_type,
            pages,
            declared,
        }
    }

    /// The messages of this filing: the header, then each page in two chunks.
    pub fn messages(&self) -> Vec<pb::FileDocumentRequest> {
        let mut messages = vec![message(Part::Header(pb::FilingHeader {
            document_type: self.document_type.into(),
            ..header(&self.account, &self.request_id)
        }))];
        for page in &self.pages {
            let sha256 = if self.declared {
                sha256_hex(page)
            } else {
                String::new()
            };
            messages.push(message(Part::PageStart(pb::PageStart { sha256 })));
            let half = page.len() / 2;
            for chunk in [&page[..half], &page[half..]] {
                messages.push(message(Part::Chunk(Bytes::copy_from_slice(chunk))));
            }
        }
        messages
    }
}

/// `png` with a `tEXt` chunk carrying `text` before its `IEND`.
fn with_text(png: &[u8], text: &str) -> Vec<u8> {
    let end = png.len() - 12; // IEND: length, type, no data, CRC
    assert_eq!(&png[end + 4..end + 8], b"IEND", "a PNG ends in IEND");
    let mut data = b"Comment\0".to_vec();
    data.extend_from_slice(text.as_bytes());
    let mut chunk = (data.len() as u32).to_be_bytes().to_vec();
    let typed: Vec<u8> = [b"tEXt".as_slice(), &data].concat();
    chunk.extend_from_slice(&typed);
    chunk.extend_from_slice(&crc32(&typed).to_be_bytes());
    [&png[..end], &chunk, &png[end..]].concat()
}

/// The CRC-32 of PNG chunks (ISO 3309), bit by bit: pages are a few KiB.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Where a filing stands, as its caller knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Planned,
    /// The header and part of the pages are sent.
    Streaming,
    /// Every message is sent; the reply has not come.
    Sent,
    Acknowledged,
    Unacknowledged,
}

#[derive(Debug)]
pub struct Entry {
    pub filing: Planned,
    pub phase: Phase,
    /// The phase when the server was killed, for filings in flight then.
    pub at_kill: Option<Phase>,
    /// The acknowledged document's name.
    pub document: Option<String>,
    /// Why an unacknowledged filing failed.
    pub failure: Option<tonic::Status>,
}

/// What was in flight at a kill.
#[derive(Clone, Copy, Debug, Default)]
pub struct InFlight {
    pub streaming: usize,
    pub sent: usize,
}

#[derive(Default)]
struct State {
    entries: Vec<Entry>,
    /// The next planned filing a filer takes.
    next: usize,
    /// Filers take filings below this index only.
    open_until: usize,
}

/// Every filing of a run, shared by the filers and the test.
#[derive(Clone, Default)]
pub struct Ledger(Arc<Mutex<State>>);

impl Ledger {
    /// Plans `filings` and lets the filers take them.
    pub fn plan(&self, filings: impl IntoIterator<Item = Planned>) {
        let mut state = self.0.lock().unwrap();
        state
            .entries
            .extend(filings.into_iter().map(|filing| Entry {
                filing,
                phase: Phase::Planned,
                at_kill: None,
                document: None,
                failure: None,
            }));
        state.open_until = state.entries.len();
    }

    /// Records a filing a caller makes outside the filers, and returns its index.
    pub fn plan_one(&self, filing: Planned) -> usize {
        let mut state = self.0.lock().unwrap();
        state.entries.push(Entry {
            filing,
            phase: Phase::Streaming,
            at_kill: None,
            document: None,
            failure: None,
        });
        // Taken already: the filers skip it.
        state.next = state.entries.len();
        state.open_until = state.next;
        state.entries.len() - 1
    }

    /// Stops handing out filings and notes the phase of every filing in flight.
    pub fn close(&self) -> InFlight {
        let mut state = self.0.lock().unwrap();
        state.open_until = state.next;
        let mut in_flight = InFlight::default();
        for entry in &mut state.entries {
            match entry.phase {
                Phase::Streaming => in_flight.streaming += 1,
                Phase::Sent => in_flight.sent += 1,
                _ => continue,
            }
            entry.at_kill = Some(entry.phase);
        }
        in_flight
    }

    fn take(&self) -> Option<(usize, Planned)> {
        let mut state = self.0.lock().unwrap();
        if state.next >= state.open_until {
            return None;
        }
        let index = state.next;
        state.next += 1;
        state.entries[index].phase = Phase::Streaming;
        Some((index, state.entries[index].filing.clone()))
    }

    fn set(&self, index: usize, phase: Phase) {
        self.0.lock().unwrap().entries[index].phase = phase;
    }

    /// Records how a filing (or its retry) ended.
    pub fn settle(&self, index: usize, outcome: Result<pb::Document, tonic::Status>) {
        let mut state = self.0.lock().unwrap();
        let entry = &mut state.entries[index];
        match outcome {
            Ok(document) => {
                entry.phase = Phase::Acknowledged;
                entry.document = Some(document.name);
                entry.failure = None;
            }
            Err(status) => {
                entry.phase = Phase::Unacknowledged;
                entry.failure = Some(status);
            }
        }
    }

    /// How many filings are in `phase` now.
    pub fn count(&self, phase: Phase) -> usize {
        let state = self.0.lock().unwrap();
        state.entries.iter().filter(|e| e.phase == phase).count()
    }

    /// Runs `look` over the entries under the lock.
    pub fn with<T>(&self, look: impl FnOnce(&[Entry]) -> T) -> T {
        look(&self.0.lock().unwrap().entries)
    }

    /// The unacknowledged filings: (index, filing).
    pub fn unacknowledged(&self) -> Vec<(usize, Planned)> {
        self.with(|entries| {
            entries
                .iter()
                .enumerate()
                .filter(|(_, e)| e.phase == Phase::Unacknowledged)
                .map(|(index, e)| (index, e.filing.clone()))
                .collect()
        })
    }
}

/// The caller every filer files as: a province custodian, with a token for long runs.
pub fn filer_token() -> String {
    Token {
        expires_in: 4 * 3600,
        ..Token::custodian()
    }
    .mint()
}

/// Starts `filers` tasks that take filings from the ledger until it has none for them, each
/// on its own connection, pausing `pace` between messages (to hold filings mid-page).
pub fn start_filers(
    ledger: &Ledger,
    channels: &[tonic::transport::Channel],
    filers: usize,
    pace: Option<Duration>,
) -> Vec<JoinHandle<()>> {
    let token = filer_token();
    (0..filers)
        .map(|filer| {
            let ledger = ledger.clone();
            let clients = Clients::new(&channels[filer % channels.len()], Some(&token));
            let mut documents = clients.documents;
            tokio::spawn(async move {
                while let Some((index, filing)) = ledger.take() {
                    let outcome = file(&mut documents, &filing, pace, || {
                        ledger.set(index, Phase::Sent);
                    })
                    .await;
                    ledger.settle(index, outcome);
                }
            })
        })
        .collect()
}

/// Files `filing`, calling `sent` once its last message is handed to the client.
pub async fn file(
    documents: &mut DocumentServiceClient<crate::helpers::Authorized>,
    filing: &Planned,
    pace: Option<Duration>,
    sent: impl FnOnce(),
) -> Result<pb::Document, tonic::Status> {
    let (sender, receiver) = tokio::sync::mpsc::channel(1);
    let mut request = tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(receiver));
    request.set_timeout(CALL_DEADLINE);
    let messages = filing.messages();
    let send = async move {
        for message in messages {
            if sender.send(message).await.is_err() {
                return; // the call ended early
            }
            if let Some(pace) = pace {
                tokio::time::sleep(pace).await;
            }
        }
        drop(sender);
        sent();
    };
    let (outcome, ()) = tokio::join!(documents.file_document(request), send);
    outcome.map(tonic::Response::into_inner)
}

/// Retries every unacknowledged filing with its request id, `concurrency` at a time, and
/// records the outcomes. Returns how many were retried.
pub async fn retry_unacknowledged(
    ledger: &Ledger,
    channel: &tonic::transport::Channel,
    concurrency: usize,
) -> usize {
    use futures::StreamExt as _;
    let pending = ledger.unacknowledged();
    let retried = pending.len();
    let token = filer_token();
    let documents = Clients::new(channel, Some(&token)).documents;
    futures::stream::iter(pending)
        .map(|(index, filing)| {
            let mut documents = documents.clone();
            async move { (index, file(&mut documents, &filing, None, || {}).await) }
        })
        .buffer_unordered(concurrency)
        .for_each(|(index, outcome)| {
            ledger.settle(index, outcome);
            async {}
        })
        .await;
    retried
}
