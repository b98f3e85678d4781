//! One pod on the sandbox's node, from scheduling to its end, with its status written the way
//! a kubelet writes it: `PodScheduled` (or `Unschedulable`), waiting reasons
//! (`ContainerCreating`, `ErrImagePull` then `ImagePullBackOff`, `CreateContainerConfigError`,
//! `CrashLoopBackOff`), running and terminated containers with exit codes and reasons
//! (`Completed`, `Error`), and the phase.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Container, EnvVar, Pod, Secret};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::exporter;
use super::host::{Host, NODE_NAME};
use super::process::{Launch, Mounts, NodeEnv, Process};
use super::python::{Image, ImageError};

/// How long an image error shows `ErrImagePull` before `ImagePullBackOff`.
const PULL_BACKOFF: Duration = Duration::from_secs(5);
/// How often a pod waiting for something (room on the node, a ConfigMap) looks again.
const RETRY: Duration = Duration::from_secs(3);
/// Restart back-off of a sidecar that exits (doubles, up to 5 minutes, like the kubelet's).
const RESTART_BACKOFF: Duration = Duration::from_secs(10);
/// Longest grace period the sandbox waits for a process after SIGTERM.
const MAX_GRACE: Duration = Duration::from_secs(30);

/// The state of one container, as written into the pod status.
#[derive(Clone, Debug)]
enum State {
    Waiting(String, String),
    Running(String),
    Terminated {
        exit_code: i32,
        reason: String,
        started: String,
        finished: String,
    },
}

/// One container's status.
#[derive(Clone, Debug)]
struct Status {
    name: String,
    image: String,
    state: State,
    last: Option<State>,
    restarts: i32,
}

impl Status {
    fn new(container: &Container) -> Self {
        Self {
            name: container.name.clone(),
            image: container.image.clone().unwrap_or_default(),
            state: State::Waiting("PodInitializing".into(), String::new()),
            last: None,
            restarts: 0,
        }
    }

    fn to_json(&self) -> Value {
        let state = |state: &State| match state {
            State::Waiting(reason, message) if message.is_empty() => {
                json!({"waiting": {"reason": reason}})
            }
            State::Waiting(reason, message) => {
                json!({"waiting": {"reason": reason, "message": message}})
            }
            State::Running(started) => json!({"running": {"startedAt": started}}),
            State::Terminated {
                exit_code,
                reason,
                started,
                finished,
            } => json!({"terminated": {
                "exitCode": exit_code, "reason": reason,
                "startedAt": started, "finishedAt": finished,
            }}),
        };
        let running = matches!(self.state, State::Running(_));
        let mut value = json!({
            "name": self.name,
            "image": self.image,
            "imageID": "",
            "ready": running,
            "started": running,
            "restartCount": self.restarts,
            "state": state(&self.state),
        });
        if let Some(last) = &self.last {
            value["lastState"] = state(last);
        }
        value
    }
}

/// What is written of a pod, kept between writes.
struct Report {
    api: Api<Pod>,
    name: String,
    address: Ipv4Addr,
    start: String,
    scheduled: Option<(bool, String)>,
    init: Vec<Status>,
    main: Vec<Status>,
    phase: &'static str,
}

