//! The controller at scale, on the in-memory API server of `crates/memory-apiserver` (CRD installed, no
//! webhooks): `BENCH_TESTS` valid LocustTests (default 1000, the spec of
//! `examples/minimal-v2.yaml`) created at once in one namespace, 32 creates in flight.
//!
//! 1. **In-process operator** (`controller::run` as `locust-operator run` wires it, without
//!    leader election, scoped to the bench namespace, on its own tokio runtime), with its own
//!    `kube::Client` whose tower stack counts every request it sends (verb, resource, answer
//!    code); the driver uses another client:
//!    - *burst*: time from the first create until every test has its Service, both Jobs and
//!      `Ready=True` (seen by the driver's watches), per test p50/p99 (create sent -> last of
//!      the four seen), and the operator's requests per test;
//!    - *pods* (only with `BENCH_WORKER_PODS=W`, default 0): 1 master + W worker pods per test,
//!      Running and ready, and the Jobs' counts, written as kubelet and the Job controller
//!      would (`memory_apiserver::sim`); time until every test is `Running` with
//!      `WorkersConnected=True`, and the operator's requests per test;
//!    - *restart resync*: the operator is stopped and a new one (new client, empty caches)
//!      lists and reconciles everything; then *label resync*: a label is added to every test,
//!      so each is reconciled again. Neither may write anything: a write there makes the
//!      bench exit with status 1.
//!    - *polled* (unless `BENCH_POLL_SECONDS=0`): every test's Locust master is a fake one in
//!      this process (one HTTP server on 127.0.0.1 answering `GET /stats/requests` with the
//!      recording `tests/fixtures/locust-web/03-running-steady-stats-requests.json`). Until
//!      this phase it answers 503 and the operators above read each master at most once an
//!      hour, so those phases stay quiet (a read, even a failed one, triggers a reconcile:
//!      with 1,000 tests polled every 10 s nothing would ever settle) and write what they
//!      wrote before the polling existed. Now a new operator reads every master each
//!      `BENCH_POLL_INTERVAL` seconds (the operator's default, 10 s). Tests need their master
//!      running to be polled: without `BENCH_WORKER_PODS`, the master pods (only) are
//!      written now. Once every test shows `.status.stats`, two windows of
//!      `BENCH_POLL_SECONDS`: the master answering the *same* body every time (status writes
//!      must be ~0: more than 0.1 per test per minute fails the bench), then a body whose
//!      numbers change on *every* answer (the Aggregated `num_requests` and `total_rps`):
//!      every read is a real change, the worst case for writes, which may not exceed one per
//!      interval (more than `60 / interval + 1` status writes per test per minute fails the
//!      bench). Counted: the operator's requests by verb and resource, its status patches per
//!      test (and the shortest gap between two of one test), the master's reads; memory: the
//!      bench process's `VmRSS`/`VmHWM` (API server included) and the heap held by what the
//!      operator's threads allocated (a counting allocator, by thread name).
//! 2. **The real binary** (`locust-operator run --leader-elect=false --watch-namespace=bench`,
//!    a separate process talking plain HTTP to a fresh harness through a kubeconfig): the same
//!    burst (and pods) with its peak RSS (`VmHWM` of `/proc/<pid>/status`) and CPU time; then
//!    a second process resyncs everything, and a label is added to every test: its peak RSS,
//!    and the harness's resourceVersion must not move beyond the bench's own label patches
//!    (exit status 1 otherwise). `BENCH_PROCESS=0` skips this part. Its masters are where
//!    the cluster's DNS would put them (nowhere here), read at most once an hour
//!    (`--locust-poll-interval=1h`), for the reason given under *polled*; no polled phase.
//!
//! ```text
//! cargo bench --bench controller
//! BENCH_TESTS=100 BENCH_PROCESS=0 cargo bench --bench controller    # quick
//! BENCH_WORKER_PODS=2 cargo bench --bench controller                # with pods
//! BENCH_POLL_SECONDS=0 cargo bench --bench controller               # without the polled phase
//! ```
//!
//! Environment: `BENCH_TESTS` (1000), `BENCH_INFLIGHT` (creates in flight, 32),
//! `BENCH_WORKER_PODS` (0), `BENCH_MAX_CONCURRENT` (`--max-concurrent-reconciles`, 16),
//! `BENCH_POLL_SECONDS` (each window of the polled phase, 60; 0 skips it),
//! `BENCH_POLL_INTERVAL` (`--locust-poll-interval` in the polled phase, seconds, 10),
//! `BENCH_PROCESS` (1), `BENCH_OPERATOR_ENV` (extra `NAME=value` pairs for the separate
//! processes, `{log}` in a value replaced by the process's log name: e.g. a heap profiler's
//! preload library), `BENCH_TIMEOUT` (seconds per wait, 900), `RUST_LOG` (logs of the
//! in-process operator; none when unset). See `BENCHMARKS.md`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicI64, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use futures::StreamExt;
use hyper::{Method, Request, Response, Uri};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Service};
use kube::api::{Patch, PatchParams, PostParams};
use kube::core::{DynamicObject, GroupVersionKind};
use kube::discovery::ApiResource;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use locust_operator::config::Config;
use locust_operator::controller::{self, ControllerMetrics, Settings, State};
use locust_operator::locust::client::{MasterAddresses, Resolve};
use locust_operator::metrics::Metrics;
use locust_operator::names::LABEL_TEST_NAME;
use locust_operator::webhook::tls::{CERT_FILE, KEY_FILE};
use memory_apiserver::{ApiServer, Options, sim};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Runtime;
use tokio_util::sync::CancellationToken;

const NAMESPACE: &str = "bench";
/// Nothing may happen for this long before a phase counts as settled.
const QUIET: Duration = Duration::from_secs(2);
/// How often the driver looks at its watches, the metrics and the counters.
const POLL: Duration = Duration::from_millis(100);

// ---------------------------------------------------------------------------------------------
// Settings

fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

struct Bench {
    tests: usize,
    inflight: usize,
    worker_pods: usize,
    process: bool,
    max_concurrent: u16,
    timeout: Duration,
    /// Each window of the polled phase (zero: no polled phase).
    poll_window: Duration,
    /// `--locust-poll-interval` in the polled phase.
    poll_interval: Duration,
}

impl Bench {
    fn from_env() -> Self {
        Self {
            tests: env_usize("BENCH_TESTS", 1000).max(1),
            inflight: env_usize("BENCH_INFLIGHT", 32).max(1),
            worker_pods: env_usize("BENCH_WORKER_PODS", 0),
            process: env_usize("BENCH_PROCESS", 1) != 0,
            max_concurrent: u16::try_from(env_usize(
                "BENCH_MAX_CONCURRENT",
                usize::from(controller::DEFAULT_MAX_CONCURRENT_RECONCILES),
            ))
            .unwrap()
            .max(1),
            timeout: Duration::from_secs(env_usize("BENCH_TIMEOUT", 900) as u64),
            poll_window: Duration::from_secs(env_usize("BENCH_POLL_SECONDS", 60) as u64),
            poll_interval: Duration::from_secs(
                env_usize(
                    "BENCH_POLL_INTERVAL",
                    controller::live::DEFAULT_POLL_INTERVAL.as_secs() as usize,
                )
                .max(1) as u64,
            ),
        }
    }

