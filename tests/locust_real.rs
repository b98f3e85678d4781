//! Runs the master and worker command lines the operator generates (`builders::args`) with a
//! real Locust 2.x from PyPI, on 127.0.0.1: one master and two workers as child processes,
//! a tiny locustfile, and a tiny HTTP server in this process as the target.
//!
//! Only two things differ from what the pods would run: the worker's `--master-host=<name>-master`
//! becomes `--master-host=127.0.0.1`, and the locustfile path (the ConfigMap mount in a pod)
//! becomes a file in a temp dir. Everything else (flags, order, values) is exactly the output
//! of `master_args` / `worker_args`, so this proves Locust accepts our command lines and that
//! they do what the operator relies on: the master waits for `--expect-workers`, starts on its
//! own (`--autostart`, no `POST /swarm`), stops after `--run-time` and exits 0 on its own
//! (`--autoquit`), and the workers exit with it.
//!
//! Locust comes from `LOCUST_BIN` (set by `.ci/test`, which installs the pinned version from
//! `.ci/requirements-test.txt` into `.venv/`), else `.venv/bin/locust`. Without either the test
//! fails: it never passes silently. It needs ports 5557, 5558 and 8089 free (the master binds
//! them on all interfaces, as in a pod) and takes about 17 s.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use locust_operator::api::v2::{AutoquitSpec, LocustTest, LocustTestSpec, MasterSpec, WorkerSpec};
use locust_operator::builders::args::{
    MASTER_BIND_PORT, MASTER_PORT, WEB_UI_PORT, master_args, worker_args,
};
use locust_operator::defaulting::Defaulted;
use serde_json::Value;

/// The LocustTest's name: the workers' generated `--master-host` is `<name>-master`.
const TEST_NAME: &str = "real-test";
/// Where the locustfile would be in a pod (the default `srcMountPath`); replaced by a temp file.
const LOCUSTFILE_PLACEHOLDER: &str = "/lotest/src/locustfile.py";
/// `worker.replicas`, and so `--expect-workers`.
const WORKERS: i32 = 2;
/// `--users` (and `--spawn-rate`: all start within a second).
const USERS: i32 = 4;
/// `--run-time`, in seconds.
const RUN_TIME_S: u64 = 6;
/// `master.autoquit.timeout`, in seconds. The API shows `stopped` for about autoquit + 1 s;
/// 5 s leaves room for its 2 s cache.
const AUTOQUIT_S: i32 = 5;

