//! In-process latency of the webhooks: the pure `admit` (validate, mutate) and `convert` on
//! the review bodies recorded from a real kube-apiserver, plus the same request through the
//! axum router (handler, `admit` inline as for every review up to 64 KiB, metrics; no TLS,
//! no socket) to show what the HTTP layer adds. A small self-written harness (`harness = false`): warm-up, then N timed
//! iterations of one call each; prints mean, p50 and p99 per case.
//!
//! ```text
//! cargo bench --bench webhook                 # every case
//! cargo bench --bench webhook -- create-v2    # cases whose name contains "create-v2"
//! BENCH_ITERS=20000 cargo bench --bench webhook
//! ```
//!
//! Environment: `BENCH_ITERS` (timed iterations per case, default 5000), `BENCH_WARMUP`
//! (untimed iterations first, default 500), `REVIEWS_DIR` (the recorded reviews, default
//! `tests/fixtures/apiserver-reviews` next to the crate). See `BENCHMARKS.md`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use locust_operator::metrics::Metrics;
use locust_operator::webhook::admission::{Admission, Decision, Reply, admit, convert};
use locust_operator::webhook::server::router;
use tower::ServiceExt;

fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

fn reviews_dir() -> PathBuf {
    std::env::var_os("REVIEWS_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/apiserver-reviews"),
        PathBuf::from,
    )
}

/// One recorded request: the path the API server called and the body it sent.
struct Fixture {
    name: String,
    path: String,
    body: Vec<u8>,
}

fn load_fixtures() -> Vec<Fixture> {
    let dir = reviews_dir();
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "cannot read the recorded reviews in {} ({e}); set REVIEWS_DIR",
            dir.display()
        )
    });
    let mut fixtures: Vec<Fixture> = entries
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .map(|path| {
            let recorded: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            Fixture {
                name: path.file_stem().unwrap().to_string_lossy().into_owned(),
                path: recorded["path"].as_str().unwrap().to_owned(),
                body: serde_json::to_vec(&recorded["body"]).unwrap(),
            }
        })
        .collect();
    fixtures.sort_by(|a, b| a.name.cmp(&b.name));
    fixtures
}

/// Which pure function a recorded path reaches.
#[derive(Clone, Copy)]
enum Hook {
    Admit(Admission),
    Convert,
}

fn hook_of(path: &str) -> Hook {
    let route = path.split('?').next().unwrap_or_default();
    match route {
        "/validate" => Hook::Admit(Admission::Validate),
        "/mutate" => Hook::Admit(Admission::Mutate),
        "/convert" => Hook::Convert,
        other => panic!("no webhook at {other}"),
    }
}

fn call(hook: Hook, body: &[u8]) -> Reply {
    match hook {
        Hook::Admit(webhook) => admit(webhook, body),
        Hook::Convert => convert(body),
    }
}

/// Latency statistics of one case.
struct Stats {
    iters: usize,
    mean: Duration,
    p50: Duration,
    p99: Duration,
}

fn measure(warmup: usize, iters: usize, mut f: impl FnMut()) -> Stats {
    for _ in 0..warmup {
        f();
    }
    let mut samples = Vec::with_capacity(iters);
    for _ in 0..iters {
        let started = Instant::now();
        f();
        samples.push(started.elapsed());
    }
    samples.sort_unstable();
    let total: Duration = samples.iter().sum();
    let at =
        |q: f64| samples[((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1];
    Stats {
        iters,
        mean: total / u32::try_from(iters).unwrap(),
        p50: at(0.50),
        p99: at(0.99),
    }
}

fn micros(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

fn header_row() {
    println!(
        "{:<46} {:>7} {:>10} {:>10} {:>10} {:>9}  answer",
        "case", "iters", "mean µs", "p50 µs", "p99 µs", "body B"
    );
}

fn row(name: &str, stats: &Stats, body_len: usize, answer: &str) {
    println!(
        "{:<46} {:>7} {:>10} {:>10} {:>10} {:>9}  {}",
        name,
        stats.iters,
        micros(stats.mean),
        micros(stats.p50),
        micros(stats.p99),
        body_len,
        answer
    );
}

fn main() {
    // `cargo bench` passes `--bench`; the first other argument filters the cases by name.
    let filter = std::env::args()
        .skip(1)
        .find(|arg| !arg.starts_with("--"))
        .unwrap_or_default();
    let iters = env_usize("BENCH_ITERS", 5000).max(1);
    let warmup = env_usize("BENCH_WARMUP", 500);
    let fixtures = load_fixtures();
    let selected = |name: &str| name.contains(&filter);

    println!(
        "pure functions (admit / convert) on the recorded review bodies, one call per iteration"
    );
    header_row();
    for fixture in &fixtures {
        let hook = hook_of(&fixture.path);
        let name = match hook {
            Hook::Admit(_) => fixture.name.clone(),
            Hook::Convert => format!("{} (convert)", fixture.name),
        };
        if !selected(&name) {
            continue;
        }
        let reply = call(hook, &fixture.body);
        assert_eq!(
            reply.status,
            200,
            "{}: {}",
            fixture.name,
            String::from_utf8_lossy(&reply.body)
        );
        if fixture.name == "create-v2-dryrun.validate" {
            assert_eq!(
                reply.decision,
                Decision::Denied,
                "the dry-run test breaks five rules"
            );
        }
        let stats = measure(warmup, iters, || {
            black_box(call(hook, black_box(&fixture.body)));
        });
        row(&name, &stats, fixture.body.len(), reply.decision.as_str());
    }

    // What the HTTP layer adds in-process: the same review through the axum router (content
    // type check, reading the body, `admit` inline, metrics), and a bare `spawn_blocking`
    // round trip (what a review over 64 KiB adds: those run on the blocking pool).
    let Some(create) = fixtures.iter().find(|f| f.name == "create-v2.validate") else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let app = router(Arc::new(Metrics::new()));
    let body = bytes::Bytes::from(create.body.clone());
    let request = || {
        Request::post("/validate?timeout=5s")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.clone()))
            .unwrap()
    };
    println!();
    println!("the same request in-process through the axum router, and its parts");
    header_row();
    if selected("router create-v2.validate") {
        let response = runtime.block_on(app.clone().oneshot(request())).unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let stats = measure(warmup, iters, || {
            runtime.block_on(async {
                let response = app.clone().oneshot(request()).await.unwrap();
                black_box(response.into_body().collect().await.unwrap().to_bytes());
            });
        });
        row(
            "router create-v2.validate (no TLS)",
            &stats,
            body.len(),
            "allowed",
        );
    }
    if selected("spawn_blocking round trip") {
        let stats = measure(warmup, iters, || {
            runtime.block_on(async {
                black_box(tokio::task::spawn_blocking(|| black_box(1)).await.unwrap());
            });
        });
        row("spawn_blocking round trip (no-op)", &stats, 0, "-");
    }
    if selected("json parse create-v2.validate") {
        let stats = measure(warmup, iters, || {
            black_box(
                serde_json::from_slice::<serde_json::Value>(black_box(&create.body)).unwrap(),
            );
        });
        row(
            "json parse create-v2.validate (Value)",
            &stats,
            create.body.len(),
            "-",
        );
    }
}
