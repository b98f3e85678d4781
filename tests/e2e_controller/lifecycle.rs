//! A test's whole life, as `kubectl get locusttest -w` and the status show it: created, its
//! children built (a Service and two Jobs, each with a controller owner reference to the test,
//! pods labelled for the user's selectors), `Pending` with the initial conditions, `Running`
//! once the master runs, workers connecting one by one, `Succeeded` once the master exits 0,
//! with the events and metrics of each step; and, once `Succeeded`, a phase that never changes
//! whatever then happens to the pods, the children or the spec.

use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::ResourceExt;
use kube::api::{DeleteParams, ListParams};
use locust_operator::api::ANNOTATION_ORIGINAL_SPEC;
use locust_operator::api::LocustTest;
use locust_operator::api::conditions::{reasons, types};
use locust_operator::controller::plan::encode_original;
use locust_operator::status::{
    MESSAGE_EVENT_SUCCEEDED, MESSAGE_PODS_HEALTHY, MESSAGE_RESOURCES_CREATED,
    MESSAGE_TEST_NOT_STARTED, MESSAGE_TEST_RUNNING, MESSAGE_TEST_STARTED, MESSAGE_TEST_SUCCEEDED,
    MESSAGE_WAITING_FOR_PODS, event_reasons,
};
use memory_apiserver::sim;
use serde_json::json;

use crate::e2e::poll;
use crate::objects::{
    CONTROLLER, WAIT, assert_condition, condition_types, event_summary, metric, notes, occurrences,
    series, time_of,
};
use crate::operator::{self, Options};
use crate::scenario::Scenario;
use crate::test_status::{condition, has, phase};
use crate::{PhaseLog, init_logs};

