//! `sandbox FILE...`: applies the manifests as `kubectl apply` would (through admission),
//! follows every LocustTest in them with a row per change, as `kubectl get locusttest -w`
//! prints it plus the condition that changed, and gives the verdict.

use std::collections::BTreeMap;
use std::io::Write;

use futures::StreamExt;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::core::{DynamicObject, GroupVersionKind};
use kube::discovery::ApiResource;
use kube::runtime::watcher;
use kube::{Api, Client};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::host::Host;

/// Field manager of what the sandbox applies.
pub const FIELD_MANAGER: &str = "locust-operator-sandbox";

/// Why the manifests could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Not YAML.
    #[error("{file}: {message}")]
    Parse {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// A kind the sandbox does not serve.
    #[error(
        "{file}: {api_version} {kind} is not served by the sandbox (it serves LocustTest, ConfigMap, Secret, Service, Pod and Namespace)"
    )]
    Kind {
        /// The file.
        file: String,
        /// The object's apiVersion.
        api_version: String,
        /// The object's kind.
        kind: String,
    },
    /// The API server refused it (an admission denial, with its field paths).
    #[error("{file}: {kind}/{name}: {message}")]
    Refused {
        /// The file.
        file: String,
        /// The kind.
        kind: String,
        /// The name.
        name: String,
        /// The API server's message.
        message: String,
    },
}

/// A LocustTest applied.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TestRef {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

/// The kinds the sandbox serves to `apply`.
fn resource(api_version: &str, kind: &str) -> Option<(ApiResource, bool)> {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let namespaced = match (group, kind) {
        ("locust.io", "LocustTest") => true,
        ("", "ConfigMap" | "Secret" | "Service" | "Pod") => true,
        ("", "Namespace") => false,
        _ => return None,
    };
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let plural = match kind {
        "LocustTest" => "locusttests".to_owned(),
        other => format!("{}s", other.to_lowercase()),
    };
    Some((ApiResource::from_gvk_with_plural(&gvk, &plural), namespaced))
}

/// Applies every document of `files` (server-side apply, as `kubectl apply --server-side`)
/// and returns the LocustTests among them.
pub async fn apply(
    client: &Client,
    files: &[(String, String)],
) -> Result<Vec<TestRef>, ApplyError> {
    let mut tests = Vec::new();
    for (file, text) in files {
        let documents = crate::check::documents(text).map_err(|message| ApplyError::Parse {
            file: file.clone(),
            message,
        })?;
        for document in documents {
            if document.is_null() {
                continue;
            }
            let api_version = document["apiVersion"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let kind = document["kind"].as_str().unwrap_or_default().to_owned();
            let Some((resource, namespaced)) = resource(&api_version, &kind) else {
                return Err(ApplyError::Kind {
                    file: file.clone(),
                    api_version,
                    kind,
                });
            };
            let name = document
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let namespace = document
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("default")
                .to_owned();
            let api: Api<DynamicObject> = if namespaced {
                Api::namespaced_with(client.clone(), &namespace, &resource)
            } else {
                Api::all_with(client.clone(), &resource)
            };
            let params = PatchParams::apply(FIELD_MANAGER).force();
            api.patch(&name, &params, &Patch::Apply(&document))
                .await
                .map_err(|error| ApplyError::Refused {
                    file: file.clone(),
                    kind: kind.clone(),
                    name: name.clone(),
                    message: match error {
                        kube::Error::Api(status) => status.message,
                        other => other.to_string(),
                    },
                })?;
            if kind == "LocustTest" {
                tests.push(TestRef { namespace, name });
            }
        }
    }
    Ok(tests)
}

/// The verdict of the followed tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every test `Succeeded`.
    Succeeded,
    /// Some test `Failed`, or was deleted before it ended (the names).
    Failed(Vec<String>),
    /// Interrupted before every test ended.
    Interrupted,
}

/// One printed row: the columns of `kubectl get locusttest -w -o wide` but the image.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Row {
    phase: String,
    workers: String,
    connected: String,
    users: String,
    rps: String,
    failures: String,
    conditions: BTreeMap<String, (String, String, String)>,
}

fn row_of(object: &Value) -> Row {
    let status = &object["status"];
    let text = |v: &Value| match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let conditions = status["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (
                text(&c["type"]),
                (text(&c["status"]), text(&c["reason"]), text(&c["message"])),
            )
        })
        .collect();
    Row {
        phase: text(&status["phase"]),
        workers: text(&status["expectedWorkers"]),
        connected: text(&status["connectedWorkers"]),
        users: text(&status["stats"]["users"]),
        rps: text(&status["stats"]["requestsPerSecond"]),
        failures: text(&status["stats"]["failures"]),
        conditions,
    }
}

/// Age as kubectl shows it (`45s`, `3m12s`, `2h5m`: kube's rules, as the API server's Tables).
fn age(object: &Value) -> String {
    let created = object
        .pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
        .and_then(|t| t.parse::<Timestamp>().ok());
    match created {
        Some(created) => memory_apiserver::table::human_duration_seconds(
            Timestamp::now().as_second() - created.as_second(),
        ),
        None => "<unknown>".into(),
    }
}

