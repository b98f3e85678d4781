//! The test as Locust sees it: what the controller read from the master's web API
//! ([`LocustView`]) turned into `.status.stats` and `.status.results`, the workers that never
//! connected, and the verdict on `spec.thresholds`. Pure, like the rest of [`super`].

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use crate::api::v2::{EndpointResult, ErrorResult, LiveStats, Results};
use crate::locust::stats::{State, Stats};
use crate::locust::thresholds::{Measured, Missed, Thresholds};
use crate::names::Role;

use super::pod_health::pod_phase;

/// Most endpoints kept in `.status.results.endpoints`.
pub const MAX_RESULT_ENDPOINTS: usize = 10;
/// Most errors kept in `.status.results.errors`.
pub const MAX_RESULT_ERRORS: usize = 10;
/// Longest error text kept in `.status.results.errors[].error`, in characters.
pub const MAX_ERROR_CHARS: usize = 256;

/// What the controller knows of the master's web API for one test. `Default` is "never read".
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LocustView {
    /// The latest numbers read, and when.
    pub latest: Option<(Timestamp, Stats)>,
    /// Why the latest read failed (`None` when it succeeded or none was tried).
    pub error: Option<String>,
    /// The numbers of the stopped run: the latest read whose state was `stopped`, and when.
    pub stopped: Option<(Timestamp, Stats)>,
    /// The ConfigMap that keeps the full report, once written.
    pub report: Option<String>,
    /// Why the report could not be kept (yet).
    pub report_error: Option<String>,
}

impl LocustView {
    /// The latest numbers, when the latest read succeeded.
    pub fn fresh(&self) -> Option<&Stats> {
        match (&self.latest, &self.error) {
            (Some((_, stats)), None) => Some(stats),
            _ => None,
        }
    }
}

/// `when` with whole seconds, as the API stores times.
pub(crate) fn stamp(when: Timestamp) -> Time {
    Time(Timestamp::from_second(when.as_second()).unwrap_or(when))
}

/// `.status.stats` from the latest read, or the previous numbers with `readError` when the
/// latest read failed (only `readError` when there are none). Numbers equal to the previous ones keep its `readTime`: a read that changes
/// nothing writes nothing.
pub fn live_stats(view: &LocustView, previous: Option<&LiveStats>) -> Option<LiveStats> {
    let mut stats = read_stats(view, previous)?;
    if let Some(previous) = previous
        && (LiveStats {
            read_time: previous.read_time.clone(),
            ..stats.clone()
        }) == *previous
    {
        stats.read_time = previous.read_time.clone();
    }
    Some(stats)
}

fn read_stats(view: &LocustView, previous: Option<&LiveStats>) -> Option<LiveStats> {
    let read_error = view.error.clone();
    match &view.latest {
        Some((at, stats)) => Some(LiveStats {
            state: Some(stats.state.as_str().to_owned()),
            users: Some(saturating(stats.users)),
            requests_per_second: Some(round3(stats.rps)),
            fail_ratio: Some(round6(stats.fail_ratio)),
            requests: Some(saturating(stats.requests)),
            failures: Some(saturating(stats.failures)),
            median_response_time_ms: stats.median_ms.map(round3),
            p95_response_time_ms: stats.p95_ms.map(round3),
            p99_response_time_ms: stats.p99_ms.map(round3),
            workers: Some(i32::try_from(stats.worker_count).unwrap_or(i32::MAX)),
            missing_workers: non_empty(stats.missing_workers().map(|w| w.id.clone()).collect()),
            read_time: Some(stamp(*at)),
            read_error,
        }),
        // Not read yet in this process (or never answered): what the status holds, with why
        // the latest read failed.
        None => match (previous, read_error) {
            (Some(kept), None) => Some(kept.clone()),
            (kept, Some(error)) => Some(LiveStats {
                read_error: Some(error),
                ..kept.cloned().unwrap_or_default()
            }),
            (None, None) => None,
        },
    }
}

/// `.status.results` of a stopped run, keeping `previous`'s `readTime` when nothing else
/// changed.
pub fn results(
    stats: &Stats,
    at: Timestamp,
    view: &LocustView,
    previous: Option<&Results>,
) -> Results {
    let mut results = read_results(stats, at, view);
    if let Some(previous) = previous
        && (Results {
            read_time: previous.read_time.clone(),
            ..results.clone()
        }) == *previous
    {
        results.read_time = previous.read_time.clone();
    }
    results
}

