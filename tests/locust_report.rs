//! A run's report (`locust_operator::locust::report`, `Masters::artifacts`): read over real
//! HTTP from a master answering as a real Locust 2.43.3 master did (the recorded CSVs, a report
//! of the recorded size with its recorded headers), with a report that is missing, slow or
//! huge never costing the CSVs; and the ConfigMap that keeps it: name, labels, owner
//! reference, annotations, gzip round trip, and the size limit.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::jiff::Timestamp;
use locust_operator::api::LocustTest;
use locust_operator::locust::client::{
    Artifacts, MAX_REPORT_BYTES, Masters, ReadError, Resolve, get_limited,
};
use locust_operator::locust::report::{
    ANNOTATION_REPORT_OMITTED, ANNOTATION_REPORT_TIME, File, MAX_CONFIG_MAP_BYTES, ReportError,
    config_map, unpack,
};
use serde_json::json;

#[path = "support/locust_master.rs"]
mod locust_master;

use locust_master::{
    Answer, REPORT_PATH, fixture, html, noise, not_found, recorded_size_report, server,
    stopped_master,
};

const TIMEOUT: Duration = Duration::from_millis(500);
const UID: &str = "6f1c2a3b-0000-4000-8000-000000000001";

/// Every test's master at one address.
struct At(String);

impl Resolve for At {
    fn master(&self, _: &str, _: &str) -> String {
        self.0.clone()
    }
}

fn masters(address: String) -> Masters {
    Masters::new(Arc::new(At(address)), TIMEOUT, 4).with_report_timeout(TIMEOUT * 2)
}

#[tokio::test]
async fn a_stopped_masters_report_is_read_whole() {
    let report = recorded_size_report();
    let address = server(stopped_master(html(&report))).await;
    let artifacts = masters(address).artifacts("load", "my-test").await.unwrap();
    assert_eq!(
        artifacts,
        Artifacts {
            html: Ok(report),
            requests_csv: fixture("17-stopped-stats-requests-csv.csv"),
            failures_csv: fixture("18-stopped-stats-failures-csv.csv"),
            exceptions_csv: fixture("20-stopped-exceptions-csv.csv"),
        }
    );
}

#[tokio::test]
async fn a_report_that_cannot_be_read_keeps_the_csvs() {
    let slow = Answer {
        delay: Duration::from_secs(5),
        ..html(b"<html></html>")
    };
    let huge = html(&vec![b'x'; MAX_REPORT_BYTES + 1]);
    let cases: Vec<(&str, Option<Answer>)> =
        vec![("404", None), ("slow", Some(slow)), ("huge", Some(huge))];
    for (case, report) in cases {
        let mut answers = stopped_master(not_found());
        match report {
            Some(report) => answers.insert(REPORT_PATH, report),
            None => answers.remove(REPORT_PATH),
        };
        let address = server(answers).await;
        let started = Instant::now();
        let artifacts = masters(address).artifacts("load", "my-test").await.unwrap();
        assert!(
            started.elapsed() < TIMEOUT * 2 + Duration::from_millis(500),
            "{case}: bounded by the report's timeout"
        );
        let expected = match case {
            "404" => ReadError::Status(404),
            "slow" => ReadError::Timeout(TIMEOUT * 2),
            _ => ReadError::TooLarge(MAX_REPORT_BYTES),
        };
        assert_eq!(artifacts.html, Err(expected), "{case}");
        assert_eq!(
            artifacts.requests_csv,
            fixture("17-stopped-stats-requests-csv.csv"),
            "{case}"
        );
    }
}

#[tokio::test]
async fn without_the_csvs_there_is_no_report() {
    let mut answers = stopped_master(html(b"<html></html>"));
    answers.remove("/stats/failures/csv");
    let address = server(answers).await;
    let error = masters(address)
        .artifacts("load", "my-test")
        .await
        .unwrap_err();
    assert_eq!(error, ReadError::Status(404));
    // Nothing listens (autoquit closed the web UI).
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().to_string()
    };
    let error = masters(closed)
        .artifacts("load", "my-test")
        .await
        .unwrap_err();
    assert!(matches!(error, ReadError::Unreachable(_)), "{error:?}");
}