#[tokio::test]
async fn lifecycle_to_succeeded() {
    init_logs();
    // A grace period that outlasts the test's Pending phase: pods that are not running yet
    // stay "starting" throughout.
    let mut options = Options::new();
    options.grace = Duration::from_secs(60);
    Scenario::run(options, async |s| {
        let name = "lifecycle";
        let uid = s.create(name, 2).await;
        let log = PhaseLog::start(s, name);

        // Service + 2 Jobs, each with a controller owner reference to the test.
        let kids = s.children(name).await;
        for meta in [
            &kids.service.metadata,
            &kids.master.metadata,
            &kids.worker.metadata,
        ] {
            let owners = meta.owner_references.clone().unwrap_or_default();
            assert_eq!(owners.len(), 1, "{:?}", meta.name);
            let owner = &owners[0];
            assert_eq!(
                (
                    owner.api_version.as_str(),
                    owner.kind.as_str(),
                    owner.name.as_str(),
                    owner.uid.as_str(),
                    owner.controller,
                    owner.block_owner_deletion
                ),
                (
                    "locust.io/v2",
                    "LocustTest",
                    name,
                    uid.as_str(),
                    Some(true),
                    Some(true)
                ),
                "{:?}",
                meta.name
            );
        }
        for (job, role) in [(&kids.master, "master"), (&kids.worker, "worker")] {
            let labels = job
                .spec
                .as_ref()
                .and_then(|s| s.template.metadata.as_ref())
                .and_then(|m| m.labels.clone())
                .unwrap_or_default();
            assert_eq!(
                labels.get("performance-test-name").map(String::as_str),
                Some(name)
            );
            assert_eq!(
                labels.get("performance-test-pod-name"),
                Some(&format!("{name}-{role}"))
            );
        }
        assert_eq!(
            kids.worker.spec.as_ref().and_then(|s| s.parallelism),
            Some(2)
        );

        // Pending with the initial conditions. A Job controller makes the pods at once (they
        // are starting); without one there are none until the test makes them.
        let starting = if s.jobs().has_controller() {
            "Pods are starting: failures are reported once a pod is older than the 1m grace period"
        } else {
            MESSAGE_WAITING_FOR_PODS
        };
        let test = s
            .wait_for(name, "Pending, Ready=True, pods starting", |t| {
                phase(t) == "Pending"
                    && has(t, types::READY, "True", reasons::RESOURCES_CREATED)
                    && condition(t, types::PODS_HEALTHY).is_some_and(|c| c["message"] == starting)
            })
            .await;
        assert_condition(
            &test,
            types::READY,
            "True",
            reasons::RESOURCES_CREATED,
            MESSAGE_RESOURCES_CREATED,
        );
        assert_condition(
            &test,
            types::WORKERS_CONNECTED,
            "False",
            reasons::WAITING_FOR_WORKERS,
            "0/2 workers connected",
        );
        assert_condition(
            &test,
            types::PODS_HEALTHY,
            "True",
            reasons::PODS_STARTING,
            starting,
        );
        assert_condition(
            &test,
            types::TEST_COMPLETED,
            "False",
            reasons::TEST_IN_PROGRESS,
            MESSAGE_TEST_NOT_STARTED,
        );
        assert_eq!(
            condition_types(&test),
            [
                types::READY,
                types::WORKERS_CONNECTED,
                types::PODS_HEALTHY,
                types::TEST_COMPLETED
            ],
            "no SpecDrifted while Pending"
        );
        assert_eq!(test["status"]["expectedWorkers"], 2);
        assert_eq!(test["status"]["connectedWorkers"], 0);
        assert_eq!(
            test["status"]["observedGeneration"],
            test["metadata"]["generation"]
        );
        assert!(test["status"]["startTime"].is_null());
        assert!(test["status"]["completionTime"].is_null());

        // The spec the children were built from is recorded, in the status: no write of the
        // test itself (the annotation of earlier versions is read, never written).
        let typed: LocustTest = serde_json::from_value(test.clone()).unwrap();
        assert_eq!(
            test["status"]["originalSpec"].as_str(),
            Some(encode_original(&typed.spec).as_str())
        );
        assert!(test["metadata"]["annotations"][ANNOTATION_ORIGINAL_SPEC].is_null());

        // The master runs: Running, with a start time; no worker connected yet.
        let master = s.start_master(name).await;
        let test = s.wait_for(name, "Running", |t| phase(t) == "Running").await;
        let started = time_of(&test["status"]["startTime"]);
        assert_condition(
            &test,
            types::TEST_COMPLETED,
            "False",
            reasons::TEST_IN_PROGRESS,
            MESSAGE_TEST_RUNNING,
        );
        assert_condition(
            &test,
            types::WORKERS_CONNECTED,
            "False",
            reasons::WAITING_FOR_WORKERS,
            "0/2 workers connected",
        );
        assert_condition(
            &test,
            types::READY,
            "True",
            reasons::RESOURCES_CREATED,
            MESSAGE_RESOURCES_CREATED,
        );
        assert!(
            condition(&test, types::SPEC_DRIFTED).is_none(),
            "SpecDrifted appears only when the spec is edited: {test}"
        );

        // Workers connect one by one (the worker Job's `ready`).
        let workers = s.start_one_of_two_workers(name).await;
        let test = s
            .wait_for(name, "1/2 workers", |t| {
                has(
                    t,
                    types::WORKERS_CONNECTED,
                    "False",
                    reasons::WORKERS_MISSING,
                )
            })
            .await;
        assert_condition(
            &test,
            types::WORKERS_CONNECTED,
            "False",
            reasons::WORKERS_MISSING,
            "1/2 workers connected",
        );
        assert_eq!(test["status"]["connectedWorkers"], 1);
        s.connect_second_worker(name, &workers).await;
        let test = s
            .wait_for(name, "2/2 workers", |t| {
                has(
                    t,
                    types::WORKERS_CONNECTED,
                    "True",
                    reasons::ALL_WORKERS_CONNECTED,
                ) && has(t, types::PODS_HEALTHY, "True", reasons::PODS_HEALTHY)
            })
            .await;
        assert_condition(
            &test,
            types::WORKERS_CONNECTED,
            "True",
            reasons::ALL_WORKERS_CONNECTED,
            "2/2 workers connected",
        );
        assert_condition(
            &test,
            types::PODS_HEALTHY,
            "True",
            reasons::PODS_HEALTHY,
            MESSAGE_PODS_HEALTHY,
        );
        assert_eq!(test["status"]["connectedWorkers"], 2);

        // The pods carry the labels of the user's selectors.
        let pods = s.api::<Pod>();
        let all = pods
            .list(&ListParams::default().labels(&format!("performance-test-name={name}")))
            .await
            .unwrap();
        assert_eq!(all.items.len(), 3);
        let worker_pods = pods
            .list(
                &ListParams::default().labels(&format!("performance-test-pod-name={name}-worker")),
            )
            .await
            .unwrap();
        assert_eq!(worker_pods.items.len(), 2);

        // The master exits 0: Succeeded.
        s.finish_master(name, &master).await;
        let test = s
            .wait_for(name, "Succeeded", |t| phase(t) == "Succeeded")
            .await;
        assert_condition(
            &test,
            types::TEST_COMPLETED,
            "True",
            reasons::TEST_SUCCEEDED,
            MESSAGE_TEST_SUCCEEDED,
        );
        assert_condition(
            &test,
            types::READY,
            "True",
            reasons::RESOURCES_CREATED,
            MESSAGE_RESOURCES_CREATED,
        );
        assert_condition(
            &test,
            types::WORKERS_CONNECTED,
            "True",
            reasons::ALL_WORKERS_CONNECTED,
            "2/2 workers connected",
        );
        assert_condition(
            &test,
            types::PODS_HEALTHY,
            "True",
            reasons::PODS_HEALTHY,
            MESSAGE_PODS_HEALTHY,
        );
        assert_eq!(test["status"]["connectedWorkers"], 2);
        assert_eq!(test["status"]["expectedWorkers"], 2);
        assert_eq!(
            time_of(&test["status"]["startTime"]),
            started,
            "startTime kept"
        );
        assert!(time_of(&test["status"]["completionTime"]) >= started);
        log.expect(&["Pending", "Running", "Succeeded"]).await;

        // Events a user filters on, each once.
        let list = s.wait_event(name, event_reasons::TEST_SUCCEEDED).await;
        assert_eq!(
            notes(&list, "Created"),
            [(
                "Normal".to_owned(),
                format!("Created Service {name}-master, Job {name}-master, Job {name}-worker")
            )]
        );
        assert_eq!(
            notes(&list, event_reasons::TEST_STARTED),
            [("Normal".to_owned(), MESSAGE_TEST_STARTED.to_owned())]
        );
        assert_eq!(
            notes(&list, event_reasons::TEST_SUCCEEDED),
            [("Normal".to_owned(), MESSAGE_EVENT_SUCCEEDED.to_owned())]
        );
        for reason in [
            "Created",
            event_reasons::TEST_STARTED,
            event_reasons::TEST_SUCCEEDED,
        ] {
            assert_eq!(occurrences(&list, reason), 1, "{reason}");
        }
        assert_eq!(list.len(), 3, "{:?}", event_summary(&list));
        for event in &list {
            let regarding = event.regarding.as_ref().unwrap();
            assert_eq!(regarding.kind.as_deref(), Some("LocustTest"));
            assert_eq!(regarding.uid.as_deref(), Some(uid.as_str()));
            assert_eq!(
                event.reporting_controller.as_deref(),
                Some("locust-operator")
            );
        }

        // Metrics.
        poll(
            "locust_operator_tests{phase=\"Succeeded\"} 1",
            WAIT,
            || async {
                let text = s.metrics_text();
                if metric(&text, "locust_operator_tests{phase=\"Succeeded\"}") == Some(1.0) {
                    Ok(())
                } else {
                    Err(text)
                }
            },
        )
        .await;
        let text = s.metrics_text();
        for (series, expected) in [
            ("locust_operator_tests{phase=\"Pending\"}", 0.0),
            ("locust_operator_tests{phase=\"Running\"}", 0.0),
            ("locust_operator_tests{phase=\"Failed\"}", 0.0),
            (
                "locust_operator_test_duration_seconds_count{phase=\"Succeeded\"}",
                1.0,
            ),
            (
                "controller_runtime_reconcile_errors_total{controller=\"locusttest\"}",
                0.0,
            ),
            (
                "controller_runtime_max_concurrent_reconciles{controller=\"locusttest\"}",
                16.0,
            ),
            ("locust_operator_leader", 1.0),
        ] {
            assert_eq!(metric(&text, series), Some(expected), "{series} in\n{text}");
        }
        for result in ["success", "requeue_after"] {
            let series = series(
                "controller_runtime_reconcile_total",
                &format!("{CONTROLLER},result=\"{result}\""),
            );
            assert!(
                metric(&text, &series).is_some_and(|v| v >= 1.0),
                "{series} in\n{text}"
            );
        }
        assert!(
            metric(
                &text,
                &series(
                    "controller_runtime_reconcile_time_seconds_count",
                    CONTROLLER
                ),
            )
            .is_some_and(|v| v >= 1.0),
            "{text}"
        );
    })
    .await;
}

