//! A controller that is interrupted converges without duplicates: an operator restarted
//! mid-test catches up without recreating or re-announcing anything (and a restart where
//! nothing changed writes nothing); transient API errors, conflicts, broken watches and a
//! compacted history (harness fault injection) lead to the same status and events, once each.

use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Service;
use kube::api::ListParams;
use locust_operator::api::conditions::{reasons, types};
use locust_operator::status::{MESSAGE_TEST_SUCCEEDED, event_reasons};
use memory_apiserver::Filter;

use crate::e2e::poll;
use crate::objects::{
    CONTROLLER, QUIET, WAIT, assert_condition, event_summary, metric, notes, occurrences, series,
};
use crate::operator::Options;
use crate::scenario::Scenario;
use crate::test_status::{has, phase};
use crate::{PhaseLog, init_logs};

#[tokio::test]
async fn operator_restart_mid_test() {
    init_logs();
    Scenario::run(Options::new(), async |s| {
        let name = "restart";
        s.create(name, 2).await;
        let kids = s.children(name).await;
        let master = s.start_master(name).await;
        let workers = s.start_one_of_two_workers(name).await;
        s.wait_for(name, "Running, 1/2", |t| {
            phase(t) == "Running"
                && has(
                    t,
                    types::WORKERS_CONNECTED,
                    "False",
                    reasons::WORKERS_MISSING,
                )
        })
        .await;
        s.wait_event(name, event_reasons::TEST_STARTED).await;
        s.stop_operator().await;

        // While it is down, the second worker connects.
        s.connect_second_worker(name, &workers).await;
        tokio::time::sleep(QUIET).await;
        assert_eq!(
            s.get(name).await["status"]["connectedWorkers"],
            1,
            "nobody reconciles"
        );

        // A new operator catches up without recreating or re-announcing anything.
        s.start_operator(Options::new());
        let test = s
            .wait_for(name, "2/2 after the restart", |t| {
                has(
                    t,
                    types::WORKERS_CONNECTED,
                    "True",
                    reasons::ALL_WORKERS_CONNECTED,
                )
            })
            .await;
        assert_eq!(phase(&test), "Running");
        assert_eq!(
            s.children(name).await.uids(),
            kids.uids(),
            "nothing recreated"
        );
        let list = s.events(name).await;
        assert_eq!(occurrences(&list, "Created"), 1);
        assert_eq!(occurrences(&list, event_reasons::TEST_STARTED), 1);
        s.stop_operator().await;

        // A restart where nothing changed writes nothing.
        let kids = s.children(name).await;
        let rv = s.get(name).await["metadata"]["resourceVersion"].clone();
        let summary = event_summary(&s.events(name).await);
        s.start_operator(Options::new());
        poll("caches synced", WAIT, || async {
            if s.state().caches_synced() {
                Ok(())
            } else {
                Err("not yet")
            }
        })
        .await;
        s.reconciled_since(0.0).await;
        assert_eq!(
            s.get(name).await["metadata"]["resourceVersion"],
            rv,
            "no status write"
        );
        assert_eq!(
            s.children(name).await.versions(),
            kids.versions(),
            "no child write"
        );
        assert_eq!(event_summary(&s.events(name).await), summary, "no event");
        s.stop_operator().await;

        // The test ends while no operator runs.
        s.finish_master(name, &master).await;
        s.start_operator(Options::new());
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
        let list = s.wait_event(name, event_reasons::TEST_SUCCEEDED).await;
        for reason in [
            "Created",
            event_reasons::TEST_STARTED,
            event_reasons::TEST_SUCCEEDED,
        ] {
            assert_eq!(occurrences(&list, reason), 1, "{reason}");
        }
        assert_eq!(occurrences(&list, "Recreated"), 0);
        assert_eq!(s.children(name).await.uids(), kids.uids());
    })
    .await;
}

