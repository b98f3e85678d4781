//! `GET /stats/requests` of a Locust master (2.x) as the operator reads it: the run's state,
//! users, rates, totals and percentiles (from the `Aggregated` entry), and the workers the
//! master counts. Reading never trusts the body: it is capped in size, and anything that is
//! not the expected JSON is a [`StatsError`] saying what, never a panic.

use serde::Deserialize;
use serde_json::Value;

/// Largest body read (a master with many endpoints answers tens of KB; a report is ~1 MB).
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// The name of Locust's total entry in `stats`.
const AGGREGATED: &str = "Aggregated";

/// Locust's runner state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// Waiting (for workers, or for a start).
    Ready,
    /// Users are being started.
    Spawning,
    /// Generating load.
    Running,
    /// Stopping users.
    Stopping,
    /// The run ended; the final numbers are readable until the master exits.
    Stopped,
    /// A worker the master lost (no heartbeat).
    Missing,
    /// Anything else Locust may say.
    Other(String),
}

impl State {
    fn parse(text: &str) -> Self {
        match text {
            "ready" => Self::Ready,
            "spawning" => Self::Spawning,
            "running" => Self::Running,
            "stopping" => Self::Stopping,
            "stopped" => Self::Stopped,
            "missing" => Self::Missing,
            other => Self::Other(other.to_owned()),
        }
    }

    /// As Locust writes it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Ready => "ready",
            Self::Spawning => "spawning",
            Self::Running => "running",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
            Self::Missing => "missing",
            Self::Other(other) => other,
        }
    }
}

/// A worker as the master lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct Worker {
    /// Locust's id (`<host name>_<hex>`: the pod's name in a cluster).
    pub id: String,
    /// Its state (`missing` once the master lost it).
    pub state: State,
    /// Its users.
    pub users: u64,
}

/// One endpoint's totals.
#[derive(Clone, Debug, PartialEq)]
pub struct Endpoint {
    /// The request method (`GET`, …).
    pub method: String,
    /// The request name (the path, unless the locustfile names it).
    pub name: String,
    /// Requests.
    pub requests: u64,
    /// Failed requests.
    pub failures: u64,
    /// Median response time, ms.
    pub median_ms: f64,
    /// 95th percentile response time, ms.
    pub p95_ms: f64,
}

/// What the master says of the run.
#[derive(Clone, Debug, PartialEq)]
pub struct Stats {
    /// The runner's state.
    pub state: State,
    /// Users running now.
    pub users: u64,
    /// Requests per second (Locust's `total_rps`, over its recent window of about 10 s;
    /// frozen at its last value once the run stops).
    pub rps: f64,
    /// Average requests per second over the run (the `Aggregated` entry's `total_rps`).
    pub avg_rps: f64,
    /// Failed requests over all requests (0 to 1).
    pub fail_ratio: f64,
    /// Requests so far.
    pub requests: u64,
    /// Failed requests so far.
    pub failures: u64,
    /// Median response time, ms (`None` before the first request).
    pub median_ms: Option<f64>,
    /// 95th percentile response time, ms.
    pub p95_ms: Option<f64>,
    /// 99th percentile response time, ms.
    pub p99_ms: Option<f64>,
    /// Workers the master counts as connected (`ready` or `running`).
    pub worker_count: u64,
    /// Every worker it lists, `missing` ones included.
    pub workers: Vec<Worker>,
    /// The endpoints, most requested first.
    pub endpoints: Vec<Endpoint>,
    /// The errors, most frequent first.
    pub errors: Vec<Failure>,
}

/// One error as the master counts it.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    /// The request method.
    pub method: String,
    /// The request name.
    pub name: String,
    /// The error, as Locust writes it.
    pub error: String,
    /// How often it occurred.
    pub occurrences: u64,
}

impl Stats {
    /// The workers the master lost.
    pub fn missing_workers(&self) -> impl Iterator<Item = &Worker> {
        self.workers.iter().filter(|w| w.state == State::Missing)
    }
}

/// Why a body is not a master's stats.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum StatsError {
    /// Larger than [`MAX_BODY_BYTES`].
    #[error("the answer is larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    /// Not JSON (an HTML page, a truncated body).
    #[error("the answer is not JSON: {0}")]
    NotJson(String),
    /// JSON, but not Locust's stats.
    #[error("the answer is not Locust's stats: {0}")]
    Shape(String),
}