impl Report {
    async fn write(&self) {
        let mut conditions = Vec::new();
        let now = now();
        if let Some((ok, message)) = &self.scheduled {
            let mut condition = json!({"type": "PodScheduled", "status": if *ok {"True"} else {"False"}, "lastTransitionTime": now});
            if !ok {
                condition["reason"] = json!("Unschedulable");
                condition["message"] = json!(message);
            }
            conditions.push(condition);
        }
        let scheduled = self.scheduled.as_ref().is_some_and(|(ok, _)| *ok);
        if scheduled {
            let initialized = self.init.iter().all(|s| match &s.state {
                State::Terminated { exit_code, .. } => *exit_code == 0,
                State::Running(_) => true,
                State::Waiting(..) => false,
            });
            let ready = !self.main.is_empty()
                && self
                    .main
                    .iter()
                    .all(|s| matches!(s.state, State::Running(_)));
            let flag = |b: bool| if b { "True" } else { "False" };
            conditions.push(json!({"type": "Initialized", "status": flag(initialized), "lastTransitionTime": now}));
            conditions.push(json!({"type": "ContainersReady", "status": flag(ready), "lastTransitionTime": now}));
            conditions
                .push(json!({"type": "Ready", "status": flag(ready), "lastTransitionTime": now}));
        }
        let mut status = json!({"phase": self.phase, "conditions": conditions});
        if scheduled {
            status["hostIP"] = json!("127.0.0.1");
            status["podIP"] = json!(self.address.to_string());
            status["podIPs"] = json!([{"ip": self.address.to_string()}]);
            status["startTime"] = json!(self.start);
            if !self.init.is_empty() {
                status["initContainerStatuses"] =
                    Value::Array(self.init.iter().map(Status::to_json).collect());
            }
            status["containerStatuses"] =
                Value::Array(self.main.iter().map(Status::to_json).collect());
        }
        let patch = json!({"status": status});
        let params = PatchParams::default();
        if let Err(error) = self
            .api
            .patch_status(&self.name, &params, &Patch::Merge(&patch))
            .await
        {
            tracing::debug!(pod = %self.name, %error, "pod status not written");
        }
    }
}

fn now() -> String {
    let now = Timestamp::now();
    Timestamp::from_second(now.as_second())
        .unwrap_or(now)
        .to_string()
}

/// Runs `pod` until it ends or `cancel` (the pod was deleted, or the sandbox stops).
pub async fn run(node: Arc<Host>, pod: Pod, address: Ipv4Addr, cancel: CancellationToken) {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let spec = pod.spec.clone().unwrap_or_default();
    let mut report = Report {
        api: Api::namespaced(node.client.clone(), &namespace),
        name: name.clone(),
        address,
        start: now(),
        scheduled: None,
        init: spec
            .init_containers
            .iter()
            .flatten()
            .map(Status::new)
            .collect(),
        main: spec.containers.iter().map(Status::new).collect(),
        phase: "Pending",
    };

    // Scheduling: room for the pod's requests on this one node.
    loop {
        match node.reserve(&pod) {
            Ok(()) => break,
            Err(message) => {
                report.scheduled = Some((false, message));
                report.write().await;
                if sleep_or_cancel(RETRY, &cancel).await {
                    return;
                }
            }
        }
    }
    // Bound to this node (as the scheduler's binding does), so `kubectl logs` reads its logs.
    let binding = json!({"spec": {"nodeName": NODE_NAME}});
    if let Err(error) = report
        .api
        .patch(&name, &PatchParams::default(), &Patch::Merge(&binding))
        .await
    {
        tracing::debug!(pod = %name, %error, "pod not bound");
    }
    report.scheduled = Some((true, String::new()));
    for status in report.init.iter_mut().chain(report.main.iter_mut()) {
        status.state = State::Waiting("ContainerCreating".into(), String::new());
    }
    report.write().await;

    let dir = node.pod_dir(&namespace, &name, pod.metadata.uid.as_deref());
    let outcome = run_scheduled(&node, &pod, &dir, &mut report, &cancel).await;
    let grace = grace_of(&pod);
    let mut processes = outcome;
    for process in processes.iter_mut() {
        process.stop(grace).await;
    }
    node.release(&pod);
}

