//! Children deleted by someone else while the test runs: each is recreated from the spec the
//! test started with (not an edited one), the test `Pending` until it runs again, a
//! `Recreated` event each time, `startTime` kept; a Job deleted in the foreground is waited
//! for (its own Job going away is no name conflict), then recreated.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::ResourceExt;
use kube::api::{DeleteParams, Patch, PatchParams};
use locust_operator::api::conditions::{reasons, types};
use locust_operator::status::event_reasons;
use serde_json::{Value, json};

use crate::e2e::poll;
use crate::objects::{
    CONTROLLER, IMAGE, QUIET, TestNamespace, WAIT, assert_condition, built, metric, notes,
    occurrences, owner_uid, series,
};
use crate::operator::Options;
use crate::scenario::Scenario;
use crate::test_status::{has, phase};
use crate::{PhaseLog, init_logs};

/// The end of the `Recreated` event's message.
const RECREATED_WHY: &str = "deleted by someone else, from the spec the test started with";

#[tokio::test]
async fn externally_deleted_children_are_recreated_from_the_original_spec() {
    init_logs();
    Scenario::run(Options::new(), async |s| {
        let name = "recover";
        let uid = s.create(name, 2).await;
        s.run_to_running(name, 2).await;
        let started = s.get(name).await["status"]["startTime"].clone();
        let original = s.children(name).await;
        let log = PhaseLog::start(s, name);
        log.expect(&["Running"]).await;

        // The spec is edited (ignored), then the worker Job is deleted by someone else.
        s.patch_spec(
            name,
            json!({"image": "locustio/locust:2.44.0", "worker": {"replicas": 3}}),
        )
        .await;
        s.wait_for(name, "SpecDrifted=True", |t| {
            has(t, types::SPEC_DRIFTED, "True", reasons::SPEC_CHANGE_IGNORED)
        })
        .await;
        tokio::time::sleep(QUIET).await; // the operator's cache holds its last write
        s.api::<Job>()
            .delete(&format!("{name}-worker"), &DeleteParams::background())
            .await
            .unwrap();
        let worker = poll("the worker Job recreated", WAIT, || async {
            match s.api::<Job>().get_opt(&format!("{name}-worker")).await {
                Ok(Some(job)) if job.metadata.uid != original.worker.metadata.uid => Ok(job),
                other => Err(format!("{:?}", other.map(|j| j.map(|j| j.metadata.uid)))),
            }
        })
        .await;
        assert_eq!(
            worker.spec.as_ref().unwrap().parallelism,
            Some(2),
            "original replicas"
        );
        assert_eq!(
            built(&worker),
            built(&original.worker),
            "built from the original spec"
        );
        let image = worker
            .spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .as_ref()
            .unwrap()
            .containers[0]
            .image
            .clone();
        assert_eq!(image.as_deref(), Some(IMAGE));
        assert_eq!(owner_uid(&worker.metadata), std::slice::from_ref(&uid));
        let list = s.wait_event(name, "Recreated").await;
        assert_eq!(
            notes(&list, "Recreated"),
            [(
                "Warning".to_owned(),
                format!("Recreated Job {name}-worker, {RECREATED_WHY}")
            )]
        );
        log.expect(&["Running", "Pending", "Running"]).await;
        // The new worker pods connect again.
        let test = s.get(name).await;
        assert_condition(
            &test,
            types::WORKERS_CONNECTED,
            "False",
            reasons::WAITING_FOR_WORKERS,
            "0/2 workers connected",
        );
        s.start_workers(name, 2).await;
        s.wait_for(name, "2/2 workers again", |t| {
            has(
                t,
                types::WORKERS_CONNECTED,
                "True",
                reasons::ALL_WORKERS_CONNECTED,
            )
        })
        .await;

        // The Service.
        tokio::time::sleep(QUIET).await; // the operator's cache holds its last write
        s.api::<Service>()
            .delete(&format!("{name}-master"), &DeleteParams::background())
            .await
            .unwrap();
        let service = poll("the Service recreated", WAIT, || async {
            match s.api::<Service>().get_opt(&format!("{name}-master")).await {
                Ok(Some(s)) if s.metadata.uid != original.service.metadata.uid => Ok(s),
                other => Err(format!("{:?}", other.map(|s| s.map(|s| s.metadata.uid)))),
            }
        })
        .await;
        assert_eq!(
            service.spec.as_ref().unwrap().ports,
            original.service.spec.as_ref().unwrap().ports
        );
        log.expect(&["Running", "Pending", "Running", "Pending", "Running"])
            .await;

        // The master Job: Pending until its new pod runs.
        tokio::time::sleep(QUIET).await; // the operator's cache holds its last write
        s.api::<Job>()
            .delete(&format!("{name}-master"), &DeleteParams::background())
            .await
            .unwrap();
        let master = poll("the master Job recreated", WAIT, || async {
            match s.api::<Job>().get_opt(&format!("{name}-master")).await {
                Ok(Some(job)) if job.metadata.uid != original.master.metadata.uid => Ok(job),
                other => Err(format!("{:?}", other.map(|j| j.map(|j| j.metadata.uid)))),
            }
        })
        .await;
        assert_eq!(
            built(&master),
            built(&original.master),
            "built from the original spec"
        );
        log.expect(&[
            "Running", "Pending", "Running", "Pending", "Running", "Pending",
        ])
        .await;
        tokio::time::sleep(QUIET).await;
        assert_eq!(
            phase(&s.get(name).await),
            "Pending",
            "until the new master runs"
        );
        s.start_master(name).await;
        let test = s
            .wait_for(name, "Running again", |t| phase(t) == "Running")
            .await;
        log.expect(&[
            "Running", "Pending", "Running", "Pending", "Running", "Pending", "Running",
        ])
        .await;
        assert_eq!(test["status"]["startTime"], started, "startTime kept");

        let list = s.events(name).await;
        assert_eq!(occurrences(&list, "Recreated"), 3);
        assert_eq!(occurrences(&list, "Created"), 1);
        assert_eq!(occurrences(&list, event_reasons::TEST_STARTED), 1);
    })
    .await;
}

