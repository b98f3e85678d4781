//! Reading a Locust master's web API over HTTP: its stats, and its report before it exits.
//! Each `GET` is bounded in time and in size, with a bounded number at once, so a master that
//! is unreachable, slow or answers garbage never stalls its caller. Where a test's master answers is a [`Resolve`]'s to say: in a cluster,
//! its Service `<test>-master.<namespace>.svc`.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;

use super::stats::{self, MAX_BODY_BYTES, Stats, StatsError};
use crate::names::{Role, node_name};

/// The Locust web UI port the master Service exposes.
pub const WEB_PORT: u16 = 8089;
/// Default bound of one read, connection included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
/// Default number of reads at once.
pub const DEFAULT_CONCURRENCY: usize = 16;
/// Default bound of the read of the HTML report: ~0.9 MB rendered by the master, which may be
/// busy with its last worker reports, so much longer than a stats read.
pub const REPORT_TIMEOUT: Duration = Duration::from_secs(20);
/// Largest HTML report read: ~0.9 MB on Locust 2.43.3 (904 KB of it the inlined JS bundle), and
/// its data grows with the run's history, so ample room without being unbounded.
pub const MAX_REPORT_BYTES: usize = 16 * 1024 * 1024;

/// Why a read gave no stats.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ReadError {
    /// No connection (nothing listens yet, the name does not resolve).
    #[error("the master's web API is unreachable: {0}")]
    Unreachable(String),
    /// No whole answer within the time allowed.
    #[error("the master's web API did not answer within {0:?}")]
    Timeout(Duration),
    /// An HTTP status other than 200.
    #[error("the master's web API answered HTTP {0}")]
    Status(u16),
    /// Not an HTTP answer.
    #[error("the master's web API answered something that is not HTTP")]
    NotHttp,
    /// A body larger than the read allows.
    #[error("the master's web API answered more than {0} bytes")]
    TooLarge(usize),
    /// The answer is not Locust's stats.
    #[error(transparent)]
    Stats(#[from] StatsError),
}

/// Where the master of a test answers, as `host:port`.
pub trait Resolve: Send + Sync {
    /// The address of the web API of the master of test `name` in `namespace`.
    fn master(&self, namespace: &str, name: &str) -> String;
}

/// Where masters answer, for settings that are printed (`Debug`).
#[derive(Clone)]
pub struct MasterAddresses(pub Arc<dyn Resolve>);

impl Default for MasterAddresses {
    fn default() -> Self {
        Self(Arc::new(ClusterDns))
    }
}

impl std::fmt::Debug for MasterAddresses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterAddresses")
    }
}

/// Cluster DNS: the master Service `<name>-master.<namespace>.svc:8089`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ClusterDns;

impl Resolve for ClusterDns {
    fn master(&self, namespace: &str, name: &str) -> String {
        format!(
            "{}.{namespace}.svc:{WEB_PORT}",
            node_name(name, Role::Master)
        )
    }
}

/// Reads masters' stats and reports, a bounded number at once.
pub struct Masters {
    resolve: Arc<dyn Resolve>,
    timeout: Duration,
    report_timeout: Duration,
    permits: Semaphore,
}

/// The files of a run's report, as the master serves them.
#[derive(Clone, Debug, PartialEq)]
pub struct Artifacts {
    /// `GET /stats/report?download=1`: the HTML report, or why it could not be read (a master
    /// without the route, a report too large or too slow); the CSVs are kept either way.
    pub html: Result<Vec<u8>, ReadError>,
    /// `GET /stats/requests/csv`: per endpoint counts, times and percentiles.
    pub requests_csv: Vec<u8>,
    /// `GET /stats/failures/csv`: each distinct failure and its occurrences.
    pub failures_csv: Vec<u8>,
    /// `GET /exceptions/csv`: exceptions the locustfile raised.
    pub exceptions_csv: Vec<u8>,
}

impl Masters {
    /// Reads through `resolve`, each read bounded by `timeout`, at most `concurrency` at once.
    pub fn new(resolve: Arc<dyn Resolve>, timeout: Duration, concurrency: usize) -> Self {
        Self {
            resolve,
            timeout,
            report_timeout: REPORT_TIMEOUT,
            permits: Semaphore::new(concurrency.max(1)),
        }
    }

