//! The memory all filings together may hold: pages are received into memory before (and
//! while) they go to the store, so the bytes buffered across every filing and correction in
//! flight are bounded by one budget (`limits.filing_buffer_bytes`), not only the number of
//! calls. A page that finds the budget spent waits for room, at most the filing idle timeout.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::domain::Error;

/// The budget's unit: pages reserve whole mebibytes.
const UNIT: u64 = 1024 * 1024;

/// The most one page holds in memory: a page stored with one PUT holds its bytes (under one
/// part); a larger one the part being filled and the part being sent.
const PAGE_CAP_UNITS: u64 = 16;

/// The budget shared by every filing of the server.
#[derive(Debug, Clone)]
pub struct FilingBuffer {
    units: Arc<Semaphore>,
    limit_units: u64,
}

impl FilingBuffer {
    /// A budget of `bytes` (rounded down to whole MiB, at least one).
    pub fn new(bytes: u64) -> Self {
        let limit_units = (bytes / UNIT).clamp(1, Semaphore::MAX_PERMITS as u64);
        Self {
            units: Arc::new(Semaphore::new(limit_units as usize)),
            limit_units,
        }
    }

    /// The most one page may hold: its cap, or the whole budget if that is smaller.
    fn page_cap(&self) -> u64 {
        PAGE_CAP_UNITS.min(self.limit_units)
    }
}

/// What one page holds of the budget; given back when it is dropped (the page stored, or
/// abandoned).
#[derive(Debug)]
pub(super) struct Reservation {
    buffer: FilingBuffer,
    held: Option<OwnedSemaphorePermit>,
    units: u64,
}

impl Reservation {
    pub(super) fn new(buffer: &FilingBuffer) -> Self {
        Self {
            buffer: buffer.clone(),
            held: None,
            units: 0,
        }
    }

    /// Grows the reservation to cover a page of `page_bytes` received so far, waiting at most
    /// `patience` for room.
    pub(super) async fn cover(&mut self, page_bytes: u64, patience: Duration) -> Result<(), Error> {
        let wanted = page_bytes.div_ceil(UNIT).min(self.buffer.page_cap());
        if wanted <= self.units {
            return Ok(());
        }
        let more = (wanted - self.units) as u32;
        let units = Arc::clone(&self.buffer.units);
        let permit = tokio::time::timeout(patience, units.acquire_many_owned(more))
            .await
            .map_err(|_| {
                Error::ResourceExhausted(format!(
                    "the server is receiving as many page bytes as its memory allows ({} MiB \
                     for every filing together); retry with backoff",
                    self.buffer.limit_units
                ))
            })?
            .map_err(|_| Error::Unexpected(anyhow::anyhow!("the filing buffer was closed")))?;
        match &mut self.held {
            Some(held) => held.merge(permit),
            None => self.held = Some(permit),
        }
        self.units = wanted;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_page_waits_for_room_and_is_refused_when_none_comes() {
        let buffer = FilingBuffer::new(8 * UNIT);
        let mut first = Reservation::new(&buffer);
        first.cover(6 * UNIT, Duration::ZERO).await.unwrap();
        let mut second = Reservation::new(&buffer);
        second.cover(2 * UNIT, Duration::ZERO).await.unwrap();
        let refused = second.cover(3 * UNIT, Duration::from_millis(10)).await;
        assert!(
            matches!(refused, Err(Error::ResourceExhausted(_))),
            "{refused:?}"
        );
        drop(first);
        second.cover(3 * UNIT, Duration::ZERO).await.unwrap();
    }

    #[tokio::test]
    async fn one_page_holds_at_most_its_cap_however_large_it_grows() {
        let buffer = FilingBuffer::new(64 * UNIT);
        let mut page = Reservation::new(&buffer);
        page.cover(1024 * UNIT, Duration::ZERO).await.unwrap();
        assert_eq!(page.units, PAGE_CAP_UNITS);
        assert_eq!(buffer.units.available_permits() as u64, 64 - PAGE_CAP_UNITS);
    }

    #[tokio::test]
    async fn a_budget_smaller_than_the_cap_still_lets_one_page_through() {
        let buffer = FilingBuffer::new(4 * UNIT);
        let mut page = Reservation::new(&buffer);
        page.cover(100 * UNIT, Duration::ZERO).await.unwrap();
        assert_eq!(page.units, 4);
    }
}