/// The test: generate, substitute, run, and watch the master's web API and the processes.
#[test]
fn generated_command_lines_run_a_distributed_test_with_real_locust() {
    let locust = locust_bin();
    assert_locust_2x(&locust);
    for port in [MASTER_PORT, MASTER_BIND_PORT, WEB_UI_PORT] {
        assert_port_free(port);
    }

    let target = TargetServer::start();
    let work = WorkDir::new();
    let locustfile = work.path().join("locustfile.py");
    std::fs::write(&locustfile, LOCUSTFILE).expect("write the locustfile");
    let locustfile = locustfile.to_str().expect("UTF-8 temp path").to_owned();

    // What the operator would put in the master's and the workers' container `args`.
    let spec = spec(target.port);
    let test = Defaulted::new(LocustTest::new(TEST_NAME, spec));
    let generated_master = master_args(&test);
    let generated_worker = worker_args(&test);
    // The flags whose behaviour this test checks must be there (with the spec's values).
    for flag in [
        "--master",
        "--expect-workers=2",
        "--autostart",
        "--autoquit",
        "--only-summary",
    ] {
        assert!(
            generated_master.iter().any(|a| a == flag),
            "{flag} missing from {generated_master:?}"
        );
    }
    let master_cmd = substitute(&generated_master, LOCUSTFILE_PLACEHOLDER, &locustfile);
    let worker_cmd = substitute(
        &substitute(&generated_worker, LOCUSTFILE_PLACEHOLDER, &locustfile),
        &format!("--master-host={TEST_NAME}-master"),
        "--master-host=127.0.0.1",
    );
    eprintln!("master: locust {}", master_cmd.join(" "));
    eprintln!("worker: locust {}", worker_cmd.join(" "));

    let mut procs = Processes::new(work.path());
    let started = Instant::now();
    let master = procs.spawn("master", &locust, &master_cmd);

    // 1. The master's web API comes up and waits for the workers: Locust shows this as state
    //    `ready` with fewer workers than expected (there is no "waiting" state).
    let stats = poll(
        &mut procs,
        "the master's web API to answer",
        Duration::from_secs(60),
        |s| Some(s.clone()),
    );
    assert_eq!(stats["state"], "ready", "before any worker: {stats}");
    assert_eq!(stats["worker_count"], 0, "before any worker: {stats}");

    let workers: Vec<usize> = (1..=WORKERS)
        .map(|i| procs.spawn(&format!("worker{i}"), &locust, &worker_cmd))
        .collect();

    // 2. Both workers connect (`worker_count` counts workers that are ready/spawning/running;
    //    `workers[]` lists every known worker).
    let stats = poll(
        &mut procs,
        "2 connected workers",
        Duration::from_secs(60),
        |s| (s["worker_count"] == WORKERS).then(|| s.clone()),
    );
    assert_eq!(
        stats["workers"].as_array().map(Vec::len),
        Some(2),
        "workers[] with 2 connected: {stats}"
    );

    // 3. The run starts by itself (`--autostart`; this test never POSTs /swarm) and reaches
    //    `running` with all users spawned across the 2 workers.
    let stats = poll(&mut procs, "state running", Duration::from_secs(30), |s| {
        (s["state"] == "running" && s["user_count"] == USERS).then(|| s.clone())
    });
    let running_seen = Instant::now();
    assert_eq!(stats["worker_count"], WORKERS, "running: {stats}");
    eprintln!(
        "running at {:.1} s (times since the master was spawned)",
        started.elapsed().as_secs_f64()
    );

    // 4. The target receives the load.
    wait_for(
        &mut procs,
        "requests at the local HTTP server",
        Duration::from_secs(30),
        || target.requests() > 0,
    );

    // 5. After `--run-time` the master stops the run (state `stopped`, workers back to `ready`)
    //    and keeps serving the API until autoquit fires. The API is cached for 2 s and the
    //    first `stopped` answer may lack the last worker report, so the final numbers are read
    //    from the last answer seen before the UI closes.
    let stopped = poll(
        &mut procs,
        "state stopped",
        Duration::from_secs(RUN_TIME_S + 30),
        |s| (s["state"] == "stopped").then(|| s.clone()),
    );
    eprintln!("stopped at {:.1} s", started.elapsed().as_secs_f64());
    assert_eq!(stopped["user_count"], 0, "stopped: {stopped}");
    assert_eq!(stopped["worker_count"], WORKERS, "stopped: {stopped}");
    let mut last = stopped;
    let deadline = Instant::now() + Duration::from_secs(AUTOQUIT_S as u64 + 30);
    while let Ok(stats) = master_stats() {
        last = stats;
        if procs.exited(master) || Instant::now() > deadline {
            break; // step 6 reports a master that does not quit
        }
        thread::sleep(Duration::from_millis(500));
    }
    let aggregated = last["stats"]
        .as_array()
        .and_then(|rows| rows.last())
        .expect("stats[] ends with the Aggregated row");
    assert_eq!(aggregated["name"], "Aggregated", "{last}");
    let num_requests = aggregated["num_requests"].as_f64().unwrap_or(0.0);
    assert!(num_requests > 0.0, "no requests in the final stats: {last}");
    assert_eq!(aggregated["num_failures"], 0, "failures: {last}");
    assert_eq!(last["errors"], Value::Array(vec![]), "errors: {last}");
    // Every request Locust counted reached the server; a few more may have been in flight.
    assert!(
        target.requests() as f64 >= num_requests,
        "server saw {} requests, Locust reports {num_requests}",
        target.requests()
    );

    // 6. Autoquit ends the master on its own, with status 0 (no failures, no usage error).
    //    Measured: end of run time -> exit = autoquit + ~2.6 s.
    let status = procs.wait(master, Duration::from_secs(AUTOQUIT_S as u64 + 30));
    let master_log = procs.log(master);
    eprintln!(
        "master exited ({status}) at {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(status.code(), Some(0), "master exit status {status}");
    assert!(
        running_seen.elapsed() >= Duration::from_secs(RUN_TIME_S),
        "the master exited {:.1} s after the run was seen running, before --run-time {RUN_TIME_S}s",
        running_seen.elapsed().as_secs_f64()
    );
    for line in [
        &format!("Run time limit set to {RUN_TIME_S} seconds"),
        "--run-time limit reached, stopping test",
        "--autoquit time reached, shutting down",
        "Shutting down (exit code 0)",
    ] {
        assert!(
            master_log.contains(line),
            "master log lacks {line:?}:\n{master_log}"
        );
    }

    // 7. The workers get `quit` from the master at autoquit and exit 0 about 0.1 s later.
    for &worker in &workers {
        let status = procs.wait(worker, Duration::from_secs(15));
        let log = procs.log(worker);
        eprintln!("{} exited ({status})", procs.name(worker));
        assert_eq!(
            status.code(),
            Some(0),
            "{} exit status {status}",
            procs.name(worker)
        );
        assert!(
            log.contains("Got quit message from master, shutting down"),
            "{} log:\n{log}",
            procs.name(worker)
        );
    }

    // 8. No argparse complaint anywhere (that would be exit 2 with `error: ...`).
    for i in std::iter::once(master).chain(workers.iter().copied()) {
        let log = procs.log(i);
        assert!(
            !log.contains("unrecognized arguments") && !log.contains("error: argument"),
            "{} rejected its arguments:\n{log}",
            procs.name(i)
        );
    }
    eprintln!(
        "done in {:.1} s; the target served {} requests",
        started.elapsed().as_secs_f64(),
        target.requests()
    );
}

/// The locustfile: one user class, one task, a GET of `/`.
const LOCUSTFILE: &str = r#"from locust import HttpUser, constant, task


class RootUser(HttpUser):
    wait_time = constant(0.1)

    @task
    def root(self):
        self.client.get("/")
"#;

/// A v2 spec as a user would write it (defaults left out: autostart, image pull policy, ...).
fn spec(target_port: u16) -> LocustTestSpec {
    LocustTestSpec {
        image: "locustio/locust:2.43.3".into(),
        master: MasterSpec {
            command: format!(
                "--locustfile {LOCUSTFILE_PLACEHOLDER} --host http://127.0.0.1:{target_port} \
                 --users {USERS} --spawn-rate {USERS} --run-time {RUN_TIME_S}s"
            ),
            autoquit: Some(AutoquitSpec {
                enabled: true,
                timeout: Some(AUTOQUIT_S),
            }),
            ..MasterSpec::default()
        },
        worker: WorkerSpec {
            command: format!("--locustfile {LOCUSTFILE_PLACEHOLDER}"),
            replicas: WORKERS,
            ..WorkerSpec::default()
        },
        ..LocustTestSpec::default()
    }
}

/// `args` with the one element equal to `from` replaced by `to` (exactly one must match).
fn substitute(args: &[String], from: &str, to: &str) -> Vec<String> {
    let matches = args.iter().filter(|a| *a == from).count();
    assert_eq!(matches, 1, "expected {from:?} exactly once in {args:?}");
    args.iter()
        .map(|a| if a == from { to.to_owned() } else { a.clone() })
        .collect()
}

/// The Locust executable: `LOCUST_BIN`, else the `.venv` that `.ci/test` creates.
fn locust_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("LOCUST_BIN") {
        let bin = PathBuf::from(bin);
        assert!(
            bin.is_file(),
            "LOCUST_BIN={} does not exist; run .ci/test, which installs Locust into .venv/",
            bin.display()
        );
        return bin;
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/locust");
    assert!(
        venv.is_file(),
        "Locust is not installed: LOCUST_BIN is not set and {} does not exist. \
         Run the tests with .ci/test, which installs the pinned Locust into .venv/",
        venv.display()
    );
    venv
}

/// Fails unless `locust --version` reports a 2.x version.
fn assert_locust_2x(locust: &Path) {
    let out = Command::new(locust)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", locust.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.starts_with("locust 2."),
        "{} --version: {}\n{stdout}{}",
        locust.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Fails with a message naming the port when something already listens on it. The master
/// binds on all interfaces, so that is what is checked.
fn assert_port_free(port: i32) {
    let port = u16::try_from(port).expect("port fits u16");
    if let Err(e) = TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)) {
        panic!("port {port} is busy ({e}); the Locust master needs ports 5557, 5558 and 8089");
    }
}

