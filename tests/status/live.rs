//! The test as Locust sees it (`status::live`): `.status.stats` from the master's web API,
//! `.status.results` of the stopped run, the verdict on `spec.thresholds`, workers that never
//! connect, and the `LoadStarted` / `WorkerMissing` / `ThresholdMissed` events — on the numbers
//! a real Locust 2.43.3 master answered (`tests/fixtures/locust-web`).

use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, PodCondition};
use locust_operator::api::conditions::types;
use locust_operator::api::{LocustTest, Phase};
use locust_operator::locust::stats::{self as locust_stats, State, Stats};
use locust_operator::status::live::LocustView;
use locust_operator::status::{MESSAGE_TEST_SUCCEEDED, Observed, Outcome, StatusEvent};
use serde_json::{Value, json};

use crate::{
    at, at_ms, children, compute, finished, locust_test, pod, rfc, running, running_pod, srm, step,
    triple, waiting_pod,
};

/// `--worker-connect-timeout`'s default.
const TIMEOUT: Duration = Duration::from_secs(300);

/// The worker id of fixture 31 as a cluster names it: `<pod name>_<hex>` (the fixtures were
/// recorded on a host named `vm`).
const CONNECTED_ID: &str = "my-test-worker-7xk2p_d8f5cc3e31fd406ca7bf04cf4162f188";
const CONNECTED_POD: &str = "my-test-worker-7xk2p";
const WAITING_POD: &str = "my-test-worker-q9zvd";

/// The `.status.stats` field that says why the latest read failed.
const READ_ERROR: &str = "readError";

const REFUSED: &str = "GET http://my-test-master.loadtests:8089/stats/requests: connection refused";

/// The recorded `GET /stats/requests` answer `tests/fixtures/locust-web/<number>-*`, parsed.
fn fixture(number: &str) -> Stats {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/locust-web");
    let path = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with(&format!("{number}-")) && name.ends_with("stats-requests.json")
        })
        .unwrap_or_else(|| panic!("no fixture {number} in {}", dir.display()));
    locust_stats::parse(&std::fs::read(&path).unwrap()).unwrap()
}

/// Fixture 31 (`ready`, 1 of 2 workers) with its worker named after [`CONNECTED_POD`].
fn one_of_two() -> Stats {
    let mut stats = fixture("31");
    assert_eq!(stats.workers.len(), 1);
    stats.workers[0].id = CONNECTED_ID.to_owned();
    stats
}

/// A successful read of `stats` at t0+`secs`.
fn fresh(stats: Stats, secs: i64) -> LocustView {
    LocustView {
        latest: Some((at(secs), stats)),
        ..LocustView::default()
    }
}

/// A successful read of fixture `number` at t0+`secs`.
fn read(number: &str, secs: i64) -> LocustView {
    fresh(fixture(number), secs)
}

/// A read of a stopped run (fixture `number`) at t0+`secs`: its final numbers.
fn stopped(number: &str, secs: i64) -> LocustView {
    let stats = fixture(number);
    assert_eq!(stats.state, State::Stopped, "fixture {number}");
    LocustView {
        latest: Some((at(secs), stats.clone())),
        stopped: Some((at(secs), stats)),
        ..LocustView::default()
    }
}

/// The latest read failed; nothing was read before.
fn failed_read(error: &str) -> LocustView {
    LocustView {
        error: Some(error.to_owned()),
        ..LocustView::default()
    }
}

fn with_view(observed: Observed, view: LocustView) -> Observed {
    Observed {
        locust: view,
        ..observed
    }
}

/// A test with `replicas` workers and `spec` merged into its spec.
fn test_with(replicas: i32, spec: Value) -> LocustTest {
    let mut patch = json!({"worker": {"replicas": replicas}});
    json_patch::merge(&mut patch, &spec);
    locust_test(json!({ "spec": patch }))
}

/// `test` after entering `Running` at t0+30 (master running, every worker Job pod ready),
/// with `view` read then.
fn started(mut test: LocustTest, view: LocustView) -> LocustTest {
    step(&mut test, &children(json!({}), json!({})), at(10));
    let replicas = test.spec.worker.replicas;
    step(&mut test, &with_view(running(replicas), view), at(30));
    assert_eq!(
        test.status.as_ref().and_then(|s| s.phase),
        Some(Phase::Running)
    );
    test
}

/// A 2-worker test running since t0+30, that read `view` at t0+`secs`.
fn running_with(view: LocustView, secs: i64) -> LocustTest {
    let mut test = started(test_with(2, json!({})), LocustView::default());
    step(&mut test, &with_view(running(2), view), at(secs));
    test
}

/// The master Job completed (Locust exited 0), the workers still there.
fn completed() -> Observed {
    children(
        finished(
            "Complete",
            "CompletionsReached",
            "Reached expected number of succeeded pods",
        ),
        json!({"active": 2, "ready": 2}),
    )
}

/// The master Job failed (Locust crashed).
fn master_failed() -> Observed {
    children(
        finished(
            "Failed",
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
        ),
        json!({"active": 2, "ready": 2}),
    )
}

fn stats_json(outcome: &Outcome) -> Value {
    serde_json::to_value(&outcome.status.stats).unwrap()
}

/// The `.status.stats` a test holds, as the API shows it.
fn stats_of(test: &LocustTest) -> Value {
    serde_json::to_value(&test.status.as_ref().unwrap().stats).unwrap()
}

fn results_json(outcome: &Outcome) -> Value {
    serde_json::to_value(&outcome.status.results).unwrap()
}

/// `(type, reason, message)` of an event.
type Event = (&'static str, &'static str, String);

/// `(type, reason, message)` of each event.
fn events(outcome: &Outcome) -> Vec<Event> {
    outcome
        .events
        .iter()
        .map(|e: &StatusEvent| (e.type_.as_str(), e.reason.as_str(), e.message.clone()))
        .collect()
}

fn event(type_: &'static str, reason: &'static str, message: &str) -> Event {
    (type_, reason, message.to_owned())
}