#[tokio::test]
async fn transient_api_errors_converge_without_duplicates() {
    init_logs();
    Scenario::run(Options::new(), async |s| {
        let Some(harness) = s.harness() else {
            eprintln!("skipped in real-cluster mode: fault injection needs the harness");
            return;
        };
        let faults = harness.faults();
        let post_jobs = Filter {
            method: Some(hyper::Method::POST),
            path_contains: Some("/jobs".into()),
        };
        let status_of = |name: &str| Filter {
            method: Some(hyper::Method::PATCH),
            path_contains: Some(format!("/locusttests/{name}/status")),
        };

        // Job creates fail twice.
        let name = "t-jobs";
        faults.fail_next(post_jobs.clone(), 2, 500);
        let log = PhaseLog::start(s, name);
        s.create(name, 1).await;
        let kids = s.children(name).await;
        s.wait_for(name, "Ready", |t| {
            has(t, types::READY, "True", reasons::RESOURCES_CREATED)
        })
        .await;
        assert!(faults.injected() >= 2);
        let list = s.wait_event(name, "Created").await;
        assert_eq!(
            occurrences(&list, "Created"),
            1,
            "{:?}",
            notes(&list, "Created")
        );
        assert_eq!(occurrences(&list, "Recreated"), 0);
        let labelled = ListParams::default().labels(&format!("performance-test-name={name}"));
        assert_eq!(s.api::<Job>().list(&labelled).await.unwrap().items.len(), 2);
        assert_eq!(
            s.api::<Service>()
                .list(&labelled)
                .await
                .unwrap()
                .items
                .len(),
            1
        );
        s.run_to_running(name, 1).await;
        assert_eq!(s.children(name).await.uids(), kids.uids());
        log.expect(&["Pending", "Running"]).await;

        // The first status write fails: the creation is still announced, once.
        let name = "t-status";
        faults.fail_next(status_of(name), 1, 500);
        let log = PhaseLog::start(s, name);
        s.create(name, 1).await;
        let kids = s.children(name).await;
        s.wait_for(name, "Ready", |t| {
            has(t, types::READY, "True", reasons::RESOURCES_CREATED)
        })
        .await;
        let list = s.wait_event(name, "Created").await;
        assert_eq!(occurrences(&list, "Created"), 1);
        // The status write of the transition to Running fails twice (500), then conflicts
        // twice (409): TestStarted once, no phase regression.
        faults.fail_next(status_of(name), 2, 500);
        faults.fail_next(status_of(name), 2, 409);
        let master = s.start_master(name).await;
        s.start_workers(name, 1).await;
        s.wait_for(name, "Running", |t| phase(t) == "Running").await;
        s.wait_event(name, event_reasons::TEST_STARTED).await;
        tokio::time::sleep(QUIET).await;
        let list = s.events(name).await;
        assert_eq!(occurrences(&list, event_reasons::TEST_STARTED), 1);
        // The watches break and the history is compacted: every watch resumes with 410 Gone
        // and relists. No child is thought missing, nothing is recreated. (Each 410 is an error
        // of the controller's trigger stream, which kube backs off as a whole, exponentially
        // from 0.8 s: the controller resumes after several seconds.)
        harness.compact();
        harness.drop_watches();
        tokio::time::sleep(Duration::from_secs(1)).await;
        faults.fail_next(status_of(name), 1, 500);
        s.finish_master(name, &master).await;
        poll("Succeeded after the watches recover", 2 * WAIT, || async {
            let test = s.get(name).await;
            if phase(&test) == "Succeeded" {
                Ok(())
            } else {
                Err(test["status"].to_string())
            }
        })
        .await;
        s.wait_event(name, event_reasons::TEST_SUCCEEDED).await;
        tokio::time::sleep(QUIET).await;
        let list = s.events(name).await;
        for reason in [
            "Created",
            event_reasons::TEST_STARTED,
            event_reasons::TEST_SUCCEEDED,
        ] {
            assert_eq!(
                occurrences(&list, reason),
                1,
                "{reason}: {:?}",
                event_summary(&list)
            );
        }
        assert_eq!(occurrences(&list, "Recreated"), 0);
        assert_eq!(
            s.children(name).await.uids(),
            kids.uids(),
            "nothing recreated"
        );
        log.expect(&["Pending", "Running", "Succeeded"]).await;
        let text = s.metrics_text();
        for kind in ["create_child", "write_status", "conflict"] {
            let series = series(
                "locust_operator_reconcile_errors_by_kind_total",
                &format!("{CONTROLLER},kind=\"{kind}\""),
            );
            assert!(
                metric(&text, &series).is_some_and(|v| v >= 1.0),
                "{series} in\n{text}"
            );
        }
    })
    .await;
}

/// The spec is edited between the creation of the children and the first status write, which
/// carries the record of the spec they were built from: that write is refused (409, the test
/// changed), and the record is kept anyway, so the test runs and reports from the spec its
/// children have, not from the edit.
#[tokio::test]
async fn an_edit_racing_the_first_status_write_keeps_the_record() {
    init_logs();
    Scenario::run(Options::new(), async |s| {
        let Some(harness) = s.harness() else {
            eprintln!("skipped in real-cluster mode: the race needs the harness's delay");
            return;
        };
        let name = "racing-edit";
        let faults = harness.faults();
        faults.delay(
            Filter {
                method: Some(hyper::Method::PATCH),
                path_contains: Some(format!("/locusttests/{name}/status")),
            },
            Duration::from_millis(1500),
        );
        let manifest = crate::objects::manifest(name, 2);
        let built: locust_operator::api::LocustTestSpec =
            serde_json::from_value(manifest["spec"].clone()).unwrap();
        s.create_from(manifest).await;
        s.children(name).await;
        // The status write is on its way, held by the server: the edit lands first.
        s.patch_spec(name, serde_json::json!({"worker": {"replicas": 3}}))
            .await;
        let test = s
            .wait_for(name, "the record", |t| {
                t["status"]["originalSpec"].is_string()
            })
            .await;
        faults.clear();
        assert_eq!(
            test["status"]["originalSpec"].as_str(),
            Some(locust_operator::controller::plan::encode_original(&built).as_str())
        );
        let test = s
            .wait_for(name, "Ready", |t| {
                has(t, types::READY, "True", reasons::RESOURCES_CREATED)
            })
            .await;
        assert_eq!(test["status"]["expectedWorkers"], 2, "{test}");
        assert_eq!(test["metadata"]["generation"], 2);
    })
    .await;
}
