//! The harness's Job controller (`memory_apiserver::job_controller`), through an unmodified
//! `kube::Client` and `sim` as the kubelet: what the recordings of a real cluster do not show
//! (`replay.rs` checks what they do): readiness, scaling, replacement until the backoff limit,
//! the accounting through `uncountedTerminatedPods`, success, suspension, foreground deletion
//! held by a pod, and a server without it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::batch::v1::{Job, JobStatus};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{
    DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::{Api, Client, ResourceExt};
use memory_apiserver::job_controller::Settings;
use memory_apiserver::{ApiServer, Filter, Options, sim};
use serde_json::{Value, json};

const NS: &str = "jc";
/// Upper bound of one wait.
const WAIT: Duration = Duration::from_secs(10);
/// How long "nothing happens" is watched for.
const QUIET: Duration = Duration::from_millis(300);

/// A harness with a fast Job controller (the real timings are 1 s and 10 s).
async fn server(job_controller: bool) -> (ApiServer, Client) {
    let server = ApiServer::start_with(Options {
        job_controller,
        job_controller_settings: Settings {
            batch_period: Duration::from_millis(50),
            pod_failure_backoff: Duration::from_millis(100),
        },
        ..Options::default()
    })
    .await
    .unwrap();
    let client = server.client().unwrap();
    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": NS}})).unwrap(),
        )
        .await
        .unwrap();
    (server, client)
}

fn jobs(client: &Client) -> Api<Job> {
    Api::namespaced(client.clone(), NS)
}

fn pods(client: &Client) -> Api<Pod> {
    Api::namespaced(client.clone(), NS)
}

