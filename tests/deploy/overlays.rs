//! Every overlay of `deploy/overlays/` renders typed objects in the operator namespace, differs
//! from the default only where it should, and takes an image override through kustomize's `images`.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::Value;

use crate::render::{Id, Install, id_of, install, installs, is, kustomize};
use crate::typed::check_typed;
use crate::{
    IMAGE, INJECT_CA_FROM, METRICS_SERVICE, MUTATING_CONFIGURATION, NAME, NAMESPACE, PART_OF,
    VALIDATING_CONFIGURATION, WATCHED, WEBHOOK_SERVICE, root, tls_support,
};

#[test]
fn every_overlay_renders_typed_objects_in_the_operator_namespace() {
    for install in installs() {
        let mut seen = BTreeSet::new();
        for object in &install.objects {
            let id = id_of(object);
            check_typed(object).unwrap_or_else(|e| panic!("{}: {id:?}: {e}", install.overlay));
            assert!(seen.insert(id.clone()), "{}: {id:?} twice", install.overlay);
            assert_eq!(
                object["metadata"]["labels"][PART_OF.0], PART_OF.1,
                "{}: {id:?} lacks the part-of label",
                install.overlay
            );
            let namespace = &id.2;
            let allowed = if install.overlay == "namespaced" {
                vec!["", NAMESPACE, WATCHED]
            } else {
                vec!["", NAMESPACE]
            };
            assert!(
                allowed.contains(&namespace.as_str()),
                "{}: {id:?} in namespace {namespace:?}",
                install.overlay
            );
        }
        let _: Namespace = install.one(None, NAMESPACE);
        let _: ServiceAccount = install.one(Some(NAMESPACE), NAME);
        let _: Service = install.one(Some(NAMESPACE), WEBHOOK_SERVICE);
        let _: Service = install.one(Some(NAMESPACE), METRICS_SERVICE);
        let _: PodDisruptionBudget = install.one(Some(NAMESPACE), NAME);
        let _: MutatingWebhookConfiguration = install.one(None, MUTATING_CONFIGURATION);
        let _: ValidatingWebhookConfiguration = install.one(None, VALIDATING_CONFIGURATION);
        assert_eq!(install.all::<Deployment>().len(), 1, "{}", install.overlay);
        // Namespaced kinds carry their namespace, cluster-scoped ones none.
        for object in &install.objects {
            let cluster_scoped = is::<Namespace>(object)
                || is::<CustomResourceDefinition>(object)
                || is::<ClusterRole>(object)
                || is::<ClusterRoleBinding>(object)
                || is::<MutatingWebhookConfiguration>(object)
                || is::<ValidatingWebhookConfiguration>(object);
            assert_eq!(
                object["metadata"]["namespace"].is_string(),
                !cluster_scoped,
                "{}: {:?}",
                install.overlay,
                id_of(object)
            );
        }
    }
}

/// The objects of `install` by id, minus what `skip` says.
fn by_id(install: &Install, skip: impl Fn(&Value) -> bool) -> BTreeMap<Id, Value> {
    install
        .objects
        .iter()
        .filter(|o| !skip(o))
        .map(|o| (id_of(o), o.clone()))
        .collect()
}

fn without_injection(mut object: Value) -> Value {
    let metadata = object
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .unwrap();
    if let Some(annotations) = metadata
        .get_mut("annotations")
        .and_then(Value::as_object_mut)
    {
        annotations.remove(INJECT_CA_FROM);
        if annotations.is_empty() {
            metadata.remove("annotations");
        }
    }
    object
}