/// A running worker pod whose container is ready.
fn ready_pod(name: &str, created: i64) -> Pod {
    let mut pod = running_pod(name, created);
    pod.status.as_mut().unwrap().conditions = Some(vec![PodCondition {
        type_: "Ready".to_owned(),
        status: "True".to_owned(),
        ..PodCondition::default()
    }]);
    pod
}

// ---------------------------------------------------------------------------------------
// 1. .status.stats while Running
// ---------------------------------------------------------------------------------------

#[test]
fn stats_from_a_fresh_read_carry_every_number() {
    // (case, fixture, expected .status.stats as the API shows it); read at t0+100.7s.
    let cases: Vec<(&str, &str, Value)> = vec![
        (
            "steady running (03)",
            "03",
            json!({"state": "running", "users": 10, "requestsPerSecond": 57.429,
                   "failRatio": 0.488971, "requests": 544, "failures": 266,
                   "medianResponseTimeMs": 3.0, "p95ResponseTimeMs": 5.0,
                   "p99ResponseTimeMs": 7.0, "workers": 2, "readTime": rfc(100)}),
        ),
        (
            "running before the first request (02): no percentiles yet",
            "02",
            json!({"state": "running", "users": 10, "requestsPerSecond": 0.0,
                   "failRatio": 0.0, "requests": 0, "failures": 0, "workers": 2,
                   "readTime": rfc(100)}),
        ),
        (
            "a worker missing (36)",
            "36",
            json!({"state": "running", "users": 10, "requestsPerSecond": 54.1,
                   "failRatio": 0.494845, "requests": 679, "failures": 336,
                   "medianResponseTimeMs": 2.0, "p95ResponseTimeMs": 4.0,
                   "p99ResponseTimeMs": 5.0, "workers": 1,
                   "missingWorkers": ["vm_c64f31e2ce1e47c8a47ed3124b6d6f51"],
                   "readTime": rfc(100)}),
        ),
        (
            "waiting for workers (31)",
            "31",
            json!({"state": "ready", "users": 0, "requestsPerSecond": 0.0, "failRatio": 0.0,
                   "requests": 0, "failures": 0, "workers": 1, "readTime": rfc(100)}),
        ),
        (
            "spawning (71)",
            "71",
            json!({"state": "spawning", "users": 2, "requestsPerSecond": 0.0,
                   "failRatio": 0.0, "requests": 0, "failures": 0, "workers": 2,
                   "readTime": rfc(100)}),
        ),
        (
            "stopped (16)",
            "16",
            json!({"state": "stopped", "users": 0, "requestsPerSecond": 64.7,
                   "failRatio": 0.502377, "requests": 1262, "failures": 634,
                   "medianResponseTimeMs": 3.0, "p95ResponseTimeMs": 5.0,
                   "p99ResponseTimeMs": 8.0, "workers": 2, "readTime": rfc(100)}),
        ),
    ];
    let mut failures = Vec::new();
    for (case, number, expected) in cases {
        let test = started(test_with(2, json!({})), LocustView::default());
        let view = LocustView {
            latest: Some((at_ms(100_700), fixture(number))),
            ..LocustView::default()
        };
        let outcome = compute(&test, &with_view(running(2), view), at(101));
        assert_eq!(outcome.status.phase, Some(Phase::Running), "{case}");
        let got = stats_json(&outcome);
        if got != expected {
            failures.push(format!("{case}:\n  got  {got}\n  want {expected}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn a_failed_read_keeps_the_previous_numbers_with_the_error() {
    let last = rfc(100);
    let numbers_03 = json!({"state": "running", "users": 10, "requestsPerSecond": 57.429,
        "failRatio": 0.488971, "requests": 544, "failures": 266, "medianResponseTimeMs": 3.0,
        "p95ResponseTimeMs": 5.0, "p99ResponseTimeMs": 7.0, "workers": 2, "readTime": last});
    let stale = |error: &str| {
        let mut v = numbers_03.clone();
        v[READ_ERROR] = json!(error);
        v
    };
    let read_then_failed = LocustView {
        latest: Some((at(100), fixture("03"))),
        error: Some(REFUSED.to_owned()),
        ..LocustView::default()
    };
    // (case, previous view read at t0+100 or none, view at t0+160, expected stats)
    let cases: Vec<(&str, Option<LocustView>, LocustView, Value)> = vec![
        (
            "never read: no stats",
            None,
            LocustView::default(),
            Value::Null,
        ),
        (
            "only failed reads: only why",
            None,
            failed_read(REFUSED),
            json!({ (READ_ERROR): REFUSED }),
        ),
        (
            "failed read, the earlier numbers forgotten by the view: previous kept, with the error",
            Some(read("03", 100)),
            failed_read(REFUSED),
            stale(REFUSED),
        ),
        (
            "failed read, the view still has the earlier numbers: the same",
            Some(read("03", 100)),
            read_then_failed.clone(),
            stale(REFUSED),
        ),
        (
            "another failure: the new error",
            Some(read_then_failed),
            failed_read("GET .../stats/requests: 503 Service Unavailable"),
            stale("GET .../stats/requests: 503 Service Unavailable"),
        ),
        (
            "nothing read since (operator restarted): previous kept as it was",
            Some(read("03", 100)),
            LocustView::default(),
            numbers_03.clone(),
        ),
    ];
    let mut failures = Vec::new();
    for (case, before, view, expected) in cases {
        let test = match before {
            Some(before) => running_with(before, 100),
            None => started(test_with(2, json!({})), LocustView::default()),
        };
        let outcome = compute(&test, &with_view(running(2), view), at(160));
        let got = stats_json(&outcome);
        if got != expected {
            failures.push(format!("{case}:\n  got  {got}\n  want {expected}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));

    // A fresh read after a failed one clears the error and takes the new read time.
    let mut test = running_with(read("03", 100), 100);
    step(
        &mut test,
        &with_view(running(2), failed_read(REFUSED)),
        at(130),
    );
    assert_eq!(stats_of(&test)[READ_ERROR], json!(REFUSED));
    let outcome = compute(&test, &with_view(running(2), read("03", 160)), at(160));
    let mut expected = numbers_03;
    expected["readTime"] = json!(rfc(160));
    assert_eq!(stats_json(&outcome), expected);
}

#[test]
fn unchanged_numbers_keep_their_read_time_so_nothing_is_written() {
    let test = running_with(read("03", 100), 100);
    let before = test.status.clone().unwrap();
    assert_eq!(stats_of(&test)["readTime"], json!(rfc(100)));

    // The same numbers read 60 s later: the status is the one already written, no event.
    let outcome = compute(&test, &with_view(running(2), read("03", 160)), at(160));
    assert_eq!(outcome.status, before);
    assert!(outcome.events.is_empty(), "{:?}", outcome.events);

    // The same failed read twice: unchanged too.
    let mut test = test;
    step(
        &mut test,
        &with_view(running(2), failed_read(REFUSED)),
        at(170),
    );
    let stale = test.status.clone().unwrap();
    assert_eq!(stats_of(&test)[READ_ERROR], json!(REFUSED));
    let outcome = compute(&test, &with_view(running(2), failed_read(REFUSED)), at(200));
    assert_eq!(outcome.status, stale);
    assert!(outcome.events.is_empty(), "{:?}", outcome.events);

    // New numbers: a new read time.
    let outcome = compute(&test, &with_view(running(2), read("36", 230)), at(230));
    assert_eq!(stats_json(&outcome)["readTime"], json!(rfc(230)));
}

#[test]
fn connected_workers_follow_locust_when_it_answered_else_the_worker_job() {
    let stale_03 = LocustView {
        latest: Some((at(100), fixture("03"))),
        error: Some(REFUSED.to_owned()),
        ..LocustView::default()
    };
    // (case, view, worker Job `ready`, connectedWorkers, WorkersConnected)
    let cases = vec![
        (
            "fresh read: Locust's count (1 live, 1 missing), not the Job's 2 ready pods",
            read("36", 100),
            2,
            1,
            triple("False", "WorkersMissing", "1/2 workers connected"),
        ),
        (
            "fresh read: both connected while the Job counts none ready",
            read("03", 100),
            0,
            2,
            triple("True", "AllWorkersConnected", "2/2 workers connected"),
        ),
        (
            "fresh read: 0 workers (01) although both pods are ready",
            read("01", 100),
            2,
            0,
            triple("False", "WaitingForWorkers", "0/2 workers connected"),
        ),
        (
            "failed read: the worker Job's ready pods",
            stale_03,
            1,
            1,
            triple("False", "WorkersMissing", "1/2 workers connected"),
        ),
        (
            "never read: the worker Job's ready pods",
            LocustView::default(),
            2,
            2,
            triple("True", "AllWorkersConnected", "2/2 workers connected"),
        ),
        (
            "the master quit after its run stopped (27): the run's count, not the workers leaving with it",
            LocustView {
                error: Some(REFUSED.to_owned()),
                ..stopped("27", 100)
            },
            0,
            2,
            triple("True", "AllWorkersConnected", "2/2 workers connected"),
        ),
    ];
    for (case, view, ready, connected, condition) in cases {
        let test = started(test_with(2, json!({})), LocustView::default());
        let outcome = compute(&test, &with_view(running(ready), view), at(100));
        assert_eq!(outcome.status.connected_workers, Some(connected), "{case}");
        assert_eq!(outcome.status.expected_workers, Some(2), "{case}");
        assert_eq!(
            srm(&outcome.status, types::WORKERS_CONNECTED),
            condition,
            "{case}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// 2. Results
// ---------------------------------------------------------------------------------------

/// `.status.results` of fixture 27 read at t0+200, with these fields merged in.
fn results_27(patch: Value) -> Value {
    let mut results = json!({
        "available": true,
        "message": "1262 requests, 634 failed (50.24%), 62.98 requests/s on average",
        "requests": 1262, "failures": 634, "failRatio": 0.502377, "requestsPerSecond": 62.982,
        "medianResponseTimeMs": 3.0, "p95ResponseTimeMs": 5.0, "p99ResponseTimeMs": 8.0,
        "endpoints": [
            {"method": "GET", "name": "/missing", "requests": 634, "failures": 634,
             "medianResponseTimeMs": 3.0, "p95ResponseTimeMs": 6.0},
            {"method": "GET", "name": "/ok.html", "requests": 628, "failures": 0,
             "medianResponseTimeMs": 3.0, "p95ResponseTimeMs": 5.0}
        ],
        "errors": [
            {"method": "GET", "name": "/missing",
             "error": "HTTPError('404 Client Error: File not found for url: /missing')",
             "occurrences": 634}
        ],
        "readTime": rfc(200)
    });
    json_patch::merge(&mut results, &patch);
    results
}

#[test]
fn the_final_numbers_become_the_results() {
    let not_kept = "configmaps \"my-test-report\" already exists and is not owned by this test";
    let cases: Vec<(&str, LocustView, Value)> = vec![
        (
            "final numbers (27), no report yet",
            stopped("27", 200),
            results_27(json!({})),
        ),
        (
            "with the report kept",
            LocustView {
                report: Some("my-test-report".to_owned()),
                ..stopped("27", 200)
            },
            results_27(json!({"report": "my-test-report"})),
        ),
        (
            "the report could not be kept",
            LocustView {
                report_error: Some(not_kept.to_owned()),
                ..stopped("27", 200)
            },
            results_27(json!({"message": format!(
                "1262 requests, 634 failed (50.24%), 62.98 requests/s on average; the full report is not kept: {not_kept}"
            )})),
        ),
        (
            "the report kept after an earlier error: no excuse in the message",
            LocustView {
                report: Some("my-test-report".to_owned()),
                report_error: Some(not_kept.to_owned()),
                ..stopped("27", 200)
            },
            results_27(json!({"report": "my-test-report"})),
        ),
    ];
    let mut failures = Vec::new();
    for (case, view, expected) in cases {
        let test = started(test_with(2, json!({})), LocustView::default());
        // Read while the stopped master waits to quit: results already, still Running.
        let outcome = compute(&test, &with_view(running(2), view.clone()), at(200));
        assert_eq!(outcome.status.phase, Some(Phase::Running), "{case}");
        assert_eq!(stats_json(&outcome)["state"], "stopped");
        let got = results_json(&outcome);
        if got != expected {
            failures.push(format!(
                "{case} (running):\n  got  {got}\n  want {expected}"
            ));
        }
        // The master exits: the same results, Succeeded.
        let outcome = compute(&test, &with_view(completed(), view), at(230));
        assert_eq!(outcome.status.phase, Some(Phase::Succeeded), "{case}");
        let got = results_json(&outcome);
        if got != expected {
            failures.push(format!(
                "{case} (succeeded):\n  got  {got}\n  want {expected}"
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn results_keep_the_ten_most_requested_endpoints_and_most_frequent_errors() {
    let mut entries: Vec<Value> = (1..=12)
        .map(|i| {
            json!({"method": "GET", "name": format!("/e{i:02}"), "num_requests": i * 10,
                   "num_failures": i, "median_response_time": 1,
                   "response_time_percentile_0.95": 2, "response_time_percentile_0.99": 3,
                   "total_rps": 1.0})
        })
        .collect();
    entries.push(
        json!({"method": "", "name": "Aggregated", "num_requests": 780,
        "num_failures": 78, "median_response_time": 1, "response_time_percentile_0.95": 2,
        "response_time_percentile_0.99": 3, "total_rps": 12.0}),
    );
    let errors: Vec<Value> = (1..=12)
        .map(|i| {
            let error = if i == 12 {
                "x".repeat(300)
            } else {
                format!("E{i}")
            };
            json!({"method": "POST", "name": format!("/e{i:02}"), "error": error,
                   "occurrences": i})
        })
        .collect();
    let body = json!({"state": "stopped", "user_count": 0, "total_rps": 10.0,
        "fail_ratio": 0.1, "worker_count": 2, "workers": [], "stats": entries,
        "errors": errors});
    let stats = locust_stats::parse(&serde_json::to_vec(&body).unwrap()).unwrap();
    let view = LocustView {
        latest: Some((at(200), stats.clone())),
        stopped: Some((at(200), stats)),
        ..LocustView::default()
    };
    let test = started(test_with(2, json!({})), LocustView::default());
    let outcome = compute(&test, &with_view(completed(), view), at(230));
    let results = outcome.status.results.unwrap();
    assert!(results.available);
    let endpoints: Vec<(&str, i64)> = results
        .endpoints
        .iter()
        .flatten()
        .map(|e| (e.name.as_str(), e.requests))
        .collect();
    let want: Vec<(String, i64)> = (3..=12)
        .rev()
        .map(|i| (format!("/e{i:02}"), i * 10))
        .collect();
    let want: Vec<(&str, i64)> = want.iter().map(|(n, r)| (n.as_str(), *r)).collect();
    assert_eq!(endpoints, want, "at most 10, most requested first");
    let errors: Vec<(&str, i64, usize)> = results
        .errors
        .iter()
        .flatten()
        .map(|e| (e.name.as_str(), e.occurrences, e.error.chars().count()))
        .collect();
    assert_eq!(errors.len(), 10, "{errors:?}");
    assert_eq!(
        errors[0],
        ("/e12", 12, 256),
        "most frequent first, cut to 256 characters"
    );
    assert_eq!(errors[9].0, "/e03");
    assert_eq!(
        results.requests_per_second,
        Some(12.0),
        "the Aggregated total_rps"
    );
    assert_eq!((results.requests, results.failures), (Some(780), Some(78)));
}

#[test]
fn a_finished_test_without_its_final_numbers_says_they_are_missing() {
    let never_read =
        "Results missing: the master exited before the operator read any of its numbers";
    let last_read_running = "Results missing: the master exited before the operator read its final numbers (last read at 2025-06-01T12:01:40Z, Locust state running); the numbers in .status.stats are not final";
    let stale_03 = LocustView {
        latest: Some((at(100), fixture("03"))),
        error: Some(REFUSED.to_owned()),
        ..LocustView::default()
    };
    // (case, view while running at t0+100, view at t0+300, master Job, phase, message)
    let cases: Vec<(&str, LocustView, LocustView, Observed, Phase, &str)> = vec![
        (
            "completed, last read while running",
            read("03", 100),
            read("03", 100),
            completed(),
            Phase::Succeeded,
            last_read_running,
        ),
        (
            "completed, the last read failed",
            read("03", 100),
            stale_03,
            completed(),
            Phase::Succeeded,
            last_read_running,
        ),
        (
            "completed, never read",
            LocustView::default(),
            LocustView::default(),
            completed(),
            Phase::Succeeded,
            never_read,
        ),
        (
            "master Job failed, never read",
            LocustView::default(),
            LocustView::default(),
            master_failed(),
            Phase::Failed,
            never_read,
        ),
    ];
    for (case, before, view, observed, phase, message) in cases {
        let test = running_with(before, 100);
        let outcome = compute(&test, &with_view(observed, view), at(300));
        assert_eq!(outcome.status.phase, Some(phase), "{case}");
        assert_eq!(
            results_json(&outcome),
            json!({"available": false, "message": message}),
            "{case}: never numbers presented as final"
        );
    }

    // A test that failed on its pods before its master ran.
    let mut test = test_with(2, json!({}));
    step(&mut test, &children(json!({}), json!({})), at(10));
    let mut observed = children(json!({"active": 1}), json!({"active": 2}));
    observed.pods = vec![waiting_pod(
        "my-test-master-abc12",
        10,
        "ErrImagePull",
        None,
    )];
    let outcome = compute(&test, &observed, at(300));
    assert_eq!(outcome.status.phase, Some(Phase::Failed));
    assert_eq!(outcome.status.start_time, None);
    assert_eq!(
        results_json(&outcome),
        json!({"available": false, "message": "No results: the test ended before its master ran"})
    );
}

#[test]
fn results_read_once_survive_a_view_that_lost_them() {
    // The final numbers were read while the master waited to quit; the operator restarted
    // (its view is empty) before the master Job completed.
    let test = running_with(stopped("27", 200), 200);
    let kept = test.status.as_ref().unwrap().results.clone();
    assert!(kept.as_ref().unwrap().available);
    let outcome = compute(&test, &completed(), at(300));
    assert_eq!(outcome.status.phase, Some(Phase::Succeeded));
    assert_eq!(outcome.status.results, kept);
    // Read again later: same numbers, same read time.
    let outcome = compute(&test, &with_view(running(2), stopped("27", 260)), at(260));
    assert_eq!(outcome.status.results, kept);
}

// ---------------------------------------------------------------------------------------
// 3. The verdict on spec.thresholds
// ---------------------------------------------------------------------------------------

#[test]
fn thresholds_decide_the_verdict_of_a_completed_run() {
    const MET: &str = "Test completed successfully: every threshold of spec.thresholds met";
    const UNCHECKED: &str = "Test failed: its final numbers were not read before the master exited, so spec.thresholds cannot be checked";
    let ratio_missed = "thresholds missed: maxFailRatio 0.01 (measured 0.502)";
    let several_missed = "thresholds missed: maxP95Ms 4 (measured 5), maxP99Ms 7.5 (measured 8), minRps 100 (measured 62.982)";
    let job_failed = "Test failed: Job my-test-master failed (BackoffLimitExceeded): Job has reached the specified backoff limit";
    // (case, spec.thresholds, final numbers read?, master Job, phase, TestCompleted, events)
    type Row = (
        &'static str,
        Option<Value>,
        bool,
        Observed,
        Phase,
        (&'static str, &'static str, String),
        Vec<Event>,
    );
    let succeeded = event("Normal", "TestSucceeded", "Test completed successfully");
    let cases: Vec<Row> = vec![
        (
            "every threshold met",
            Some(json!({"maxFailRatio": 0.6, "maxP95Ms": 5, "maxP99Ms": 8, "minRps": 50})),
            true,
            completed(),
            Phase::Succeeded,
            ("True", "TestSucceeded", MET.to_owned()),
            vec![succeeded.clone()],
        ),
        (
            "maxFailRatio missed",
            Some(json!({"maxFailRatio": 0.01})),
            true,
            completed(),
            Phase::Failed,
            ("True", "TestFailed", format!("Test failed: {ratio_missed}")),
            vec![
                event("Warning", "ThresholdMissed", ratio_missed),
                event(
                    "Warning",
                    "TestFailed",
                    &format!("Test failed: {ratio_missed}"),
                ),
            ],
        ),
        (
            "several missed, in field order",
            Some(json!({"maxFailRatio": 0.6, "maxP95Ms": 4, "maxP99Ms": 7.5, "minRps": 100})),
            true,
            completed(),
            Phase::Failed,
            (
                "True",
                "TestFailed",
                format!("Test failed: {several_missed}"),
            ),
            vec![
                event("Warning", "ThresholdMissed", several_missed),
                event(
                    "Warning",
                    "TestFailed",
                    &format!("Test failed: {several_missed}"),
                ),
            ],
        ),
        (
            "thresholds but no final numbers",
            Some(json!({"maxFailRatio": 0.01})),
            false,
            completed(),
            Phase::Failed,
            ("True", "TestFailed", UNCHECKED.to_owned()),
            vec![event("Warning", "TestFailed", UNCHECKED)],
        ),
        (
            "no thresholds: the exit code decides, 50% failures or not",
            None,
            true,
            completed(),
            Phase::Succeeded,
            ("True", "TestSucceeded", MESSAGE_TEST_SUCCEEDED.to_owned()),
            vec![succeeded.clone()],
        ),
        (
            "no thresholds, no numbers",
            None,
            false,
            completed(),
            Phase::Succeeded,
            ("True", "TestSucceeded", MESSAGE_TEST_SUCCEEDED.to_owned()),
            vec![succeeded.clone()],
        ),
        (
            "empty thresholds are no thresholds",
            Some(json!({})),
            true,
            completed(),
            Phase::Succeeded,
            ("True", "TestSucceeded", MESSAGE_TEST_SUCCEEDED.to_owned()),
            vec![succeeded],
        ),
        (
            "thresholds met but the master crashed: the Job decides",
            Some(json!({"maxFailRatio": 0.6})),
            true,
            master_failed(),
            Phase::Failed,
            ("True", "TestFailed", job_failed.to_owned()),
            vec![event("Warning", "TestFailed", job_failed)],
        ),
    ];
    let mut failures = Vec::new();
    for (case, thresholds, read_final, observed, phase, completed_condition, want_events) in cases {
        let spec = match thresholds {
            Some(t) => json!({ "thresholds": t }),
            None => json!({}),
        };
        let mut test = started(test_with(2, spec), LocustView::default());
        let view = if read_final {
            stopped("27", 200)
        } else {
            read("03", 200)
        };
        step(&mut test, &with_view(running(2), view.clone()), at(200));
        let outcome = compute(&test, &with_view(observed, view), at(300));
        let (status, reason, message) = completed_condition;
        let got = (
            outcome.status.phase,
            srm(&outcome.status, types::TEST_COMPLETED),
            events(&outcome),
        );
        let want = (Some(phase), triple(status, reason, &message), want_events);
        if got != want {
            failures.push(format!("{case}:\n  got  {got:?}\n  want {want:?}"));
        }
        if phase == Phase::Failed {
            let ready = srm(&outcome.status, types::READY);
            if ready != triple("False", "ResourcesFailed", &message) {
                failures.push(format!("{case}: Ready {ready:?}"));
            }
        }
        if read_final && outcome.status.results != test.status.as_ref().unwrap().results {
            failures.push(format!("{case}: results changed on completion"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn a_run_without_requests_misses_its_ratio_and_percentile_thresholds() {
    let mut nothing = fixture("01");
    nothing.state = State::Stopped;
    let view = LocustView {
        latest: Some((at(200), nothing.clone())),
        stopped: Some((at(200), nothing)),
        ..LocustView::default()
    };
    let test = started(
        test_with(
            2,
            json!({"thresholds": {"maxFailRatio": 0.01, "maxP95Ms": 500, "minRps": 0}}),
        ),
        LocustView::default(),
    );
    let outcome = compute(&test, &with_view(completed(), view), at(300));
    assert_eq!(outcome.status.phase, Some(Phase::Failed));
    assert_eq!(
        srm(&outcome.status, types::TEST_COMPLETED),
        triple(
            "True",
            "TestFailed",
            "Test failed: thresholds missed: maxFailRatio 0.01 (nothing measured), maxP95Ms 500 (nothing measured)"
        )
    );
}

#[test]
fn the_thresholds_the_test_started_with_decide_not_an_edit() {
    let strict = test_with(2, json!({"thresholds": {"maxFailRatio": 0.01}}));
    let none = test_with(2, json!({}));
    for (case, original, current, phase) in [
        (
            "thresholds removed by an edit",
            &strict,
            &none,
            Phase::Failed,
        ),
        (
            "thresholds added by an edit",
            &none,
            &strict,
            Phase::Succeeded,
        ),
    ] {
        let mut test = started(current.clone(), LocustView::default());
        let observed = |view: LocustView| Observed {
            original_spec: Some(original.spec.clone()),
            ..with_view(running(2), view)
        };
        step(&mut test, &observed(stopped("27", 200)), at(200));
        let outcome = compute(
            &test,
            &Observed {
                original_spec: Some(original.spec.clone()),
                ..with_view(completed(), stopped("27", 200))
            },
            at(300),
        );
        assert_eq!(outcome.status.phase, Some(phase), "{case}");
    }
}

#[test]
fn max_fail_ratio_zero_fails_a_run_with_any_failed_request() {
    // 1 failed request in 10 000: 0.0001 > 0, and 14 in 10 000: 0.0014 > 0.001.
    for (limit, failures) in [(0.0, 1_u64), (0.001, 14)] {
        let mut stats = fixture("27");
        stats.requests = 10_000;
        stats.failures = failures;
        stats.fail_ratio = failures as f64 / 10_000.0;
        let view = LocustView {
            latest: Some((at(200), stats.clone())),
            stopped: Some((at(200), stats)),
            ..LocustView::default()
        };
        let test = started(
            test_with(2, json!({"thresholds": {"maxFailRatio": limit}})),
            LocustView::default(),
        );
        let outcome = compute(&test, &with_view(completed(), view), at(300));
        assert_eq!(
            outcome.status.phase,
            Some(Phase::Failed),
            "maxFailRatio {limit}, {failures} of 10000 requests failed: {:?}",
            srm(&outcome.status, types::TEST_COMPLETED)
        );
    }
}

// ---------------------------------------------------------------------------------------
// 4. Workers that never connect
// ---------------------------------------------------------------------------------------

/// The master's pod and the worker pods, all created at t0+10.
fn pods(workers: Vec<Pod>) -> Vec<Pod> {
    let mut pods = vec![running_pod("my-test-master-x1", 10)];
    pods.extend(workers);
    pods
}

fn creating(name: &str) -> Pod {
    waiting_pod(name, 10, "ContainerCreating", None)
}

/// A worker pod held back by a scheduling gate (not a pod-health failure).
fn gated(name: &str) -> Pod {
    pod(
        name,
        "worker",
        10,
        json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
            "reason": "SchedulingGated",
            "message": "Scheduling is blocked due to non-empty scheduling gates",
            "lastTransitionTime": rfc(10)}]}),
    )
}

#[test]
fn workers_that_never_connect_fail_the_test_after_the_timeout() {
    let one_missing = |list: &str| format!("1 of 2 workers never connected within 5m: {list}");
    // (case, replicas, view, worker Job ready, worker pods, timeout, now (t0+), failure message
    // or None for still Running, requeue_after)
    type Row = (
        &'static str,
        i32,
        LocustView,
        i32,
        Vec<Pod>,
        Option<Duration>,
        i64,
        Option<String>,
        Option<Duration>,
    );
    let two_pods = || vec![ready_pod(CONNECTED_POD, 10), creating(WAITING_POD)];
    let cases: Vec<Row> = vec![
        (
            "before the timeout: waits, looks again when it ends",
            2,
            fresh(one_of_two(), 200),
            1,
            two_pods(),
            Some(TIMEOUT),
            200,
            None,
            Some(Duration::from_secs(130)),
        ),
        (
            "one second before the timeout",
            2,
            fresh(one_of_two(), 329),
            1,
            two_pods(),
            Some(TIMEOUT),
            329,
            None,
            Some(Duration::from_secs(1)),
        ),
        (
            "at the timeout: names the pod whose worker never connected",
            2,
            fresh(one_of_two(), 330),
            1,
            two_pods(),
            Some(TIMEOUT),
            330,
            Some(one_missing("my-test-worker-q9zvd (ContainerCreating)")),
            None,
        ),
        (
            "a worker pod held by a scheduling gate",
            2,
            fresh(one_of_two(), 400),
            1,
            vec![ready_pod(CONNECTED_POD, 10), gated(WAITING_POD)],
            Some(TIMEOUT),
            400,
            Some(one_missing("my-test-worker-q9zvd (SchedulingGated)")),
            None,
        ),
        (
            "a worker pod that runs but never connects (Locust is the judge, not readiness)",
            2,
            fresh(one_of_two(), 400),
            2,
            vec![ready_pod(CONNECTED_POD, 10), ready_pod(WAITING_POD, 10)],
            Some(TIMEOUT),
            400,
            Some(one_missing("my-test-worker-q9zvd (Running)")),
            None,
        ),
        (
            "fewer pods than expected",
            2,
            fresh(one_of_two(), 400),
            1,
            vec![ready_pod(CONNECTED_POD, 10)],
            Some(TIMEOUT),
            400,
            Some(one_missing("1 worker pod(s) never created")),
            None,
        ),
        (
            "3 expected: a pod waiting and one never created",
            3,
            fresh(one_of_two(), 400),
            1,
            two_pods(),
            Some(TIMEOUT),
            400,
            Some(
                "2 of 3 workers never connected within 5m: my-test-worker-q9zvd (ContainerCreating), 1 worker pod(s) never created"
                    .to_owned(),
            ),
            None,
        ),
        (
            "no Locust read: the ready worker pods decide, the others are named",
            2,
            LocustView::default(),
            1,
            vec![ready_pod(CONNECTED_POD, 10), running_pod(WAITING_POD, 10)],
            Some(TIMEOUT),
            400,
            Some(one_missing("my-test-worker-q9zvd (Running)")),
            None,
        ),
        (
            "a failed Locust read: the same",
            2,
            failed_read(REFUSED),
            1,
            vec![ready_pod(CONNECTED_POD, 10), creating(WAITING_POD)],
            Some(TIMEOUT),
            400,
            Some(one_missing("my-test-worker-q9zvd (ContainerCreating)")),
            None,
        ),
        (
            "no Locust read, every worker pod ready",
            2,
            LocustView::default(),
            2,
            vec![ready_pod(CONNECTED_POD, 10), ready_pod(WAITING_POD, 10)],
            Some(TIMEOUT),
            400,
            None,
            None,
        ),
        (
            "Locust left ready (running, a worker missing): never this failure",
            2,
            read("36", 400),
            1,
            two_pods(),
            Some(TIMEOUT),
            400,
            None,
            None,
        ),
        (
            "Locust running with every worker",
            2,
            read("03", 400),
            1,
            two_pods(),
            Some(TIMEOUT),
            400,
            None,
            None,
        ),
        (
            "Locust stopped with a worker missing (83)",
            2,
            read("83", 400),
            1,
            two_pods(),
            Some(TIMEOUT),
            400,
            None,
            None,
        ),
        (
            "every worker connected in Locust's count",
            1,
            fresh(one_of_two(), 400),
            0,
            vec![ready_pod(CONNECTED_POD, 10)],
            Some(TIMEOUT),
            400,
            None,
            None,
        ),
        (
            "no timeout: waits forever, no requeue",
            2,
            fresh(one_of_two(), 10_000),
            1,
            two_pods(),
            None,
            10_000,
            None,
            None,
        ),
        (
            "a 90 s timeout",
            2,
            fresh(one_of_two(), 120),
            1,
            two_pods(),
            Some(Duration::from_secs(90)),
            120,
            Some(
                "1 of 2 workers never connected within 1m 30s: my-test-worker-q9zvd (ContainerCreating)"
                    .to_owned(),
            ),
            None,
        ),
    ];
    let mut failures = Vec::new();
    for (case, replicas, view, ready, workers, timeout, now, message, requeue) in cases {
        let test = started(test_with(replicas, json!({})), fresh(one_of_two(), 30));
        assert_eq!(
            test.status.as_ref().unwrap().start_time.as_ref().unwrap().0,
            at(30)
        );
        let mut observed = with_view(running(ready), view);
        observed.pods = pods(workers);
        observed.worker_connect_timeout = timeout;
        let outcome = compute(&test, &observed, at(now));
        let s = &outcome.status;
        let (phase, completed_condition, events_want, suspend) = match &message {
            None => (
                Phase::Running,
                triple("False", "TestInProgress", "Test is running"),
                vec![],
                false,
            ),
            Some(message) => (
                Phase::Failed,
                triple("True", "TestFailed", &format!("Test failed: {message}")),
                vec![event(
                    "Warning",
                    "TestFailed",
                    &format!("Test failed: {message}"),
                )],
                true,
            ),
        };
        // LoadStarted and WorkerMissing of the reads are told elsewhere.
        let phase_events: Vec<_> = events(&outcome)
            .into_iter()
            .filter(|(_, reason, _)| !matches!(*reason, "LoadStarted" | "WorkerMissing"))
            .collect();
        let got = (
            s.phase,
            srm(s, types::TEST_COMPLETED),
            phase_events,
            outcome.suspend_jobs,
            outcome.requeue_after,
        );
        let want = (
            Some(phase),
            completed_condition,
            events_want,
            suspend,
            requeue,
        );
        if got != want {
            failures.push(format!("{case}:\n  got  {got:?}\n  want {want:?}"));
        }
        if let Some(message) = &message {
            let ready = srm(s, types::READY);
            if ready
                != triple(
                    "False",
                    "ResourcesFailed",
                    &format!("Test failed: {message}"),
                )
            {
                failures.push(format!("{case}: Ready {ready:?}"));
            }
            let results = s.results.as_ref();
            if !results.is_some_and(|r| !r.available && r.requests.is_none() && r.message.is_some())
            {
                failures.push(format!("{case}: results {results:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn the_connect_timeout_starts_with_the_test_not_before() {
    // The master never ran: no startTime, so no timeout however long it waits.
    let mut test = test_with(2, json!({}));
    step(&mut test, &children(json!({}), json!({})), at(10));
    let mut observed = children(json!({"active": 1}), json!({"active": 2}));
    observed.pods = vec![creating("my-test-master-x1"), creating(WAITING_POD)];
    observed.worker_connect_timeout = Some(TIMEOUT);
    let outcome = compute(&test, &observed, at(10_000));
    assert_eq!(outcome.status.phase, Some(Phase::Pending));
    assert!(!outcome.suspend_jobs);
    assert_eq!(outcome.requeue_after, None);

    // The requeue is the earliest of the grace period and the connect deadline.
    let test = started(test_with(2, json!({})), fresh(one_of_two(), 30));
    let mut observed = with_view(running(1), fresh(one_of_two(), 40));
    observed.pods = vec![
        running_pod("my-test-master-x1", 10),
        ready_pod(CONNECTED_POD, 10),
        waiting_pod(WAITING_POD, 35, "ImagePullBackOff", None),
    ];
    observed.worker_connect_timeout = Some(TIMEOUT);
    let outcome = compute(&test, &observed, at(40));
    assert_eq!(
        outcome.requeue_after,
        Some(Duration::from_secs(115)),
        "the grace period of the pod created at t0+35 ends first"
    );
}

#[test]
fn a_running_load_test_is_not_failed_for_never_connected_workers_when_a_read_fails() {
    // Load runs since t0+100 with both workers; at t0+400 a worker pod restarts (1 of 2
    // ready) and the one read of the master fails, or the operator restarted and has not read
    // it yet.
    for (case, view) in [
        ("the latest read failed", failed_read(REFUSED)),
        (
            "not read since the operator restarted",
            LocustView::default(),
        ),
    ] {
        let mut test = started(test_with(2, json!({})), fresh(one_of_two(), 30));
        step(&mut test, &with_view(running(2), read("03", 100)), at(100));
        assert_eq!(stats_of(&test)["state"], "running");
        let mut observed = with_view(running(1), view);
        observed.pods = pods(vec![
            ready_pod(CONNECTED_POD, 10),
            running_pod(WAITING_POD, 390),
        ]);
        observed.worker_connect_timeout = Some(TIMEOUT);
        let outcome = compute(&test, &observed, at(400));
        assert_eq!(
            (outcome.status.phase, outcome.suspend_jobs),
            (Some(Phase::Running), false),
            "{case}: {:?}",
            srm(&outcome.status, types::TEST_COMPLETED)
        );
    }
}

// ---------------------------------------------------------------------------------------
// 5. Events
// ---------------------------------------------------------------------------------------

#[test]
fn load_started_and_worker_missing_are_told_once() {
    let missing = |id: &str| {
        event(
            "Warning",
            "WorkerMissing",
            &format!("The Locust master lost worker {id} (no heartbeat): it reports it missing"),
        )
    };
    let mut test = test_with(2, json!({}));
    step(&mut test, &children(json!({}), json!({})), at(10));
    // (case, view, now, events)
    let steps: Vec<(&str, LocustView, i64, Vec<Event>)> = vec![
        (
            "master runs, Locust waits for workers",
            fresh(one_of_two(), 30),
            30,
            vec![event(
                "Normal",
                "TestStarted",
                "Test started: the master pod is running",
            )],
        ),
        ("waits still", fresh(one_of_two(), 35), 35, vec![]),
        (
            "spawning",
            read("71", 40),
            40,
            vec![event(
                "Normal",
                "LoadStarted",
                "Locust started generating load: 2 users, 2 of 2 workers connected",
            )],
        ),
        ("running", read("03", 50), 50, vec![]),
        ("running, same numbers", read("03", 60), 60, vec![]),
        (
            "a worker missing",
            read("36", 70),
            70,
            vec![missing("vm_c64f31e2ce1e47c8a47ed3124b6d6f51")],
        ),
        ("still missing", read("36", 80), 80, vec![]),
        ("a failed read", failed_read(REFUSED), 90, vec![]),
        ("the same failed read", failed_read(REFUSED), 95, vec![]),
        (
            "stopped, another worker missing",
            read("83", 100),
            100,
            vec![missing("vm_1223a9872d35436193fa0e82387d1f85")],
        ),
        ("stopped, resync", read("83", 110), 110, vec![]),
        (
            "running again after stopped: no second LoadStarted",
            read("03", 120),
            120,
            vec![],
        ),
    ];
    let mut failures = Vec::new();
    for (case, view, now, want) in steps {
        let outcome = step(&mut test, &with_view(running(2), view), at(now));
        let got = events(&outcome);
        if got != want {
            failures.push(format!("{case}:\n  got  {got:?}\n  want {want:?}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn load_started_with_the_first_running_read_and_never_from_stopped() {
    // (case, first read, events when the master is first seen running)
    let cases: Vec<(&str, LocustView, Vec<Event>)> = vec![
        (
            "already running (02)",
            read("02", 30),
            vec![
                event(
                    "Normal",
                    "TestStarted",
                    "Test started: the master pod is running",
                ),
                event(
                    "Normal",
                    "LoadStarted",
                    "Locust started generating load: 10 users, 2 of 2 workers connected",
                ),
            ],
        ),
        (
            "already stopped (16)",
            read("16", 30),
            vec![event(
                "Normal",
                "TestStarted",
                "Test started: the master pod is running",
            )],
        ),
        (
            "a worker missing at the first read (36)",
            read("36", 30),
            vec![
                event(
                    "Normal",
                    "TestStarted",
                    "Test started: the master pod is running",
                ),
                event(
                    "Normal",
                    "LoadStarted",
                    "Locust started generating load: 10 users, 1 of 2 workers connected",
                ),
                event(
                    "Warning",
                    "WorkerMissing",
                    "The Locust master lost worker vm_c64f31e2ce1e47c8a47ed3124b6d6f51 (no heartbeat): it reports it missing",
                ),
            ],
        ),
    ];
    for (case, view, want) in cases {
        let mut test = test_with(2, json!({}));
        step(&mut test, &children(json!({}), json!({})), at(10));
        let outcome = step(&mut test, &with_view(running(2), view.clone()), at(30));
        assert_eq!(events(&outcome), want, "{case}");
        // A resync with the same read: nothing.
        let outcome = compute(&test, &with_view(running(2), view), at(45));
        assert!(outcome.events.is_empty(), "{case}: {:?}", outcome.events);
    }
}

// ---------------------------------------------------------------------------------------
// 6. Terminal phases keep stats and results
// ---------------------------------------------------------------------------------------

#[test]
fn stats_and_results_of_a_finished_test_are_frozen() {
    let later_views = || -> Vec<(&'static str, LocustView)> {
        vec![
            ("a running read", read("03", 500)),
            ("other final numbers", stopped("83", 500)),
            (
                "the report kept late",
                LocustView {
                    report: Some("my-test-report".to_owned()),
                    ..stopped("27", 500)
                },
            ),
            ("a failed read", failed_read(REFUSED)),
            ("nothing read", LocustView::default()),
        ]
    };
    for (case, thresholds, phase) in [
        ("succeeded", json!({}), Phase::Succeeded),
        (
            "failed on a threshold",
            json!({"thresholds": {"maxFailRatio": 0.01}}),
            Phase::Failed,
        ),
    ] {
        let mut test = started(test_with(2, thresholds), LocustView::default());
        step(
            &mut test,
            &with_view(running(2), stopped("27", 200)),
            at(200),
        );
        step(
            &mut test,
            &with_view(completed(), stopped("27", 200)),
            at(300),
        );
        let before = test.status.clone().unwrap();
        assert_eq!(before.phase, Some(phase), "{case}");
        assert!(before.results.as_ref().unwrap().available, "{case}");
        for (view_case, view) in later_views() {
            for observed in [running(2), completed(), Observed::default()] {
                let outcome = compute(&test, &with_view(observed, view.clone()), at(600));
                assert_eq!(outcome.status, before, "{case} / {view_case}");
                assert!(outcome.events.is_empty(), "{case} / {view_case}");
                assert!(!outcome.suspend_jobs, "{case} / {view_case}");
            }
        }
    }
}