#[tokio::test]
async fn a_bounded_get_says_the_bound() {
    let address = server(HashMap::from([("/big", html(&[b'x'; 101]))])).await;
    assert_eq!(
        get_limited(&address, "/big", TIMEOUT, 100).await,
        Err(ReadError::TooLarge(100))
    );
    assert_eq!(
        get_limited(&address, "/big", TIMEOUT, 101).await,
        Ok(vec![b'x'; 101])
    );
}

fn test_named(name: &str, uid: Option<&str>) -> LocustTest {
    serde_json::from_value(json!({
        "apiVersion": "locust.io/v2",
        "kind": "LocustTest",
        "metadata": {"name": name, "namespace": "loadtests", "uid": uid},
        "spec": {
            "image": "locustio/locust:2.43.3",
            "master": {"command": "--locustfile /lotest/src/test.py --host http://app:8080 --users 10"},
            "worker": {"command": "--locustfile /lotest/src/test.py", "replicas": 3}
        }
    }))
    .unwrap()
}

fn recorded_artifacts(html: Result<Vec<u8>, ReadError>) -> Artifacts {
    Artifacts {
        html,
        requests_csv: fixture("17-stopped-stats-requests-csv.csv"),
        failures_csv: fixture("18-stopped-stats-failures-csv.csv"),
        exceptions_csv: fixture("20-stopped-exceptions-csv.csv"),
    }
}

fn time() -> Timestamp {
    "2026-11-24T05:15:01.123456Z".parse().unwrap()
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[test]
fn the_config_map_is_the_tests_and_named_after_it() {
    let cm = config_map(
        &test_named("perf.checkout", Some(UID)),
        &recorded_artifacts(Ok(b"<html></html>".to_vec())),
        time(),
    )
    .unwrap();
    let meta = serde_json::to_value(&cm.metadata).unwrap();
    assert_eq!(
        meta,
        json!({
            "name": "perf.checkout-report",
            "namespace": "loadtests",
            "labels": {
                "app": "perf.checkout",
                "performance-test-name": "perf.checkout",
                "managed-by": "locust-k8s-operator",
                "app.kubernetes.io/name": "locust",
                "app.kubernetes.io/instance": "perf.checkout",
                "app.kubernetes.io/component": "report",
                "app.kubernetes.io/managed-by": "locust-operator",
            },
            "annotations": {"locust.io/report-time": "2026-11-24T05:15:01Z"},
            "ownerReferences": [{
                "apiVersion": "locust.io/v2",
                "kind": "LocustTest",
                "name": "perf.checkout",
                "uid": UID,
                "controller": true,
                "blockOwnerDeletion": true,
            }],
        })
    );
    // Offline (no uid): no owner reference rather than a wrong one.
    let offline = config_map(
        &test_named("my-test", None),
        &recorded_artifacts(Ok(Vec::new())),
        time(),
    )
    .unwrap();
    assert_eq!(offline.metadata.owner_references, None);
    assert_eq!(offline.metadata.name.as_deref(), Some("my-test-report"));
}

#[test]
fn each_file_is_gzipped_under_its_key_and_unpacks_to_itself() {
    let report = recorded_size_report();
    let artifacts = recorded_artifacts(Ok(report.clone()));
    let cm = config_map(&test_named("my-test", Some(UID)), &artifacts, time()).unwrap();
    let data = cm.binary_data.as_ref().unwrap();
    let keys: Vec<&str> = data.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "exceptions.csv.gz",
            "failures.csv.gz",
            "report.html.gz",
            "requests.csv.gz"
        ]
    );
    assert!(cm.data.is_none());
    for (key, original) in [
        ("report.html.gz", &report),
        ("requests.csv.gz", &artifacts.requests_csv),
        ("failures.csv.gz", &artifacts.failures_csv),
        ("exceptions.csv.gz", &artifacts.exceptions_csv),
    ] {
        assert_eq!(&gunzip(&data[key].0), original, "{key}");
    }
    let total: usize = data.values().map(|v| v.0.len()).sum();
    assert!(
        total < MAX_CONFIG_MAP_BYTES && total < report.len() / 2,
        "a report of the recorded size fits, compressed: {total} bytes"
    );
    assert!(
        !cm.metadata
            .annotations
            .as_ref()
            .unwrap()
            .contains_key(ANNOTATION_REPORT_OMITTED)
    );
    let unpacked = unpack(&cm).unwrap();
    assert_eq!(
        unpacked.files,
        vec![
            (File::Requests, artifacts.requests_csv.clone()),
            (File::Failures, artifacts.failures_csv.clone()),
            (File::Exceptions, artifacts.exceptions_csv.clone()),
            (File::Html, report),
        ]
    );
    assert!(unpacked.missing.is_empty() && unpacked.omitted.is_none());
    // Through JSON, as the API server stores it (base64).
    let stored: k8s_openapi::api::core::v1::ConfigMap =
        serde_json::from_value(serde_json::to_value(&cm).unwrap()).unwrap();
    assert_eq!(unpack(&stored).unwrap(), unpacked);
}