    fn names(&self) -> Vec<String> {
        (0..self.tests).map(|i| format!("bench-{i:05}")).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Counting the operator's requests: a layer on its client's tower stack

/// Requests by (verb, resource), each by answer code (0: no answer).
type Counts = BTreeMap<(String, String), BTreeMap<u16, u64>>;

#[derive(Default)]
struct Requests {
    started: AtomicU64,
    answered: AtomicU64,
    counts: Mutex<Counts>,
    /// When each test's status was patched (answered 200).
    status_patches: Mutex<HashMap<String, Vec<Instant>>>,
}

impl Requests {
    fn record(&self, kind: (String, String), status: u16) {
        let mut counts = self.counts.lock().unwrap();
        *counts.entry(kind).or_default().entry(status).or_default() += 1;
        self.answered.fetch_add(1, Ordering::SeqCst);
    }

    fn snapshot(&self) -> Counts {
        self.counts.lock().unwrap().clone()
    }

    fn record_status_patch(&self, test: String) {
        let mut patches = self.status_patches.lock().unwrap();
        patches.entry(test).or_default().push(Instant::now());
    }

    /// Per test, its status patches in `from..to`.
    fn status_patches_in(&self, from: Instant, to: Instant) -> HashMap<String, Vec<Instant>> {
        let patches = self.status_patches.lock().unwrap();
        patches
            .iter()
            .map(|(test, times)| {
                let inside = times
                    .iter()
                    .copied()
                    .filter(|t| *t >= from && *t < to)
                    .collect();
                (test.clone(), inside)
            })
            .collect()
    }

    /// Sent and answered so far (a watch counts as answered once its headers arrived).
    fn activity(&self) -> (u64, u64) {
        (
            self.started.load(Ordering::SeqCst),
            self.answered.load(Ordering::SeqCst),
        )
    }
}

fn delta(after: &Counts, before: &Counts) -> Counts {
    let mut out = Counts::new();
    for (kind, codes) in after {
        for (code, n) in codes {
            let was = before.get(kind).and_then(|c| c.get(code)).copied();
            let d = n - was.unwrap_or(0);
            if d > 0 {
                out.entry(kind.clone()).or_default().insert(*code, d);
            }
        }
    }
    out
}

fn is_write(verb: &str) -> bool {
    matches!(verb, "POST" | "PUT" | "PATCH" | "DELETE")
}

fn total(counts: &Counts, writes: bool) -> u64 {
    counts
        .iter()
        .filter(|((verb, _), _)| is_write(verb) == writes)
        .flat_map(|(_, codes)| codes.values())
        .sum()
}

/// `(verb, resource)`: verb GET (one object), LIST, WATCH, POST, PUT, PATCH, DELETE; resource
/// the plural with its subresource (`locusttests/status`); `discovery` for the rest.
fn classify(method: &Method, uri: &Uri) -> (String, String) {
    let segments: Vec<&str> = uri.path().split('/').filter(|s| !s.is_empty()).collect();
    let rest: &[&str] = match segments.as_slice() {
        ["api", _, rest @ ..] | ["apis", _, _, rest @ ..] => rest,
        _ => &[],
    };
    let rest = match rest {
        ["namespaces", _, inner @ ..] if !inner.is_empty() => inner,
        other => other,
    };
    let (resource, named) = match rest {
        [] => ("discovery".to_owned(), false),
        [plural] => ((*plural).to_owned(), false),
        [plural, _] => ((*plural).to_owned(), true),
        [plural, _, sub, ..] => (format!("{plural}/{sub}"), true),
    };
    let watch = uri
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "watch=true" || p == "watch=1"));
    let verb = match *method {
        Method::GET if named => "GET",
        Method::GET if watch => "WATCH",
        Method::GET => "LIST",
        ref other => other.as_str(),
    };
    (verb.to_owned(), resource)
}

#[derive(Clone)]
struct CountLayer(Arc<Requests>);

impl<S> tower::Layer<S> for CountLayer {
    type Service = Counting<S>;
    fn layer(&self, inner: S) -> Counting<S> {
        Counting {
            inner,
            requests: Arc::clone(&self.0),
        }
    }
}

#[derive(Clone)]
struct Counting<S> {
    inner: S,
    requests: Arc<Requests>,
}

type Boxed<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B> tower::Service<Request<kube::client::Body>> for Counting<S>
where
    S: tower::Service<Request<kube::client::Body>, Response = Response<B>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<B>;
    type Error = S::Error;
    type Future = Boxed<Response<B>, S::Error>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<kube::client::Body>) -> Self::Future {
        let kind = classify(request.method(), request.uri());
        let status_of = (kind.0 == "PATCH" && kind.1 == "locusttests/status")
            .then(|| {
                let path = request.uri().path();
                let mut segments = path.rsplit('/').skip(1);
                segments.next().map(str::to_owned)
            })
            .flatten();
        self.requests.started.fetch_add(1, Ordering::SeqCst);
        let requests = Arc::clone(&self.requests);
        let answer = self.inner.call(request);
        Box::pin(async move {
            let answer = answer.await;
            let code = answer.as_ref().map_or(0, |r| r.status().as_u16());
            if let (Some(test), 200) = (status_of, code) {
                requests.record_status_patch(test);
            }
            requests.record(kind, code);
            answer
        })
    }
}

/// A client of `url` (the harness, plain HTTP) that counts its requests into `requests`.
/// Call inside the runtime that is to drive it.
fn counting_client(url: &str, requests: &Arc<Requests>) -> Client {
    let mut config = kube::Config::new(url.parse().unwrap());
    config.default_namespace = "default".into();
    config.read_timeout = None;
    kube::client::ClientBuilder::try_from(config)
        .unwrap()
        .with_layer(&CountLayer(Arc::clone(requests)))
        .build()
}