#[tokio::test]
async fn terminal_phase_never_changes() {
    init_logs();
    Scenario::run(Options::new(), async |s| {
        let name = "frozen";
        let (client, ns) = (s.client(), s.namespace());
        s.create(name, 2).await;
        let (master, workers) = s.run_to_running(name, 2).await;
        s.finish_master(name, &master).await;
        let done = s
            .wait_for(name, "Succeeded", |t| phase(t) == "Succeeded")
            .await;
        let events_before = event_summary(&s.wait_event(name, event_reasons::TEST_SUCCEEDED).await);

        // The master Job and pods look failed afterwards. Only without a Job controller can
        // the test write that on the Job (and a real API server may refuse a Failed condition
        // on a complete Job); with one, only the pods change.
        let before = s.reconciles();
        if !s.jobs().has_controller() {
            let _ = sim::fail_job(client, ns, &format!("{name}-master")).await;
        }
        sim::set_pod_evicted(
            client,
            ns,
            &workers[0],
            "The node was low on resource: memory.",
        )
        .await
        .unwrap();
        sim::set_pod_waiting(
            client,
            ns,
            &workers[1],
            "CrashLoopBackOff",
            "back-off",
            false,
        )
        .await
        .unwrap();
        s.settle(&format!("{name}-worker")).await;
        s.reconciled_since(before).await;
        tokio::time::sleep(operator::TEST_GRACE).await; // past every grace period
        let test = s.get(name).await;
        assert_eq!(
            test["status"], done["status"],
            "status frozen after failures"
        );

        // Pods and children deleted: nothing recreated, status unchanged.
        let before = s.reconciles();
        for pod in std::iter::once(&master).chain(&workers) {
            let _ = s
                .api::<Pod>()
                .delete(&pod.name_any(), &DeleteParams::background())
                .await;
        }
        for job in ["master", "worker"] {
            s.api::<Job>()
                .delete(&format!("{name}-{job}"), &DeleteParams::background())
                .await
                .unwrap();
        }
        s.api::<Service>()
            .delete(&format!("{name}-master"), &DeleteParams::background())
            .await
            .unwrap();
        s.reconciled_since(before).await;
        assert_eq!(
            s.children_now(name).await,
            Vec::<String>::new(),
            "nothing recreated"
        );
        let test = s.get(name).await;
        assert_eq!(
            test["status"], done["status"],
            "status frozen after deletions"
        );

        // A spec edit is still seen (SpecDrifted, observedGeneration); nothing else moves.
        s.patch_spec(name, json!({"worker": {"replicas": 3}})).await;
        let test = s
            .wait_for(name, "SpecDrifted=True", |t| {
                has(t, types::SPEC_DRIFTED, "True", reasons::SPEC_CHANGE_IGNORED)
            })
            .await;
        assert_eq!(phase(&test), "Succeeded");
        assert_eq!(test["status"]["observedGeneration"], 2);
        for key in [
            "startTime",
            "completionTime",
            "expectedWorkers",
            "connectedWorkers",
        ] {
            assert_eq!(test["status"][key], done["status"][key], "{key}");
        }
        for type_ in [
            types::READY,
            types::WORKERS_CONNECTED,
            types::PODS_HEALTHY,
            types::TEST_COMPLETED,
        ] {
            let (mut was, mut is) = (
                condition(&done, type_).unwrap().clone(),
                condition(&test, type_).unwrap().clone(),
            );
            was.as_object_mut().unwrap().remove("observedGeneration");
            is.as_object_mut().unwrap().remove("observedGeneration");
            assert_eq!(is, was, "{type_} frozen");
            assert_eq!(condition(&test, type_).unwrap()["observedGeneration"], 2);
        }
        assert_eq!(
            s.children_now(name).await,
            Vec::<String>::new(),
            "nothing recreated"
        );
        let list = s.wait_event(name, event_reasons::SPEC_CHANGE_IGNORED).await;
        let mut expected = events_before.clone();
        expected.push((event_reasons::SPEC_CHANGE_IGNORED.to_owned(), 1));
        expected.sort();
        assert_eq!(
            event_summary(&list),
            expected,
            "no Recreated, TestFailed or PodFailure"
        );
    })
    .await;
}