/// Creates a Job like the operator's (restartPolicy Never) with `spec` merged in.
async fn create_job(client: &Client, name: &str, spec: Value) -> Job {
    let mut job = json!({
        "metadata": {"name": name, "labels": {"app": "x"}},
        "spec": {"parallelism": 1, "backoffLimit": 0, "template": {
            "metadata": {"labels": {"app": "x"}, "annotations": {"note": "kept"}},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox:1.36"}]}}}
    });
    json_patch::merge(&mut job["spec"], &spec);
    jobs(client)
        .create(
            &PostParams::default(),
            &serde_json::from_value(job).unwrap(),
        )
        .await
        .unwrap()
}

/// Polls `check` until it returns `Some`; panics with `what` after [`WAIT`].
async fn eventually<T, Fut: Future<Output = Option<T>>>(
    what: &str,
    mut check: impl FnMut() -> Fut,
) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The pods of `job`, by creation (resourceVersion of creation, as none was written since).
async fn pods_of(client: &Client, job: &str) -> Vec<Pod> {
    let mut listed = pods(client)
        .list(&ListParams::default().labels(&format!("batch.kubernetes.io/job-name={job}")))
        .await
        .unwrap()
        .items;
    listed.sort_by_key(|p| p.creation_timestamp());
    listed
}

/// Waits until `job` has exactly `count` pods that are not being deleted.
async fn wait_pods(client: &Client, job: &str, count: usize) -> Vec<Pod> {
    eventually(&format!("{count} pods of {job}"), || async {
        let live: Vec<Pod> = pods_of(client, job)
            .await
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect();
        (live.len() == count).then_some(live)
    })
    .await
}

async fn wait_status(
    client: &Client,
    job: &str,
    what: &str,
    pred: impl Fn(&JobStatus) -> bool,
) -> Job {
    eventually(&format!("{job}: {what}"), || async {
        let found = jobs(client).get(job).await.ok()?;
        pred(found.status.as_ref()?).then_some(found)
    })
    .await
}

fn condition_types(status: &JobStatus) -> Vec<String> {
    status
        .conditions
        .iter()
        .flatten()
        .filter(|c| c.status == "True")
        .map(|c| c.type_.clone())
        .collect()
}

fn status_json(job: &Job) -> Value {
    serde_json::to_value(job.status.as_ref().unwrap()).unwrap()
}

/// Every status of `job` a watch saw, in order.
fn watch_statuses(
    client: &Client,
    job: &str,
) -> (Arc<Mutex<Vec<Value>>>, tokio::task::JoinHandle<()>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let task = tokio::spawn({
        let seen = Arc::clone(&seen);
        let api = jobs(client);
        let params = WatchParams::default().fields(&format!("metadata.name={job}"));
        async move {
            let mut stream = api.watch(&params, "0").await.unwrap().boxed();
            while let Some(Ok(event)) = stream.next().await {
                if let WatchEvent::Added(job) | WatchEvent::Modified(job) = event {
                    seen.lock()
                        .unwrap()
                        .push(serde_json::to_value(job.status).unwrap());
                }
            }
        }
    });
    (seen, task)
}

#[tokio::test]
async fn pods_up_to_parallelism_as_kube_controller_manager_makes_them() {
    let (_server, client) = server(true).await;
    let job = create_job(&client, "w", json!({"parallelism": 3})).await;
    let uid = job.uid().unwrap();
    let made = wait_pods(&client, "w", 3).await;
    for pod in &made {
        let meta = &pod.metadata;
        assert_eq!(meta.generate_name.as_deref(), Some("w-"));
        let labels = meta.labels.clone().unwrap();
        for (key, value) in [
            ("app", "x"),
            ("batch.kubernetes.io/controller-uid", uid.as_str()),
            ("batch.kubernetes.io/job-name", "w"),
            ("controller-uid", uid.as_str()),
            ("job-name", "w"),
        ] {
            assert_eq!(labels.get(key).map(String::as_str), Some(value), "{key}");
        }
        assert_eq!(
            meta.annotations
                .clone()
                .unwrap()
                .get("note")
                .map(String::as_str),
            Some("kept")
        );
        let owner = &meta.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str()),
            ("Job", "w", uid.as_str())
        );
        assert_eq!(
            (owner.controller, owner.block_owner_deletion),
            (Some(true), Some(true))
        );
        assert_eq!(
            meta.finalizers,
            Some(vec!["batch.kubernetes.io/job-tracking".to_owned()])
        );
        let managers: Vec<_> = meta
            .managed_fields
            .iter()
            .flatten()
            .map(|m| (m.manager.clone(), m.operation.clone()))
            .collect();
        assert_eq!(
            managers,
            [(
                Some("kube-controller-manager".to_owned()),
                Some("Update".to_owned())
            )]
        );
        assert_eq!(
            pod.spec.as_ref().unwrap().service_account_name.as_deref(),
            Some("default"),
            "created through admission like any pod"
        );
    }
    let job = wait_status(&client, "w", "active 3", |s| s.active == Some(3)).await;
    let status = status_json(&job);
    assert_eq!(status["ready"], 0);
    assert_eq!(status["terminating"], 0);
    assert_eq!(status["uncountedTerminatedPods"], json!({}));
    assert!(status["startTime"].is_string());
    assert!(status.get("failed").is_none() && status.get("succeeded").is_none());
    let entry = job
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .find(|m| m.manager.as_deref() == Some("kube-controller-manager"))
        .expect("the Job controller's managedFields entry");
    assert_eq!(entry.subresource.as_deref(), Some("status"));

    // Two pods become ready (the kubelet): `ready` follows.
    for pod in &made[..2] {
        sim::set_pod_running(&client, NS, pod, true).await.unwrap();
    }
    sim::set_pod_running(&client, NS, &made[2], false)
        .await
        .unwrap();
    wait_status(&client, "w", "ready 2", |s| {
        s.ready == Some(2) && s.active == Some(3)
    })
    .await;

    // Scaled up: one more pod. Scaled down: the pods that are not ready go first, and pods
    // the controller removes are neither failed nor counted.
    jobs(&client)
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"parallelism": 4}})),
        )
        .await
        .unwrap();
    wait_pods(&client, "w", 4).await;
    wait_status(&client, "w", "active 4", |s| s.active == Some(4)).await;
    jobs(&client)
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"parallelism": 2}})),
        )
        .await
        .unwrap();
    let kept = wait_pods(&client, "w", 2).await;
    let mut kept_names: Vec<String> = kept.iter().map(ResourceExt::name_any).collect();
    let mut ready_names: Vec<String> = made[..2].iter().map(ResourceExt::name_any).collect();
    kept_names.sort();
    ready_names.sort();
    assert_eq!(kept_names, ready_names, "the ready pods are kept");
    let job = wait_status(&client, "w", "active 2, terminating 0", |s| {
        s.active == Some(2) && s.terminating == Some(0)
    })
    .await;
    let status = job.status.unwrap();
    assert_eq!((status.failed, status.ready), (None, Some(2)));
}