fn print_counts(title: &str, counts: &Counts, tests: usize) {
    let (writes, reads) = (total(counts, true), total(counts, false));
    let per = |n: u64| n as f64 / tests as f64;
    println!(
        "  {title}: {writes} writes ({:.2}/test), {reads} reads ({:.2}/test)",
        per(writes),
        per(reads)
    );
    let mut rows: Vec<_> = counts.iter().collect();
    rows.sort_by_key(|((verb, resource), _)| (!is_write(verb), resource.clone(), verb.clone()));
    for ((verb, resource), codes) in rows {
        let n: u64 = codes.values().sum();
        let codes = codes
            .iter()
            .map(|(code, n)| format!("{code}×{n}"))
            .collect::<Vec<_>>()
            .join(" ");
        println!(
            "    {:<32} {n:>7}  {:>6.2}/test  [{codes}]",
            format!("{verb} {resource}"),
            per(n)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Process measurements

/// Thread groups, by the name prefix of their runtime's threads (0: any other thread).
const GROUPS: [&str; 5] = ["other", "harness", "operator", "driver", "locust"];

/// Bytes allocated minus bytes freed, by the group of the thread doing it; each counter on a
/// cache line of its own.
#[repr(align(64))]
struct GroupBytes(AtomicI64);

static HEAP: [GroupBytes; 5] = [const { GroupBytes(AtomicI64::new(0)) }; 5];

thread_local! {
    static GROUP: Cell<usize> = const { Cell::new(0) };
}

/// The system allocator, counting bytes by thread group. A free is counted for the thread
/// that frees: what one group allocates and another frees (rare here: the groups talk over
/// sockets) shows up on the wrong side.
struct CountingAlloc;

fn count_heap(delta: i64) {
    let group = GROUP.try_with(Cell::get).unwrap_or(0);
    HEAP[group].0.fetch_add(delta, Ordering::Relaxed);
}

// SAFETY: every call goes to `System` with the caller's arguments unchanged.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            count_heap(layout.size() as i64);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            count_heap(layout.size() as i64);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) };
        count_heap(-(layout.size() as i64));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            count_heap(new_size as i64 - layout.size() as i64);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: CountingAlloc = CountingAlloc;

/// Net heap bytes of thread group `name`, in MiB.
fn heap_mib(name: &str) -> f64 {
    let group = GROUPS.iter().position(|g| *g == name).unwrap_or(0);
    HEAP[group].0.load(Ordering::Relaxed) as f64 / (1024.0 * 1024.0)
}

/// A `kB` field (`VmHWM`, `VmRSS`) of `/proc/<pid>/status`, in MiB.
fn vm_mib(pid: &str, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// User + system CPU seconds of process `pid` (clock ticks of 10 ms).
fn process_cpu(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let Some(close) = stat.rfind(')') else {
        return f64::NAN;
    };
    let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (ticks(11) + ticks(12)) as f64 / 100.0
}

/// CPU seconds of this process's threads by name prefix (`harness`, `operator`, `driver`).
fn thread_cpu() -> HashMap<String, f64> {
    let mut out = HashMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_owned();
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let group = ["harness", "operator", "driver", "locust"]
            .into_iter()
            .find(|p| name.starts_with(p))
            .unwrap_or("other");
        *out.entry(group.to_owned()).or_default() += (ticks(11) + ticks(12)) as f64 / 100.0;
    }
    out
}

fn cpu_delta(after: &HashMap<String, f64>, before: &HashMap<String, f64>) -> String {
    ["operator", "harness", "driver", "locust", "other"]
        .into_iter()
        .map(|g| {
            let d = after.get(g).copied().unwrap_or(0.0) - before.get(g).copied().unwrap_or(0.0);
            format!("{g} {d:.1} s")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn self_memory(label: &str) -> (f64, f64) {
    let (hwm, rss) = (vm_mib("self", "VmHWM"), vm_mib("self", "VmRSS"));
    println!("  bench process {label}: VmHWM {hwm:.1} MiB, VmRSS {rss:.1} MiB");
    (hwm, rss)
}

// ---------------------------------------------------------------------------------------------
// Metrics text

/// Sum of every sample of metric `name` (all label sets).
fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let (key, value) = line.rsplit_once(' ')?;
            let metric = key.split('{').next()?;
            if metric == name {
                value.parse::<f64>().ok()
            } else {
                None
            }
        })
        .sum()
}

/// What the operator's `/metrics` says about its reconciles.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Reconciles {
    total: f64,
    errors: f64,
    active: f64,
    time_sum: f64,
    time_count: f64,
}

impl Reconciles {
    fn parse(text: &str) -> Self {
        Self {
            total: metric_sum(text, "controller_runtime_reconcile_total"),
            errors: metric_sum(text, "controller_runtime_reconcile_errors_total"),
            active: metric_sum(text, "controller_runtime_active_workers"),
            time_sum: metric_sum(text, "controller_runtime_reconcile_time_seconds_sum"),
            time_count: metric_sum(text, "controller_runtime_reconcile_time_seconds_count"),
        }
    }

    fn describe_since(&self, before: &Self) -> String {
        let count = self.time_count - before.time_count;
        let mean_ms = if count > 0.0 {
            (self.time_sum - before.time_sum) / count * 1000.0
        } else {
            0.0
        };
        format!(
            "{:.0} reconciles ({:.0} errors), mean reconcile {mean_ms:.2} ms",
            self.total - before.total,
            self.errors - before.errors
        )
    }
}

/// Waits (blocking) until `sample` has shown at least `min_reconciles` reconciles, no active
/// worker, and nothing changed for [`QUIET`]; returns the sample and when it last changed, or
/// what was seen last after `timeout`.
fn try_settle<S: PartialEq + Copy + std::fmt::Debug>(
    timeout: Duration,
    mut sample: impl FnMut() -> (Reconciles, S),
    min_reconciles: f64,
) -> Result<(Reconciles, Instant), String> {
    let deadline = Instant::now() + timeout;
    let mut last = sample();
    let mut changed = Instant::now();
    loop {
        std::thread::sleep(POLL);
        let now = sample();
        if now.0 != last.0 || now.1 != last.1 {
            last = now;
            changed = Instant::now();
        }
        if last.0.total >= min_reconciles && last.0.active == 0.0 && changed.elapsed() >= QUIET {
            return Ok((last.0, changed));
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "not settled after {timeout:?}: {:?}, {:?} (unchanged for {:.1} s)",
                last.0,
                last.1,
                changed.elapsed().as_secs_f64()
            ));
        }
    }
}

/// [`try_settle`], panicking with `what` on a timeout.
fn settle<S: PartialEq + Copy + std::fmt::Debug>(
    what: &str,
    timeout: Duration,
    sample: impl FnMut() -> (Reconciles, S),
    min_reconciles: f64,
) -> (Reconciles, Instant) {
    try_settle(timeout, sample, min_reconciles).unwrap_or_else(|e| panic!("{what}: {e}"))
}

// ---------------------------------------------------------------------------------------------
// The driver: creates, watches, waits

fn locust_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("locust.io", "v2", "LocustTest"),
        "locusttests",
    )
}

/// `examples/minimal-v2.yaml` without its name.
fn template() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/minimal-v2.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut test: Value = serde_saphyr::from_str(&text).unwrap();
    test["metadata"] = json!({});
    test
}

/// When the driver saw what, per test.
#[derive(Clone, Copy, Default)]
struct Seen {
    created: Option<Instant>,
    ready: Option<Instant>,
    service: Option<Instant>,
    master: Option<Instant>,
    worker: Option<Instant>,
    running: Option<Instant>,
    /// `.status.stats` first seen (the master was read).
    stats: Option<Instant>,
}

impl Seen {
    fn children_ready(&self) -> Option<Instant> {
        [self.ready, self.service, self.master, self.worker]
            .into_iter()
            .try_fold(None::<Instant>, |max, at| Some(max.max(Some(at?))))
            .flatten()
    }
}

#[derive(Default)]
struct Progress {
    tests: Mutex<HashMap<String, Seen>>,
}

impl Progress {
    fn mark(&self, name: &str, what: impl FnOnce(&mut Seen) -> &mut Option<Instant>) {
        let mut tests = self.tests.lock().unwrap();
        let slot = what(tests.entry(name.to_owned()).or_default());
        if slot.is_none() {
            *slot = Some(Instant::now());
        }
    }

    fn count(&self, done: impl Fn(&Seen) -> Option<Instant>) -> usize {
        let tests = self.tests.lock().unwrap();
        tests.values().filter(|s| done(s).is_some()).count()
    }

    /// Per test `done - created`, and the last `done`.
    fn latencies(&self, done: impl Fn(&Seen) -> Option<Instant>) -> (Vec<Duration>, Instant) {
        let tests = self.tests.lock().unwrap();
        let mut last = None::<Instant>;
        let mut latencies = Vec::new();
        for seen in tests.values() {
            if let (Some(created), Some(done)) = (seen.created, done(seen)) {
                latencies.push(done - created);
                last = last.max(Some(done));
            }
        }
        (latencies, last.unwrap_or_else(Instant::now))
    }
}