/// Runs what is left of a scheduled pod; returns the processes still to stop.
async fn run_scheduled(
    node: &Arc<Host>,
    pod: &Pod,
    dir: &Path,
    report: &mut Report,
    cancel: &CancellationToken,
) -> Vec<Process> {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let spec = pod.spec.clone().unwrap_or_default();
    let init_containers: Vec<Container> = spec.init_containers.clone().unwrap_or_default();
    let containers = spec.containers.clone();

    // Images: every container's, before anything starts (as the kubelet pulls them).
    let mut bins: BTreeMap<String, Option<PathBuf>> = BTreeMap::new();
    let mut first_failure = None;
    for container in init_containers.iter().chain(&containers) {
        let reference = container.image.clone().unwrap_or_default();
        let resolved = match Image::parse(&reference) {
            Ok(Image::Locust(version)) => node.pythons.locust(&version).await.map(Some),
            Ok(Image::Exporter) => Ok(None),
            Err(error) => Err(error),
        };
        match resolved {
            Ok(bin) => {
                bins.insert(container.name.clone(), bin);
            }
            Err(error) => {
                first_failure.get_or_insert(error);
            }
        }
    }
    if let Some(error) = first_failure {
        image_error(report, &bins, &error, cancel).await;
        return Vec::new();
    }

    // Volumes, then each container's environment (a missing ConfigMap or Secret it names).
    let mounts_of = loop {
        match volumes(node, pod, dir).await {
            Ok(mounts) => break mounts,
            Err(message) => {
                for status in report.init.iter_mut().chain(report.main.iter_mut()) {
                    status.state = State::Waiting("ContainerCreating".into(), message.clone());
                }
                report.write().await;
                if sleep_or_cancel(RETRY, cancel).await {
                    return Vec::new();
                }
            }
        }
    };
    let home = dir.join("home");
    let launch_of = |container: &Container, env: BTreeMap<String, String>| {
        let mounts = mounts_of(container);
        let node_env = NodeEnv {
            bin: bins.get(&container.name).cloned().flatten().as_deref(),
            pod: &name,
            namespace: &namespace,
            address: report.address,
            home: &home,
            site: node.pythons.site(),
            hosts: node.network.hosts_file(),
        }
        .variables();
        launch(container, &mounts, node_env, env, dir)
    };

    let mut processes: Vec<Process> = Vec::new();
    let mut sidecars = Vec::new();
    // What sidecars report of their restarts, applied to the status as it comes.
    let (updates, mut sidecar_updates) = tokio::sync::mpsc::unbounded_channel::<SidecarUpdate>();
    // Init containers in order; a sidecar (restartPolicy Always) keeps running beside the rest.
    for (i, container) in init_containers.iter().enumerate() {
        let env = loop {
            match environment(node, pod, container, report.address).await {
                Ok(env) => break env,
                Err(message) => {
                    report.init[i].state =
                        State::Waiting("CreateContainerConfigError".into(), message);
                    report.write().await;
                    if sleep_or_cancel(RETRY, cancel).await {
                        return processes;
                    }
                }
            }
        };
        let sidecar = container.restart_policy.as_deref() == Some("Always");
        if sidecar {
            sidecars.push(start_sidecar(
                container,
                &report.address,
                launch_of(container, env),
                Sidecar {
                    index: i,
                    pod: format!("{name}_{namespace}"),
                    updates: updates.clone(),
                },
                cancel.clone(),
            ));
            report.init[i].state = State::Running(now());
            report.write().await;
            continue;
        }
        let started = now();
        report.init[i].state = State::Running(started.clone());
        report.write().await;
        let code = match Process::start(&launch_of(container, env)) {
            Ok(mut process) => {
                tokio::select! {
                    code = process.wait() => code,
                    () = cancel.cancelled() => {
                        processes.push(process);
                        return processes;
                    }
                }
            }
            Err(error) => {
                tracing::warn!(pod = %name, container = %container.name, %error, "cannot start");
                128
            }
        };
        report.init[i].state = terminated(code, started);
        if code != 0 {
            report.phase = "Failed";
            report.write().await;
            stop_sidecars(sidecars).await;
            return processes;
        }
        report.write().await;
    }

    // The containers.
    let mut running = Vec::new();
    for (i, container) in containers.iter().enumerate() {
        let env = loop {
            match environment(node, pod, container, report.address).await {
                Ok(env) => break env,
                Err(message) => {
                    report.main[i].state =
                        State::Waiting("CreateContainerConfigError".into(), message);
                    report.write().await;
                    if sleep_or_cancel(RETRY, cancel).await {
                        return processes;
                    }
                }
            }
        };
        let started = now();
        match Process::start(&launch_of(container, env)) {
            Ok(process) => {
                report.main[i].state = State::Running(started.clone());
                running.push((i, process, started));
            }
            Err(error) => {
                report.main[i].state = State::Terminated {
                    exit_code: 128,
                    reason: "StartError".into(),
                    started: started.clone(),
                    finished: started,
                };
                tracing::warn!(pod = %name, container = %container.name, %error, "cannot start");
            }
        }
    }
    report.phase = "Running";
    report.write().await;

    // Until every container has exited.
    let mut failed = report
        .main
        .iter()
        .any(|s| matches!(s.state, State::Terminated { exit_code, .. } if exit_code != 0));
    // Each process waited for by a task of its own, which stops it (and reaps it) when the pod
    // is deleted.
    let grace = grace_of(pod);
    let mut waits = futures::stream::FuturesUnordered::new();
    for (i, mut process, started) in running {
        let deleted = cancel.clone();
        waits.push(tokio::spawn(async move {
            let code = tokio::select! {
                code = process.wait() => code,
                () = deleted.cancelled() => process.stop(grace).await,
            };
            (i, code, started)
        }));
    }
    use futures::StreamExt;
    loop {
        tokio::select! {
            Some(update) = sidecar_updates.recv() => {
                let status = &mut report.init[update.index];
                status.state = update.state;
                status.last = update.last;
                status.restarts = update.restarts;
                report.write().await;
            }
            next = waits.next() => {
                let Some(Ok((i, code, started))) = next else { break };
                failed |= code != 0;
                report.main[i].state = terminated(code, started);
                if waits.is_empty() {
                    break;
                }
                if !cancel.is_cancelled() {
                    report.write().await;
                }
            }
        }
    }
    stop_sidecars(sidecars).await;
    if cancel.is_cancelled() {
        // Deleted, or the sandbox stops: nobody reads this pod's status any more.
        return processes;
    }
    for status in &mut report.init {
        if let State::Running(started) = &status.state {
            status.state = terminated(0, started.clone());
        }
    }
    report.phase = if failed { "Failed" } else { "Succeeded" };
    report.write().await;
    processes
}

