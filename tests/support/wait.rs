//! Bounded waiting, shared by the integration tests: nothing waits forever, and a timeout
//! names what was awaited.

#![allow(dead_code)] // shared by several test crates

use std::future::Future;
use std::time::Duration;

/// Pause between two polls of [`eventually`].
pub const POLL: Duration = Duration::from_millis(50);

/// Runs `future`, panicking with `what` if it takes longer than `limit`.
pub async fn bounded<T>(what: &str, limit: Duration, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(limit, future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {limit:?}: {what}"),
    }
}

/// Polls `check` every [`POLL`] until it returns `Some`; panics with `what` after `limit`.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?}: {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}