/// Follows `tests` until each is `Succeeded` or `Failed` (or `stop`), printing a row whenever
/// one changes to `out`.
pub async fn follow(
    client: &Client,
    node: &Host,
    tests: &[TestRef],
    stop: CancellationToken,
    out: &mut (dyn Write + Send),
) -> Verdict {
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(crate::api::GROUP, "v2", crate::api::KIND),
        "locusttests",
    );
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
    let mut stream = std::pin::pin!(watcher(api, watcher::Config::default()));
    let width = tests.iter().map(|t| t.name.len()).max().unwrap_or(4).max(4) + 3;
    let _ = writeln!(
        out,
        "{:<width$}{:<11}{:<9}{:<11}{:<7}{:<9}{:<10}{:<8}CHANGED",
        "NAME", "PHASE", "WORKERS", "CONNECTED", "USERS", "RPS", "FAILURES", "AGE"
    );
    let mut last: BTreeMap<TestRef, Row> = BTreeMap::new();
    let mut ended: BTreeMap<TestRef, String> = BTreeMap::new();
    loop {
        let event = tokio::select! {
            () = stop.cancelled() => return Verdict::Interrupted,
            event = stream.next() => event,
        };
        let Some(event) = event else {
            return Verdict::Interrupted;
        };
        let object = match event {
            Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => o,
            Ok(watcher::Event::Delete(o)) => {
                // Deleted before its verdict: it ends without one.
                let key = TestRef {
                    namespace: o.metadata.namespace.clone().unwrap_or_default(),
                    name: o.metadata.name.clone().unwrap_or_default(),
                };
                if tests.contains(&key) && !ended.contains_key(&key) {
                    let _ = writeln!(out, "{}: deleted before it ended", key.name);
                    ended.insert(key, "Deleted".to_owned());
                    if ended.len() == tests.len() {
                        return verdict(&ended);
                    }
                }
                continue;
            }
            Ok(_) => continue,
            Err(error) => {
                tracing::debug!(%error, "watch of the tests");
                continue;
            }
        };
        let key = TestRef {
            namespace: object.metadata.namespace.clone().unwrap_or_default(),
            name: object.metadata.name.clone().unwrap_or_default(),
        };
        if !tests.contains(&key) {
            continue;
        }
        let value = serde_json::to_value(&object).unwrap_or_default();
        let row = row_of(&value);
        let previous = last.get(&key);
        if previous == Some(&row) {
            continue;
        }
        let changed: Vec<String> = row
            .conditions
            .iter()
            .filter(|(t, c)| previous.and_then(|p| p.conditions.get(*t)) != Some(c))
            .map(|(t, (status, reason, _))| format!("{t}={status} {reason}"))
            .collect();
        let _ = writeln!(
            out,
            "{:<width$}{:<11}{:<9}{:<11}{:<7}{:<9}{:<10}{:<8}{}",
            key.name,
            row.phase,
            row.workers,
            row.connected,
            row.users,
            row.rps,
            row.failures,
            age(&value),
            changed.join(", ")
        );
        if matches!(row.phase.as_str(), "Succeeded" | "Failed") && !ended.contains_key(&key) {
            ended.insert(key.clone(), row.phase.clone());
            if let Some(results) = value
                .pointer("/status/results/message")
                .and_then(Value::as_str)
            {
                let _ = writeln!(out, "{}: results: {results}", key.name);
            }
            if let Some(report) = value
                .pointer("/status/results/report")
                .and_then(Value::as_str)
            {
                let _ = writeln!(
                    out,
                    "{}: full report in ConfigMap {report}: locust-operator report {} -n {} -o DIR",
                    key.name, key.name, key.namespace
                );
            }
            if row.phase == "Failed" {
                let why = row
                    .conditions
                    .get("TestCompleted")
                    .map(|c| c.2.clone())
                    .unwrap_or_default();
                let _ = writeln!(out, "{}: {why}", key.name);
                let master = format!("{}-master", key.name);
                if let Some(tail) = master_log_tail(node, &key.namespace, &master, 20) {
                    let _ = writeln!(out, "--- last lines of the master's log ({master}):");
                    let _ = writeln!(out, "{tail}");
                }
            }
        }
        last.insert(key, row);
        if ended.len() == tests.len() {
            return verdict(&ended);
        }
    }
}

/// Succeeded when every test did; else the ones that failed (or were deleted first).
fn verdict(ended: &BTreeMap<TestRef, String>) -> Verdict {
    let failed: Vec<String> = ended
        .iter()
        .filter(|(_, phase)| phase.as_str() != "Succeeded")
        .map(|(t, _)| t.name.clone())
        .collect();
    if failed.is_empty() {
        Verdict::Succeeded
    } else {
        Verdict::Failed(failed)
    }
}

/// The last `lines` lines of the Locust container's log of the master pod of a test (the
/// master Job `master`'s pods are `<master>-<suffix>`; its container is named `master` too).
pub fn master_log_tail(node: &Host, namespace: &str, master: &str, lines: usize) -> Option<String> {
    let prefix = format!("{master}-");
    let log = node.latest_log(namespace, |pod| pod.starts_with(&prefix), master)?;
    let text = std::fs::read_to_string(log).ok()?;
    let all: Vec<&str> = text.lines().collect();
    Some(all[all.len().saturating_sub(lines)..].join("\n"))
}