/// `ErrImagePull`, then `ImagePullBackOff`, on the containers whose image cannot run, until
/// the pod is deleted.
async fn image_error(
    report: &mut Report,
    good: &BTreeMap<String, Option<PathBuf>>,
    error: &ImageError,
    cancel: &CancellationToken,
) {
    let message = error.to_string();
    for reason in ["ErrImagePull", "ImagePullBackOff"] {
        for status in report.init.iter_mut().chain(report.main.iter_mut()) {
            if !good.contains_key(&status.name) {
                status.state = State::Waiting(reason.into(), message.clone());
            } else {
                status.state = State::Waiting("PodInitializing".into(), String::new());
            }
        }
        report.write().await;
        if sleep_or_cancel(PULL_BACKOFF, cancel).await {
            return;
        }
    }
    cancel.cancelled().await;
}

fn terminated(code: i32, started: String) -> State {
    State::Terminated {
        exit_code: code,
        reason: if code == 0 { "Completed" } else { "Error" }.into(),
        started,
        finished: now(),
    }
}

/// Sleeps `duration`; true when cancelled first.
async fn sleep_or_cancel(duration: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(duration) => false,
        () = cancel.cancelled() => true,
    }
}

/// A sidecar's restart, for the pod status.
struct SidecarUpdate {
    index: usize,
    state: State,
    last: Option<State>,
    restarts: i32,
}

/// Where a sidecar reports its restarts.
struct Sidecar {
    /// Its index among the init containers.
    index: usize,
    /// `<pod>_<namespace>`, for the kubelet's back-off message.
    pod: String,
    updates: tokio::sync::mpsc::UnboundedSender<SidecarUpdate>,
}