    /// The same, with reads of the HTML report bounded by `timeout` instead of
    /// [`REPORT_TIMEOUT`].
    pub fn with_report_timeout(mut self, timeout: Duration) -> Self {
        self.report_timeout = timeout;
        self
    }

    /// One of the reads allowed at once.
    async fn permit(&self) -> Result<tokio::sync::SemaphorePermit<'_>, ReadError> {
        self.permits
            .acquire()
            .await
            .map_err(|e| ReadError::Unreachable(e.to_string()))
    }

    /// `GET /stats/requests` of the master of test `name` in `namespace`.
    pub async fn stats(&self, namespace: &str, name: &str) -> Result<Stats, ReadError> {
        let address = self.resolve.master(namespace, name);
        let _permit = self.permit().await?;
        let body = get(&address, "/stats/requests", self.timeout).await?;
        Ok(stats::parse(&body)?)
    }

    /// The report of the run of test `name` in `namespace`: its HTML page and three CSVs, read
    /// at once under one permit. An error when a CSV cannot be read; a report that cannot be
    /// read is said in [`Artifacts::html`].
    pub async fn artifacts(&self, namespace: &str, name: &str) -> Result<Artifacts, ReadError> {
        let address = self.resolve.master(namespace, name);
        let _permit = self.permit().await?;
        let csv = |path| get_limited(&address, path, self.timeout, MAX_BODY_BYTES);
        // At once: the master answers only until autoquit closes its web UI.
        let (html, requests_csv, failures_csv, exceptions_csv) = tokio::join!(
            get_limited(
                &address,
                "/stats/report?download=1",
                self.report_timeout,
                MAX_REPORT_BYTES
            ),
            csv("/stats/requests/csv"),
            csv("/stats/failures/csv"),
            csv("/exceptions/csv"),
        );
        Ok(Artifacts {
            html,
            requests_csv: requests_csv?,
            failures_csv: failures_csv?,
            exceptions_csv: exceptions_csv?,
        })
    }
}

/// `GET path` of `address` (`host:port`) over HTTP/1.0: the body of a 200 answer, at most
/// [`MAX_BODY_BYTES`] (a larger one is [`StatsError::TooLarge`]), within `timeout`
/// (connection included).
pub async fn get(address: &str, path: &str, timeout: Duration) -> Result<Vec<u8>, ReadError> {
    get_limited(address, path, timeout, MAX_BODY_BYTES)
        .await
        .map_err(|error| match error {
            ReadError::TooLarge(_) => ReadError::Stats(StatsError::TooLarge),
            other => other,
        })
}

/// `GET path` of `address` (`host:port`) over HTTP/1.0: the body of a 200 answer, at most
/// `max_body` bytes (a larger one is [`ReadError::TooLarge`]), within `timeout` (connection
/// included).
pub async fn get_limited(
    address: &str,
    path: &str,
    timeout: Duration,
    max_body: usize,
) -> Result<Vec<u8>, ReadError> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(address)
            .await
            .map_err(|e| ReadError::Unreachable(format!("{address}: {e}")))?;
        let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
        let request = format!("GET {path} HTTP/1.0\r\nHost: {host}\r\nAccept: */*\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| ReadError::Unreachable(e.to_string()))?;
        // Read at most the head and the largest body allowed, plus one byte to tell "larger".
        let limit = max_body.saturating_add(64 * 1024 + 1) as u64;
        let mut response = Vec::new();
        stream
            .take(limit)
            .read_to_end(&mut response)
            .await
            .map_err(|e| ReadError::Unreachable(e.to_string()))?;
        split(&response, max_body)
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| ReadError::Timeout(timeout))?
}

/// The body of a 200 answer, at most `max_body` bytes.
fn split(response: &[u8], max_body: usize) -> Result<Vec<u8>, ReadError> {
    let end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or(ReadError::NotHttp)?;
    let head = std::str::from_utf8(&response[..end]).map_err(|_| ReadError::NotHttp)?;
    let status = head
        .lines()
        .next()
        .filter(|line| line.starts_with("HTTP/1."))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or(ReadError::NotHttp)?;
    if status != 200 {
        return Err(ReadError::Status(status));
    }
    let body = &response[end + 4..];
    if body.len() > max_body {
        return Err(ReadError::TooLarge(max_body));
    }
    Ok(body.to_vec())
}
