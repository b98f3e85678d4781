//! A test whose spec is invalid but that was stored anyway (admission bypassed): `Ready=False`
//! with reason `InvalidSpec`, the validation message and a warning event, no child built;
//! once the spec is fixed, it is built (`docs/compatibility.md`, Part B 12).

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Service;
use kube::api::{ListParams, Patch, PatchParams};
use locust_operator::api::LocustTest;
use locust_operator::api::conditions::{reasons, types};
use locust_operator::defaulting::Defaulted;
use locust_operator::status::event_reasons;
use locust_operator::validation::validate;
use serde_json::json;

use crate::init_logs;
use crate::objects::{assert_condition, manifest, notes, occurrences};
use crate::operator::Options;
use crate::scenario::Scenario;
use crate::test_status::{has, phase};

/// An invalid test that slipped past admission: with a real API server, in a namespace the
/// test's webhooks do not cover; with the harness, on a harness without webhooks.
#[tokio::test]
async fn invalid_spec_that_bypassed_admission() {
    init_logs();
    Scenario::run_without_admission(Options::new(), async |s| {
        let name = "invalid";
        let mut object = manifest(name, 2);
        object["spec"]["master"]["resources"] =
            json!({"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}});
        s.create_from(object.clone()).await;
        let typed: LocustTest = serde_json::from_value(object).unwrap();
        let report = validate(&Defaulted::new(typed));
        assert!(!report.is_valid());
        let message = format!("Invalid spec: {}", report.error_message());
        assert!(
            message.contains("spec.master.resources.requests.memory"),
            "{message}"
        );

        let before = s.reconciles();
        let test = s
            .wait_for(name, "Ready=False InvalidSpec", |t| {
                has(t, types::READY, "False", reasons::INVALID_SPEC)
            })
            .await;
        assert_condition(
            &test,
            types::READY,
            "False",
            reasons::INVALID_SPEC,
            &message,
        );
        assert_eq!(phase(&test), "Pending");
        assert_condition(
            &test,
            types::WORKERS_CONNECTED,
            "False",
            reasons::WAITING_FOR_WORKERS,
            "0/2 workers connected",
        );
        assert!(
            test["status"]["originalSpec"].is_null(),
            "nothing built, nothing recorded"
        );
        let list = s.wait_event(name, event_reasons::INVALID_SPEC).await;
        assert_eq!(
            notes(&list, event_reasons::INVALID_SPEC),
            [("Warning".to_owned(), message.clone())]
        );
        s.reconciled_since(before).await;
        let jobs = s.api::<Job>();
        let services = s.api::<Service>();
        assert!(
            jobs.list(&ListParams::default())
                .await
                .unwrap()
                .items
                .is_empty(),
            "no Job"
        );
        assert!(
            services
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .is_empty(),
            "no Service"
        );

        // Fixed: now it is built.
        s.locust_tests("v2")
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(
                    json!({"spec": {"master": {"resources": {"limits": {"memory": "4Gi"}}}}}),
                ),
            )
            .await
            .unwrap();
        s.children(name).await;
        let test = s
            .wait_for(name, "Ready", |t| {
                has(t, types::READY, "True", reasons::RESOURCES_CREATED)
            })
            .await;
        assert!(test["status"]["originalSpec"].is_string());
        assert_eq!(
            occurrences(&s.events(name).await, event_reasons::INVALID_SPEC),
            1
        );
    })
    .await;
}