fn condition_true(test: &DynamicObject, kind: &str) -> bool {
    test.data["status"]["conditions"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["type"] == kind && c["status"] == "True"))
}

fn test_name<K: ResourceExt>(object: &K) -> Option<String> {
    object.labels().get(LABEL_TEST_NAME).cloned()
}

/// The driver's watches of the tests and their children; they fill `progress`.
fn track(
    rt: &Runtime,
    client: &Client,
    progress: &Arc<Progress>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let tests: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), NAMESPACE, &locust_resource());
    let services: Api<Service> = Api::namespaced(client.clone(), NAMESPACE);
    let jobs: Api<Job> = Api::namespaced(client.clone(), NAMESPACE);
    let p = Arc::clone(progress);
    let watch_tests = rt.spawn(async move {
        let mut stream = watcher(tests, watcher::Config::default())
            .default_backoff()
            .applied_objects()
            .boxed();
        while let Some(event) = stream.next().await {
            let Ok(test) = event else { continue };
            let name = test.name_any();
            if condition_true(&test, "Ready") {
                p.mark(&name, |s| &mut s.ready);
            }
            if test.data["status"]["phase"] == "Running"
                && condition_true(&test, "WorkersConnected")
            {
                p.mark(&name, |s| &mut s.running);
            }
            if test.data["status"]["stats"].is_object() {
                p.mark(&name, |s| &mut s.stats);
            }
        }
    });
    let p = Arc::clone(progress);
    let watch_services = rt.spawn(async move {
        let mut stream = watcher(services, watcher::Config::default())
            .default_backoff()
            .applied_objects()
            .boxed();
        while let Some(event) = stream.next().await {
            let Ok(service) = event else { continue };
            if let Some(name) = test_name(&service) {
                p.mark(&name, |s| &mut s.service);
            }
        }
    });
    let p = Arc::clone(progress);
    let watch_jobs = rt.spawn(async move {
        let mut stream = watcher(jobs, watcher::Config::default())
            .default_backoff()
            .applied_objects()
            .boxed();
        while let Some(event) = stream.next().await {
            let Ok(job) = event else { continue };
            let Some(name) = test_name(&job) else {
                continue;
            };
            if job.name_any().ends_with("-worker") {
                p.mark(&name, |s| &mut s.worker);
            } else {
                p.mark(&name, |s| &mut s.master);
            }
        }
    });
    vec![watch_tests, watch_services, watch_jobs]
}

async fn create_namespace(client: &Client) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace: Namespace =
        serde_json::from_value(json!({"metadata": {"name": NAMESPACE}})).unwrap();
    namespaces
        .create(&PostParams::default(), &namespace)
        .await
        .unwrap();
}

/// Creates every test, `inflight` at a time; each test's `created` is set just before its
/// create is sent.
async fn create_tests(client: &Client, bench: &Bench, progress: &Progress) {
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), NAMESPACE, &locust_resource());
    let template = template();
    futures::stream::iter(bench.names())
        .map(|name| {
            let api = api.clone();
            let mut test = template.clone();
            test["metadata"] = json!({"name": name, "namespace": NAMESPACE});
            async move {
                let test: DynamicObject = serde_json::from_value(test).unwrap();
                progress.mark(&name, |s| &mut s.created);
                api.create(&PostParams::default(), &test)
                    .await
                    .unwrap_or_else(|e| panic!("creating {name}: {e}"));
            }
        })
        .buffer_unordered(bench.inflight)
        .collect::<Vec<()>>()
        .await;
}

/// 1 master and `workers` worker pods per test, Running and ready, and the Jobs' counts, as
/// kubelet and the Job controller would write them. Each test's `created` is reset to the
/// start of its writes.
async fn start_pods(client: &Client, bench: &Bench, progress: &Progress) {
    let workers = bench.worker_pods;
    futures::stream::iter(bench.names())
        .map(|name| async move {
            progress
                .tests
                .lock()
                .unwrap()
                .entry(name.clone())
                .or_default()
                .created = Some(Instant::now());
            let (master, worker) = (format!("{name}-master"), format!("{name}-worker"));
            let mut pods = sim::create_job_pods(client, NAMESPACE, &master, 1)
                .await
                .unwrap();
            pods.extend(
                sim::create_job_pods(client, NAMESPACE, &worker, workers)
                    .await
                    .unwrap(),
            );
            for pod in &pods {
                sim::set_pod_running(client, NAMESPACE, pod, true)
                    .await
                    .unwrap();
            }
            let w = workers as i32;
            sim::set_job_counts(client, NAMESPACE, &master, 1, 1, 0, 0)
                .await
                .unwrap();
            sim::set_job_counts(client, NAMESPACE, &worker, w, w, 0, 0)
                .await
                .unwrap();
        })
        .buffer_unordered(bench.inflight)
        .collect::<Vec<()>>()
        .await;
}

/// Adds a label to every test (metadata only: no generation, no status change).
async fn touch_labels(client: &Client, bench: &Bench) {
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), NAMESPACE, &locust_resource());
    let patch = json!({"metadata": {"labels": {"bench.locust.io/touched": "1"}}});
    futures::stream::iter(bench.names())
        .map(|name| {
            let api = api.clone();
            let patch = patch.clone();
            async move {
                api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .unwrap();
            }
        })
        .buffer_unordered(bench.inflight)
        .collect::<Vec<()>>()
        .await;
}

/// Waits (blocking) until `done` holds for every test; prints progress every 10 s. `check`
/// panics when waiting is pointless (the operator process exited).
fn wait_all(
    what: &str,
    bench: &Bench,
    progress: &Progress,
    done: impl Fn(&Seen) -> Option<Instant> + Copy,
    check: &dyn Fn(),
) {
    let deadline = Instant::now() + bench.timeout;
    let mut report = Instant::now() + Duration::from_secs(10);
    loop {
        check();
        let n = progress.count(done);
        if n >= bench.tests {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: only {n} of {} tests after {:?}",
            bench.tests,
            bench.timeout
        );
        if Instant::now() >= report {
            eprintln!("    … {what}: {n}/{}", bench.tests);
            report += Duration::from_secs(10);
        }
        std::thread::sleep(POLL);
    }
}

/// Nearest-rank percentile.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Total time from `start`, and per-test p50/p99/max of `done - created`.
fn print_latencies(
    what: &str,
    start: Instant,
    progress: &Progress,
    done: impl Fn(&Seen) -> Option<Instant>,
) -> (Duration, Duration, Duration) {
    let (mut latencies, last) = progress.latencies(done);
    latencies.sort();
    let total = last - start;
    let (p50, p99, max) = (
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0),
        latencies.last().copied().unwrap_or_default(),
    );
    println!(
        "  {what}: all {} in {:.2} s ({:.0} tests/s); per test p50 {:.2} s, p99 {:.2} s, max {:.2} s",
        latencies.len(),
        total.as_secs_f64(),
        latencies.len() as f64 / total.as_secs_f64(),
        p50.as_secs_f64(),
        p99.as_secs_f64(),
        max.as_secs_f64()
    );
    (total, p50, p99)
}

// ---------------------------------------------------------------------------------------------
// A fake Locust master: every test's master resolves to it

