//! Waiting for a state the test can observe, instead of sleeping for a time guessed to be
//! long enough.

use std::future::Future;
use std::time::{Duration, Instant};

/// How often [`eventually`] looks again.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Awaits `condition` every 20 ms until it holds; panics naming `what` if it still does not
/// once `deadline` has passed.
pub async fn eventually<F, Fut>(deadline: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    while !condition().await {
        assert!(
            started.elapsed() < deadline,
            "waited {deadline:?} for {what}, in vain"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
