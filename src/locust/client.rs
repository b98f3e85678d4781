//! Reading a Locust master's web API over HTTP: one `GET`, bounded in time and in size, with a
//! bounded number at once, so a master that is unreachable, slow or answers garbage never
//! stalls its caller. Where a test's master answers is a [`Resolve`]'s to say: in a cluster,
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

/// Reads masters' stats, a bounded number at once.
pub struct Masters {
    resolve: Arc<dyn Resolve>,
    timeout: Duration,
    permits: Semaphore,
}

impl Masters {
    /// Reads through `resolve`, each read bounded by `timeout`, at most `concurrency` at once.
    pub fn new(resolve: Arc<dyn Resolve>, timeout: Duration, concurrency: usize) -> Self {
        Self {
            resolve,
            timeout,
            permits: Semaphore::new(concurrency.max(1)),
        }
    }

    /// `GET /stats/requests` of the master of test `name` in `namespace`.
    pub async fn stats(&self, namespace: &str, name: &str) -> Result<Stats, ReadError> {
        let address = self.resolve.master(namespace, name);
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| ReadError::Unreachable(e.to_string()))?;
        let body = get(&address, "/stats/requests", self.timeout).await?;
        Ok(stats::parse(&body)?)
    }
}

/// `GET path` of `address` (`host:port`) over HTTP/1.0: the body of a 200 answer, at most
/// [`MAX_BODY_BYTES`], within `timeout` (connection included).
pub async fn get(address: &str, path: &str, timeout: Duration) -> Result<Vec<u8>, ReadError> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(address)
            .await
            .map_err(|e| ReadError::Unreachable(format!("{address}: {e}")))?;
        let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
        let request =
            format!("GET {path} HTTP/1.0\r\nHost: {host}\r\nAccept: application/json\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| ReadError::Unreachable(e.to_string()))?;
        // Read at most the head and the largest body allowed, plus one byte to tell "larger".
        let limit = (MAX_BODY_BYTES + 64 * 1024 + 1) as u64;
        let mut response = Vec::new();
        stream
            .take(limit)
            .read_to_end(&mut response)
            .await
            .map_err(|e| ReadError::Unreachable(e.to_string()))?;
        split(&response)
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| ReadError::Timeout(timeout))?
}

/// The body of a 200 answer.
fn split(response: &[u8]) -> Result<Vec<u8>, ReadError> {
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
    if body.len() > MAX_BODY_BYTES {
        return Err(ReadError::Stats(StatsError::TooLarge));
    }
    Ok(body.to_vec())
}