/// What the fake master answers to `GET /stats/requests`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answering {
    /// 503: no numbers (the phases before the polled one).
    Down = 0,
    /// The recorded body, byte for byte, every time.
    Same = 1,
    /// The recorded body with numbers that change on every answer.
    Changing = 2,
}

struct FakeMaster {
    addr: SocketAddr,
    answering: AtomicU8,
    /// `GET /stats/requests` answered 200.
    reads: AtomicU64,
    /// `GET /stats/requests` answered 503.
    refused: AtomicU64,
    /// Anything else (answered 404).
    other: AtomicU64,
    /// Answers of [`Answering::Changing`] so far.
    changes: AtomicU64,
    recorded: Value,
    same: Vec<u8>,
}

impl FakeMaster {
    /// Serves on 127.0.0.1 (a free port) on `rt`, answering 503 until told otherwise.
    fn start(rt: &Runtime) -> Arc<Self> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/locust-web/03-running-steady-stats-requests.json");
        let same = std::fs::read(&path).unwrap();
        let recorded: Value = serde_json::from_slice(&same).unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let master = Arc::new(Self {
            addr: listener.local_addr().unwrap(),
            answering: AtomicU8::new(Answering::Down as u8),
            reads: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            other: AtomicU64::new(0),
            changes: AtomicU64::new(0),
            recorded,
            same,
        });
        let serving = Arc::clone(&master);
        rt.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let master = Arc::clone(&serving);
                tokio::spawn(async move { master.answer(stream).await });
            }
        });
        master
    }

    fn set(&self, answering: Answering) {
        self.answering.store(answering as u8, Ordering::SeqCst);
    }

    /// The recorded body with the Aggregated `num_requests` and the `total_rps` moved on by
    /// `n`: numbers Locust would show a few moments later.
    fn changed(&self, n: u64) -> Vec<u8> {
        let mut body = self.recorded.clone();
        for entry in body["stats"].as_array_mut().unwrap() {
            if entry["name"] == "Aggregated" {
                let requests = entry["num_requests"].as_u64().unwrap();
                entry["num_requests"] = json!(requests + n);
            }
        }
        let rps = body["total_rps"].as_f64().unwrap();
        body["total_rps"] = json!(rps + (n % 1000) as f64 / 100.0);
        serde_json::to_vec(&body).unwrap()
    }

    async fn answer(&self, mut stream: tokio::net::TcpStream) {
        let mut request = Vec::new();
        let mut chunk = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16 * 1024 {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => request.extend_from_slice(&chunk[..n]),
            }
        }
        let head = String::from_utf8_lossy(&request);
        let path = head.split_whitespace().nth(1).unwrap_or_default();
        let (status, body) = if path != "/stats/requests" {
            self.other.fetch_add(1, Ordering::Relaxed);
            ("404 Not Found", Vec::new())
        } else {
            match self.answering.load(Ordering::SeqCst) {
                0 => {
                    self.refused.fetch_add(1, Ordering::Relaxed);
                    ("503 Service Unavailable", Vec::new())
                }
                1 => {
                    self.reads.fetch_add(1, Ordering::Relaxed);
                    ("200 OK", self.same.clone())
                }
                _ => {
                    self.reads.fetch_add(1, Ordering::Relaxed);
                    let n = self.changes.fetch_add(1, Ordering::Relaxed) + 1;
                    ("200 OK", self.changed(n))
                }
            }
        };
        let mut response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        response.extend_from_slice(&body);
        let _ = stream.write_all(&response).await;
        let _ = stream.shutdown().await;
    }
}

/// Every test's master is the fake one.
struct AllAt(String);

impl Resolve for AllAt {
    fn master(&self, _namespace: &str, _name: &str) -> String {
        self.0.clone()
    }
}

// ---------------------------------------------------------------------------------------------
// The operator in this process

struct InProcess {
    requests: Arc<Requests>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

/// Outside the polled phase: each master read at most once an hour (a read triggers a
/// reconcile; polled every 10 s, 1,000 tests would never settle).
const QUIET_POLL_INTERVAL: Duration = Duration::from_secs(3600);

fn operator_settings(
    bench: &Bench,
    masters: &MasterAddresses,
    poll_interval: Duration,
) -> Settings {
    Settings {
        config: Arc::new(Config::from_lookup(&|_| None).unwrap().0),
        grace: Duration::from_secs(120),
        namespaces: vec![NAMESPACE.to_owned()],
        max_concurrent_reconciles: bench.max_concurrent,
        instance: "bench".to_owned(),
        poll_interval,
        worker_connect_timeout: locust_operator::defaulting::DEFAULT_WORKER_CONNECT_TIMEOUT,
        masters: masters.clone(),
    }
}

impl InProcess {
    /// Starts the controller on `rt` with a counting client of `url`; returns once its caches
    /// are synced.
    fn start(rt: &Runtime, url: &str, bench: &Bench, settings: Settings) -> Self {
        let _entered = rt.enter();
        let requests = Arc::new(Requests::default());
        let client = counting_client(url, &requests);
        let metrics = Arc::new(Metrics::new());
        let state = Arc::new(State::default());
        let shutdown = CancellationToken::new();
        let task = rt.spawn(controller::run(
            client,
            settings,
            None,
            ControllerMetrics::register(&metrics),
            Arc::clone(&state),
            shutdown.clone(),
        ));
        let task = rt.spawn(async move {
            task.await.unwrap().unwrap();
        });
        let deadline = Instant::now() + bench.timeout;
        while !state.caches_synced() {
            assert!(Instant::now() < deadline, "the caches did not sync");
            std::thread::sleep(Duration::from_millis(10));
        }
        Self {
            requests,
            metrics,
            shutdown,
            task,
        }
    }

    fn reconciles(&self) -> Reconciles {
        Reconciles::parse(&self.metrics.encode())
    }

    /// [`settle`] on its metrics and request counters.
    fn settle(&self, what: &str, timeout: Duration, min_reconciles: f64) -> (Reconciles, Instant) {
        let sample = || (self.reconciles(), self.requests.activity());
        try_settle(timeout, sample, min_reconciles).unwrap_or_else(|error| {
            print_counts("operator requests so far", &self.requests.snapshot(), 1);
            eprintln!("operator metrics:\n{}", self.metrics.encode());
            panic!("{what}: {error}")
        })
    }

    fn stop(self, rt: &Runtime) {
        self.shutdown.cancel();
        rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(30), self.task)
                .await
                .expect("the controller stops within 30 s")
                .expect("the controller does not panic");
        });
    }
}

// ---------------------------------------------------------------------------------------------
// The operator as its own process

/// A free port on 127.0.0.1 (bound, then released for the child to take).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` over HTTP/1.0; the status code and body.
fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let code = text.split(' ').nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((code, body))
}

fn certificates(dir: &Path) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(CERT_FILE), cert.pem()).unwrap();
    std::fs::write(dir.join(KEY_FILE), key.serialize_pem()).unwrap();
}

/// Extra environment of the operator processes, from `BENCH_OPERATOR_ENV`: `NAME=value`
/// pairs separated by spaces, `{log}` in a value replaced by the process's log name (to run
/// them under a heap profiler's preload library, or with allocator settings).
fn operator_env(log: &str) -> Vec<(String, String)> {
    std::env::var("BENCH_OPERATOR_ENV")
        .unwrap_or_default()
        .split_whitespace()
        .map(|pair| {
            let (name, value) = pair
                .split_once('=')
                .unwrap_or_else(|| panic!("BENCH_OPERATOR_ENV: {pair:?} is not NAME=value"));
            (name.to_owned(), value.replace("{log}", log))
        })
        .collect()
}