fn read_results(stats: &Stats, at: Timestamp, view: &LocustView) -> Results {
    let mut message = format!(
        "{} requests, {} failed ({}%), {} requests/s on average",
        stats.requests,
        stats.failures,
        short(stats.fail_ratio * 100.0),
        short(stats.avg_rps)
    );
    if let (None, Some(why)) = (&view.report, &view.report_error) {
        message.push_str(&format!("; the full report is not kept: {why}"));
    }
    let report = view.report.clone();
    Results {
        available: true,
        message: Some(message),
        requests: Some(saturating(stats.requests)),
        failures: Some(saturating(stats.failures)),
        fail_ratio: Some(round6(stats.fail_ratio)),
        requests_per_second: Some(round3(stats.avg_rps)),
        median_response_time_ms: stats.median_ms.map(round3),
        p95_response_time_ms: stats.p95_ms.map(round3),
        p99_response_time_ms: stats.p99_ms.map(round3),
        endpoints: non_empty(
            stats
                .endpoints
                .iter()
                .take(MAX_RESULT_ENDPOINTS)
                .map(|e| EndpointResult {
                    method: e.method.clone(),
                    name: e.name.clone(),
                    requests: saturating(e.requests),
                    failures: saturating(e.failures),
                    median_response_time_ms: round3(e.median_ms),
                    p95_response_time_ms: round3(e.p95_ms),
                })
                .collect(),
        ),
        errors: non_empty(
            stats
                .errors
                .iter()
                .take(MAX_RESULT_ERRORS)
                .map(|e| ErrorResult {
                    method: e.method.clone(),
                    name: e.name.clone(),
                    error: e.error.chars().take(MAX_ERROR_CHARS).collect(),
                    occurrences: saturating(e.occurrences),
                })
                .collect(),
        ),
        report,
        read_time: Some(stamp(at)),
    }
}

/// `.status.results` of a test whose final numbers were never read.
pub fn missing_results(view: &LocustView) -> Results {
    let message = match &view.latest {
        Some((at, stats)) => format!(
            "Results missing: the master exited before the operator read its final numbers (last read at {}, Locust state {}); the numbers in .status.stats are not final",
            stamp(*at).0,
            stats.state.as_str()
        ),
        None => "Results missing: the master exited before the operator read any of its numbers"
            .to_owned(),
    };
    Results {
        available: false,
        message: Some(message),
        ..Results::default()
    }
}

/// `.status.results` of a test whose run never started, and `why`.
pub fn never_ran_results(why: &str) -> Results {
    Results {
        available: false,
        message: Some(format!("No results: {why}")),
        ..Results::default()
    }
}

/// The numbers a verdict is checked against, when the results are available.
pub fn measured(results: &Results) -> Option<Measured> {
    results.available.then(|| Measured {
        requests: results
            .requests
            .and_then(|r| u64::try_from(r).ok())
            .unwrap_or_default(),
        fail_ratio: results.fail_ratio.unwrap_or_default(),
        p95_ms: results.p95_response_time_ms,
        p99_ms: results.p99_response_time_ms,
        rps: results.requests_per_second.unwrap_or_default(),
    })
}

/// The verdict on `thresholds` of a run that completed: `Ok` with a summary of the thresholds
/// met, or `Err` with the failure cause (each missed threshold and its measured value, or why
/// nothing could be checked).
pub fn verdict(thresholds: &Thresholds, measured: Option<Measured>) -> Result<String, Verdict> {
    let Some(measured) = measured else {
        return Err(Verdict::Unchecked(
            "its final numbers were not read before the master exited, so spec.thresholds cannot be checked".to_owned(),
        ));
    };
    let missed = thresholds.check(measured);
    if missed.is_empty() {
        Ok("every threshold of spec.thresholds met".to_owned())
    } else {
        Err(Verdict::Missed(missed))
    }
}

/// Why a completed run failed its thresholds.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Thresholds missed, with the values measured.
    Missed(Vec<Missed>),
    /// Nothing to check them against.
    Unchecked(String),
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missed(missed) => {
                let list: Vec<String> = missed.iter().map(ToString::to_string).collect();
                write!(f, "thresholds missed: {}", list.join(", "))
            }
            Self::Unchecked(why) => f.write_str(why),
        }
    }
}

/// The workers connected to the master: Locust's count when its latest read succeeded, or
/// when the last numbers read are those of the stopped run (the master closes its web API as
/// it quits, together with its workers: the count of the run stays); otherwise `ready`, the
/// worker Job's count of its pods that are ready (never its `active`, which counts pods still
/// pending).
pub fn connected_workers(view: &LocustView, ready: i32) -> i32 {
    let counted = match &view.latest {
        Some((_, stats)) if view.error.is_none() || stats.state == State::Stopped => Some(stats),
        _ => None,
    };
    match counted {
        Some(stats) => i32::try_from(stats.worker_count).unwrap_or(i32::MAX),
        None => ready,
    }
}

