//! What kubelet and the Job controller would do, done through the public API only (status
//! subresource writes), so the same helpers work against the harness and a real API server.
//! The pod-status helpers are the kubelet (no API server here has one). The Job helpers
//! ([`create_job_pods`], [`set_job_counts`], [`complete_job`], [`fail_job`]) are the Job
//! controller, for API servers without one (envtest-like, or the harness with
//! [`crate::Options::job_controller`] off): where a Job controller runs, it makes the pods and
//! owns Job status, and these would only fight it.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};

fn now() -> String {
    crate::store::now()
}

/// The field manager of the Job controller's writes (as on a real cluster).
pub const JOB_CONTROLLER: &str = crate::job_controller::FIELD_MANAGER;
/// The field manager of the kubelet's pod status writes.
pub const KUBELET: &str = "kubelet";

fn as_manager(manager: &str) -> PatchParams {
    PatchParams {
        field_manager: Some(manager.to_owned()),
        ..PatchParams::default()
    }
}

/// Creates `count` pods for a Job the way the Job controller does: `generateName`
/// `<job>-`, the template's labels plus the job labels, an owner reference to the Job, field
/// manager [`JOB_CONTROLLER`]; without the Job controller's
/// `batch.kubernetes.io/job-tracking` finalizer, as nothing would take it off again.
pub async fn create_job_pods(
    client: &Client,
    namespace: &str,
    job_name: &str,
    count: usize,
) -> Result<Vec<Pod>, kube::Error> {
    let jobs: Api<Job> = Api::namespaced(client.clone(), namespace);
    let job = jobs.get(job_name).await?;
    let template = job
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let uid = job.uid().unwrap_or_default();
    let mut labels = template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    for (key, value) in [
        ("batch.kubernetes.io/controller-uid", uid.clone()),
        ("batch.kubernetes.io/job-name", job_name.to_owned()),
        ("controller-uid", uid.clone()),
        ("job-name", job_name.to_owned()),
    ] {
        labels.insert(key.to_owned(), value);
    }
    let annotations = template
        .metadata
        .as_ref()
        .and_then(|m| m.annotations.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let mut created = Vec::new();
    for _ in 0..count {
        let pod: Pod = serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "generateName": format!("{job_name}-"),
                "labels": labels,
                "annotations": annotations,
                "ownerReferences": [{
                    "apiVersion": "batch/v1", "kind": "Job", "name": job_name, "uid": uid,
                    "controller": true, "blockOwnerDeletion": true
                }]
            },
            "spec": template.spec,
        }))
        .map_err(kube::Error::SerdeError)?;
        let params = PostParams {
            field_manager: Some(JOB_CONTROLLER.to_owned()),
            ..PostParams::default()
        };
        created.push(pods.create(&params, &pod).await?);
    }
    Ok(created)
}

async fn patch_pod_status(
    client: &Client,
    namespace: &str,
    pod: &str,
    status: Value,
) -> Result<Pod, kube::Error> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    pods.patch_status(
        pod,
        &as_manager(KUBELET),
        &Patch::Merge(json!({"status": status})),
    )
    .await
}

fn container_names(pod: &Pod) -> Vec<String> {
    pod.spec
        .as_ref()
        .map(|s| s.containers.iter().map(|c| c.name.clone()).collect())
        .unwrap_or_default()
}

/// Marks a pod Running; `ready` sets the Ready condition and container readiness.
pub async fn set_pod_running(
    client: &Client,
    namespace: &str,
    pod: &Pod,
    ready: bool,
) -> Result<Pod, kube::Error> {
    let status = if ready { "True" } else { "False" };
    let containers: Vec<Value> = container_names(pod)
        .into_iter()
        .map(|name| json!({"name": name, "ready": ready, "restartCount": 0, "image": "locust", "imageID": "", "started": true, "state": {"running": {"startedAt": now()}}}))
        .collect();
    patch_pod_status(
        client,
        namespace,
        &pod.name_any(),
        json!({
            "phase": "Running",
            "startTime": now(),
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": now()},
                {"type": "Initialized", "status": "True", "lastTransitionTime": now()},
                {"type": "ContainersReady", "status": status, "lastTransitionTime": now()},
                {"type": "Ready", "status": status, "lastTransitionTime": now()}
            ],
            "containerStatuses": containers,
        }),
    )
    .await
}