/// `locust-operator run` against the harness at `url`; killed when dropped.
struct OperatorProcess {
    child: Mutex<Child>,
    log: PathBuf,
    pid: String,
    probes: SocketAddr,
    metrics: SocketAddr,
}

impl OperatorProcess {
    fn start(url: &str, dir: &Path, log: &str, bench: &Bench) -> Self {
        let extra_env = operator_env(log);
        let kubeconfig = dir.join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: harness\n  cluster:\n    server: {url}\n\
                 users:\n- name: bench\n  user: {{}}\ncontexts:\n- name: bench\n  context:\n    cluster: harness\n    user: bench\n    namespace: default\n\
                 current-context: bench\n"
            ),
        )
        .unwrap();
        let certs = dir.join("certs");
        certificates(&certs);
        let ports = [free_port(), free_port(), free_port()];
        let address = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
        let log = dir.join(log);
        let log_file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_locust-operator"))
            .arg("run")
            .arg("--leader-elect=false")
            .arg(format!("--watch-namespace={NAMESPACE}"))
            .arg(format!(
                "--max-concurrent-reconciles={}",
                bench.max_concurrent
            ))
            .arg(format!("--webhook-bind-address={}", address(ports[0])))
            .arg(format!("--health-probe-bind-address={}", address(ports[1])))
            .arg(format!("--metrics-bind-address={}", address(ports[2])))
            .arg(format!("--cert-dir={}", certs.display()))
            .arg("--locust-poll-interval=1h")
            .envs(extra_env)
            .env("KUBECONFIG", &kubeconfig)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .unwrap();
        let process = Self {
            pid: child.id().to_string(),
            child: Mutex::new(child),
            log,
            probes: address(ports[1]),
            metrics: address(ports[2]),
        };
        // `/readyz` is 200 also before the controller starts (a replica that does not lead
        // is ready): wait until it leads, then until it is ready (caches synced).
        let deadline = Instant::now() + bench.timeout;
        while !process.ready() {
            process.check();
            assert!(
                Instant::now() < deadline,
                "the operator process is not ready (see {})",
                dir.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        process
    }

    /// Panics, with the end of its log, if the process has exited.
    fn check(&self) {
        let status = self.child.lock().unwrap().try_wait().ok().flatten();
        if let Some(status) = status {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            panic!(
                "the operator process exited ({status}); the end of {}:\n{}",
                self.log.display(),
                tail.join("\n")
            );
        }
    }

    fn ready(&self) -> bool {
        let leading = http_get(self.metrics, "/metrics")
            .is_some_and(|(_, body)| metric_sum(&body, "locust_operator_leader") == 1.0);
        leading && http_get(self.probes, "/readyz").is_some_and(|(code, _)| code == 200)
    }

    fn reconciles(&self) -> Reconciles {
        self.check();
        http_get(self.metrics, "/metrics")
            .map(|(_, body)| Reconciles::parse(&body))
            .unwrap_or_default()
    }

    fn cpu(&self) -> f64 {
        process_cpu(&self.pid)
    }

    fn memory(&self) -> (f64, f64) {
        (vm_mib(&self.pid, "VmHWM"), vm_mib(&self.pid, "VmRSS"))
    }

    /// SIGTERM, then waits (SIGKILL after 30 s).
    fn stop(self) {
        let _ = Command::new("kill").args(["-TERM", &self.pid]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.lock().unwrap().try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("the operator process did not stop within 30 s; killing it");
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        let child = self
            .child
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Ok(None) = child.try_wait() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------------

struct Runtimes {
    harness: Runtime,
    operator: Runtime,
    driver: Runtime,
    /// The fake Locust master.
    locust: Runtime,
}

fn runtime(name: &str, threads: usize) -> Runtime {
    let group = GROUPS.iter().position(|g| *g == name).unwrap_or(0);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name(name)
        .on_thread_start(move || GROUP.with(|g| g.set(group)))
        .enable_all()
        .build()
        .unwrap()
}

/// A fresh harness with the CRD and the bench namespace, a driver client, and the driver's
/// watches (aborted when dropped).
struct Env {
    server: ApiServer,
    client: Client,
    progress: Arc<Progress>,
    watches: Vec<tokio::task::JoinHandle<()>>,
}

impl Env {
    fn start(rts: &Runtimes) -> Self {
        let server = rts.harness.block_on(async {
            // Without a Job controller, as envtest: the bench writes pods and Job status itself
            // (`start_pods`), so its numbers count the operator's work only.
            let server = ApiServer::start_with(Options {
                job_controller: false,
                ..Options::default()
            })
            .await
            .unwrap();
            let crd =
                serde_json::to_value(locust_operator::crd::locust_test_crd().unwrap()).unwrap();
            server.install_crd(&crd).await;
            server
        });
        let client = {
            let _entered = rts.driver.enter();
            server.client().unwrap()
        };
        rts.driver.block_on(create_namespace(&client));
        let progress = Arc::new(Progress::default());
        let watches = track(&rts.driver, &client, &progress);
        Self {
            server,
            client,
            progress,
            watches,
        }
    }

    fn rv(&self) -> u64 {
        self.server.state.store.current_rv()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for watch in &self.watches {
            watch.abort();
        }
    }
}

/// Creates every test and waits until each has its children and `Ready=True`; prints the
/// times. Returns when the first create was sent.
fn burst(rts: &Runtimes, bench: &Bench, env: &Env, check: &dyn Fn()) -> Instant {
    let start = Instant::now();
    rts.driver
        .block_on(create_tests(&env.client, bench, &env.progress));
    let created = start.elapsed();
    wait_all("burst", bench, &env.progress, Seen::children_ready, check);
    println!(
        "  {} creates sent in {:.2} s ({:.0}/s)",
        bench.tests,
        created.as_secs_f64(),
        bench.tests as f64 / created.as_secs_f64()
    );
    print_latencies(
        "Service + 2 Jobs + Ready=True",
        start,
        &env.progress,
        Seen::children_ready,
    );
    start
}

/// Starts the pods of every test and waits until each test is Running with all workers
/// connected; prints the times.
fn pods(rts: &Runtimes, bench: &Bench, env: &Env, check: &dyn Fn()) {
    let start = Instant::now();
    rts.driver
        .block_on(start_pods(&env.client, bench, &env.progress));
    println!(
        "  {} pods written in {:.2} s",
        bench.tests * (1 + bench.worker_pods),
        start.elapsed().as_secs_f64()
    );
    wait_all("pods", bench, &env.progress, |s| s.running, check);
    print_latencies(
        "Running + WorkersConnected=True",
        start,
        &env.progress,
        |s| s.running,
    );
}

fn check_no_writes(what: &str, writes: u64, failures: &mut Vec<String>) {
    println!("  WRITES DURING RESYNC: {writes}");
    if writes > 0 {
        failures.push(format!(
            "{what}: the operator wrote {writes} time(s) although nothing changed"
        ));
    }
}

/// Part 1: the controller in this process, its requests counted.
fn in_process(rts: &Runtimes, bench: &Bench, failures: &mut Vec<String>) {
    println!("\n== in-process operator (counting client) ==");
    let env = Env::start(rts);
    let url = env.server.url();
    self_memory("at start (harness empty)");
    let master = FakeMaster::start(&rts.locust);
    let masters = MasterAddresses(Arc::new(AllAt(master.addr.to_string())));
    let quiet = || operator_settings(bench, &masters, QUIET_POLL_INTERVAL);

    let operator = InProcess::start(&rts.operator, &url, bench, quiet());
    let mut seen = operator.requests.snapshot();
    print_counts("start-up (until caches synced)", &seen, 1);
    let mut reconciles = operator.reconciles();

    println!("\n-- burst --");
    let cpu = thread_cpu();
    let start = burst(rts, bench, &env, &|| {});
    let (after, done) = operator.settle("burst", bench.timeout, 0.0);
    let now = operator.requests.snapshot();
    println!(
        "  last request or reconcile after {:.2} s; {}",
        (done - start).as_secs_f64(),
        after.describe_since(&reconciles)
    );
    println!("  CPU: {}", cpu_delta(&thread_cpu(), &cpu));
    print_counts("operator requests", &delta(&now, &seen), bench.tests);
    self_memory("after the burst");
    (seen, reconciles) = (now, after);

    if bench.worker_pods > 0 {
        println!(
            "\n-- pods: 1 master + {} workers per test --",
            bench.worker_pods
        );
        let cpu = thread_cpu();
        pods(rts, bench, &env, &|| {});
        let (after, _) = operator.settle("pods", bench.timeout, 0.0);
        let now = operator.requests.snapshot();
        println!("  {}", after.describe_since(&reconciles));
        println!("  CPU: {}", cpu_delta(&thread_cpu(), &cpu));
        print_counts("operator requests", &delta(&now, &seen), bench.tests);
        self_memory("after the pods");
    }
    operator.stop(&rts.operator);

    println!("\n-- restart resync (a new operator lists and reconciles everything) --");
    let cpu = thread_cpu();
    let start = Instant::now();
    let operator = InProcess::start(&rts.operator, &url, bench, quiet());
    let synced = start.elapsed();
    let (reconciles, done) = operator.settle("restart resync", bench.timeout, bench.tests as f64);
    let counts = operator.requests.snapshot();
    println!(
        "  caches synced in {:.2} s, all reconciled in {:.2} s; {}",
        synced.as_secs_f64(),
        (done - start).as_secs_f64(),
        reconciles.describe_since(&Reconciles::default())
    );
    println!("  CPU: {}", cpu_delta(&thread_cpu(), &cpu));
    print_counts(
        "operator requests (start-up included)",
        &counts,
        bench.tests,
    );
    check_no_writes("restart resync", total(&counts, true), failures);

    println!("\n-- label resync (a label added to every test) --");
    let cpu = thread_cpu();
    let start = Instant::now();
    rts.driver.block_on(touch_labels(&env.client, bench));
    let (after, done) = operator.settle(
        "label resync",
        bench.timeout,
        reconciles.total + bench.tests as f64,
    );
    let now = operator.requests.snapshot();
    println!(
        "  labels patched and all reconciled in {:.2} s; {}",
        (done - start).as_secs_f64(),
        after.describe_since(&reconciles)
    );
    println!("  CPU: {}", cpu_delta(&thread_cpu(), &cpu));
    let counts = delta(&now, &counts);
    print_counts("operator requests", &counts, bench.tests);
    check_no_writes("label resync", total(&counts, true), failures);
    self_memory("after the resyncs");
    operator.stop(&rts.operator);
    println!(
        "  the masters (answering 503 so far) were read {} times",
        master.refused.load(Ordering::Relaxed)
    );

    if !bench.poll_window.is_zero() {
        polled(rts, bench, &env, &url, &master, &masters, failures);
    }
}

/// Status patches (any answer) in `counts`.
fn status_patches(counts: &Counts) -> u64 {
    counts
        .get(&("PATCH".to_owned(), "locusttests/status".to_owned()))
        .map_or(0, |codes| codes.values().sum())
}

fn print_heap(label: &str) -> f64 {
    let operator = heap_mib("operator");
    println!(
        "  heap allocated and not freed, by thread: operator {operator:.1} MiB, harness {:.1} MiB, driver {:.1} MiB, fake master {:.1} MiB, other {:.1} MiB ({label})",
        heap_mib("harness"),
        heap_mib("driver"),
        heap_mib("locust"),
        heap_mib("other"),
    );
    operator
}

/// Part 1, last phase: a new operator reads every master each `bench.poll_interval`.
#[allow(clippy::too_many_arguments)]
fn polled(
    rts: &Runtimes,
    bench: &Bench,
    env: &Env,
    url: &str,
    master: &FakeMaster,
    masters: &MasterAddresses,
    failures: &mut Vec<String>,
) {
    let interval = bench.poll_interval.as_secs_f64();
    println!(
        "\n-- polled: a new operator reads every master each {interval} s; {} s per window --",
        bench.poll_window.as_secs()
    );
    master.set(Answering::Same);
    self_memory("before the polling operator");
    let heap_before = print_heap("no operator running");
    let cpu = thread_cpu();
    let start = Instant::now();
    let operator = InProcess::start(
        &rts.operator,
        url,
        bench,
        operator_settings(bench, masters, bench.poll_interval),
    );
    if bench.worker_pods == 0 {
        // The master must run for a test to be Running, and only Running tests are polled.
        rts.driver
            .block_on(start_pods(&env.client, bench, &env.progress));
        println!(
            "  {} master pods written (BENCH_WORKER_PODS=0: masters only) in {:.2} s",
            bench.tests,
            start.elapsed().as_secs_f64()
        );
    }
    wait_all(
        "polled: .status.stats",
        bench,
        &env.progress,
        |s| s.stats,
        &|| {},
    );
    // Until the status writes of the first reads are over.
    let deadline = Instant::now() + bench.timeout;
    let mut last = status_patches(&operator.requests.snapshot());
    let mut changed = Instant::now();
    while changed.elapsed() < QUIET {
        assert!(
            Instant::now() < deadline,
            "polled: status writes never stop"
        );
        std::thread::sleep(POLL);
        let now = status_patches(&operator.requests.snapshot());
        if now != last {
            (last, changed) = (now, Instant::now());
        }
    }
    println!(
        "  every test read and its .status.stats written after {:.2} s; {}",
        (changed - start).as_secs_f64(),
        operator.reconciles().describe_since(&Reconciles::default())
    );
    println!("  CPU: {}", cpu_delta(&thread_cpu(), &cpu));
    print_counts(
        "operator requests (start-up included)",
        &operator.requests.snapshot(),
        bench.tests,
    );
    self_memory("every test read once");
    print_heap("every test read once");

    let limit = 60.0 / interval + 1.0;
    let same = poll_window(bench, &operator, master, Answering::Same);
    if same > 0.1 {
        failures.push(format!(
            "polled, unchanged numbers: {same:.2} status writes per test per minute (at most 0.1)"
        ));
    }
    let changing = poll_window(bench, &operator, master, Answering::Changing);
    if changing > limit {
        failures.push(format!(
            "polled, numbers changing on every read: {changing:.2} status writes per test per minute, more than once per {interval} s interval allows ({limit:.2})"
        ));
    }
    let heap = print_heap("after both windows");
    println!(
        "  POLLED: status writes per running test per minute {changing:.2} (changing) / {same:.2} (unchanged), limit {limit:.2}; operator heap {:.1} MiB ({heap:.1} MiB, less the {heap_before:.1} MiB before it started)",
        heap - heap_before,
    );
    operator.stop(&rts.operator);
}

/// One window of the polled phase with the master `answering`; returns the status writes per
/// test per minute.
fn poll_window(
    bench: &Bench,
    operator: &InProcess,
    master: &FakeMaster,
    answering: Answering,
) -> f64 {
    println!("\n  window: the master answering {answering:?}");
    master.set(answering);
    let counts = operator.requests.snapshot();
    let reads = master.reads.load(Ordering::Relaxed);
    let reconciles = operator.reconciles();
    let cpu = thread_cpu();
    let from = Instant::now();
    std::thread::sleep(bench.poll_window);
    let to = Instant::now();
    let counts = delta(&operator.requests.snapshot(), &counts);
    let reads = master.reads.load(Ordering::Relaxed) - reads;
    let minutes = (to - from).as_secs_f64() / 60.0;
    let per_minute = |n: u64| n as f64 / bench.tests as f64 / minutes;
    let status = status_patches(&counts);
    let others = total(&counts, true) - status;
    println!(
        "  {:.1} s; {}; CPU: {}",
        (to - from).as_secs_f64(),
        operator.reconciles().describe_since(&reconciles),
        cpu_delta(&thread_cpu(), &cpu)
    );
    print_counts("operator requests", &counts, bench.tests);
    let patches = operator.requests.status_patches_in(from, to);
    let most = patches.values().map(Vec::len).max().unwrap_or(0);
    let written = patches.values().filter(|t| !t.is_empty()).count();
    let gaps: Vec<Duration> = patches
        .values()
        .flat_map(|times| times.windows(2).map(|w| w[1] - w[0]))
        .collect();
    let shortest = gaps.iter().min().copied();
    let mut sorted = gaps.clone();
    sorted.sort();
    println!(
        "  masters read {reads} times: {:.2} per test per minute",
        per_minute(reads)
    );
    println!(
        "  status patches of {written} tests, at most {most} for one test; gap between two of one test: shortest {}, median {}",
        shortest.map_or("-".to_owned(), |d| format!("{:.2} s", d.as_secs_f64())),
        if sorted.is_empty() {
            "-".to_owned()
        } else {
            format!("{:.2} s", percentile(&sorted, 50.0).as_secs_f64())
        }
    );
    println!(
        "  STATUS WRITES PER RUNNING TEST PER MINUTE ({answering:?}): {:.2}; other writes: {others}",
        per_minute(status)
    );
    self_memory(&format!("after the {answering:?} window"));
    per_minute(status)
}

/// Part 2: `locust-operator run` as its own process on a fresh harness.
fn separate_process(rts: &Runtimes, bench: &Bench, failures: &mut Vec<String>) {
    println!("\n== locust-operator run (separate process, fresh harness) ==");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("controller_bench");
    std::fs::create_dir_all(&dir).unwrap();
    let env = Env::start(rts);
    let url = env.server.url();
    let memory = |process: &OperatorProcess, cpu: f64| {
        let (hwm, rss) = process.memory();
        println!(
            "  operator process: CPU {:.1} s, VmHWM {hwm:.1} MiB, VmRSS {rss:.1} MiB",
            process.cpu() - cpu
        );
    };

    let process = OperatorProcess::start(&url, &dir, "operator-1.log", bench);
    println!("  ready (caches synced):");
    memory(&process, 0.0);
    let sample = || (process.reconciles(), env.rv());

    println!("\n-- burst --");
    let cpu = process.cpu();
    burst(rts, bench, &env, &|| process.check());
    let (reconciles, _) = settle("burst (process)", bench.timeout, sample, 0.0);
    println!("  {}", reconciles.describe_since(&Reconciles::default()));
    memory(&process, cpu);
    if bench.worker_pods > 0 {
        println!(
            "\n-- pods: 1 master + {} workers per test --",
            bench.worker_pods
        );
        let cpu = process.cpu();
        pods(rts, bench, &env, &|| process.check());
        let (after, _) = settle("pods (process)", bench.timeout, sample, 0.0);
        println!("  {}", after.describe_since(&reconciles));
        memory(&process, cpu);
    }
    process.stop();

    println!("\n-- restart resync (a second process) --");
    let rv = env.rv();
    let start = Instant::now();
    let process = OperatorProcess::start(&url, &dir, "operator-2.log", bench);
    let synced = start.elapsed();
    let sample = || (process.reconciles(), env.rv());
    let (reconciles, done) = settle(
        "restart resync (process)",
        bench.timeout,
        sample,
        bench.tests as f64,
    );
    println!(
        "  ready in {:.2} s, all reconciled in {:.2} s; {}",
        synced.as_secs_f64(),
        (done - start).as_secs_f64(),
        reconciles.describe_since(&Reconciles::default())
    );
    memory(&process, 0.0);
    let moved = env.rv() - rv;
    println!("  harness resourceVersion moved by {moved} (0: nothing was written)");
    if moved > 0 {
        failures.push(format!(
            "restart resync (process): the store changed {moved} time(s) although nothing changed"
        ));
    }

    println!("\n-- label resync (a label added to every test) --");
    let rv = env.rv();
    let cpu = process.cpu();
    let start = Instant::now();
    rts.driver.block_on(touch_labels(&env.client, bench));
    let (after, done) = settle(
        "label resync (process)",
        bench.timeout,
        sample,
        reconciles.total + bench.tests as f64,
    );
    println!(
        "  labels patched and all reconciled in {:.2} s; {}",
        (done - start).as_secs_f64(),
        after.describe_since(&reconciles)
    );
    memory(&process, cpu);
    let moved = env.rv() - rv;
    let extra = moved.saturating_sub(bench.tests as u64);
    println!(
        "  harness resourceVersion moved by {moved} for {} label patches ({extra} more: writes of the operator)",
        bench.tests
    );
    if extra > 0 {
        failures.push(format!(
            "label resync (process): the store changed {extra} time(s) more than the label patches"
        ));
    }
    process.stop();
    println!("  logs: {}", dir.display());
}

fn main() -> ExitCode {
    if std::env::var_os("RUST_LOG").is_some() {
        locust_operator::telemetry::init(locust_operator::telemetry::LogFormat::Text, "info");
    }
    let bench = Bench::from_env();
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    println!(
        "controller bench: {} LocustTests, {} creates in flight, {} reconciles at once, {}, {cpus} CPUs",
        bench.tests,
        bench.inflight,
        bench.max_concurrent,
        if bench.worker_pods > 0 {
            format!("1 master + {} worker pods per test", bench.worker_pods)
        } else {
            "no pods".to_owned()
        },
    );
    let rts = Runtimes {
        harness: runtime("harness", cpus),
        operator: runtime("operator", cpus),
        driver: runtime("driver", 1),
        locust: runtime("locust", 1),
    };
    let mut failures = Vec::new();
    in_process(&rts, &bench, &mut failures);
    if bench.process {
        separate_process(&rts, &bench, &mut failures);
    }
    if failures.is_empty() {
        println!("\nok: no writes on resync; status writes within the polling promise");
        ExitCode::SUCCESS
    } else {
        for failure in &failures {
            eprintln!("FAILED: {failure}");
        }
        ExitCode::FAILURE
    }
}
