//! Events through both APIs, as kube-apiserver serves them: one storage for core `v1` and
//! `events.k8s.io/v1` Events (created through one, read, listed and watched through the other,
//! converted), and the field selectors each version accepts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Event as CoreEvent, Namespace, ObjectReference};
use k8s_openapi::api::events::v1::Event;
use kube::api::{DeleteParams, ListParams, PostParams, WatchEvent, WatchParams};
use kube::core::{DynamicObject, GroupVersionKind};
use kube::discovery::ApiResource;
use kube::runtime::events::{Event as Recorded, EventType, Recorder, Reporter};
use kube::{Api, Resource, ResourceExt};
use memory_apiserver::ApiServer;
use serde_json::json;

const NS: &str = "t";

async fn server() -> (ApiServer, kube::Client) {
    let server = ApiServer::start().await.unwrap();
    let client = server.client().unwrap();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": NS}})).unwrap(),
        )
        .await
        .unwrap();
    (server, client)
}

/// A ConfigMap to record events about, and its reference.
async fn object(client: &kube::Client, name: &str) -> ObjectReference {
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), NS);
    let created = config_maps
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": name}})).unwrap(),
        )
        .await
        .unwrap();
    created.object_ref(&())
}

fn recorder(client: &kube::Client) -> Recorder {
    Recorder::new(
        client.clone(),
        Reporter {
            controller: "test-controller".into(),
            instance: Some("test-controller-0".into()),
        },
    )
}

fn event(type_: EventType, reason: &str, note: &str) -> Recorded {
    Recorded {
        type_,
        reason: reason.into(),
        note: Some(note.into()),
        action: "Testing".into(),
        secondary: None,
    }
}

async fn core_list(api: &Api<CoreEvent>, fields: &str) -> Vec<CoreEvent> {
    api.list(&ListParams::default().fields(fields))
        .await
        .unwrap_or_else(|e| panic!("fieldSelector={fields}: {e}"))
        .items
}

/// A legacy core Event, as client-go's old recorder writes it.
fn core_event(name: &str, about: &str, reason: &str) -> CoreEvent {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": NS},
        "involvedObject": {"kind": "ConfigMap", "namespace": NS, "name": about, "apiVersion": "v1"},
        "reason": reason, "message": format!("{reason} {about}"), "type": "Warning",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:00:05Z",
        "count": 3
    }))
    .unwrap()
}

fn assert_bad_request(error: &kube::Error, message: &str) {
    match error {
        kube::Error::Api(status) => {
            assert_eq!(
                (status.code, status.reason.as_str(), status.message.as_str()),
                (400, "BadRequest", message),
                "{status:?}"
            );
        }
        other => panic!("expected a 400 Status, got {other:?}"),
    }
}

