//! Reading a master's stats over real HTTP (`locust_operator::locust::client`): a master
//! answering what a real Locust 2.43.3 master answered, and masters that are unreachable, slow,
//! answer garbage, other statuses or too much. Every read ends within its bound.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::sync::Arc;
use std::time::{Duration, Instant};

use locust_operator::locust::client::{ClusterDns, Masters, ReadError, Resolve, get};
use locust_operator::locust::stats::{MAX_BODY_BYTES, State, StatsError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TIMEOUT: Duration = Duration::from_millis(500);

/// A server on 127.0.0.1 answering every connection with `response` after `delay`.
async fn server(response: Vec<u8>, delay: Duration) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let response = response.clone();
            tokio::spawn(async move {
                let mut request = [0u8; 1024];
                let _ = stream.read(&mut request).await;
                tokio::time::sleep(delay).await;
                let _ = stream.write_all(&response).await;
            });
        }
    });
    address
}

fn ok(body: &[u8]) -> Vec<u8> {
    let mut response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(body);
    response
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/locust-web")
            .join(name),
    )
    .unwrap()
}

/// Every test's master at one address.
struct At(String);

impl Resolve for At {
    fn master(&self, _: &str, _: &str) -> String {
        self.0.clone()
    }
}

#[tokio::test]
async fn a_masters_stats_are_read() {
    let address = server(
        ok(&fixture("03-running-steady-stats-requests.json")),
        Duration::ZERO,
    )
    .await;
    let masters = Masters::new(Arc::new(At(address)), TIMEOUT, 4);
    let stats = masters.stats("default", "my-test").await.unwrap();
    assert_eq!(
        (stats.state, stats.users, stats.worker_count),
        (State::Running, 10, 2)
    );
}

#[tokio::test]
async fn the_cluster_address_is_the_master_service() {
    assert_eq!(
        ClusterDns.master("load", "my-test"),
        "my-test-master.load.svc:8089"
    );
}

#[tokio::test]
async fn a_master_that_fails_says_how_and_never_stalls() {
    let html = b"HTTP/1.1 404 NOT FOUND\r\nContent-Type: text/html\r\n\r\n<!doctype html><title>404</title>".to_vec();
    let cases: Vec<(&str, Vec<u8>, Duration)> = vec![
        ("html 404", html, Duration::ZERO),
        ("not http", b"SSH-2.0-OpenSSH\r\n".to_vec(), Duration::ZERO),
        (
            "html 200",
            ok(&fixture("06-running-stats-exceptions.html")),
            Duration::ZERO,
        ),
        (
            "truncated",
            {
                let mut r = ok(&fixture("03-running-steady-stats-requests.json"));
                r.truncate(r.len() / 2);
                r
            },
            Duration::ZERO,
        ),
        ("huge", ok(&vec![b' '; MAX_BODY_BYTES + 10]), Duration::ZERO),
        (
            "slow",
            ok(&fixture("03-running-steady-stats-requests.json")),
            Duration::from_secs(5),
        ),
    ];
    for (case, response, delay) in cases {
        let address = server(response, delay).await;
        let started = Instant::now();
        let result = get(&address, "/stats/requests", TIMEOUT)
            .await
            .and_then(|body| Ok(locust_operator::locust::stats::parse(&body)?));
        assert!(
            started.elapsed() < TIMEOUT + Duration::from_millis(300),
            "{case}: bounded"
        );
        let error = result.expect_err(case);
        let expected = match case {
            "html 404" => matches!(error, ReadError::Status(404)),
            "not http" => matches!(error, ReadError::NotHttp),
            "html 200" | "truncated" => matches!(error, ReadError::Stats(StatsError::NotJson(_))),
            "huge" => matches!(error, ReadError::Stats(StatsError::TooLarge)),
            "slow" => matches!(error, ReadError::Timeout(_)),
            _ => false,
        };
        assert!(expected, "{case}: {error:?} ({error})");
    }
    // Nothing listens.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().to_string()
    };
    let error = get(&closed, "/stats/requests", TIMEOUT).await.unwrap_err();
    assert!(matches!(error, ReadError::Unreachable(_)), "{error:?}");
}