/// A container stuck waiting, as kubelet reports it (`ImagePullBackOff`, `ErrImagePull`,
/// `CrashLoopBackOff`, `CreateContainerConfigError`, `InvalidImageName`, ...). With
/// `init = true` the init containers report it.
pub async fn set_pod_waiting(
    client: &Client,
    namespace: &str,
    pod: &Pod,
    reason: &str,
    message: &str,
    init: bool,
) -> Result<Pod, kube::Error> {
    let names = if init {
        pod.spec
            .as_ref()
            .and_then(|s| s.init_containers.as_ref())
            .map(|c| c.iter().map(|c| c.name.clone()).collect())
            .unwrap_or_default()
    } else {
        container_names(pod)
    };
    let statuses: Vec<Value> = names
        .into_iter()
        .map(|name| json!({"name": name, "ready": false, "restartCount": if reason == "CrashLoopBackOff" { 5 } else { 0 }, "image": "locust", "imageID": "", "started": false, "state": {"waiting": {"reason": reason, "message": message}}}))
        .collect();
    let key = if init {
        "initContainerStatuses"
    } else {
        "containerStatuses"
    };
    patch_pod_status(
        client,
        namespace,
        &pod.name_any(),
        json!({
            "phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": now()}],
            key: statuses,
        }),
    )
    .await
}

/// A container that terminated (`reason` e.g. `OOMKilled`, `Error`, `Completed`); the pod
/// phase becomes `Failed` (non-zero exit) or `Succeeded`.
pub async fn set_pod_terminated(
    client: &Client,
    namespace: &str,
    pod: &Pod,
    exit_code: i32,
    reason: &str,
) -> Result<Pod, kube::Error> {
    let phase = if exit_code == 0 {
        "Succeeded"
    } else {
        "Failed"
    };
    let statuses: Vec<Value> = container_names(pod)
        .into_iter()
        .map(|name| json!({"name": name, "ready": false, "restartCount": 0, "image": "locust", "imageID": "", "started": false, "state": {"terminated": {"exitCode": exit_code, "reason": reason, "startedAt": now(), "finishedAt": now()}}}))
        .collect();
    patch_pod_status(
        client,
        namespace,
        &pod.name_any(),
        json!({"phase": phase, "containerStatuses": statuses}),
    )
    .await
}

fn init_container_names(pod: &Pod) -> Vec<String> {
    pod.spec
        .as_ref()
        .and_then(|s| s.init_containers.as_ref())
        .map(|c| c.iter().map(|c| c.name.clone()).collect())
        .unwrap_or_default()
}

/// The pod's (classic) init containers are running: the pod is scheduled, not initialized,
/// its containers wait in `PodInitializing`.
pub async fn set_init_containers_running(
    client: &Client,
    namespace: &str,
    pod: &Pod,
) -> Result<Pod, kube::Error> {
    let running = |_: &str| (true, json!({"running": {"startedAt": now()}}));
    initializing(client, namespace, pod, "Pending", running).await
}

/// The (classic) init container `container` exited with `exit_code` and, the pod's
/// `restartPolicy` being `Never`, the pod failed before its containers started.
pub async fn set_init_container_failed(
    client: &Client,
    namespace: &str,
    pod: &Pod,
    container: &str,
    exit_code: i32,
) -> Result<Pod, kube::Error> {
    let state = |name: &str| {
        if name == container {
            (
                false,
                json!({"terminated": {"exitCode": exit_code, "reason": "Error", "startedAt": now(), "finishedAt": now()}}),
            )
        } else {
            (false, json!({"waiting": {"reason": "PodInitializing"}}))
        }
    };
    initializing(client, namespace, pod, "Failed", state).await
}