/// A temp dir for the locustfile and the process logs; removed on success, kept (and named)
/// when the test fails.
struct WorkDir(PathBuf);

impl WorkDir {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!("locust-real-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).expect("create the temp dir");
        Self(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("kept {} (locustfile and logs)", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// The target: an HTTP/1.1 server on 127.0.0.1 (ephemeral port) that answers `200 ok` to every
/// request, with keep-alive, and counts requests. Its threads live until the test process ends.
struct TargetServer {
    port: u16,
    requests: Arc<AtomicU64>,
}

impl TargetServer {
    fn start() -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind the target");
        let port = listener.local_addr().expect("target address").port();
        let requests = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&requests);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let counter = Arc::clone(&counter);
                thread::spawn(move || {
                    let _ = serve_connection(stream, &counter);
                });
            }
        });
        Self { port, requests }
    }

    fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

/// Answers every request on one connection until the client closes it.
fn serve_connection(stream: TcpStream, requests: &AtomicU64) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(()); // the client closed the connection
        }
        // Headers up to the blank line; a body (none for GET) is skipped by its length.
        let mut body_len = 0usize;
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                body_len = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; body_len];
        reader.read_exact(&mut body)?;
        requests.fetch_add(1, Ordering::Relaxed);
        writer.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok",
        )?;
    }
}

