//! Edits of a test that was built: a spec edit is reported (`SpecDrifted`, a warning event)
//! and ignored (no child written, the test runs on as it started), an edit back clears it; an
//! edit of the metadata only changes nothing the operator writes.

use kube::api::{Patch, PatchParams};
use locust_operator::api::conditions::{reasons, types};
use locust_operator::status::{MESSAGE_SPEC_DRIFTED, MESSAGE_SPEC_RESTORED, event_reasons};
use serde_json::json;

use crate::init_logs;
use crate::objects::{IMAGE, QUIET, assert_condition, event_summary, notes, occurrences};
use crate::operator::Options;
use crate::scenario::Scenario;
use crate::test_status::{condition, has, phase};

#[tokio::test]
async fn spec_drift_is_reported_and_ignored() {
    init_logs();
    Scenario::run(Options::new(), async |s| {
        let name = "drift";
        s.create(name, 2).await;
        s.run_to_running(name, 2).await;
        let kids = s.children(name).await;
        let running = s.get(name).await;
        assert!(
            condition(&running, types::SPEC_DRIFTED).is_none(),
            "no SpecDrifted before an edit: {running}"
        );

        // Edit: the webhook warns but allows; the controller reports and ignores it.
        s.patch_spec(
            name,
            json!({"image": "locustio/locust:2.44.0", "worker": {"replicas": 3}}),
        )
        .await;
        let test = s
            .wait_for(name, "SpecDrifted=True", |t| {
                has(t, types::SPEC_DRIFTED, "True", reasons::SPEC_CHANGE_IGNORED)
            })
            .await;
        assert_condition(
            &test,
            types::SPEC_DRIFTED,
            "True",
            reasons::SPEC_CHANGE_IGNORED,
            MESSAGE_SPEC_DRIFTED,
        );
        assert_eq!(test["metadata"]["generation"], 2);
        assert_eq!(test["status"]["observedGeneration"], 2);
        assert_eq!(phase(&test), "Running");
        assert_eq!(
            test["status"]["expectedWorkers"], 2,
            "the edited replica count is ignored"
        );
        assert_condition(
            &test,
            types::WORKERS_CONNECTED,
            "True",
            reasons::ALL_WORKERS_CONNECTED,
            "2/2 workers connected",
        );
        let list = s.wait_event(name, event_reasons::SPEC_CHANGE_IGNORED).await;
        assert_eq!(
            notes(&list, event_reasons::SPEC_CHANGE_IGNORED),
            [("Warning".to_owned(), MESSAGE_SPEC_DRIFTED.to_owned())]
        );
        let now = s.children(name).await;
        assert_eq!(now.versions(), kids.versions(), "no child written");
        assert_eq!(now.worker.spec, kids.worker.spec);
        assert_eq!(now.master.spec, kids.master.spec);

        // Edit back: SpecDrifted goes away.
        s.patch_spec(name, json!({"image": IMAGE, "worker": {"replicas": 2}}))
            .await;
        let test = s
            .wait_for(name, "SpecDrifted gone", |t| {
                condition(t, types::SPEC_DRIFTED).is_none()
                    && t["status"]["observedGeneration"] == 3
            })
            .await;
        assert_eq!(phase(&test), "Running");
        let list = s.wait_event(name, event_reasons::SPEC_RESTORED).await;
        assert_eq!(
            notes(&list, event_reasons::SPEC_RESTORED),
            [("Normal".to_owned(), MESSAGE_SPEC_RESTORED.to_owned())]
        );
        assert_eq!(occurrences(&list, event_reasons::SPEC_CHANGE_IGNORED), 1);
        assert_eq!(
            s.children(name).await.versions(),
            kids.versions(),
            "no child written"
        );
    })
    .await;
}

#[tokio::test]
async fn a_reconcile_without_changes_writes_nothing() {
    init_logs();
    Scenario::run(Options::new(), async |s| {
        let name = "idem";
        s.create(name, 2).await;
        s.run_to_running(name, 2).await;
        tokio::time::sleep(QUIET).await;
        let kids = s.children(name).await;
        let test = s.get(name).await;
        let summary = event_summary(&s.events(name).await);

        // A label (metadata only) triggers a reconcile that must change nothing.
        let before = s.reconciles();
        let labelled = s
            .locust_tests("v2")
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"team": "checkout"}}})),
            )
            .await
            .unwrap();
        s.reconciled_since(before).await;
        let now = s.get(name).await;
        assert_eq!(
            now["metadata"]["resourceVersion"].as_str(),
            labelled.metadata.resource_version.as_deref(),
            "only the label was written"
        );
        assert_eq!(now["status"], test["status"]);
        assert_eq!(
            now["metadata"]["generation"],
            test["metadata"]["generation"]
        );
        assert_eq!(s.children(name).await.versions(), kids.versions());
        assert_eq!(event_summary(&s.events(name).await), summary);
    })
    .await;
}

/// A test an earlier version recorded in the annotation `locust.io/original-spec` (with a write
/// of its own, before issue 15) keeps that record: its children come from it, an edit drifts
/// from it, and the operator writes no record of its own in the status.
#[tokio::test]
async fn a_record_in_the_annotation_of_earlier_versions_is_still_used() {
    init_logs();
    Scenario::run(Options::new(), async |s| {
        let name = "legacy-record";
        let mut manifest = crate::objects::manifest(name, 2);
        let spec: locust_operator::api::LocustTestSpec =
            serde_json::from_value(manifest["spec"].clone()).unwrap();
        let record = locust_operator::controller::plan::encode_original(&spec);
        manifest["metadata"]["annotations"] =
            json!({ locust_operator::api::ANNOTATION_ORIGINAL_SPEC: record });
        s.create_from(manifest).await;
        s.run_to_running(name, 2).await;
        let running = s.get(name).await;
        assert!(
            running["status"]["originalSpec"].is_null(),
            "the annotation is the record: {running}"
        );

        s.patch_spec(name, json!({"worker": {"replicas": 3}})).await;
        let test = s
            .wait_for(name, "SpecDrifted=True", |t| {
                has(t, types::SPEC_DRIFTED, "True", reasons::SPEC_CHANGE_IGNORED)
            })
            .await;
        assert_eq!(
            test["status"]["expectedWorkers"], 2,
            "from the record: {test}"
        );
    })
    .await;
}
