//! Reading a Locust master's `GET /stats/requests` (`locust_operator::locust::stats`) and judging its
//! final numbers against thresholds (`locust::thresholds`), on what a
//! real Locust 2.43.3 master answered over distributed runs (`tests/fixtures/locust-web`), and
//! on what it must survive: HTML, truncated JSON, other JSON, huge bodies.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use locust_operator::locust::stats::{MAX_BODY_BYTES, State, StatsError, parse};

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/locust-web")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn a_master_waiting_for_its_workers() {
    let stats = parse(&fixture("01-waiting-0-workers-stats-requests.json")).unwrap();
    assert_eq!(stats.state, State::Ready);
    assert_eq!((stats.users, stats.worker_count, stats.requests), (0, 0, 0));
    assert!(stats.workers.is_empty());
    assert_eq!(
        stats.median_ms, None,
        "no percentiles before the first request"
    );
    assert_eq!(stats.p95_ms, None);

    let one_of_two = parse(&fixture(
        "31-workers-waiting-1-of-2-workers-stats-requests.json",
    ))
    .unwrap();
    assert_eq!(one_of_two.state, State::Ready);
    assert_eq!(one_of_two.worker_count, 1);
    assert_eq!(one_of_two.workers.len(), 1);
    assert_eq!(one_of_two.workers[0].state, State::Ready);
}

#[test]
fn a_running_test_with_its_numbers() {
    let stats = parse(&fixture("03-running-steady-stats-requests.json")).unwrap();
    assert_eq!(stats.state, State::Running);
    assert_eq!(stats.users, 10);
    assert_eq!(stats.worker_count, 2);
    assert!((stats.rps - 57.428_571).abs() < 0.001, "{}", stats.rps);
    assert!((stats.fail_ratio - 0.488_97).abs() < 0.001);
    assert!(stats.requests > 0 && stats.failures > 0 && stats.failures <= stats.requests);
    assert!(stats.median_ms.is_some() && stats.p95_ms.is_some() && stats.p99_ms.is_some());
    assert!(stats.p95_ms <= stats.p99_ms);
    assert_eq!(stats.endpoints.len(), 2);
    assert!(
        stats
            .endpoints
            .iter()
            .any(|e| e.name == "/missing" && e.failures == e.requests)
    );
    assert!(
        stats.endpoints[0].requests >= stats.endpoints[1].requests,
        "most requested first"
    );
    assert!(
        stats
            .workers
            .iter()
            .all(|w| w.state == State::Running && w.users == 5)
    );

    let spawning = parse(&fixture(
        "71-clean-spawning-wc2-workers-running-stats-requests.json",
    ))
    .unwrap();
    assert_eq!(spawning.state, State::Spawning);

    let first = parse(&fixture(
        "02-running-wc2-workers-running-stats-requests.json",
    ))
    .unwrap();
    assert_eq!(
        (first.state, first.users, first.requests),
        (State::Running, 10, 0)
    );
}

#[test]
fn the_final_numbers_of_a_stopped_test() {
    let stats = parse(&fixture("27-before-autoquit-exit-stats-requests.json")).unwrap();
    assert_eq!(stats.state, State::Stopped);
    assert_eq!((stats.requests, stats.failures), (1262, 634));
    assert_eq!(
        (stats.median_ms, stats.p95_ms, stats.p99_ms),
        (Some(3.0), Some(5.0), Some(8.0))
    );
    let stopped = parse(&fixture("16-stopped-wc2-workers-ready-stats-requests.json")).unwrap();
    assert_eq!((stopped.state, stopped.users), (State::Stopped, 0));
    assert!(stopped.workers.iter().all(|w| w.state == State::Ready));
}

#[test]
fn a_lost_worker_is_missing() {
    let stats = parse(&fixture(
        "36-workers-after-sigkill-missing-stats-requests.json",
    ))
    .unwrap();
    assert_eq!(
        stats.worker_count, 1,
        "the master counts only the live worker"
    );
    let missing: Vec<_> = stats.missing_workers().collect();
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0].users, 0);
    assert!(missing[0].id.starts_with("vm_"));
    let late = parse(&fixture(
        "83-killlate-stopped-wc1-workers-missing-ready-stats-requests.json",
    ))
    .unwrap();
    assert_eq!(late.state, State::Stopped);
    assert_eq!(late.missing_workers().count(), 1);
}