#[tokio::test]
async fn a_failure_beyond_the_backoff_limit_fails_the_job_after_counting_it() {
    let (_server, client) = server(true).await;
    create_job(&client, "f", json!({"parallelism": 2})).await;
    let made = wait_pods(&client, "f", 2).await;
    wait_status(&client, "f", "active 2", |s| s.active == Some(2)).await;
    let (seen, watch) = watch_statuses(&client, "f");
    sim::set_pod_running(&client, NS, &made[1], true)
        .await
        .unwrap();
    sim::set_pod_terminated(&client, NS, &made[0], 1, "Error")
        .await
        .unwrap();

    let job = wait_status(&client, "f", "Failed", |s| {
        condition_types(s).contains(&"Failed".to_owned())
    })
    .await;
    let status = status_json(&job);
    // Both count as failed: the one that failed, and the one the controller ended.
    assert_eq!(status["failed"], 2, "{status}");
    assert!(status.get("active").is_none(), "{status}");
    assert!(status.get("completionTime").is_none(), "{status}");
    assert_eq!(
        (
            status["terminating"].clone(),
            status["ready"].clone(),
            status["uncountedTerminatedPods"].clone()
        ),
        (json!(0), json!(0), json!({}))
    );
    let conditions = status["conditions"].as_array().unwrap();
    assert_eq!(
        conditions
            .iter()
            .map(|c| c["type"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["FailureTarget", "Failed"]
    );
    for condition in conditions {
        assert_eq!(condition["status"], "True");
        assert_eq!(condition["reason"], "BackoffLimitExceeded");
        assert_eq!(
            condition["message"],
            "Job has reached the specified backoff limit"
        );
    }
    // The failed pod stays (for its logs), without the finalizer; the running one is gone.
    let failed = pods(&client).get(&made[0].name_any()).await.unwrap();
    assert_eq!(failed.metadata.finalizers, None);
    assert!(failed.metadata.deletion_timestamp.is_none());
    eventually("the running pod gone", || async {
        pods(&client)
            .get_opt(&made[1].name_any())
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;

    // On the way: the failed pod's uid was recorded as uncounted before it was counted, and
    // FailureTarget came before Failed.
    tokio::time::sleep(QUIET).await;
    watch.abort();
    let seen = seen.lock().unwrap().clone();
    let failed_uid = made[0].uid().unwrap();
    let uncounted_at = seen
        .iter()
        .position(|s| {
            s["uncountedTerminatedPods"]["failed"]
                .as_array()
                .is_some_and(|f| f.contains(&json!(failed_uid)))
        })
        .unwrap_or_else(|| panic!("no status with the pod uncounted: {seen:#?}"));
    assert!(
        seen[uncounted_at].get("failed").is_none(),
        "not counted yet"
    );
    let has = |s: &Value, t: &str| {
        s["conditions"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["type"] == t))
    };
    let target_at = seen.iter().position(|s| has(s, "FailureTarget")).unwrap();
    let failed_at = seen.iter().position(|s| has(s, "Failed")).unwrap();
    assert!(target_at <= failed_at, "{seen:#?}");
}

#[tokio::test]
async fn failed_pods_are_replaced_until_the_backoff_limit() {
    let (_server, client) = server(true).await;
    create_job(&client, "r", json!({"backoffLimit": 2})).await;
    let mut seen = Vec::new();
    for failures in 1..=3 {
        let pod = eventually("a new pod", || async {
            pods_of(&client, "r")
                .await
                .into_iter()
                .find(|p| !seen.contains(&p.name_any()))
        })
        .await;
        seen.push(pod.name_any());
        if failures == 2 {
            // A pod deleted before it finished counts as failed too.
            pods(&client)
                .delete(&pod.name_any(), &DeleteParams::background())
                .await
                .unwrap();
        } else {
            sim::set_pod_terminated(&client, NS, &pod, 1, "Error")
                .await
                .unwrap();
        }
        if failures < 3 {
            wait_status(&client, "r", &format!("failed {failures}"), |s| {
                s.failed == Some(failures)
            })
            .await;
        }
    }
    let job = wait_status(&client, "r", "Failed", |s| {
        condition_types(s).contains(&"Failed".to_owned())
    })
    .await;
    assert_eq!(job.status.unwrap().failed, Some(3));
    tokio::time::sleep(QUIET).await;
    assert_eq!(
        pods_of(&client, "r").await.len(),
        2,
        "no pod after the third failure (the deleted one is gone)"
    );
}

#[tokio::test]
async fn pods_that_succeed_complete_the_job_once_none_is_running() {
    let (_server, client) = server(true).await;
    create_job(&client, "s", json!({"parallelism": 2})).await;
    let made = wait_pods(&client, "s", 2).await;
    sim::set_pod_running(&client, NS, &made[1], true)
        .await
        .unwrap();
    sim::set_pod_terminated(&client, NS, &made[0], 0, "Completed")
        .await
        .unwrap();
    // Without `completions`, a success lets the others finish; none is added.
    let job = wait_status(&client, "s", "succeeded 1", |s| s.succeeded == Some(1)).await;
    let status = job.status.unwrap();
    assert_eq!((status.active, status.ready), (Some(1), Some(1)));
    assert!(condition_types(&status).is_empty(), "{status:?}");
    sim::set_pod_terminated(&client, NS, &made[1], 0, "Completed")
        .await
        .unwrap();
    let job = wait_status(&client, "s", "Complete", |s| {
        condition_types(s).contains(&"Complete".to_owned())
    })
    .await;
    let status = status_json(&job);
    assert_eq!(status["succeeded"], 2);
    assert!(status.get("active").is_none());
    assert!(status["completionTime"].is_string());
    let conditions = status["conditions"].as_array().unwrap();
    assert_eq!(
        conditions
            .iter()
            .map(|c| c["type"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["SuccessCriteriaMet", "Complete"]
    );
    for condition in conditions {
        assert_eq!(condition["reason"], "CompletionsReached");
        assert_eq!(
            condition["message"],
            "Reached expected number of succeeded pods"
        );
    }
    for pod in pods_of(&client, "s").await {
        assert_eq!(pod.metadata.finalizers, None, "counted, so let go");
    }
    assert_eq!(pods_of(&client, "s").await.len(), 2, "finished pods stay");
}

#[tokio::test]
async fn a_suspended_job_has_no_pods_until_resumed() {
    let (_server, client) = server(true).await;
    create_job(&client, "z", json!({"suspend": true})).await;
    let job = wait_status(&client, "z", "Suspended", |s| {
        condition_types(s).contains(&"Suspended".to_owned())
    })
    .await;
    let mut status = status_json(&job);
    let condition = status["conditions"][0].clone();
    assert_eq!(
        (condition["reason"].as_str(), condition["message"].as_str()),
        (Some("JobSuspended"), Some("Job suspended"))
    );
    status.as_object_mut().unwrap().remove("conditions");
    // As 07b of the recordings shows a suspended Job.
    assert_eq!(
        status,
        json!({"terminating": 0, "uncountedTerminatedPods": {}, "ready": 0})
    );
    assert!(pods_of(&client, "z").await.is_empty());
    jobs(&client)
        .patch(
            "z",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"suspend": false}})),
        )
        .await
        .unwrap();
    wait_pods(&client, "z", 1).await;
    let job = wait_status(&client, "z", "resumed", |s| s.active == Some(1)).await;
    let status = job.status.unwrap();
    assert!(status.start_time.is_some());
    let suspended = status
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Suspended")
        .unwrap();
    assert_eq!(
        (suspended.status.as_str(), suspended.reason.as_deref()),
        ("False", Some("JobResumed"))
    );
}

/// `kubectl delete job --cascade=foreground` while a pod is held by someone's finalizer (a
/// pod that takes time to terminate): the Job stays, marked, until the pod is gone.
#[tokio::test]
async fn a_foreground_deletion_lasts_as_long_as_a_pod_of_the_job() {
    let (_server, client) = server(true).await;
    let job = create_job(&client, "g", json!({"parallelism": 2})).await;
    let made = wait_pods(&client, "g", 2).await;
    let held = made[0].name_any();
    pods(&client)
        .patch(
            &held,
            &PatchParams::default(),
            &Patch::<()>::Json(
                serde_json::from_value(json!([
                    {"op": "add", "path": "/metadata/finalizers/-", "value": "example.com/hold"}
                ]))
                .unwrap(),
            ),
        )
        .await
        .unwrap();
    let marked = jobs(&client)
        .delete("g", &DeleteParams::foreground())
        .await
        .unwrap()
        .left()
        .expect("a foreground delete returns the marked Job");
    assert!(marked.metadata.deletion_timestamp.is_some());
    assert_eq!(
        marked.metadata.finalizers,
        Some(vec!["foregroundDeletion".to_owned()])
    );
    // The other pod goes; the held one is terminating, without the Job's finalizer.
    eventually("the other pod gone", || async {
        pods(&client)
            .get_opt(&made[1].name_any())
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    let pod = eventually("the held pod released by the Job controller", || async {
        let pod = pods(&client).get(&held).await.unwrap();
        (pod.metadata.finalizers == Some(vec!["example.com/hold".to_owned()])).then_some(pod)
    })
    .await;
    assert!(pod.metadata.deletion_timestamp.is_some());
    tokio::time::sleep(QUIET).await;
    let still = jobs(&client).get("g").await.unwrap();
    assert_eq!(still.uid(), job.uid(), "the Job waits for its pod");
    assert_eq!(
        still.metadata.finalizers,
        Some(vec!["foregroundDeletion".to_owned()])
    );
    let names: Vec<String> = pods_of(&client, "g")
        .await
        .iter()
        .map(ResourceExt::name_any)
        .collect();
    assert_eq!(
        names,
        std::slice::from_ref(&held),
        "no new pod for a Job being deleted"
    );
    // Let go: the pod goes, then the Job.
    pods(&client)
        .patch(
            &held,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .unwrap();
    eventually("the Job gone", || async {
        jobs(&client)
            .get_opt("g")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn without_the_job_controller_jobs_stay_as_written() {
    let (server, client) = server(false).await;
    assert!(!server.has_job_controller());
    create_job(&client, "n", json!({"parallelism": 2})).await;
    let made = sim::create_job_pods(&client, NS, "n", 1).await.unwrap();
    assert_eq!(
        made[0].metadata.finalizers, None,
        "nothing would take it off"
    );
    sim::set_pod_terminated(&client, NS, &made[0], 1, "Error")
        .await
        .unwrap();
    tokio::time::sleep(QUIET).await;
    assert_eq!(
        pods_of(&client, "n").await.len(),
        1,
        "no pod but the test's"
    );
    let job = jobs(&client).get("n").await.unwrap();
    assert_eq!(
        job.status.map(|s| status_json_of(&s)),
        Some(json!({})),
        "no status but the test's"
    );
}

fn status_json_of(status: &JobStatus) -> Value {
    serde_json::to_value(status).unwrap()
}

/// The Job controller's requests are not the tests' traffic: fault injection and recording
/// do not see them.
#[tokio::test]
async fn the_job_controllers_requests_are_not_recorded_or_disturbed() {
    let (server, client) = server(true).await;
    let recorded = server.faults().record(Filter::default());
    server.faults().fail_next(
        Filter {
            method: None,
            path_contains: Some("/pods".into()),
        },
        100,
        500,
    );
    create_job(&client, "q", json!({})).await;
    wait_status(&client, "q", "active 1", |s| s.active == Some(1)).await;
    let recorded: Vec<String> = recorded
        .lock()
        .unwrap()
        .iter()
        .map(|(method, path)| format!("{method} {path}"))
        .collect();
    assert!(
        recorded
            .iter()
            .all(|r| !r.contains("/pods") && !r.contains("/status")),
        "{recorded:?}"
    );
}