#[tokio::test]
async fn recorder_events_are_core_events_selectable_by_reason_object_and_type() {
    let (_server, client) = server().await;
    let a = object(&client, "a").await;
    let b = object(&client, "b").await;
    let recorder = recorder(&client);
    recorder
        .publish(&event(EventType::Normal, "Started", "a started"), &a)
        .await
        .unwrap();
    recorder
        .publish(&event(EventType::Warning, "Failed", "a failed"), &a)
        .await
        .unwrap();
    recorder
        .publish(&event(EventType::Normal, "Started", "b started"), &b)
        .await
        .unwrap();

    let core: Api<CoreEvent> = Api::namespaced(client.clone(), NS);
    assert_eq!(core_list(&core, "").await.len(), 3);

    let failed = core_list(&core, "reason=Failed").await;
    assert_eq!(failed.len(), 1);
    let failed = &failed[0];
    assert_eq!(failed.message.as_deref(), Some("a failed"));
    assert_eq!(failed.type_.as_deref(), Some("Warning"));
    assert_eq!(failed.action.as_deref(), Some("Testing"));
    assert_eq!(failed.involved_object.name.as_deref(), Some("a"));
    assert_eq!(failed.involved_object.kind.as_deref(), Some("ConfigMap"));
    assert_eq!(failed.involved_object.uid, a.uid);
    assert_eq!(
        failed.reporting_component.as_deref(),
        Some("test-controller")
    );
    assert_eq!(
        failed.reporting_instance.as_deref(),
        Some("test-controller-0")
    );
    assert!(failed.event_time.is_some());
    assert!(failed.first_timestamp.is_none() && failed.count.is_none());

    let names = |events: &[CoreEvent]| {
        let mut names: Vec<String> = events
            .iter()
            .map(|e| {
                format!(
                    "{}/{}",
                    e.involved_object.name.clone().unwrap_or_default(),
                    e.reason.clone().unwrap_or_default()
                )
            })
            .collect();
        names.sort();
        names
    };
    assert_eq!(
        names(&core_list(&core, "involvedObject.name=a").await),
        ["a/Failed", "a/Started"]
    );
    assert_eq!(names(&core_list(&core, "type=Warning").await), ["a/Failed"]);
    assert_eq!(
        names(&core_list(&core, "type!=Warning").await),
        ["a/Started", "b/Started"]
    );
    assert_eq!(
        names(&core_list(&core, "involvedObject.name=b,reason=Started").await),
        ["b/Started"]
    );
    assert_eq!(
        names(
            &core_list(
                &core,
                "involvedObject.kind==ConfigMap,involvedObject.name!=a"
            )
            .await
        ),
        ["b/Started"]
    );
    let uid = format!("involvedObject.uid={}", a.uid.clone().unwrap_or_default());
    assert_eq!(core_list(&core, &uid).await.len(), 2);
    // `source` falls back to the reporting controller when there is no source component.
    assert_eq!(core_list(&core, "source=test-controller").await.len(), 3);
    assert_eq!(
        core_list(&core, "reportingComponent=test-controller")
            .await
            .len(),
        3
    );
    assert!(core_list(&core, "reason=Nothing").await.is_empty());

    // A repeat becomes a series (a merge patch through events.k8s.io), seen through core too.
    recorder
        .publish(&event(EventType::Warning, "Failed", "a failed"), &a)
        .await
        .unwrap();
    let failed = core_list(&core, "reason=Failed").await;
    assert_eq!(failed.len(), 1, "still one object");
    assert_eq!(failed[0].series.as_ref().and_then(|s| s.count), Some(2));

    // The same objects through events.k8s.io, with its own selector labels.
    let events: Api<Event> = Api::namespaced(client.clone(), NS);
    let about_a = events
        .list(&ListParams::default().fields("regarding.name=a,reason=Failed"))
        .await
        .unwrap()
        .items;
    assert_eq!(about_a.len(), 1);
    assert_eq!(about_a[0].note.as_deref(), Some("a failed"));
    assert_eq!(about_a[0].series.as_ref().map(|s| s.count), Some(2));
    assert_eq!(about_a[0].name_any(), failed[0].name_any());
    let by_controller = events
        .list(&ListParams::default().fields("reportingController=test-controller,type=Normal"))
        .await
        .unwrap();
    assert_eq!(by_controller.items.len(), 2);
}