/// A sidecar: the operator's metrics exporter runs as the sandbox's equivalent; any other is a
/// process restarted with back-off when it exits (`CrashLoopBackOff` while it waits).
fn start_sidecar(
    container: &Container,
    address: &Ipv4Addr,
    launch: Launch,
    sidecar: Sidecar,
    cancel: CancellationToken,
) -> (CancellationToken, JoinHandle<()>) {
    let stop = cancel.child_token();
    let image = container.image.clone().unwrap_or_default();
    if matches!(Image::parse(&image), Ok(Image::Exporter)) {
        let env = |name: &str| {
            container
                .env
                .iter()
                .flatten()
                .find(|e| e.name == name)
                .and_then(|e| e.value.clone())
        };
        let port = env(crate::builders::ENV_EXPORTER_LISTEN_ADDRESS)
            .and_then(|a| a.rsplit(':').next().and_then(|p| p.parse::<u16>().ok()))
            .unwrap_or(9646);
        let web_port = env(crate::builders::ENV_EXPORTER_URI)
            .and_then(|u| {
                u.rsplit(':')
                    .next()
                    .and_then(|p| p.trim_end_matches('/').parse::<u16>().ok())
            })
            .unwrap_or(8089);
        let listen = SocketAddr::from((*address, port));
        let web = SocketAddr::from((*address, web_port));
        let stop_exporter = stop.clone();
        let task = tokio::spawn(async move {
            if let Err(error) = exporter::serve(listen, web, stop_exporter).await {
                tracing::warn!(%listen, %error, "metrics exporter cannot listen");
            }
        });
        return (stop, task);
    }
    let name = container.name.clone();
    let stop_process = stop.clone();
    let task = tokio::spawn(async move {
        let mut backoff = RESTART_BACKOFF;
        let mut restarts = 0;
        let mut last = None;
        loop {
            let started = now();
            if restarts > 0 {
                let _ = sidecar.updates.send(SidecarUpdate {
                    index: sidecar.index,
                    state: State::Running(started.clone()),
                    last: last.clone(),
                    restarts,
                });
            }
            let code = match Process::start(&launch) {
                Ok(mut process) => {
                    tokio::select! {
                        code = process.wait() => code,
                        () = stop_process.cancelled() => {
                            process.stop(MAX_GRACE).await;
                            return;
                        }
                    }
                }
                Err(_) => 128,
            };
            tracing::debug!(container = %name, code, "sidecar exited; restarting after back-off");
            last = Some(terminated(code, started));
            restarts += 1;
            let _ = sidecar.updates.send(SidecarUpdate {
                index: sidecar.index,
                state: State::Waiting(
                    "CrashLoopBackOff".into(),
                    format!(
                        "back-off {} restarting failed container={name} pod={}",
                        humantime::format_duration(backoff),
                        sidecar.pod
                    ),
                ),
                last: last.clone(),
                restarts,
            });
            if sleep_or_cancel(backoff, &stop_process).await {
                return;
            }
            backoff = (backoff * 2).min(Duration::from_secs(300));
        }
    });
    (stop, task)
}

/// Stops the sidecars and waits until their processes are gone.
async fn stop_sidecars(sidecars: Vec<(CancellationToken, JoinHandle<()>)>) {
    for (stop, _) in &sidecars {
        stop.cancel();
    }
    for (_, task) in sidecars {
        let _ = task.await;
    }
}

/// The pod's termination grace period, at most [`MAX_GRACE`].
fn grace_of(pod: &Pod) -> Duration {
    pod.spec
        .as_ref()
        .and_then(|s| s.termination_grace_period_seconds)
        .and_then(|s| u64::try_from(s).ok())
        .map_or(MAX_GRACE, |s| Duration::from_secs(s).min(MAX_GRACE))
}

/// The process of `container`.
fn launch(
    container: &Container,
    mounts: &Mounts,
    mut env: BTreeMap<String, String>,
    own: BTreeMap<String, String>,
    dir: &Path,
) -> Launch {
    // The container's own values may name mounted paths; the node's are this machine's.
    env.extend(own.into_iter().map(|(k, v)| {
        let v = mounts.rewrite(&v);
        (k, v)
    }));
    // The image's entrypoint: locustio/locust runs `locust`.
    let mut argv: Vec<String> = match &container.command {
        Some(command) if !command.is_empty() => command.clone(),
        _ => vec!["locust".to_owned()],
    };
    argv.extend(container.args.iter().flatten().cloned());
    let argv: Vec<String> = argv
        .iter()
        .map(|a| mounts.rewrite(&expand(a, &env)))
        .collect();
    let cwd = container
        .working_dir
        .as_deref()
        .map(|w| PathBuf::from(mounts.rewrite(w)))
        .filter(|w| w.is_absolute() && w.starts_with(dir))
        .unwrap_or_else(|| dir.join("fs"));
    Launch {
        program: argv.first().cloned().unwrap_or_default(),
        args: argv.into_iter().skip(1).collect(),
        env,
        cwd,
        log: dir.join("logs").join(format!("{}.log", container.name)),
    }
}