#[derive(Deserialize)]
struct Raw {
    state: String,
    #[serde(default)]
    user_count: Option<f64>,
    #[serde(default)]
    total_rps: Option<f64>,
    #[serde(default)]
    fail_ratio: Option<f64>,
    #[serde(default)]
    worker_count: Option<f64>,
    #[serde(default)]
    workers: Vec<RawWorker>,
    stats: Vec<RawEntry>,
    #[serde(default)]
    errors: Vec<RawError>,
}

#[derive(Deserialize)]
struct RawError {
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    occurrences: Option<f64>,
}

#[derive(Deserialize)]
struct RawWorker {
    id: String,
    state: String,
    #[serde(default)]
    user_count: Option<f64>,
}

#[derive(Deserialize)]
struct RawEntry {
    #[serde(default)]
    method: Option<String>,
    name: String,
    #[serde(default)]
    num_requests: Option<f64>,
    #[serde(default)]
    num_failures: Option<f64>,
    #[serde(default)]
    median_response_time: Option<f64>,
    #[serde(default, rename = "response_time_percentile_0.95")]
    p95: Option<f64>,
    #[serde(default, rename = "response_time_percentile_0.99")]
    p99: Option<f64>,
    #[serde(default)]
    total_rps: Option<f64>,
}

/// A count from Locust's JSON numbers (whole and non-negative; anything else is 0).
fn count(value: Option<f64>) -> u64 {
    value
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map_or(0, |v| v.round() as u64)
}

/// A finite number, or 0.
fn number(value: Option<f64>) -> f64 {
    value.filter(|v| v.is_finite()).unwrap_or(0.0)
}

/// Reads a `GET /stats/requests` body.
pub fn parse(body: &[u8]) -> Result<Stats, StatsError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(StatsError::TooLarge);
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|e| StatsError::NotJson(e.to_string()))?;
    let raw: Raw = serde_path_to_error::deserialize(value)
        .map_err(|e| StatsError::Shape(format!("{}: {}", e.path(), e.inner())))?;
    let aggregated = raw.stats.iter().find(|e| e.name == AGGREGATED);
    let requests = count(aggregated.and_then(|a| a.num_requests));
    // Before the first request Locust reports 0 (or null) percentiles: there are none yet.
    let percentile = |value: Option<f64>| (requests > 0).then(|| number(value));
    let mut endpoints: Vec<Endpoint> = raw
        .stats
        .iter()
        .filter(|e| e.name != AGGREGATED)
        .map(|e| Endpoint {
            method: e.method.clone().unwrap_or_default(),
            name: e.name.clone(),
            requests: count(e.num_requests),
            failures: count(e.num_failures),
            median_ms: number(e.median_response_time),
            p95_ms: number(e.p95),
        })
        .collect();
    endpoints.sort_by(|a, b| b.requests.cmp(&a.requests).then(a.name.cmp(&b.name)));
    let mut errors: Vec<Failure> = raw
        .errors
        .into_iter()
        .map(|e| Failure {
            method: e.method.unwrap_or_default(),
            name: e.name.unwrap_or_default(),
            error: e.error.unwrap_or_default(),
            occurrences: count(e.occurrences),
        })
        .collect();
    errors.sort_by(|a, b| b.occurrences.cmp(&a.occurrences).then(a.name.cmp(&b.name)));
    Ok(Stats {
        state: State::parse(&raw.state),
        users: count(raw.user_count),
        rps: number(raw.total_rps),
        avg_rps: number(aggregated.and_then(|a| a.total_rps)),
        fail_ratio: number(raw.fail_ratio).clamp(0.0, 1.0),
        requests,
        failures: count(aggregated.and_then(|a| a.num_failures)),
        median_ms: percentile(aggregated.and_then(|a| a.median_response_time)),
        p95_ms: percentile(aggregated.and_then(|a| a.p95)),
        p99_ms: percentile(aggregated.and_then(|a| a.p99)),
        worker_count: count(raw.worker_count),
        workers: raw
            .workers
            .into_iter()
            .map(|w| Worker {
                id: w.id,
                state: State::parse(&w.state),
                users: count(w.user_count),
            })
            .collect(),
        endpoints,
        errors,
    })
}
