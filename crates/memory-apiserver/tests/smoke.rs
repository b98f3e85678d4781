//! The harness against an unmodified `kube::Client`: CRUD, status split, generation,
//! conflicts, selectors, garbage collection, and a kube-runtime watcher.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::core::{DynamicObject, GroupVersionKind};
use kube::discovery::ApiResource;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use memory_apiserver::ApiServer;
use serde_json::json;

fn locusttests(client: &kube::Client, ns: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("locust.io", "v2", "LocustTest"),
        "locusttests",
    );
    Api::namespaced_with(client.clone(), ns, &ar)
}

async fn server() -> (ApiServer, kube::Client) {
    let server = ApiServer::start().await.unwrap();
    let crd: serde_json::Value = serde_saphyr::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../deploy/crd.yaml"
        ))
        .unwrap(),
    )
    .unwrap();
    server.install_crd(&crd).await;
    let client = server.client().unwrap();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "t"}})).unwrap(),
        )
        .await
        .unwrap();
    (server, client)
}

/// Waits (bounded) until the Job controller has made `count` pods for `job`; returns them.
async fn controller_pods(client: &kube::Client, ns: &str, job: &str, count: usize) -> Vec<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let selector = ListParams::default().labels(&format!("batch.kubernetes.io/job-name={job}"));
    for _ in 0..250 {
        let listed = pods.list(&selector).await.unwrap().items;
        if listed.len() >= count {
            return listed;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the Job controller did not make {count} pods for {job}");
}

fn test_object(name: &str) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "locust.io/v2", "kind": "LocustTest",
        "metadata": {"name": name},
        "spec": {"image": "locustio/locust:2.43.3", "master": {"command": "-f t.py"}, "worker": {"command": "-f t.py", "replicas": 2}}
    }))
    .unwrap()
}

#[tokio::test]
async fn custom_resource_crud_generation_and_status_split() {
    let (_server, client) = server().await;
    let api = locusttests(&client, "t");
    let created = api
        .create(&PostParams::default(), &test_object("t1"))
        .await
        .unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    assert_eq!(
        created.data["spec"]["imagePullPolicy"], "IfNotPresent",
        "schema default applied"
    );
    assert!(created.data.get("status").is_none());

    let err = api
        .create(&PostParams::default(), &test_object("t1"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 409 && s.reason == "AlreadyExists"),
        "{err:?}"
    );

    let labelled = api
        .patch(
            "t1",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"a": "b"}}})),
        )
        .await
        .unwrap();
    assert_eq!(labelled.metadata.generation, Some(1));
    let bumped = api
        .patch(
            "t1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"worker": {"replicas": 3}}})),
        )
        .await
        .unwrap();
    assert_eq!(bumped.metadata.generation, Some(2));

    let status = api
        .patch_status(
            "t1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Running"}, "spec": {"image": "x"}})),
        )
        .await
        .unwrap();
    assert_eq!(status.data["status"]["phase"], "Running");
    assert_eq!(
        status.data["spec"]["image"], "locustio/locust:2.43.3",
        "spec ignored on /status"
    );
    assert_eq!(status.metadata.generation, Some(2));

    let mut stale = created.clone();
    stale.data["spec"]["worker"]["replicas"] = json!(5);
    let err = api
        .replace("t1", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 409 && s.reason == "Conflict"),
        "{err:?}"
    );

    let invalid = api
        .patch(
            "t1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"worker": {"replicas": 0}}})),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(invalid, kube::Error::Api(ref s) if s.code == 422),
        "{invalid:?}"
    );
}

#[tokio::test]
async fn jobs_get_defaults_selectors_work_and_owners_collect_dependents() {
    let (_server, client) = server().await;
    let tests = locusttests(&client, "t");
    let owner = tests
        .create(&PostParams::default(), &test_object("t1"))
        .await
        .unwrap();
    let jobs: Api<Job> = Api::namespaced(client.clone(), "t");
    let job: Job = serde_json::from_value(json!({
        "metadata": {"name": "t1-worker", "labels": {"performance-test-name": "t1"},
            "ownerReferences": [{"apiVersion": "locust.io/v2", "kind": "LocustTest", "name": "t1", "uid": owner.uid().unwrap(), "controller": true, "blockOwnerDeletion": true}]},
        "spec": {"parallelism": 2, "backoffLimit": 0, "template": {"metadata": {"labels": {"performance-test-name": "t1"}},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "t1-worker", "image": "locustio/locust:2.43.3"}]}}}
    }))
    .unwrap();
    let created = jobs.create(&PostParams::default(), &job).await.unwrap();
    assert!(created.spec.as_ref().unwrap().selector.is_some());
    let pods = controller_pods(&client, "t", "t1-worker", 2).await;
    assert_eq!(pods.len(), 2);
    let listed = Api::<Pod>::namespaced(client.clone(), "t")
        .list(&ListParams::default().labels("performance-test-name in (t1,t2)"))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 2);
    let none = jobs
        .list(&ListParams::default().labels("performance-test-name=nope"))
        .await
        .unwrap();
    assert!(none.items.is_empty());

    tests
        .delete("t1", &DeleteParams::foreground())
        .await
        .unwrap();
    for _ in 0..100 {
        if jobs
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
            && tests.get_opt("t1").await.unwrap().is_none()
            && Api::<Pod>::namespaced(client.clone(), "t")
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .is_empty()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("owner and dependents were not garbage-collected");
}

