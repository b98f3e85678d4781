//! admissionregistration.k8s.io/v1 webhook configurations (plain storage: CRUD, watch, every
//! patch type, defaults, validation, discovery), the CRD's conversion caBundle by merge patch,
//! and admission and conversion driven by what is stored (no registered webhooks): matching
//! rules and selectors, failure policies, unreachable Services.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::core::{DynamicObject, GroupVersionKind};
use kube::discovery::ApiResource;
use kube::{Api, Client};
use memory_apiserver::ApiServer;
use memory_apiserver::webhooks::{RequestAttributes, matching};
use serde_json::{Value, json};

fn crd_json() -> Value {
    serde_saphyr::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../deploy/crd.yaml"
        ))
        .unwrap(),
    )
    .unwrap()
}

async fn server() -> (ApiServer, Client) {
    let server = ApiServer::start().await.unwrap();
    server.install_crd(&crd_json()).await;
    let client = server.client().unwrap();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for (name, team) in [("a", "load"), ("b", "other")] {
        namespaces
            .create(
                &PostParams::default(),
                &serde_json::from_value(
                    json!({"metadata": {"name": name, "labels": {"team": team}}}),
                )
                .unwrap(),
            )
            .await
            .unwrap();
    }
    (server, client)
}

fn webhook(name: &str, path: &str) -> Value {
    json!({
        "name": name,
        "admissionReviewVersions": ["v1"],
        "sideEffects": "None",
        "clientConfig": {"service": {"name": "hooks", "namespace": "system", "path": path}},
        "rules": [{"apiGroups": ["locust.io"], "apiVersions": ["v1", "v2"], "resources": ["locusttests"],
                   "operations": ["CREATE", "UPDATE"]}]
    })
}

fn mutating(name: &str, webhooks: Vec<Value>) -> MutatingWebhookConfiguration {
    serde_json::from_value(json!({"metadata": {"name": name}, "webhooks": webhooks})).unwrap()
}

fn validating(name: &str, webhooks: Vec<Value>) -> ValidatingWebhookConfiguration {
    serde_json::from_value(json!({"metadata": {"name": name}, "webhooks": webhooks})).unwrap()
}

fn locusttests(client: &Client, namespace: &str, version: &str) -> Api<DynamicObject> {
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("locust.io", version, "LocustTest"),
        "locusttests",
    );
    Api::namespaced_with(client.clone(), namespace, &resource)
}

fn test_object(name: &str) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "locust.io/v2", "kind": "LocustTest", "metadata": {"name": name},
        "spec": {"image": "locustio/locust:2.43.3", "master": {"command": "-f t.py"},
                 "worker": {"command": "-f t.py", "replicas": 1}}
    }))
    .unwrap()
}

fn api_error(error: kube::Error) -> (u16, String, String) {
    match error {
        kube::Error::Api(status) => (status.code, status.reason, status.message),
        other => panic!("not an API error: {other:?}"),
    }
}

#[tokio::test]
async fn discovery_lists_both_configuration_kinds() {
    let (_server, client) = server().await;
    let list = client
        .list_api_group_resources("admissionregistration.k8s.io/v1")
        .await
        .unwrap();
    let names: Vec<(&str, bool, &str)> = list
        .resources
        .iter()
        .map(|r| (r.name.as_str(), r.namespaced, r.kind.as_str()))
        .collect();
    assert_eq!(
        names,
        vec![
            (
                "mutatingwebhookconfigurations",
                false,
                "MutatingWebhookConfiguration"
            ),
            (
                "validatingwebhookconfigurations",
                false,
                "ValidatingWebhookConfiguration"
            ),
        ]
    );
    assert_eq!(
        list.resources[0].storage_version_hash.as_deref(),
        Some("Sqi0GUgDaX0=")
    );
    let groups = client.list_api_groups().await.unwrap();
    assert!(
        groups
            .groups
            .iter()
            .any(|g| g.name == "admissionregistration.k8s.io")
    );
}

