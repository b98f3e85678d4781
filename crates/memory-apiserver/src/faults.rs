//! Fault injection: fail the next requests matching a filter, delay responses, drop watches;
//! and counting or recording the requests matching a filter.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::Method;

use crate::status::ApiError;

/// Which requests a fault applies to.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Only this method (e.g. `POST`); any when `None`.
    pub method: Option<Method>,
    /// Only paths containing this text (e.g. `/jobs`); any when `None`.
    pub path_contains: Option<String>,
}

impl Filter {
    fn matches(&self, method: &Method, path: &str) -> bool {
        self.method.as_ref().is_none_or(|m| m == method)
            && self
                .path_contains
                .as_deref()
                .is_none_or(|p| path.contains(p))
    }
}

#[derive(Default)]
struct Inner {
    failures: Vec<(Filter, u32, u16)>,
    delays: Vec<(Filter, Duration)>,
    counters: Vec<(Filter, Arc<AtomicU64>)>,
    recordings: Vec<(Filter, Recording)>,
    injected: u64,
}

/// The method and path of each request seen by a [`Faults::record`], in order.
pub type Recording = Arc<Mutex<Vec<(Method, String)>>>;

/// The fault plan of one server.
#[derive(Default)]
pub struct Faults {
    inner: Mutex<Inner>,
}

impl Faults {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The next `count` requests matching `filter` fail with `code` (500, 429, 409, ...).
    pub fn fail_next(&self, filter: Filter, count: u32, code: u16) {
        self.lock().failures.push((filter, count, code));
    }

    /// Requests matching `filter` are answered after `delay`, until cleared.
    pub fn delay(&self, filter: Filter, delay: Duration) {
        self.lock().delays.push((filter, delay));
    }

    /// Counts the requests matching `filter` from now on (whatever their outcome); the count
    /// is read from the returned counter.
    pub fn count(&self, filter: Filter) -> Arc<AtomicU64> {
        let counter = Arc::new(AtomicU64::new(0));
        self.lock().counters.push((filter, Arc::clone(&counter)));
        counter
    }

    /// Records the method and path of the requests matching `filter` from now on.
    pub fn record(&self, filter: Filter) -> Recording {
        let recording = Recording::default();
        self.lock()
            .recordings
            .push((filter, Arc::clone(&recording)));
        recording
    }

    /// Removes every pending failure and delay.
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.failures.clear();
        inner.delays.clear();
    }

    /// How many failures were injected so far.
    pub fn injected(&self) -> u64 {
        self.lock().injected
    }

    /// Applies the plan to one request: maybe waits, maybe returns an error to send instead.
    pub async fn before(&self, method: &Method, path: &str) -> Option<ApiError> {
        let (delay, failure) = {
            let mut inner = self.lock();
            for (filter, counter) in &inner.counters {
                if filter.matches(method, path) {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            }
            for (filter, recording) in &inner.recordings {
                if filter.matches(method, path) {
                    recording
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push((method.clone(), path.to_owned()));
                }
            }
            let delay = inner
                .delays
                .iter()
                .filter(|(f, _)| f.matches(method, path))
                .map(|(_, d)| *d)
                .max();
            let mut failure = None;
            if let Some(entry) = inner
                .failures
                .iter_mut()
                .find(|(f, n, _)| *n > 0 && f.matches(method, path))
            {
                entry.1 -= 1;
                failure = Some(entry.2);
            }
            inner.failures.retain(|(_, n, _)| *n > 0);
            if failure.is_some() {
                inner.injected += 1;
            }
            (delay, failure)
        };
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        failure.map(|code| match code {
            429 => ApiError::new(429, "TooManyRequests", "injected: too many requests, please try again later", Some(serde_json::json!({"retryAfterSeconds": 1}))),
            409 => ApiError::new(409, "Conflict", "injected: Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again", None),
            code => ApiError::new(code, "InternalError", format!("injected: Internal error occurred ({code})"), None),
        })
    }
}