#[tokio::test]
async fn a_kube_runtime_watcher_sees_changes_and_survives_dropped_watches() {
    let (server, client) = server().await;
    let services: Api<Service> = Api::namespaced(client.clone(), "t");
    let stream = watcher(services.clone(), watcher::Config::default().labels("app=x"))
        .default_backoff()
        .applied_objects();
    let mut stream = Box::pin(stream);
    let service = |name: &str| -> Service {
        serde_json::from_value(json!({"metadata": {"name": name, "labels": {"app": "x"}}, "spec": {"ports": [{"port": 80}]}})).unwrap()
    };
    services
        .create(&PostParams::default(), &service("a"))
        .await
        .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.name_any(), "a");
    assert_eq!(
        first.spec.unwrap().ports.unwrap()[0].protocol.as_deref(),
        Some("TCP")
    );
    server.drop_watches();
    server.compact();
    services
        .create(&PostParams::default(), &service("b"))
        .await
        .unwrap();
    let mut seen = Vec::new();
    while !seen.contains(&"b".to_owned()) {
        let next = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push(next.name_any());
    }
}

#[tokio::test]
async fn job_pods_lose_their_tracking_finalizer_with_the_job_and_do_not_get_it_back() {
    let (_server, client) = server().await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "t");
    let job: Job = serde_json::from_value(json!({
        "metadata": {"name": "j"},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox:1"}]}}}
    }))
    .unwrap();
    jobs.create(&PostParams::default(), &job).await.unwrap();
    let pods = controller_pods(&client, "t", "j", 1).await;
    let pod_name = pods[0].name_any();
    assert_eq!(
        pods[0].metadata.finalizers,
        Some(vec!["batch.kubernetes.io/job-tracking".to_owned()])
    );
    // Orphaning delete: the pod stays, without its owner reference and the Job's finalizer.
    jobs.delete("j", &DeleteParams::orphan()).await.unwrap();
    let pods_api = Api::<Pod>::namespaced(client.clone(), "t");
    let mut freed = None;
    for _ in 0..100 {
        let pod = pods_api.get(&pod_name).await.unwrap();
        if pod.metadata.finalizers.is_none() && pod.metadata.owner_references.is_none() {
            freed = Some(pod);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(freed.is_some(), "the orphaned pod was released");
    let patched = pods_api
        .patch(
            &pod_name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
    assert_eq!(
        patched.metadata.finalizers, None,
        "updates add no finalizer"
    );
    // A pod without finalizers is deleted gracefully: the answer is the pod, marked.
    let deleted = pods_api
        .delete(&pod_name, &DeleteParams::default())
        .await
        .unwrap();
    let marked = deleted.left().expect("pods are returned on delete");
    assert!(marked.metadata.deletion_timestamp.is_some());
    assert!(pods_api.get_opt(&pod_name).await.unwrap().is_none());
}

/// Lists honour `limit` and `continue` as the API server does: pages in key order, a token
/// while more remain (with `remainingItemCount` when nothing is selected), the first page's
/// resourceVersion on every page, and 400 for a token it never issued. kube-runtime's watcher
/// lists in pages of 500; a real server never answers with everything at once.
#[tokio::test]
async fn lists_are_paginated_with_limit_and_continue() {
    let (_server, client) = server().await;
    let services: Api<Service> = Api::namespaced(client.clone(), "t");
    for i in 0..5 {
        let service: Service = serde_json::from_value(json!({
            "metadata": {"name": format!("s{i}"), "labels": {"odd": (i % 2).to_string()}},
            "spec": {"ports": [{"port": 80}]}
        }))
        .unwrap();
        services
            .create(&PostParams::default(), &service)
            .await
            .unwrap();
    }
    let first = services
        .list(&ListParams::default().limit(2))
        .await
        .unwrap();
    let names = |list: &kube::core::ObjectList<Service>| {
        list.items
            .iter()
            .map(ResourceExt::name_any)
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&first), ["s0", "s1"]);
    assert_eq!(first.metadata.remaining_item_count, Some(3));
    let token = first.metadata.continue_.clone().unwrap();
    assert!(!token.is_empty());
    // A change between pages does not move the list's resourceVersion.
    services
        .create(
            &PostParams::default(),
            &serde_json::from_value(
                json!({"metadata": {"name": "s9"}, "spec": {"ports": [{"port": 80}]}}),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    let second = services
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .unwrap();
    assert_eq!(names(&second), ["s2", "s3"]);
    assert_eq!(
        second.metadata.resource_version,
        first.metadata.resource_version
    );
    let token = second.metadata.continue_.clone().unwrap();
    let last = services
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .unwrap();
    assert_eq!(names(&last), ["s4", "s9"]);
    assert!(
        last.metadata
            .continue_
            .as_deref()
            .unwrap_or_default()
            .is_empty()
    );
    assert_eq!(last.metadata.remaining_item_count, None);

    // With a selector: pages of what matches, no remainingItemCount.
    let odd = services
        .list(&ListParams::default().labels("odd=1").limit(1))
        .await
        .unwrap();
    assert_eq!(names(&odd), ["s1"]);
    assert_eq!(odd.metadata.remaining_item_count, None);
    let token = odd.metadata.continue_.clone().unwrap();
    let rest = services
        .list(
            &ListParams::default()
                .labels("odd=1")
                .limit(5)
                .continue_token(&token),
        )
        .await
        .unwrap();
    assert_eq!(names(&rest), ["s3"]);

    // No limit: everything.
    assert_eq!(
        services
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        6
    );

    match services
        .list(&ListParams::default().limit(2).continue_token("not-a-token"))
        .await
    {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 400);
            assert!(
                status
                    .message
                    .starts_with("invalid continue token: continue key is not valid"),
                "{}",
                status.message
            );
        }
        other => panic!("expected 400, got {other:?}"),
    }
}