/// How long a run has waited for its workers, and may.
#[derive(Clone, Copy, Debug)]
pub struct Wait {
    /// The run was seen generating load (or done with it) before: workers missing now were
    /// lost, they did not fail to connect.
    pub load_seen: bool,
    /// When the test started (its master ran).
    pub started_at: Option<Timestamp>,
    /// Now.
    pub now: Timestamp,
    /// How long it may wait.
    pub timeout: Duration,
}

/// The message of a test whose workers did not all connect within `timeout` of its start,
/// naming those that never did; `None` while the timeout runs, once the run started (Locust
/// left `ready`), or when all `expected` are `connected`.
pub fn never_connected(
    name: &str,
    view: &LocustView,
    pods: &[Pod],
    (connected, expected): (i32, i32),
    wait: Wait,
) -> Option<String> {
    let Wait {
        load_seen,
        started_at,
        now,
        timeout,
    } = wait;
    if load_seen {
        return None;
    }
    let waited = now.duration_since(started_at?).unsigned_abs();
    if waited < timeout {
        return None;
    }
    let connected_ids: Vec<&str> = match view.fresh() {
        // The run started: whoever is missing now was lost mid-run, not never connected.
        Some(stats) if stats.state != State::Ready => return None,
        Some(stats) => stats.workers.iter().map(|w| w.id.as_str()).collect(),
        None => Vec::new(),
    };
    if connected >= expected {
        return None;
    }
    let mut absent: Vec<String> = worker_pods(name, pods)
        .filter(|pod| {
            let pod_name = pod.metadata.name.as_deref().unwrap_or_default();
            match view.fresh() {
                Some(_) => !connected_ids.iter().any(|id| {
                    id.strip_prefix(pod_name)
                        .is_some_and(|r| r.starts_with('_'))
                }),
                None => !(pod_phase(pod) == "Running" && ready(pod)),
            }
        })
        .map(describe_pod)
        .collect();
    absent.sort();
    let pods_made = worker_pods(name, pods).count();
    let never_made = usize::try_from(expected)
        .unwrap_or_default()
        .saturating_sub(pods_made);
    if never_made > 0 {
        absent.push(format!("{never_made} worker pod(s) never created"));
    }
    let list = if absent.is_empty() {
        String::new()
    } else {
        format!(": {}", absent.join(", "))
    };
    Some(format!(
        "{} of {expected} workers never connected within {}{list}",
        expected - connected,
        humantime::format_duration(timeout)
    ))
}

/// The time left before [`never_connected`] can decide, while the run waits for workers.
pub fn connect_deadline_in(
    started_at: Option<Timestamp>,
    now: Timestamp,
    timeout: Duration,
) -> Option<Duration> {
    let waited = now.duration_since(started_at?).unsigned_abs();
    timeout.checked_sub(waited).filter(|left| !left.is_zero())
}

/// New `missing` workers of `now` that `before` did not list.
pub fn newly_missing<'a>(before: Option<&LiveStats>, now: &'a LiveStats) -> Vec<&'a str> {
    let known: &[String] = before
        .and_then(|b| b.missing_workers.as_deref())
        .unwrap_or_default();
    now.missing_workers
        .iter()
        .flatten()
        .filter(|id| !known.contains(id))
        .map(String::as_str)
        .collect()
}

/// Locust's states in which the run generates load.
pub fn generating_load(state: Option<&str>) -> bool {
    matches!(state, Some("spawning" | "running"))
}

fn worker_pods<'p>(name: &'p str, pods: &'p [Pod]) -> impl Iterator<Item = &'p Pod> + 'p {
    super::pods_of_role(name, Role::Worker, pods)
}

fn ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        })
}

/// `name (reason)`, the reason being why its first container waits, or why it is not
/// scheduled, if either; else its phase.
fn describe_pod(pod: &Pod) -> String {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let status = pod.status.as_ref();
    let waiting = status
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|statuses| {
            statuses
                .iter()
                .find_map(|c| c.state.as_ref()?.waiting.as_ref()?.reason.clone())
        });
    let unscheduled = || {
        status
            .and_then(|s| s.conditions.as_ref())
            .and_then(|conditions| {
                conditions
                    .iter()
                    .find(|c| c.type_ == "PodScheduled" && c.status == "False")
            })
            .and_then(|c| c.reason.clone())
    };
    match waiting.or_else(unscheduled) {
        Some(reason) => format!("{name} ({reason})"),
        None => format!("{name} ({})", pod_phase(pod)),
    }
}

fn non_empty<T>(list: Vec<T>) -> Option<Vec<T>> {
    (!list.is_empty()).then_some(list)
}

fn saturating(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// At most three decimals: the status changes only when a number does, not with float noise.
fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

/// At most six decimals, for ratios: one failure in a million requests still shows.
fn round6(value: f64) -> f64 {
    (value * 1_000_000.0).round() / 1_000_000.0
}

/// A number without noise: at most two decimals, no trailing zeros.
fn short(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}
