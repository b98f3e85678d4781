//! A Locust master's web API as a real Locust 2.43.3 master answered it (the recordings of
//! `tests/fixtures/locust-web/`), served over real HTTP on 127.0.0.1, path by path.

#![allow(dead_code)] // each test binary uses its part

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The path of the downloadable HTML report.
pub const REPORT_PATH: &str = "/stats/report?download=1";

/// A recorded answer of `tests/fixtures/locust-web/`.
pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/locust-web")
            .join(name),
    )
    .unwrap()
}

/// Bytes that gzip cannot shrink much (xorshift), `len` of them.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// An HTML page of the size the recorded master's report had (26-…meta.json), text that
/// compresses about as minified JavaScript does.
pub fn recorded_size_report() -> Vec<u8> {
    let meta: Value =
        serde_json::from_slice(&fixture("26-stopped-stats-report-download.meta.json")).unwrap();
    let size = meta["bytes"].as_u64().unwrap() as usize;
    let mut html =
        b"<!DOCTYPE html><html><head><title>Locust</title></head><body><script>".to_vec();
    let words = [
        "function",
        "return",
        "const ",
        "var ",
        "=>",
        "{",
        "}",
        "(",
        ")",
        ";",
        "this.",
        "null",
        "window.templateArgs",
        "e",
        "t",
        "n",
        "r",
        "0",
        "1",
        ",",
    ];
    let mut index = 0;
    for byte in noise(size, 7) {
        if html.len() >= size - 20 {
            break;
        }
        index = (index + byte as usize) % words.len();
        html.extend_from_slice(words[index].as_bytes());
    }
    html.extend_from_slice(b"</script></body></html>");
    html.truncate(size);
    html
}

/// What a path answers, after how long.
#[derive(Clone)]
pub struct Answer {
    /// The whole HTTP response.
    pub response: Vec<u8>,
    /// Sent after this long.
    pub delay: Duration,
}

/// A 200 answer.
pub fn ok(content_type: &str, extra_headers: &str, body: &[u8]) -> Answer {
    let mut response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n{extra_headers}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(body);
    Answer {
        response,
        delay: Duration::ZERO,
    }
}

/// A CSV download, as Locust names it.
pub fn csv(body: &[u8], kind: &str) -> Answer {
    ok(
        "text/csv",
        &format!(
            "Content-disposition: attachment;filename=Locust_2026-11-24-05h14_locustfile.py_http://127.0.0.1:18080_{kind}.csv\r\n"
        ),
        body,
    )
}

/// The HTML report download, with the recorded headers.
pub fn html(body: &[u8]) -> Answer {
    let meta: Value =
        serde_json::from_slice(&fixture("26-stopped-stats-report-download.meta.json")).unwrap();
    ok(
        meta["content_type"].as_str().unwrap(),
        &format!(
            "Content-Disposition: {}\r\n",
            meta["content_disposition"].as_str().unwrap()
        ),
        body,
    )
}

/// Locust's 404 page for a route it does not have.
pub fn not_found() -> Answer {
    let mut response =
        b"HTTP/1.1 404 NOT FOUND\r\nContent-Type: text/html; charset=utf-8\r\n\r\n".to_vec();
    response.extend_from_slice(&fixture("06-running-stats-exceptions.html"));
    Answer {
        response,
        delay: Duration::ZERO,
    }
}

/// The recorded master after its run stopped: the three CSVs, and `report` for the report.
pub fn stopped_master(report: Answer) -> HashMap<&'static str, Answer> {
    HashMap::from([
        (
            "/stats/requests/csv",
            csv(&fixture("17-stopped-stats-requests-csv.csv"), "requests"),
        ),
        (
            "/stats/failures/csv",
            csv(&fixture("18-stopped-stats-failures-csv.csv"), "failures"),
        ),
        (
            "/exceptions/csv",
            csv(&fixture("20-stopped-exceptions-csv.csv"), "exceptions"),
        ),
        (REPORT_PATH, report),
    ])
}

/// A server on 127.0.0.1 answering each request by its path (404 for other paths).
pub async fn server(answers: HashMap<&'static str, Answer>) -> String {
    let master = Scripted::default();
    master.set_all(answers);
    master.serve().await
}

/// The recorded master after its run stopped, its stats included (`27-…`, the final
/// numbers), with a small HTML report.
pub fn stopped_master_with_stats() -> HashMap<&'static str, Answer> {
    let mut answers = stopped_master(html(b"<!DOCTYPE html><html><body>report</body></html>"));
    answers.insert(
        "/stats/requests",
        ok(
            "application/json",
            "",
            &fixture("27-before-autoquit-exit-stats-requests.json"),
        ),
    );
    answers
}

/// A master whose answers the test changes as the run goes on.
#[derive(Clone, Default)]
pub struct Scripted {
    answers: Arc<std::sync::Mutex<HashMap<&'static str, Answer>>>,
}

impl Scripted {
    /// Answers `path` with `answer` from now on.
    pub fn set(&self, path: &'static str, answer: Answer) {
        self.answers.lock().unwrap().insert(path, answer);
    }

    /// Answers every path of `answers` as they say from now on.
    pub fn set_all(&self, answers: HashMap<&'static str, Answer>) {
        self.answers.lock().unwrap().extend(answers);
    }

    /// Serves on 127.0.0.1; returns the address.
    pub async fn serve(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let answers = Arc::clone(&self.answers);
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let answers = Arc::clone(&answers);
                tokio::spawn(async move {
                    let mut request = vec![0u8; 4096];
                    let n = stream.read(&mut request).await.unwrap_or(0);
                    let request = String::from_utf8_lossy(&request[..n]).into_owned();
                    let path = request.split_whitespace().nth(1).unwrap_or("").to_owned();
                    let answer = answers
                        .lock()
                        .unwrap()
                        .get(path.as_str())
                        .cloned()
                        .unwrap_or_else(not_found);
                    tokio::time::sleep(answer.delay).await;
                    let _ = stream.write_all(&answer.response).await;
                });
            }
        });
        address
    }
}

/// `GET /stats/requests` answered with the recorded `fixture`.
pub fn stats(fixture_name: &str) -> Answer {
    ok("application/json", "", &fixture(fixture_name))
}