/// `GET /stats/requests` of the master's web API, or why not: it does not answer before it
/// starts, nor from the moment autoquit fires.
fn master_stats() -> Result<Value, String> {
    let port = u16::try_from(WEB_UI_PORT).expect("port fits u16");
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let get = || -> std::io::Result<Vec<u8>> {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.set_write_timeout(Some(Duration::from_secs(5)))?;
        // HTTP/1.0: the server answers with a plain body and closes the connection.
        stream.write_all(b"GET /stats/requests HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response)?;
        Ok(response)
    };
    let response = get().map_err(|e| format!("GET {addr}/stats/requests: {e}"))?;
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("truncated response: {response:?}"))?;
    let status_line = head.lines().next().unwrap_or_default();
    if status_line.split_whitespace().nth(1) != Some("200") {
        return Err(format!("{status_line}\n{body}"));
    }
    serde_json::from_str(body).map_err(|e| format!("stats JSON: {e}\n{body}"))
}

/// Polls the master's stats every 500 ms until `check` returns `Some`, failing after `timeout`
/// or as soon as any Locust process has exited.
fn poll<T>(
    procs: &mut Processes,
    what: &str,
    timeout: Duration,
    mut check: impl FnMut(&Value) -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        procs.assert_all_running(what);
        let last = match master_stats() {
            Ok(stats) => match check(&stats) {
                Some(found) => return found,
                None => stats.to_string(),
            },
            Err(e) => e,
        };
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}; last answer: {last}"
        );
        thread::sleep(Duration::from_millis(500));
    }
}

/// Waits until `done` holds, failing after `timeout` or if any Locust process has exited.
fn wait_for(procs: &mut Processes, what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        procs.assert_all_running(what);
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        thread::sleep(Duration::from_millis(200));
    }
}

/// One Locust process and where its output goes.
struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
    status: Option<ExitStatus>,
}

/// The Locust processes of the test. On drop (end of test or panic) every one still running is
/// killed and reaped, and on panic the end of every log is printed.
struct Processes {
    dir: PathBuf,
    procs: Vec<Proc>,
}

impl Processes {
    fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            procs: Vec::new(),
        }
    }

    /// Starts `locust <args>` with stdout and stderr into `<dir>/<name>.log`; returns its index.
    fn spawn(&mut self, name: &str, locust: &Path, args: &[String]) -> usize {
        let log = self.dir.join(format!("{name}.log"));
        let out = File::create(&log).expect("create the log file");
        let err = out.try_clone().expect("clone the log file");
        let child = Command::new(locust)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name} ({}): {e}", locust.display()));
        self.procs.push(Proc {
            name: name.to_owned(),
            child,
            log,
            status: None,
        });
        self.procs.len() - 1
    }

    fn name(&self, i: usize) -> &str {
        &self.procs[i].name
    }

    fn log(&self, i: usize) -> String {
        std::fs::read_to_string(&self.procs[i].log).unwrap_or_default()
    }

    /// Whether process `i` has exited (recording its status).
    fn exited(&mut self, i: usize) -> bool {
        let proc = &mut self.procs[i];
        if proc.status.is_none() {
            proc.status = proc.child.try_wait().expect("try_wait");
        }
        proc.status.is_some()
    }

    /// Fails, naming the process and its status, if any process has exited.
    fn assert_all_running(&mut self, waiting_for: &str) {
        for i in 0..self.procs.len() {
            if self.exited(i) {
                let proc = &self.procs[i];
                panic!(
                    "{} exited ({}) while waiting for {waiting_for}:\n{}",
                    proc.name,
                    proc.status.expect("exited"),
                    self.log(i)
                );
            }
        }
    }

    /// Waits for process `i` to exit, failing after `timeout`.
    fn wait(&mut self, i: usize, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        while !self.exited(i) {
            assert!(
                Instant::now() < deadline,
                "{} still running {timeout:?} later",
                self.procs[i].name
            );
            thread::sleep(Duration::from_millis(100));
        }
        self.procs[i].status.expect("exited")
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        for proc in &mut self.procs {
            if proc.status.is_none() && matches!(proc.child.try_wait(), Ok(None)) {
                let _ = proc.child.kill();
                let _ = proc.child.wait();
            }
        }
        if thread::panicking() {
            for proc in &self.procs {
                let log = std::fs::read_to_string(&proc.log).unwrap_or_default();
                let lines: Vec<&str> = log.lines().collect();
                let tail = &lines[lines.len().saturating_sub(40)..];
                eprintln!("--- {} ({}), last lines:", proc.name, proc.log.display());
                for line in tail {
                    eprintln!("{line}");
                }
            }
        }
    }
}