/// `$(VAR)` references in an argument, as the kubelet expands them.
fn expand(arg: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = arg;
    while let Some(start) = rest.find("$(") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find(')') {
            Some(end) if env.contains_key(&after[..end]) => {
                out.push_str(&env[&after[..end]]);
                rest = &after[end + 1..];
            }
            _ => {
                out.push_str("$(");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The pod's volumes written under `dir`, as a function giving each container its mounts; or
/// why a volume cannot be made yet (a ConfigMap or Secret that does not exist).
async fn volumes(
    node: &Host,
    pod: &Pod,
    dir: &Path,
) -> Result<impl Fn(&Container) -> Mounts + use<>, String> {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let spec = pod.spec.clone().unwrap_or_default();
    let mut locals: BTreeMap<String, PathBuf> = BTreeMap::new();
    for volume in spec.volumes.iter().flatten() {
        let local = dir.join("volumes").join(&volume.name);
        // (kind, object name, optional, items, its files when it exists)
        let source = if let Some(source) = &volume.config_map {
            let api: Api<ConfigMap> = Api::namespaced(node.client.clone(), &namespace);
            let found = api.get_opt(&source.name).await.map_err(|e| e.to_string())?;
            let files = found.map(|map| {
                let mut files: BTreeMap<String, Vec<u8>> = map
                    .data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.into_bytes()))
                    .collect();
                files.extend(
                    map.binary_data
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(k, v)| (k, v.0)),
                );
                files
            });
            Some((
                "configmap",
                source.name.clone(),
                source.optional,
                source.items.clone(),
                files,
            ))
        } else if let Some(source) = &volume.secret {
            let name = source.secret_name.clone().unwrap_or_default();
            let api: Api<Secret> = Api::namespaced(node.client.clone(), &namespace);
            let found = api.get_opt(&name).await.map_err(|e| e.to_string())?;
            let files = found.map(|secret| {
                let mut files: BTreeMap<String, Vec<u8>> = secret
                    .data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.0))
                    .collect();
                files.extend(
                    secret
                        .string_data
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(k, v)| (k, v.into_bytes())),
                );
                files
            });
            Some(("secret", name, source.optional, source.items.clone(), files))
        } else {
            None
        };
        let files = match source {
            None => BTreeMap::new(),
            Some((_, _, _, items, Some(files))) => select(
                files,
                items.map(|items| items.into_iter().map(|i| (i.key, i.path)).collect()),
            ),
            Some((_, _, Some(true), _, None)) => BTreeMap::new(),
            Some((kind, object, _, _, None)) => {
                return Err(format!(
                    "MountVolume.SetUp failed for volume \"{}\" : {kind} \"{object}\" not found",
                    volume.name
                ));
            }
        };
        std::fs::create_dir_all(&local).map_err(|e| e.to_string())?;
        for (path, content) in files {
            let file = local.join(&path);
            if !file.starts_with(&local) || path.contains("..") {
                continue;
            }
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
            }
            std::fs::write(&file, content).map_err(|e| e.to_string())?;
        }
        locals.insert(volume.name.clone(), local);
    }
    let fs = dir.join("fs");
    Ok(move |container: &Container| {
        let mut pairs = Vec::new();
        for mount in container.volume_mounts.iter().flatten() {
            let Some(local) = locals.get(&mount.name) else {
                continue;
            };
            let local = match mount.sub_path.as_deref().filter(|s| !s.is_empty()) {
                Some(sub) => local.join(sub),
                None => local.clone(),
            };
            pairs.push((mount.mount_path.clone(), local));
        }
        let mounts = Mounts::new(pairs);
        let _ = std::fs::create_dir_all(&fs);
        mounts
    })
}

/// `files` with only `items` (key → path) when given.
fn select(
    files: BTreeMap<String, Vec<u8>>,
    items: Option<Vec<(String, String)>>,
) -> BTreeMap<String, Vec<u8>> {
    match items {
        None => files,
        Some(items) => items
            .into_iter()
            .filter_map(|(key, path)| files.get(&key).map(|c| (path, c.clone())))
            .collect(),
    }
}