#[tokio::test]
async fn core_events_are_events_k8s_io_events_and_the_other_way_round() {
    let (_server, client) = server().await;
    let core: Api<CoreEvent> = Api::namespaced(client.clone(), NS);
    let events: Api<Event> = Api::namespaced(client.clone(), NS);

    let created = core
        .create(
            &PostParams::default(),
            &core_event("legacy", "a", "BackOff"),
        )
        .await
        .unwrap();
    assert_eq!(created.reporting_component.as_deref(), Some(""));
    let read = events.get("legacy").await.unwrap();
    assert_eq!(read.metadata.uid, created.metadata.uid);
    assert_eq!(
        read.metadata.resource_version,
        created.metadata.resource_version
    );
    let regarding = read.regarding.clone().unwrap_or_default();
    assert_eq!(
        (regarding.kind.as_deref(), regarding.name.as_deref()),
        (Some("ConfigMap"), Some("a"))
    );
    assert_eq!(read.note.as_deref(), Some("BackOff a"));
    assert_eq!(read.reason.as_deref(), Some("BackOff"));
    assert_eq!(read.type_.as_deref(), Some("Warning"));
    assert_eq!(read.deprecated_count, Some(3));
    let source = read.deprecated_source.clone().unwrap_or_default();
    assert_eq!(source.component.as_deref(), Some("kubelet"));
    assert_eq!(source.host.as_deref(), Some("node-1"));
    assert!(read.deprecated_first_timestamp.is_some());
    assert!(read.deprecated_last_timestamp.is_some());
    assert!(read.event_time.is_none());
    assert!(read.reporting_controller.is_none());

    // The wire format of each version, with Go's zero values.
    let dynamic = |group: &str| {
        let gvk = GroupVersionKind::gvk(group, "v1", "Event");
        Api::<DynamicObject>::namespaced_with(
            client.clone(),
            NS,
            &ApiResource::from_gvk_with_plural(&gvk, "events"),
        )
    };
    let raw = dynamic("events.k8s.io").get("legacy").await.unwrap();
    assert_eq!(
        raw.types.as_ref().map(|t| t.api_version.as_str()),
        Some("events.k8s.io/v1")
    );
    assert_eq!(raw.data["eventTime"], serde_json::Value::Null);
    assert_eq!(raw.data["deprecatedCount"], 3);
    for core_only in [
        "involvedObject",
        "message",
        "source",
        "count",
        "firstTimestamp",
    ] {
        assert!(raw.data.get(core_only).is_none(), "{core_only}: {raw:?}");
    }

    // Written through events.k8s.io, read through core v1.
    let modern: Event = serde_json::from_value(json!({
        "metadata": {"name": "modern", "namespace": NS},
        "eventTime": "2026-01-01T00:00:00.000001Z",
        "reportingController": "ctl", "reportingInstance": "ctl-0",
        "action": "Scale", "reason": "Scaled", "type": "Normal", "note": "scaled a",
        "regarding": {"kind": "ConfigMap", "namespace": NS, "name": "a", "apiVersion": "v1"},
        "related": {"kind": "ConfigMap", "namespace": NS, "name": "b", "apiVersion": "v1"}
    }))
    .unwrap();
    let created = events
        .create(&PostParams::default(), &modern)
        .await
        .unwrap();
    assert_eq!(created.note.as_deref(), Some("scaled a"));
    let read = core.get("modern").await.unwrap();
    assert_eq!(read.metadata.uid, created.metadata.uid);
    assert_eq!(read.message.as_deref(), Some("scaled a"));
    assert_eq!(read.involved_object.name.as_deref(), Some("a"));
    assert_eq!(
        read.related.as_ref().and_then(|r| r.name.as_deref()),
        Some("b")
    );
    assert_eq!(read.reporting_component.as_deref(), Some("ctl"));
    assert_eq!(read.reporting_instance.as_deref(), Some("ctl-0"));
    assert_eq!(read.action.as_deref(), Some("Scale"));
    assert!(read.event_time.is_some());
    let raw = dynamic("").get("modern").await.unwrap();
    assert_eq!(
        raw.types.as_ref().map(|t| t.api_version.as_str()),
        Some("v1")
    );
    assert_eq!(raw.data["firstTimestamp"], serde_json::Value::Null);
    assert_eq!(raw.data["source"], json!({}));
    for events_only in [
        "regarding",
        "note",
        "reportingController",
        "deprecatedSource",
    ] {
        assert!(
            raw.data.get(events_only).is_none(),
            "{events_only}: {raw:?}"
        );
    }

    // One storage: both lists hold both objects, at the same resourceVersion.
    let core_list = core.list(&ListParams::default()).await.unwrap();
    let events_list = events.list(&ListParams::default()).await.unwrap();
    let names = |items: Vec<String>| items;
    assert_eq!(
        names(core_list.items.iter().map(ResourceExt::name_any).collect()),
        ["legacy", "modern"]
    );
    assert_eq!(
        names(
            events_list
                .items
                .iter()
                .map(ResourceExt::name_any)
                .collect()
        ),
        ["legacy", "modern"]
    );
    assert_eq!(
        core_list.metadata.resource_version,
        events_list.metadata.resource_version
    );
    // Same name through the other API: already exists.
    let err = events
        .create(
            &PostParams::default(),
            &serde_json::from_value(
                json!({"metadata": {"name": "legacy"}, "eventTime": "2026-01-01T00:00:00.000000Z"}),
            )
            .unwrap(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 409 && s.message == "events.events.k8s.io \"legacy\" already exists"),
        "{err:?}"
    );

    // Deleted through one API, gone from both.
    events
        .delete("legacy", &DeleteParams::default())
        .await
        .unwrap();
    assert!(core.get_opt("legacy").await.unwrap().is_none());
    core.delete("modern", &DeleteParams::default())
        .await
        .unwrap();
    assert!(events.get_opt("modern").await.unwrap().is_none());
}

