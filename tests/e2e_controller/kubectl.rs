//! What a user's `kubectl` shows: `kubectl get events --field-selector reason=...` finds the
//! operator's events (recorded as `events.k8s.io/v1`, read as `core/v1`), and `kubectl wait
//! --for=condition=...` or `--for=jsonpath='{.status.phase}'=...` returns once the test gets
//! there, and not before.

use k8s_openapi::api::core::v1::Event as CoreEvent;
use kube::api::ListParams;
use kube::core::DynamicObject;
use kube::runtime::wait::await_condition;
use locust_operator::api::conditions::{reasons, types};
use locust_operator::status::{MESSAGE_EVENT_SUCCEEDED, MESSAGE_RESOURCES_CREATED, event_reasons};

use crate::e2e::{self};
use crate::init_logs;
use crate::objects::{QUIET, WAIT, assert_condition};
use crate::operator::Options;
use crate::scenario::Scenario;
use crate::test_status::phase;

/// The operator records `events.k8s.io/v1` Events; `kubectl get events` reads `core/v1`, where
/// a real API server shows the same objects (one storage) and filters on `reason`.
#[tokio::test]
async fn events_are_filterable_by_reason_as_kubectl_does() {
    init_logs();
    Scenario::run(Options::new(), async |s| {
        let name = "filtered";
        s.create(name, 1).await;
        let (master, _) = s.run_to_running(name, 1).await;
        s.finish_master(name, &master).await;
        s.wait_for(name, "Succeeded", |t| phase(t) == "Succeeded")
            .await;
        s.wait_event(name, event_reasons::TEST_SUCCEEDED).await;
        let core = s.api::<CoreEvent>();
        let all = core.list(&ListParams::default()).await.unwrap();
        let reasons_seen: Vec<_> = all.items.iter().filter_map(|e| e.reason.clone()).collect();
        for reason in [
            "Created",
            event_reasons::TEST_STARTED,
            event_reasons::TEST_SUCCEEDED,
        ] {
            assert!(
                reasons_seen.iter().any(|r| r == reason),
                "core/v1 Events show {reason}: {reasons_seen:?}"
            );
        }
        let filtered = core
            .list(&ListParams::default().fields("reason=TestSucceeded"))
            .await
            .unwrap_or_else(|e| panic!("--field-selector reason=TestSucceeded: {e}"));
        assert_eq!(filtered.items.len(), 1);
        let event = &filtered.items[0];
        assert_eq!(event.reason.as_deref(), Some("TestSucceeded"));
        assert_eq!(event.message.as_deref(), Some(MESSAGE_EVENT_SUCCEEDED));
        assert_eq!(event.involved_object.name.as_deref(), Some(name));
        assert_eq!(event.involved_object.kind.as_deref(), Some("LocustTest"));
        let by_object = core
            .list(
                &ListParams::default()
                    .fields(&format!("involvedObject.name={name},reason=TestStarted")),
            )
            .await
            .unwrap();
        assert_eq!(by_object.items.len(), 1);
    })
    .await;
}

/// `kubectl wait --for=condition=<type>`: the condition is True (and, when it says which
/// generation it describes, describes the current one).
fn condition_met(type_: &'static str) -> impl Fn(Option<&DynamicObject>) -> bool {
    move |object| {
        object.is_some_and(|o| {
            o.data["status"]["conditions"]
                .as_array()
                .is_some_and(|all| {
                    all.iter().any(|c| {
                        c["type"] == type_
                            && c["status"] == "True"
                            && (c["observedGeneration"].is_null()
                                || c["observedGeneration"].as_i64() == o.metadata.generation)
                    })
                })
        })
    }
}

/// `kubectl wait --for=jsonpath='{.status.phase}'=<value>`.
fn phase_is(value: &'static str) -> impl Fn(Option<&DynamicObject>) -> bool {
    move |object| object.is_some_and(|o| o.data["status"]["phase"] == value)
}

#[tokio::test]
async fn kubectl_wait_conditions() {
    init_logs();
    Scenario::run(Options::new(), async |s| {
        let name = "waited";
        s.create(name, 1).await;
        let api = s.locust_tests("v2");
        let ready = tokio::spawn({
            let api = api.clone();
            async move { await_condition(api, name, condition_met(types::READY)).await }
        });
        let succeeded = tokio::spawn({
            let api = api.clone();
            async move { await_condition(api, name, phase_is("Succeeded")).await }
        });
        // --for=condition=Ready --timeout=5m: Ready while still Pending.
        let object = e2e::bounded("kubectl wait --for=condition=Ready", WAIT, ready)
            .await
            .unwrap()
            .unwrap()
            .expect("the test exists");
        assert!(!succeeded.is_finished());
        let test = serde_json::to_value(&object).unwrap();
        assert_condition(
            &test,
            types::READY,
            "True",
            reasons::RESOURCES_CREATED,
            MESSAGE_RESOURCES_CREATED,
        );

        let (master, _) = s.run_to_running(name, 1).await;
        tokio::time::sleep(QUIET).await;
        assert!(!succeeded.is_finished(), "Running is not Succeeded");
        s.finish_master(name, &master).await;
        // --for=jsonpath='{.status.phase}'=Succeeded --timeout=30m
        let object = e2e::bounded("kubectl wait --for=jsonpath=...=Succeeded", WAIT, succeeded)
            .await
            .unwrap()
            .unwrap()
            .expect("the test exists");
        assert_eq!(object.data["status"]["phase"], "Succeeded");
        // Once met, a new wait returns at once.
        let again = e2e::bounded(
            "kubectl wait --for=condition=TestCompleted",
            WAIT,
            await_condition(api.clone(), name, condition_met(types::TEST_COMPLETED)),
        )
        .await
        .unwrap();
        assert!(again.is_some());
    })
    .await;
}