#[test]
fn what_is_not_stats_is_said_never_a_panic() {
    let html = fixture("06-running-stats-exceptions.html");
    assert!(matches!(parse(&html), Err(StatsError::NotJson(_))));
    let whole = fixture("03-running-steady-stats-requests.json");
    assert!(matches!(
        parse(&whole[..whole.len() / 2]),
        Err(StatsError::NotJson(_))
    ));
    assert!(matches!(parse(b""), Err(StatsError::NotJson(_))));
    match parse(br#"{"state": "running"}"#) {
        Err(StatsError::Shape(message)) => assert!(message.contains("stats"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        parse(br#"{"state": 3, "stats": []}"#),
        Err(StatsError::Shape(_))
    ));
    let huge = vec![b' '; MAX_BODY_BYTES + 1];
    assert_eq!(parse(&huge), Err(StatsError::TooLarge));
    // Odd numbers are not trusted: negative or fractional counts, ratios above 1.
    let odd = br#"{"state": "running", "user_count": -3, "fail_ratio": 7, "stats": [
        {"name": "Aggregated", "num_requests": 2.6, "num_failures": null}]}"#;
    let stats = parse(odd).unwrap();
    assert_eq!((stats.users, stats.requests, stats.failures), (0, 3, 0));
    assert_eq!(stats.fail_ratio, 1.0);
    assert_eq!(
        parse(br#"{"state": "cleanup", "stats": []}"#)
            .unwrap()
            .state,
        State::Other("cleanup".into())
    );
}

mod thresholds {
    use locust_operator::locust::stats::parse;
    use locust_operator::locust::thresholds::Thresholds;

    use super::fixture;

    #[test]
    fn the_final_numbers_against_each_threshold() {
        // 1262 requests, 634 failed (ratio 0.502), p95 5 ms, p99 8 ms.
        let stats = parse(&fixture("27-before-autoquit-exit-stats-requests.json")).unwrap();
        let passing = Thresholds {
            max_fail_ratio: Some(0.6),
            max_p95_ms: Some(5.0),
            max_p99_ms: Some(8.0),
            min_rps: Some(1.0),
        };
        assert!(passing.check(&stats).is_empty());
        let failing = Thresholds {
            max_fail_ratio: Some(0.01),
            max_p95_ms: Some(4.0),
            max_p99_ms: Some(10.0),
            min_rps: Some(1000.0),
        };
        let missed: Vec<String> = failing
            .check(&stats)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(missed.len(), 3, "{missed:?}");
        assert!(
            missed[0].starts_with("maxFailRatio 0.01 (measured 0.5"),
            "{missed:?}"
        );
        assert_eq!(missed[1], "maxP95Ms 4 (measured 5)");
        assert!(
            missed[2].starts_with("minRps 1000 (measured "),
            "{missed:?}"
        );
        assert!(Thresholds::default().is_empty());
    }

    #[test]
    fn a_run_without_requests_misses_what_it_cannot_show() {
        let stats = parse(&fixture("01-waiting-0-workers-stats-requests.json")).unwrap();
        let thresholds = Thresholds {
            max_fail_ratio: Some(0.1),
            max_p95_ms: Some(100.0),
            ..Thresholds::default()
        };
        let missed: Vec<String> = thresholds
            .check(&stats)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            missed,
            [
                "maxFailRatio 0.1 (nothing measured)",
                "maxP95Ms 100 (nothing measured)"
            ]
        );
    }

    #[test]
    fn impossible_thresholds_are_named() {
        let thresholds = Thresholds {
            max_fail_ratio: Some(1.5),
            max_p95_ms: Some(200.0),
            max_p99_ms: Some(100.0),
            min_rps: Some(-1.0),
        };
        let fields: Vec<&str> = thresholds.problems().iter().map(|(f, _)| *f).collect();
        assert_eq!(fields, ["minRps", "maxFailRatio", "maxP99Ms"]);
        assert!(Thresholds::default().problems().is_empty());
    }
}