/// The container's own environment (`envFrom`, then `env`), or the kubelet's
/// `CreateContainerConfigError` message for what it references and does not exist.
async fn environment(
    node: &Host,
    pod: &Pod,
    container: &Container,
    address: Ipv4Addr,
) -> Result<BTreeMap<String, String>, String> {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let config_maps: Api<ConfigMap> = Api::namespaced(node.client.clone(), &namespace);
    let secrets: Api<Secret> = Api::namespaced(node.client.clone(), &namespace);
    let config_map = |name: String| {
        let api = config_maps.clone();
        async move { api.get_opt(&name).await.map_err(|e| e.to_string()) }
    };
    let secret = |name: String| {
        let api = secrets.clone();
        async move { api.get_opt(&name).await.map_err(|e| e.to_string()) }
    };
    let mut env = BTreeMap::new();
    for source in container.env_from.iter().flatten() {
        let prefix = source.prefix.clone().unwrap_or_default();
        if let Some(reference) = &source.config_map_ref {
            match config_map(reference.name.clone()).await? {
                Some(map) => {
                    for (k, v) in map.data.unwrap_or_default() {
                        env.insert(format!("{prefix}{k}"), v);
                    }
                }
                None if reference.optional == Some(true) => {}
                None => return Err(format!("configmap \"{}\" not found", reference.name)),
            }
        }
        if let Some(reference) = &source.secret_ref {
            match secret(reference.name.clone()).await? {
                Some(found) => {
                    for (k, v) in found.data.unwrap_or_default() {
                        env.insert(
                            format!("{prefix}{k}"),
                            String::from_utf8_lossy(&v.0).into_owned(),
                        );
                    }
                }
                None if reference.optional == Some(true) => {}
                None => return Err(format!("secret \"{}\" not found", reference.name)),
            }
        }
    }
    for var in container.env.iter().flatten() {
        if let Some(value) = value_of(var, pod, address, &config_map, &secret).await? {
            env.insert(var.name.clone(), value);
        }
    }
    Ok(env)
}

async fn value_of<C, CF, S, SF>(
    var: &EnvVar,
    pod: &Pod,
    address: Ipv4Addr,
    config_map: &C,
    secret: &S,
) -> Result<Option<String>, String>
where
    C: Fn(String) -> CF,
    CF: std::future::Future<Output = Result<Option<ConfigMap>, String>>,
    S: Fn(String) -> SF,
    SF: std::future::Future<Output = Result<Option<Secret>, String>>,
{
    let Some(from) = &var.value_from else {
        return Ok(Some(var.value.clone().unwrap_or_default()));
    };
    if let Some(key) = &from.config_map_key_ref {
        return match config_map(key.name.clone()).await? {
            Some(map) => match map.data.unwrap_or_default().remove(&key.key) {
                Some(value) => Ok(Some(value)),
                None if key.optional == Some(true) => Ok(None),
                None => Err(format!(
                    "couldn't find key {} in ConfigMap {}/{}",
                    key.key,
                    pod.metadata.namespace.as_deref().unwrap_or_default(),
                    key.name
                )),
            },
            None if key.optional == Some(true) => Ok(None),
            None => Err(format!("configmap \"{}\" not found", key.name)),
        };
    }
    if let Some(key) = &from.secret_key_ref {
        return match secret(key.name.clone()).await? {
            Some(found) => match found.data.unwrap_or_default().remove(&key.key) {
                Some(value) => Ok(Some(String::from_utf8_lossy(&value.0).into_owned())),
                None if key.optional == Some(true) => Ok(None),
                None => Err(format!(
                    "couldn't find key {} in Secret {}/{}",
                    key.key,
                    pod.metadata.namespace.as_deref().unwrap_or_default(),
                    key.name
                )),
            },
            None if key.optional == Some(true) => Ok(None),
            None => Err(format!("secret \"{}\" not found", key.name)),
        };
    }
    if let Some(field) = &from.field_ref {
        let value = match field.field_path.as_str() {
            "metadata.name" => pod.metadata.name.clone(),
            "metadata.namespace" => pod.metadata.namespace.clone(),
            "metadata.uid" => pod.metadata.uid.clone(),
            "status.podIP" | "status.hostIP" => Some(address.to_string()),
            "spec.nodeName" => Some(NODE_NAME.to_owned()),
            _ => None,
        };
        return Ok(value);
    }
    Ok(None)
}