#[test]
fn what_does_not_fit_or_was_not_read_is_left_out_and_said() {
    let big = MAX_CONFIG_MAP_BYTES * 2 / 3;
    let cases: Vec<(&str, Artifacts, Vec<File>, Vec<&str>)> = vec![
        (
            "no report from the master",
            recorded_artifacts(Err(ReadError::Status(404))),
            vec![File::Html],
            vec!["report.html: the master's web API answered HTTP 404"],
        ),
        (
            "a report too large for a ConfigMap",
            recorded_artifacts(Ok(noise(MAX_CONFIG_MAP_BYTES + 1024, 1))),
            vec![File::Html],
            vec![
                "report.html: 92",
                " bytes compressed, of 92",
                "over the 921600 bytes",
            ],
        ),
        (
            "CSVs too large with it: the HTML goes first, then exceptions",
            Artifacts {
                html: Ok(noise(big, 2)),
                requests_csv: noise(big * 2 / 3, 3),
                failures_csv: noise(big / 4, 4),
                exceptions_csv: noise(big * 2 / 3, 5),
            },
            vec![File::Html, File::Exceptions],
            vec!["report.html: ", "; exceptions.csv: "],
        ),
    ];
    for (case, artifacts, left_out, said) in cases {
        let cm = config_map(&test_named("my-test", Some(UID)), &artifacts, time()).unwrap();
        let data = cm.binary_data.as_ref().unwrap();
        let total: usize = data.values().map(|v| v.0.len()).sum();
        assert!(total <= MAX_CONFIG_MAP_BYTES, "{case}: {total} bytes");
        let unpacked = unpack(&cm).unwrap();
        let mut missing = unpacked.missing.clone();
        missing.sort();
        assert_eq!(missing, left_out, "{case}");
        let omitted = cm.metadata.annotations.as_ref().unwrap()[ANNOTATION_REPORT_OMITTED].clone();
        assert_eq!(
            unpacked.omitted.as_deref(),
            Some(omitted.as_str()),
            "{case}"
        );
        for text in said {
            assert!(omitted.contains(text), "{case}: {omitted:?} says {text:?}");
        }
        assert_eq!(
            cm.metadata.annotations.as_ref().unwrap()[ANNOTATION_REPORT_TIME],
            "2026-11-24T05:15:01Z"
        );
        for (file, body) in unpacked.files {
            let original = match file {
                File::Html => artifacts.html.clone().unwrap(),
                File::Requests => artifacts.requests_csv.clone(),
                File::Failures => artifacts.failures_csv.clone(),
                File::Exceptions => artifacts.exceptions_csv.clone(),
            };
            assert_eq!(body, original, "{case}: {file:?}");
        }
    }
}

#[test]
fn a_key_that_is_not_gzip_is_named() {
    let mut cm = config_map(
        &test_named("my-test", Some(UID)),
        &recorded_artifacts(Ok(b"<html></html>".to_vec())),
        time(),
    )
    .unwrap();
    let data = cm.binary_data.as_mut().unwrap();
    data.get_mut("failures.csv.gz").unwrap().0 = b"Method,Name\n".to_vec();
    let error = unpack(&cm).unwrap_err();
    assert!(
        matches!(
            error,
            ReportError::Corrupt {
                key: "failures.csv.gz",
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .starts_with("failures.csv.gz is not valid gzip data")
    );
    // A bomb stops at the bound.
    let bomb = {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder
            .write_all(&vec![
                0u8;
                locust_operator::locust::report::MAX_FILE_BYTES + 1
            ])
            .unwrap();
        encoder.finish().unwrap()
    };
    let data = cm.binary_data.as_mut().unwrap();
    data.get_mut("failures.csv.gz").unwrap().0 = bomb;
    let error = unpack(&cm).unwrap_err();
    assert!(
        matches!(
            error,
            ReportError::TooLarge {
                key: "failures.csv.gz"
            }
        ),
        "{error:?}"
    );
}