/// The finalizer with which the test holds a pod (as a slow kubelet would, terminating it).
const HOLD: &str = "e2e.locust.io/hold";

/// Changes a pod's finalizers (merge patch, with the read resourceVersion as precondition).
async fn set_finalizers(s: &TestNamespace, pod: &str, change: impl Fn(&mut Vec<String>)) {
    let current = s.api::<Pod>().get(pod).await.unwrap();
    let mut finalizers = current.finalizers().to_vec();
    change(&mut finalizers);
    let finalizers = if finalizers.is_empty() {
        Value::Null
    } else {
        json!(finalizers)
    };
    s.api::<Pod>()
        .patch(
            pod,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {
                "resourceVersion": current.metadata.resource_version,
                "finalizers": finalizers
            }})),
        )
        .await
        .unwrap_or_else(|e| panic!("finalizers of pod {pod}: {e}"));
}

/// `kubectl delete job <test>-worker --cascade=foreground`: the Job is marked (deletion
/// timestamp, `foregroundDeletion`) until its pods are gone. Meanwhile it is still the
/// operator's own Job going away, not a foreign object taking the name: no `NameConflict`,
/// no error; once it is gone, the operator recreates it.
#[tokio::test]
async fn its_job_deleted_in_the_foreground_is_waited_for_then_recreated() {
    init_logs();
    Scenario::run(Options::new(), async |s| {
        let name = "fg";
        let worker = format!("{name}-worker");
        s.create(name, 2).await;
        let (_, workers) = s.run_to_running(name, 2).await;
        let original = s.children(name).await;
        // Pods take their time to terminate (a kubelet gives them their grace period): one
        // is held by a finalizer until the test lets it go.
        let held = workers[0].name_any();
        set_finalizers(s, &held, |finalizers| finalizers.push(HOLD.to_owned())).await;
        tokio::time::sleep(QUIET).await; // the operator's cache holds its last write
        let before = s.reconciles();
        let marked = s
            .api::<Job>()
            .delete(&worker, &DeleteParams::foreground())
            .await
            .unwrap()
            .left()
            .expect("a Job with a foreground finalizer is marked, not removed");
        assert!(marked.metadata.deletion_timestamp.is_some());
        assert!(
            marked
                .finalizers()
                .iter()
                .any(|f| f == "foregroundDeletion")
        );
        // Without kube-controller-manager a real API server has no garbage collector: the
        // test deletes the pods as it would.
        let gc_by_hand = s.is_real_cluster() && !s.jobs().has_controller();
        if gc_by_hand {
            for pod in &workers {
                let _ = s
                    .api::<Pod>()
                    .delete(&pod.name_any(), &DeleteParams::background())
                    .await;
            }
        }
        poll("the held pod terminating", WAIT, || async {
            let pod = s.api::<Pod>().get(&held).await.map_err(|e| e.to_string())?;
            if pod.metadata.deletion_timestamp.is_some() {
                Ok(())
            } else {
                Err("not deleted yet".to_owned())
            }
        })
        .await;
        s.reconciled_since(before).await;
        // While it goes the test is Pending, recreating (as for any child deleted by someone
        // else), and stays so: waiting writes nothing.
        let waiting = s.get(name).await;
        assert_eq!(phase(&waiting), "Pending", "{}", waiting["status"]);
        assert_condition(
            &waiting,
            types::READY,
            "False",
            reasons::RESOURCES_CREATING,
            &format!("Recreating externally deleted resources: Job {worker}"),
        );
        tokio::time::sleep(QUIET).await;
        let later = s.get(name).await;
        assert_eq!(
            later["metadata"]["resourceVersion"], waiting["metadata"]["resourceVersion"],
            "no write while waiting: {} then {}",
            waiting["status"], later["status"]
        );
        let deleting = s.api::<Job>().get(&worker).await.unwrap();
        assert_eq!(
            deleting.metadata.uid, original.worker.metadata.uid,
            "the Job waits for its pods; nothing can take its name meanwhile"
        );
        assert!(deleting.metadata.deletion_timestamp.is_some());
        let list = s.events(name).await;
        assert_eq!(
            notes(&list, "NameConflict"),
            Vec::<(String, String)>::new(),
            "its own Job being deleted is no name conflict"
        );
        let child_owned_by_other = series(
            "locust_operator_reconcile_errors_by_kind_total",
            &format!("{CONTROLLER},kind=\"child_owned_by_other\""),
        );
        let text = s.metrics_text();
        assert_eq!(
            metric(&text, &child_owned_by_other).unwrap_or_default(),
            0.0,
            "{child_owned_by_other} in\n{text}"
        );

        // The pod goes, then the Job; the operator recreates it.
        set_finalizers(s, &held, |finalizers| finalizers.retain(|f| f != HOLD)).await;
        if gc_by_hand {
            let _ = s
                .api::<Job>()
                .patch(
                    &worker,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"metadata": {"finalizers": null}})),
                )
                .await;
        }
        let recreated = poll("the worker Job recreated", WAIT, || async {
            match s.api::<Job>().get_opt(&worker).await {
                Ok(Some(job)) if job.metadata.uid != original.worker.metadata.uid => Ok(job),
                other => Err(format!("{:?}", other.map(|j| j.map(|j| j.metadata.uid)))),
            }
        })
        .await;
        assert_eq!(built(&recreated), built(&original.worker));
        let list = s.wait_event(name, "Recreated").await;
        assert_eq!(
            notes(&list, "Recreated"),
            [(
                "Warning".to_owned(),
                format!("Recreated Job {worker}, {RECREATED_WHY}")
            )]
        );
        assert_eq!(occurrences(&list, "NameConflict"), 0);
        s.start_workers(name, 2).await;
        s.wait_for(name, "2/2 workers again", |t| {
            has(
                t,
                types::WORKERS_CONNECTED,
                "True",
                reasons::ALL_WORKERS_CONNECTED,
            )
        })
        .await;
        let text = s.metrics_text();
        assert_eq!(
            metric(&text, &child_owned_by_other).unwrap_or_default(),
            0.0,
            "{child_owned_by_other} in\n{text}"
        );
    })
    .await;
}