/// A pod not initialized yet, in `phase`: each init container's `(started, state)` from
/// `init_state`, its containers waiting in `PodInitializing`.
async fn initializing(
    client: &Client,
    namespace: &str,
    pod: &Pod,
    phase: &str,
    init_state: impl Fn(&str) -> (bool, Value),
) -> Result<Pod, kube::Error> {
    let init: Vec<Value> = init_container_names(pod)
        .into_iter()
        .map(|name| {
            let (started, state) = init_state(&name);
            json!({"name": name, "ready": false, "restartCount": 0, "image": "busybox", "imageID": "", "started": started, "state": state})
        })
        .collect();
    let containers: Vec<Value> = container_names(pod)
        .into_iter()
        .map(|name| json!({"name": name, "ready": false, "restartCount": 0, "image": "locust", "imageID": "", "started": false, "state": {"waiting": {"reason": "PodInitializing"}}}))
        .collect();
    patch_pod_status(client, namespace, &pod.name_any(), json!({
        "phase": phase,
        "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": now()},
            {"type": "Initialized", "status": "False", "reason": "ContainersNotInitialized", "lastTransitionTime": now()}
        ],
        "initContainerStatuses": init,
        "containerStatuses": containers,
    }))
    .await
}

/// The scheduler could not place the pod.
pub async fn set_pod_unschedulable(
    client: &Client,
    namespace: &str,
    pod: &Pod,
    message: &str,
) -> Result<Pod, kube::Error> {
    patch_pod_status(client, namespace, &pod.name_any(), json!({
        "phase": "Pending",
        "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message, "lastTransitionTime": now()}]
    }))
    .await
}

/// The kubelet evicted the pod.
pub async fn set_pod_evicted(
    client: &Client,
    namespace: &str,
    pod: &Pod,
    message: &str,
) -> Result<Pod, kube::Error> {
    patch_pod_status(
        client,
        namespace,
        &pod.name_any(),
        json!({"phase": "Failed", "reason": "Evicted", "message": message}),
    )
    .await
}

/// Writes Job status counters (`active`, `ready`, `succeeded`, `failed`) the way the Job
/// controller does (zero counts of active/succeeded/failed omitted; `ready` always present;
/// `startTime` set by the first write only).
pub async fn set_job_counts(
    client: &Client,
    namespace: &str,
    job: &str,
    active: i32,
    ready: i32,
    succeeded: i32,
    failed: i32,
) -> Result<Job, kube::Error> {
    let count = |n: i32| if n == 0 { Value::Null } else { json!(n) };
    let jobs: Api<Job> = Api::namespaced(client.clone(), namespace);
    let mut status = json!({"status": {
        "active": count(active), "ready": ready, "succeeded": count(succeeded), "failed": count(failed),
        "terminating": 0, "uncountedTerminatedPods": {}
    }});
    let started = jobs
        .get_status(job)
        .await?
        .status
        .and_then(|s| s.start_time)
        .is_some();
    if !started {
        status["status"]["startTime"] = json!(now());
    }
    jobs.patch_status(job, &as_manager(JOB_CONTROLLER), &Patch::Merge(status))
        .await
}

/// The Job completed (`SuccessCriteriaMet`, `Complete`), as
/// [`crate::job_controller`] writes it.
pub async fn complete_job(
    client: &Client,
    namespace: &str,
    job: &str,
    succeeded: i32,
) -> Result<Job, kube::Error> {
    let jobs: Api<Job> = Api::namespaced(client.clone(), namespace);
    let status = json!({"status": {
        "active": null, "ready": 0, "succeeded": succeeded, "completionTime": now(),
        "conditions": [
            {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods", "lastProbeTime": now(), "lastTransitionTime": now()},
            {"type": "Complete", "status": "True", "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods", "lastProbeTime": now(), "lastTransitionTime": now()}
        ]
    }});
    jobs.patch_status(job, &as_manager(JOB_CONTROLLER), &Patch::Merge(status))
        .await
}

/// The Job failed (`FailureTarget`, `Failed`, reason `BackoffLimitExceeded`), as
/// [`crate::job_controller`] writes it.
pub async fn fail_job(client: &Client, namespace: &str, job: &str) -> Result<Job, kube::Error> {
    let jobs: Api<Job> = Api::namespaced(client.clone(), namespace);
    let status = json!({"status": {
        "active": null, "ready": 0, "failed": 1,
        "conditions": [
            {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit", "lastProbeTime": now(), "lastTransitionTime": now()},
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit", "lastProbeTime": now(), "lastTransitionTime": now()}
        ]
    }});
    jobs.patch_status(job, &as_manager(JOB_CONTROLLER), &Patch::Merge(status))
        .await
}