#[test]
fn overlays_differ_from_the_default_only_where_they_should() {
    let default = install("cert-manager");
    let is_deployment = |o: &Value| is::<Deployment>(o);

    // namespaced = cert-manager - ClusterRole(Binding) + Role(Binding) in the watched namespace,
    // + WATCH_NAMESPACE.
    let namespaced = install("namespaced");
    let mut before = by_id(default, is_deployment);
    let after = by_id(namespaced, is_deployment);
    for kind in ["ClusterRole", "ClusterRoleBinding"] {
        before
            .remove(&(
                "rbac.authorization.k8s.io/v1".into(),
                kind.into(),
                String::new(),
                NAME.into(),
            ))
            .unwrap_or_else(|| panic!("cert-manager: no {kind} {NAME}"));
    }
    let added: Vec<&Id> = after
        .keys()
        .filter(|id| !before.contains_key(*id))
        .collect();
    assert_eq!(
        added,
        [
            &(
                "rbac.authorization.k8s.io/v1".into(),
                "Role".into(),
                WATCHED.into(),
                NAME.into()
            ),
            &(
                "rbac.authorization.k8s.io/v1".into(),
                "RoleBinding".into(),
                WATCHED.into(),
                NAME.into()
            ),
        ]
    );
    for (id, object) in &before {
        assert_eq!(Some(object), after.get(id), "namespaced: {id:?} differs");
    }
    let flags = namespaced.flags();
    assert_eq!(flags.watch_namespace.0, vec![WATCHED.to_owned()]);
    assert!(
        default.flags().watch_namespace.0.is_empty(),
        "the default watches every namespace"
    );
    let mut deployment = serde_json::to_value(namespaced.deployment()).unwrap();
    let env = deployment
        .pointer_mut("/spec/template/spec/containers/0/env")
        .unwrap()
        .as_array_mut()
        .unwrap();
    env.retain(|e| e["name"] != "WATCH_NAMESPACE");
    assert_eq!(
        deployment,
        serde_json::to_value(default.deployment()).unwrap()
    );
    // Its controller Role has the ClusterRole's rules, in each watched namespace.
    let cluster_role: ClusterRole = default.one(None, NAME);
    for namespace in &flags.watch_namespace.0 {
        let role: Role = namespaced.one(Some(namespace), NAME);
        assert_eq!(role.rules, cluster_role.rules, "{namespace}");
    }

    // self-managed-certs = cert-manager - cert-manager objects - injection annotations
    // + certificate RBAC, Deployment aside.
    let self_managed = install("self-managed-certs");
    let before: BTreeMap<Id, Value> = by_id(default, |o| {
        is_deployment(o)
            || o["apiVersion"]
                .as_str()
                .is_some_and(|v| v.starts_with("cert-manager.io/"))
    })
    .into_iter()
    .map(|(id, o)| (id, without_injection(o)))
    .collect();
    let after = by_id(self_managed, is_deployment);
    for (id, object) in &before {
        assert_eq!(
            Some(object),
            after.get(id),
            "self-managed-certs: {id:?} differs"
        );
    }
    let added: BTreeSet<(String, String)> = after
        .keys()
        .filter(|id| !before.contains_key(*id))
        .map(|id| (id.1.clone(), id.3.clone()))
        .collect();
    let certs = "locust-operator-certs".to_owned();
    assert_eq!(
        added,
        BTreeSet::from([
            ("ClusterRole".into(), certs.clone()),
            ("ClusterRoleBinding".into(), certs.clone()),
            ("Role".into(), certs.clone()),
            ("RoleBinding".into(), certs),
        ])
    );
}

#[test]
fn the_image_can_be_overridden_with_kustomize_images() {
    let dir = tls_support::fresh_dir("kustomize-images");
    // kustomize takes relative paths only: up to `/`, then down to the overlay.
    let up = "../".repeat(dir.components().count() - 1);
    let overlay = format!(
        "{up}{}",
        root()
            .join("deploy/overlays/cert-manager")
            .strip_prefix("/")
            .unwrap()
            .display()
    );
    std::fs::write(
        dir.join("kustomization.yaml"),
        format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - {overlay}\nimages:\n  - name: {IMAGE}\n    newName: registry.example/mirror/locust-operator\n    newTag: dev\n"
        ),
    )
    .unwrap();
    let objects = kustomize(&dir);
    let deployment = objects.iter().find(|o| is::<Deployment>(o)).unwrap();
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.example/mirror/locust-operator:dev"
    );
}