#[tokio::test]
async fn webhook_configurations_are_stored_defaulted_patched_and_watched() {
    let (_server, client) = server().await;
    let api: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    let created = api
        .create(
            &PostParams::default(),
            &mutating(
                "m",
                vec![
                    webhook("first.x.io", "/one"),
                    webhook("second.x.io", "/two"),
                ],
            ),
        )
        .await
        .unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    assert_eq!(created.metadata.namespace, None, "cluster-scoped");
    // What kube-apiserver defaults.
    let first = &created.webhooks.as_ref().unwrap()[0];
    assert_eq!(first.failure_policy.as_deref(), Some("Fail"));
    assert_eq!(first.match_policy.as_deref(), Some("Equivalent"));
    assert_eq!(first.timeout_seconds, Some(10));
    assert_eq!(first.reinvocation_policy.as_deref(), Some("Never"));
    assert_eq!(
        first.client_config.service.as_ref().unwrap().port,
        Some(443)
    );
    assert_eq!(first.rules.as_ref().unwrap()[0].scope.as_deref(), Some("*"));
    assert!(first.namespace_selector.is_some() && first.object_selector.is_some());

    // A watch sees the changes below.
    let mut events = api
        .watch(
            &WatchParams::default().timeout(10),
            created.metadata.resource_version.as_deref().unwrap(),
        )
        .await
        .unwrap()
        .boxed();

    // JSON Patch with a test of the name at the index: applies, bumps the generation.
    let bundle = "Y2EtYnVuZGxl"; // base64 of "ca-bundle"
    let patch = json!([
        {"op": "test", "path": "/webhooks/1/name", "value": "second.x.io"},
        {"op": "add", "path": "/webhooks/1/clientConfig/caBundle", "value": bundle}
    ]);
    let patched = api
        .patch(
            "m",
            &PatchParams::default(),
            &Patch::<()>::Json(serde_json::from_value(patch).unwrap()),
        )
        .await
        .unwrap();
    let webhooks = patched.webhooks.as_ref().unwrap();
    assert_eq!(
        webhooks[1].client_config.ca_bundle.as_ref().unwrap().0,
        b"ca-bundle"
    );
    assert!(webhooks[0].client_config.ca_bundle.is_none());
    assert_eq!(patched.metadata.generation, Some(2));
    match events.next().await.unwrap().unwrap() {
        WatchEvent::Modified(object) => {
            assert_eq!(object.metadata.generation, Some(2));
        }
        other => panic!("expected MODIFIED, got {other:?}"),
    }

    // The test fails when the entry at that index is another one: 422, nothing written.
    let patch = json!([
        {"op": "test", "path": "/webhooks/0/name", "value": "second.x.io"},
        {"op": "add", "path": "/webhooks/0/clientConfig/caBundle", "value": bundle}
    ]);
    let (code, reason, _) = api_error(
        api.patch(
            "m",
            &PatchParams::default(),
            &Patch::<()>::Json(serde_json::from_value(patch).unwrap()),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (422, "Invalid"));

    // Strategic merge patch merges `webhooks` by name.
    let patch = json!({"webhooks": [{"name": "first.x.io", "timeoutSeconds": 3}]});
    let merged = api
        .patch("m", &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .unwrap();
    let webhooks = merged.webhooks.as_ref().unwrap();
    assert_eq!(webhooks.len(), 2);
    assert_eq!(webhooks[0].timeout_seconds, Some(3));
    assert_eq!(
        webhooks[1].client_config.ca_bundle.as_ref().unwrap().0,
        b"ca-bundle"
    );

    // PUT with a stale resourceVersion: 409.
    let mut stale = created.clone();
    stale.webhooks.as_mut().unwrap()[0].timeout_seconds = Some(7);
    let (code, reason, _) = api_error(
        api.replace("m", &PostParams::default(), &stale)
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (409, "Conflict"));

    // A caBundle that is not base64, a webhook without sideEffects: 422.
    let patch = json!({"webhooks": [{"name": "first.x.io", "clientConfig": {"caBundle": "%%%"}}]});
    let (code, _, message) = api_error(
        api.patch("m", &PatchParams::default(), &Patch::Strategic(&patch))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 422);
    assert!(
        message.contains("webhooks[0].clientConfig.caBundle"),
        "{message}"
    );
    let mut no_side_effects = webhook("third.x.io", "/three");
    no_side_effects
        .as_object_mut()
        .unwrap()
        .remove("sideEffects");
    let (code, _, message) = api_error(
        api.create(
            &PostParams::default(),
            &mutating("bad", vec![no_side_effects]),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(code, 422);
    assert!(message.contains("webhooks[0].sideEffects"), "{message}");

    // Validating configurations: list, delete.
    let validating_api: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    validating_api
        .create(
            &PostParams::default(),
            &validating("v", vec![webhook("v.x.io", "/v")]),
        )
        .await
        .unwrap();
    let listed = validating_api.list(&ListParams::default()).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    let raw: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::erase::<ValidatingWebhookConfiguration>(&()),
    );
    let stored = raw.get("v").await.unwrap();
    assert_eq!(stored.data["webhooks"][0]["failurePolicy"], "Fail");
    assert!(
        stored.data["webhooks"][0]
            .get("reinvocationPolicy")
            .is_none(),
        "validating webhooks have no reinvocationPolicy"
    );
    validating_api
        .delete("v", &DeleteParams::default())
        .await
        .unwrap();
    assert!(validating_api.get_opt("v").await.unwrap().is_none());
}

#[tokio::test]
async fn crd_conversion_ca_bundle_by_merge_patch() {
    let (_server, client) = server().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: CustomResourceDefinition = serde_json::from_value(crd_json()).unwrap();
    let created = crds.create(&PostParams::default(), &crd).await.unwrap();
    let name = created.metadata.name.clone().unwrap();
    let patch = json!({"spec": {"conversion": {"webhook": {"clientConfig": {"caBundle": "Y2EtYnVuZGxl"}}}}});
    let patched = crds
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let client_config = patched
        .spec
        .conversion
        .as_ref()
        .unwrap()
        .webhook
        .as_ref()
        .unwrap()
        .client_config
        .as_ref()
        .unwrap();
    assert_eq!(client_config.ca_bundle.as_ref().unwrap().0, b"ca-bundle");
    assert!(
        client_config.service.is_some(),
        "the service reference stays"
    );
    assert_eq!(
        patched.metadata.generation,
        created.metadata.generation.map(|g| g + 1)
    );
    // The same patch again changes nothing.
    let again = crds
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    assert_eq!(again.metadata.generation, patched.metadata.generation);
}

#[tokio::test]
async fn stored_configurations_gate_admission_and_conversion() {
    let (server, client) = server().await;
    // No configuration: nothing is called.
    locusttests(&client, "a", "v2")
        .create(&PostParams::default(), &test_object("free"))
        .await
        .unwrap();

    // A validating webhook of a Service without endpoints: failurePolicy Fail refuses.
    let validating_api: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    validating_api
        .create(
            &PostParams::default(),
            &validating(
                "v",
                vec![webhook("validate.locusttests.locust.io", "/validate")],
            ),
        )
        .await
        .unwrap();
    let (code, _, message) = api_error(
        locusttests(&client, "a", "v2")
            .create(&PostParams::default(), &test_object("refused"))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 500);
    assert!(
        message.contains("failed calling webhook \"validate.locusttests.locust.io\"")
            && message.contains("no endpoints available for service \"hooks\""),
        "{message}"
    );

    // Routed to a closed port: the call fails too (connection refused).
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    server.route_service("system", "hooks", vec![closed]);
    let (code, _, message) = api_error(
        locusttests(&client, "a", "v2")
            .create(&PostParams::default(), &test_object("refused"))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 500);
    assert!(message.contains("https://127.0.0.1:"), "{message}");

    // A namespaceSelector that does not match namespace b: not called there.
    let patch = json!({"webhooks": [{"name": "validate.locusttests.locust.io",
        "namespaceSelector": {"matchLabels": {"team": "load"}}}]});
    validating_api
        .patch("v", &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .unwrap();
    locusttests(&client, "b", "v2")
        .create(&PostParams::default(), &test_object("elsewhere"))
        .await
        .unwrap();
    assert!(
        locusttests(&client, "a", "v2")
            .create(&PostParams::default(), &test_object("refused"))
            .await
            .is_err()
    );

    // failurePolicy Ignore: a failed call is skipped.
    let patch = json!({"webhooks": [{"name": "validate.locusttests.locust.io", "failurePolicy": "Ignore"}]});
    validating_api
        .patch("v", &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .unwrap();
    locusttests(&client, "a", "v2")
        .create(&PostParams::default(), &test_object("ignored"))
        .await
        .unwrap();

    // Conversion goes through the stored CRD's webhook: without endpoints, reads of v1 fail.
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(
        &PostParams::default(),
        &serde_json::from_value(crd_json()).unwrap(),
    )
    .await
    .unwrap();
    let error = locusttests(&client, "a", "v1")
        .get("ignored")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("conversion webhook for locust.io/v2, Kind=LocustTest failed")
            && error.contains("no endpoints available for service \"locust-operator-webhook\""),
        "{error}"
    );
}

#[test]
fn matching_follows_rules_selectors_and_names() {
    let configurations = vec![
        json!({"metadata": {"name": "z"}, "webhooks": [webhook("z.x.io", "/z")]}),
        json!({"metadata": {"name": "a"}, "webhooks": [
            webhook("a1.x.io", "/a1"),
            {"name": "a2.x.io", "clientConfig": {"url": "https://h/a2"}, "failurePolicy": "Ignore", "timeoutSeconds": 3,
             "rules": [{"apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*"], "operations": ["*"]}],
             "namespaceSelector": {"matchExpressions": [{"key": "team", "operator": "In", "values": ["load"]}]}},
            {"name": "delete-only.x.io", "clientConfig": {"url": "https://h/d"},
             "rules": [{"apiGroups": ["locust.io"], "apiVersions": ["v2"], "resources": ["locusttests"], "operations": ["DELETE"]}]},
            {"name": "cluster-only.x.io", "clientConfig": {"url": "https://h/c"},
             "rules": [{"apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*"], "operations": ["*"], "scope": "Cluster"}]},
            {"name": "labelled.x.io", "clientConfig": {"url": "https://h/l"},
             "rules": [{"apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*"], "operations": ["*"]}],
             "objectSelector": {"matchLabels": {"audit": "yes"}}}
        ]}),
    ];
    let load: BTreeMap<String, String> = [("team".to_owned(), "load".to_owned())].into();
    let none = BTreeMap::new();
    let request = |version, operation, namespace_labels| RequestAttributes {
        group: "locust.io",
        version,
        resource: "locusttests",
        operation,
        namespaced: true,
        namespace_labels,
        object_labels: &none,
    };
    let names = |request: RequestAttributes<'_>| {
        matching(&configurations, &request)
            .into_iter()
            .map(|c| c.name)
            .collect::<Vec<_>>()
    };
    // Configurations by name, webhooks in order.
    assert_eq!(
        names(request("v2", "CREATE", &load)),
        vec!["a1.x.io", "a2.x.io", "z.x.io"]
    );
    assert_eq!(
        names(request("v1", "UPDATE", &none)),
        vec!["a1.x.io", "z.x.io"]
    );
    assert_eq!(names(request("v3", "CREATE", &load)), vec!["a2.x.io"]);
    assert_eq!(
        names(request("v2", "DELETE", &load)),
        vec!["a2.x.io", "delete-only.x.io"]
    );
    let audited: BTreeMap<String, String> = [("audit".to_owned(), "yes".to_owned())].into();
    let with_labels = RequestAttributes {
        object_labels: &audited,
        ..request("v2", "CREATE", &none)
    };
    assert_eq!(
        names(with_labels),
        vec!["a1.x.io", "labelled.x.io", "z.x.io"]
    );
    let a2 = matching(&configurations, &request("v2", "CREATE", &load))
        .into_iter()
        .find(|c| c.name == "a2.x.io")
        .unwrap();
    assert!(a2.ignore_failures);
    assert_eq!(a2.timeout, Duration::from_secs(3));
    assert_eq!(a2.client_config["url"], "https://h/a2");
}
