//! Graceful shutdown of the real binary on SIGTERM, and the readiness probe that goes up once and
//! stays up.

use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::tls_support::{
    Ca, Http, HttpsClient, REQUEST_TIMEOUT, client_config, fresh_dir, handshake, install_leaf,
    parse_http1, plain_get, wait_for,
};
use crate::{ChannelBody, admission_response, admission_review, assert_allowed, v2_test};

/// The `locust-operator webhook` process; killed on drop.
struct Operator {
    child: Child,
    webhook: SocketAddr,
    probes: SocketAddr,
    log: PathBuf,
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Operator {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Starts `locust-operator webhook` on free loopback ports and waits until it is ready;
    /// retries on other ports when one was taken in between.
    async fn start(dir: &Path) -> Self {
        for attempt in 0..5 {
            let free = || {
                StdTcpListener::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap()
            };
            let (webhook, probes, metrics) = (free(), free(), free());
            let log = dir.join(format!("operator-{attempt}.log"));
            let child = Command::new(env!("CARGO_BIN_EXE_locust-operator"))
                .arg("webhook")
                .arg("--cert-dir")
                .arg(dir)
                .arg("--webhook-bind-address")
                .arg(webhook.to_string())
                .arg("--health-probe-bind-address")
                .arg(probes.to_string())
                .arg("--metrics-bind-address")
                .arg(metrics.to_string())
                .arg("--cert-reload-interval")
                .arg("100ms")
                .env("RUST_LOG", "info")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .expect("start locust-operator");
            let mut operator = Operator {
                child,
                webhook,
                probes,
                log,
            };
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if let Some(status) = operator.child.try_wait().unwrap() {
                    eprintln!(
                        "attempt {attempt}: exited with {status}: {}",
                        operator.log()
                    );
                    break;
                }
                if matches!(plain_get(probes, "/readyz").await, Ok((200, _))) {
                    return operator;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert!(
                operator.child.try_wait().unwrap().is_some(),
                "not ready in time: {}",
                operator.log()
            );
        }
        panic!("locust-operator webhook did not start");
    }

    /// Waits (bounded) for the process to exit.
    async fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_in_flight_request_refuses_new_connections_and_exits_0() {
    let ca = Ca::new("shutdown");
    let dir = fresh_dir("shutdown");
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    install_leaf(&certs, &ca.issue("webhook"));
    let mut operator = Operator::start(&certs).await;
    let addr = operator.webhook;

    // Idle kept-alive connections (HTTP/1.1 and HTTP/2) must not hold the shutdown up.
    let idle: Vec<HttpsClient> = [Http::One, Http::Two]
        .into_iter()
        .map(|http| HttpsClient::new(&ca, http))
        .collect();
    for client in &idle {
        let review = admission_review("CREATE", &v2_test("checkout"), &Value::Null, false);
        let reply = client
            .post_json(&format!("https://{addr}/validate"), &review)
            .await;
        assert_allowed(&admission_response(&reply, &review));
    }

    // Two slow requests, each announcing its whole body (Content-Length) but sending half.
    // Over HTTP/2, on its own connection:
    let h2_review = admission_review("CREATE", &v2_test("checkout-h2"), &Value::Null, false);
    let h2_body = serde_json::to_vec(&h2_review).unwrap();
    let (h2_first, h2_rest) = h2_body.split_at(h2_body.len() / 2);
    let mut config = client_config(&[&ca.der], None);
    config.alpn_protocols = vec![b"h2".to_vec()];
    let h2_stream = handshake(addr, "localhost", config).await.unwrap();
    let (mut h2_sender, h2_connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(h2_stream))
            .await
            .unwrap();
    tokio::spawn(h2_connection);
    let (h2_body_tx, h2_body_rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let h2_request = Request::post(format!("https://{addr}/validate?timeout=5s"))
        .header("content-type", "application/json")
        .header("content-length", h2_body.len().to_string())
        .body(ChannelBody(h2_body_rx))
        .unwrap();
    h2_body_tx
        .send(Bytes::copy_from_slice(h2_first))
        .await
        .unwrap();
    let h2_response = tokio::spawn(h2_sender.send_request(h2_request));
    // Over HTTP/1.1 with `Expect: 100-continue`, which tells us when the server has read the
    // headers and waits for the body.
    let review = admission_review("CREATE", &v2_test("checkout"), &Value::Null, false);
    let body = serde_json::to_vec(&review).unwrap();
    let (first, rest) = body.split_at(body.len() / 2);
    let mut config = client_config(&[&ca.der], None);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let mut stream = handshake(addr, "localhost", config).await.unwrap();
    stream
        .write_all(
            format!(
                "POST /validate?timeout=5s HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: kube-apiserver-admission\r\nContent-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    stream.flush().await.unwrap();
    let mut interim = vec![0; 64];
    let n = tokio::time::timeout(REQUEST_TIMEOUT, stream.read(&mut interim))
        .await
        .expect("100 Continue in time")
        .unwrap();
    let interim = String::from_utf8_lossy(&interim[..n]).into_owned();
    assert!(interim.starts_with("HTTP/1.1 100"), "{interim:?}");
    stream.write_all(first).await.unwrap();
    stream.flush().await.unwrap();
    // HTTP/2 has no such signal: the HEADERS frame went out before the HTTP/1.1 round trip;
    // leave the server a moment to open the stream.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let pid = operator.child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill");
    assert!(killed.success());
    // The listener closes: new connections are refused.
    wait_for(
        "new connections to be refused",
        Duration::from_secs(5),
        || async move { tokio::net::TcpStream::connect(addr).await.is_err() },
    )
    .await;
    assert!(
        operator.child.try_wait().unwrap().is_none(),
        "the process waits for the in-flight request"
    );

    // The rest of the body; the complete answer arrives.
    stream.write_all(rest).await.unwrap();
    stream.flush().await.unwrap();
    let mut raw = Vec::new();
    let read = tokio::time::timeout(REQUEST_TIMEOUT, async {
        let mut buffer = vec![0; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => raw.extend_from_slice(&buffer[..n]),
            }
            if let Ok((_, body)) = parse_http1(&raw)
                && !body.is_empty()
            {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the response arrives in time");
    let (status, body) = parse_http1(&raw)
        .unwrap_or_else(|e| panic!("complete response: {e}; log: {}", operator.log()));
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).expect("a complete JSON body");
    assert_eq!(answer["response"]["uid"], review["request"]["uid"]);
    assert_eq!(answer["response"]["allowed"], true);

    // The HTTP/2 request completes too.
    h2_body_tx
        .send(Bytes::copy_from_slice(h2_rest))
        .await
        .unwrap();
    drop(h2_body_tx);
    let h2_response = tokio::time::timeout(REQUEST_TIMEOUT, h2_response)
        .await
        .expect("the HTTP/2 response arrives in time")
        .unwrap()
        .unwrap_or_else(|e| {
            panic!(
                "HTTP/2 in-flight request failed: {e}; log: {}",
                operator.log()
            )
        });
    assert_eq!(h2_response.status(), 200);
    let h2_answer = h2_response.into_body().collect().await.unwrap().to_bytes();
    let h2_answer: Value = serde_json::from_slice(&h2_answer).expect("a complete JSON body");
    assert_eq!(h2_answer["response"]["uid"], h2_review["request"]["uid"]);
    assert_eq!(h2_answer["response"]["allowed"], true);

    let status = operator
        .wait_exit(Duration::from_secs(5))
        .await
        .unwrap_or_else(|| {
            panic!(
                "exits within 5s of the last response; log: {}",
                operator.log()
            )
        });
    assert_eq!(status.code(), Some(0), "log: {}", operator.log());
    assert!(
        tokio::net::TcpStream::connect(operator.probes)
            .await
            .is_err(),
        "the probes are gone too"
    );
    drop(idle);
}

/// `/readyz` goes up once, when every check passes, and stays up: a check that fails again
/// later (a replica that becomes leader and syncs its caches) does not take it down.
#[tokio::test]
async fn readiness_goes_up_once_and_stays_up() {
    use locust_operator::webhook::server::{Readiness, probe_router};
    use tower::ServiceExt;
    let caches = Arc::new(AtomicBool::new(false));
    let certificate = Arc::new(AtomicBool::new(false));
    let readiness = {
        let (caches, certificate) = (Arc::clone(&caches), Arc::clone(&certificate));
        Readiness::default()
            .with("controller caches synced", move || {
                caches.load(Ordering::SeqCst)
            })
            .with("webhook certificate", move || {
                certificate.load(Ordering::SeqCst)
            })
    };
    let router = probe_router(readiness);
    let readyz = || async {
        let request = axum::http::Request::get("/readyz")
            .body(axum::body::Body::empty())
            .unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    };
    assert_eq!(
        readyz().await,
        (
            503,
            "not ready: controller caches synced, webhook certificate\n".to_owned()
        )
    );
    caches.store(true, Ordering::SeqCst);
    let (status, body) = readyz().await;
    assert_eq!(status, 503, "one check still fails: {body}");
    assert!(body.contains("webhook certificate"), "{body}");
    certificate.store(true, Ordering::SeqCst);
    assert_eq!(readyz().await.0, 200);
    // A standby that becomes leader: its caches are not synced for a while.
    caches.store(false, Ordering::SeqCst);
    assert_eq!(readyz().await.0, 200, "readiness stays up");
    caches.store(true, Ordering::SeqCst);
    assert_eq!(readyz().await.0, 200);
}
