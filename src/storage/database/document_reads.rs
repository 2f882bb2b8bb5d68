//! Reads of single documents by id, gathered into one statement per batch.
//!
//! GetDocument and ReadPage read one document each, and at a busy counter many arrive at
//! once. Each statement costs PostgreSQL an executor start-up and a round trip whether it
//! returns one row or sixteen, so readers take every lookup that is waiting and answer them
//! with one `document_id = ANY(…)` query. A lookup waits only for a free reader, never for a
//! timer: on an idle server it runs alone, as fast as a query of its own.
//!
//! Each lookup is enqueued after its caller's earlier calls returned and the statement starts
//! after that, so a read still sees every change committed before it was asked for.
//!
//! A lookup names the pages it needs (ReadPage one, GetDocument all): each row of the batch
//! carries only its own lookup's page rows.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use sqlx::PgPool;
use tokio::sync::{Mutex, mpsc, oneshot};
use uuid::Uuid;

use super::codec::page_bound;
use super::documents::{DocumentPagesRow, select_document_spans};
use crate::domain::{Document, DocumentName, OrgUnitCode, PageSpan};
use crate::storage::StorageError;

/// The most lookups one statement answers.
const BATCH: usize = 64;
/// Lookups waiting beyond this make callers wait to enqueue (back-pressure).
const QUEUE_CAPACITY: usize = 1_024;

/// What a lookup answers: the document and its owner's org unit, if it exists in the archive
/// named.
pub(super) type Found = Option<(Document, OrgUnitCode)>;

struct Lookup {
    name: DocumentName,
    pages: PageSpan,
    reply: oneshot::Sender<Result<Found, StorageError>>,
}

/// The queue of lookups and its readers, started on first use (so a `Database` made outside
/// a runtime, e.g. by the CLI, starts no tasks).
#[derive(Debug)]
pub(super) struct DocumentReads {
    /// The readers' own connections, one per reader.
    pool: PgPool,
    readers: usize,
    queue: OnceLock<mpsc::Sender<Lookup>>,
}

impl DocumentReads {
    /// `readers` statements may run at once, on connections of `pool`.
    pub(super) fn new(pool: PgPool, readers: usize) -> Self {
        Self {
            pool,
            readers: readers.max(1),
            queue: OnceLock::new(),
        }
    }

    pub(super) fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub(super) async fn read(
        &self,
        name: &DocumentName,
        pages: PageSpan,
    ) -> Result<Found, StorageError> {
        let queue = self.queue.get_or_init(|| self.start());
        let (reply, answer) = oneshot::channel();
        let lookup = Lookup {
            name: name.clone(),
            pages,
            reply,
        };
        queue.send(lookup).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    fn start(&self) -> mpsc::Sender<Lookup> {
        let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..self.readers {
            tokio::spawn(serve(self.pool.clone(), Arc::clone(&receiver)));
        }
        sender
    }
}

/// One reader: takes whatever is queued (waiting only when nothing is), answers it with one
/// statement, and repeats until every sender is gone.
async fn serve(pool: PgPool, receiver: Arc<Mutex<mpsc::Receiver<Lookup>>>) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        // The lock is held only while waiting: the other readers queue behind it and take the
        // lookups that arrive while this one's statement runs.
        if receiver.lock().await.recv_many(&mut batch, BATCH).await == 0 {
            return;
        }
        answer(&pool, &mut batch).await;
    }
}

/// A row of the batch's statement: the document as its lookup (1-based) asked for it.
#[derive(sqlx::FromRow)]
struct SpanRow {
    lookup: i64,
    #[sqlx(flatten)]
    document: DocumentPagesRow,
}

async fn answer(pool: &PgPool, batch: &mut Vec<Lookup>) {
    let ids: Vec<Uuid> = batch.iter().map(|lookup| lookup.name.document_id).collect();
    let firsts: Vec<i32> = batch.iter().map(|l| page_bound(l.pages.first)).collect();
    let lasts: Vec<i32> = batch.iter().map(|l| page_bound(l.pages.last)).collect();
    let rows: Result<Vec<SpanRow>, sqlx::Error> = sqlx::query_as(select_document_spans!())
        .bind(&ids)
        .bind(&firsts)
        .bind(&lasts)
        .fetch_all(pool)
        .await;
    let rows = match rows {
        Ok(rows) => rows,
        Err(error) => {
            let error = StorageError::from(error);
            for lookup in batch.drain(..) {
                // A caller that gave up (its RPC was cancelled) no longer listens.
                let _ = lookup.reply.send(Err(share(&error)));
            }
            return;
        }
    };
    let mut found: HashMap<i64, Result<(Document, OrgUnitCode), StorageError>> = rows
        .into_iter()
        .map(|row| (row.lookup, row.document.into_owned_document()))
        .collect();
    for (lookup, number) in batch.drain(..).zip(1..) {
        let answer = match found.remove(&number) {
            // A document of another archive is not the one named.
            Some(Ok((document, _))) if document.account != lookup.name.account => Ok(None),
            Some(Ok(document)) => Ok(Some(document)),
            Some(Err(error)) => Err(error),
            None => Ok(None),
        };
        let _ = lookup.reply.send(answer);
    }
}

/// The same failure for each lookup of a batch (errors are not `Clone`).
fn share(error: &StorageError) -> StorageError {
    match error {
        StorageError::NotFound(object) => StorageError::NotFound(object.clone()),
        StorageError::ContentDestroyed => StorageError::ContentDestroyed,
        StorageError::Unavailable(source) => {
            StorageError::Unavailable(anyhow::anyhow!("{source:#}"))
        }
        StorageError::TimedOut(source) => StorageError::TimedOut(anyhow::anyhow!("{source:#}")),
        StorageError::Conflicted(source) => StorageError::Conflicted(anyhow::anyhow!("{source:#}")),
        StorageError::Unexpected(source) => StorageError::Unexpected(anyhow::anyhow!("{source:#}")),
    }
}

fn stopped() -> StorageError {
    StorageError::Unavailable(anyhow::anyhow!("the document readers have stopped"))
}