#[tokio::test]
async fn watches_through_one_version_see_writes_through_the_other() {
    let (_server, client) = server().await;
    let a = object(&client, "a").await;
    let core: Api<CoreEvent> = Api::namespaced(client.clone(), NS);
    let events: Api<Event> = Api::namespaced(client.clone(), NS);
    let rv = core
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let core_watch = core
        .watch(
            &WatchParams::default().fields("reason=Failed").timeout(10),
            &rv,
        )
        .await
        .unwrap()
        .boxed();
    let events_watch = events
        .watch(
            &WatchParams::default()
                .fields("regarding.name=b")
                .timeout(10),
            &rv,
        )
        .await
        .unwrap()
        .boxed();

    // Through events.k8s.io (the recorder): the core watch sees only the Failed one.
    let recorder = recorder(&client);
    recorder
        .publish(&event(EventType::Normal, "Started", "a started"), &a)
        .await
        .unwrap();
    recorder
        .publish(&event(EventType::Warning, "Failed", "a failed"), &a)
        .await
        .unwrap();
    // Through core v1: the events.k8s.io watch sees only the one about b.
    core.create(
        &PostParams::default(),
        &core_event("about-a", "a", "BackOff"),
    )
    .await
    .unwrap();
    core.create(
        &PostParams::default(),
        &core_event("about-b", "b", "BackOff"),
    )
    .await
    .unwrap();
    core.delete("about-b", &DeleteParams::default())
        .await
        .unwrap();

    let mut core_watch = core_watch;
    let first = tokio::time::timeout(Duration::from_secs(5), core_watch.try_next())
        .await
        .expect("a core watch event")
        .unwrap();
    match first {
        Some(WatchEvent::Added(event)) => {
            assert_eq!(event.reason.as_deref(), Some("Failed"));
            assert_eq!(event.message.as_deref(), Some("a failed"));
            assert_eq!(event.involved_object.name.as_deref(), Some("a"));
            assert_eq!(
                event.reporting_component.as_deref(),
                Some("test-controller")
            );
        }
        other => panic!("expected ADDED, got {other:?}"),
    }

    let mut events_watch = events_watch;
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let next = tokio::time::timeout(Duration::from_secs(5), events_watch.try_next())
            .await
            .expect("an events.k8s.io watch event")
            .unwrap();
        match next {
            Some(WatchEvent::Added(event)) => {
                assert_eq!(event.note.as_deref(), Some("BackOff b"));
                assert_eq!(event.deprecated_count, Some(3));
                seen.push(format!("ADDED {}", event.name_any()));
            }
            Some(WatchEvent::Deleted(event)) => seen.push(format!("DELETED {}", event.name_any())),
            Some(WatchEvent::Bookmark(_)) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, ["ADDED about-b", "DELETED about-b"]);
}

#[tokio::test]
async fn unsupported_field_labels_are_refused_with_the_api_servers_message() {
    let (_server, client) = server().await;
    let core: Api<CoreEvent> = Api::namespaced(client.clone(), NS);
    let events: Api<Event> = Api::namespaced(client.clone(), NS);

    // Each version has its own labels: the other version's are refused.
    let err = core
        .list(&ListParams::default().fields("regarding.name=a"))
        .await
        .unwrap_err();
    assert_bad_request(&err, "field label not supported: regarding.name");
    let err = events
        .list(&ListParams::default().fields("involvedObject.name=a"))
        .await
        .unwrap_err();
    assert_bad_request(&err, "field label not supported: involvedObject.name");
    let err = events
        .list(&ListParams::default().fields("note=x"))
        .await
        .unwrap_err();
    assert_bad_request(&err, "field label not supported: note");
    // Terms are checked in sorted order, as the API server sorts them.
    let err = core
        .list(&ListParams::default().fields("reason=x,message=y,involvedObject.name=z"))
        .await
        .unwrap_err();
    assert_bad_request(&err, "field label not supported: message");
    // Watches refuse them the same way.
    let err = events
        .watch(
            &WatchParams::default().fields("involvedObject.kind=Pod"),
            "0",
        )
        .await
        .map(|_| ())
        .unwrap_err();
    assert_bad_request(&err, "field label not supported: involvedObject.kind");

    // Kinds without field label conversions accept only metadata.name and metadata.namespace.
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), NS);
    let err = config_maps
        .list(&ListParams::default().fields("data.x=y"))
        .await
        .unwrap_err();
    assert_bad_request(
        &err,
        "\"data.x\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
    );
    config_maps
        .list(&ListParams::default().fields("metadata.name=a"))
        .await
        .unwrap();

    // Both Event resources share the storage, so discovery gives them one storageVersionHash.
    let hash = |list: k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList| {
        list.resources
            .into_iter()
            .find(|r| r.name == "events")
            .and_then(|r| r.storage_version_hash)
    };
    let core_hash = hash(client.list_core_api_resources("v1").await.unwrap());
    let events_hash = hash(
        client
            .list_api_group_resources("events.k8s.io/v1")
            .await
            .unwrap(),
    );
    assert!(core_hash.is_some());
    assert_eq!(core_hash, events_hash);
}
