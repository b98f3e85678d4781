//! The internal consistency of one render: names, selectors, ports, webhook and conversion service
//! references, the certificate chain, RBAC subjects, flags and environment.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use base64::Engine;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration, WebhookClientConfig,
};
use k8s_openapi::api::core::v1::{Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding, Subject};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use locust_operator::crd::locust_test_crd;
use locust_operator::flags::CertMode;
use locust_operator::webhook::server::{CONVERT_PATH, HANDLER_TIMEOUT, MUTATE_PATH, VALIDATE_PATH};
use serde_json::Value;

use crate::CRD_NAME;
use crate::renderer::Rendered;
use crate::typed::{
    Certificate, Issuer, check_typed, container, kind_of, literal_env, operator_config, run_args,
};

const CERT_DIR: &str = "/tmp/k8s-webhook-server/serving-certs";

fn labels_match(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

fn service_reference(
    r: &Rendered,
    config: &WebhookClientConfig,
    path: &str,
    what: &str,
) -> Option<String> {
    let reference = config.service.as_ref().expect("a service reference");
    assert_eq!(reference.namespace, r.case.namespace, "{what}");
    assert_eq!(reference.path.as_deref(), Some(path), "{what}");
    let port = reference.port.unwrap_or(443);
    let service: Service = r.one(&reference.name);
    assert!(
        service
            .spec
            .unwrap()
            .ports
            .unwrap()
            .iter()
            .any(|p| p.port == port),
        "{what}: Service {} has no port {port}",
        reference.name
    );
    config
        .ca_bundle
        .as_ref()
        .map(|b| String::from_utf8(b.0.clone()).expect("PEM"))
}

/// Everything in one render refers to objects of the same render, and the operator accepts
/// its flags and environment.
pub(crate) fn check_consistency(r: &Rendered) {
    let what = &r.case.what;
    let ns = &r.case.namespace;

    // Typed, unique, namespaced where they should be.
    let mut keys = BTreeSet::new();
    for document in &r.documents {
        check_typed(document);
        let key = (
            kind_of(document).1.to_owned(),
            document["metadata"]["namespace"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
            document["metadata"]["name"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
        );
        assert!(keys.insert(key.clone()), "{what}: {key:?} twice");
    }
    let cluster_scoped = [
        "ClusterRole",
        "ClusterRoleBinding",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "CustomResourceDefinition",
    ];
    for (kind, namespace, name) in &keys {
        if cluster_scoped.contains(&kind.as_str()) {
            assert!(
                namespace.is_empty(),
                "{what}: {kind} {name} has a namespace"
            );
        } else if !(kind.starts_with("Role") && name == &r.fullname()) {
            assert_eq!(namespace, ns, "{what}: {kind} {name}");
        }
    }

    // The Deployment, its pods, flags and environment.
    let deployment = r.deployment();
    let fullname = r.fullname();
    let spec = deployment.spec.clone().unwrap();
    let pod_labels = spec.template.metadata.clone().unwrap().labels.unwrap();
    let selector = spec.selector.match_labels.clone().unwrap();
    assert!(
        labels_match(&selector, &pod_labels),
        "{what}: Deployment selector"
    );
    let pod = spec.template.spec.clone().unwrap();
    let account = pod.service_account_name.clone().unwrap();
    r.one::<ServiceAccount>(&account);
    let container = container(&deployment);
    let args = run_args(&container);
    let config = operator_config(&container);
    drop(config);
    let port_names: BTreeMap<String, i32> = container
        .ports
        .iter()
        .flatten()
        .map(|p| (p.name.clone().unwrap(), p.container_port))
        .collect();
    let bound = |address: std::net::SocketAddr| i32::from(address.port());
    assert_eq!(
        port_names["webhook"],
        bound(args.flags.server.webhook_bind_address)
    );
    assert_eq!(
        port_names["metrics"],
        bound(args.flags.server.metrics_bind_address)
    );
    assert_eq!(
        port_names["probes"],
        bound(args.flags.server.health_probe_bind_address)
    );
    for probe in [&container.liveness_probe, &container.readiness_probe] {
        let get = probe.clone().unwrap().http_get.unwrap();
        assert_eq!(get.port, IntOrString::String("probes".into()), "{what}");
    }
    if r.case.values.pointer("/image/tag").is_none() {
        assert!(
            container
                .image
                .clone()
                .unwrap()
                .ends_with(&format!(":{}", env!("CARGO_PKG_VERSION"))),
            "{what}: the image tag defaults to the operator's version"
        );
    }

    // Services and the PDB select the operator pods; target ports exist.
    for service in r.all::<Service>() {
        let service_spec = service.spec.unwrap();
        assert!(
            labels_match(&service_spec.selector.unwrap(), &pod_labels),
            "{what}: Service selector"
        );
        for port in service_spec.ports.unwrap() {
            match port.target_port.unwrap() {
                IntOrString::String(name) => {
                    assert!(port_names.contains_key(&name), "{what}: targetPort {name}")
                }
                IntOrString::Int(number) => panic!("{what}: numeric targetPort {number}"),
            }
        }
    }
    for pdb in r.all::<PodDisruptionBudget>() {
        let pdb_selector = pdb.spec.unwrap().selector.unwrap().match_labels.unwrap();
        assert_eq!(pdb_selector, selector, "{what}: PDB selector");
    }

    // Webhooks and the CRD conversion go through a rendered Service, with the server's paths.
    let mut ca_bundles = Vec::new();
    let mut inject = Vec::new();
    let mutating: Vec<MutatingWebhookConfiguration> = r.all();
    let validating: Vec<ValidatingWebhookConfiguration> = r.all();
    assert_eq!((mutating.len(), validating.len()), (1, 1), "{what}");
    for webhook in mutating[0].webhooks.iter().flatten() {
        ca_bundles.push(service_reference(
            r,
            &webhook.client_config,
            MUTATE_PATH,
            what,
        ));
        assert!(i64::from(webhook.timeout_seconds.unwrap()) > HANDLER_TIMEOUT.as_secs() as i64);
    }
    for webhook in validating[0].webhooks.iter().flatten() {
        ca_bundles.push(service_reference(
            r,
            &webhook.client_config,
            VALIDATE_PATH,
            what,
        ));
        assert!(i64::from(webhook.timeout_seconds.unwrap()) > HANDLER_TIMEOUT.as_secs() as i64);
    }
    inject.push(mutating[0].metadata.annotations.clone());
    inject.push(validating[0].metadata.annotations.clone());
    if let Some(crd) = r.find::<CustomResourceDefinition>(CRD_NAME) {
        let webhook = crd.spec.conversion.unwrap().webhook.unwrap();
        let config = webhook.client_config.unwrap();
        let reference = config.service.clone().unwrap();
        let as_admission = WebhookClientConfig {
            ca_bundle: config.ca_bundle.clone(),
            service: Some(
                k8s_openapi::api::admissionregistration::v1::ServiceReference {
                    name: reference.name,
                    namespace: reference.namespace,
                    path: reference.path,
                    port: reference.port,
                },
            ),
            url: None,
        };
        ca_bundles.push(service_reference(r, &as_admission, CONVERT_PATH, what));
        inject.push(crd.metadata.annotations.clone());
        assert_eq!(
            crd.spec.versions,
            locust_test_crd().unwrap().spec.versions,
            "{what}: the chart's CRD versions are the generated ones"
        );
    }

    // The certificate, by mode.
    let volumes = pod.volumes.clone().unwrap_or_default();
    let mode = r
        .case
        .values
        .pointer("/certificates/mode")
        .and_then(Value::as_str);
    let inject_from = |annotations: &Option<BTreeMap<String, String>>| {
        annotations
            .as_ref()
            .and_then(|a| a.get("cert-manager.io/inject-ca-from").cloned())
    };
    let certificates: Vec<Certificate> = r.cert_manager("Certificate");
    let issuers: Vec<Issuer> = r.cert_manager("Issuer");
    match mode.unwrap_or("certManager") {
        "certManager" => {
            assert_eq!(args.flags.certs.mode, CertMode::Files, "{what}");
            let serving = certificates
                .iter()
                .find(|c| c.spec.dns_names.is_some())
                .expect("the serving Certificate");
            let serving_name = serving.metadata.name.clone().unwrap();
            for annotations in &inject {
                assert_eq!(
                    inject_from(annotations),
                    Some(format!("{ns}/{serving_name}")),
                    "{what}: CA injection"
                );
            }
            assert!(ca_bundles.iter().all(Option::is_none), "{what}");
            assert_eq!(volumes.len(), 1, "{what}");
            let secret = volumes[0].secret.clone().unwrap().secret_name.unwrap();
            assert_eq!(secret, serving.spec.secret_name, "{what}: mounted Secret");
            let service = mutating[0].webhooks.as_ref().unwrap()[0]
                .client_config
                .service
                .clone()
                .unwrap()
                .name;
            let dns_names = serving.spec.dns_names.clone().unwrap();
            assert!(
                dns_names.contains(&format!("{service}.{ns}.svc")),
                "{what}: {dns_names:?}"
            );
            // The chain: self-signed Issuer -> CA Certificate -> CA Issuer -> serving Certificate.
            let issuer = |name: &str| {
                issuers
                    .iter()
                    .find(|i| i.metadata.name.as_deref() == Some(name))
                    .unwrap_or_else(|| panic!("{what}: no Issuer {name}"))
            };
            let ca_issuer = issuer(&serving.spec.issuer_ref.name);
            let ca_secret = &ca_issuer.spec.ca.as_ref().expect("a CA issuer").secret_name;
            let ca = certificates
                .iter()
                .find(|c| &c.spec.secret_name == ca_secret)
                .expect("the CA Certificate");
            assert_eq!(ca.spec.is_ca, Some(true));
            assert!(issuer(&ca.spec.issuer_ref.name).spec.self_signed.is_some());
        }
        "selfManaged" => {
            let certs = &args.flags.certs;
            assert_eq!(certs.mode, CertMode::SelfManaged, "{what}");
            assert!(volumes.is_empty(), "{what}: no Secret is mounted");
            assert!(certificates.is_empty() && issuers.is_empty(), "{what}");
            assert!(inject.iter().all(|a| inject_from(a).is_none()), "{what}");
            assert!(ca_bundles.iter().all(Option::is_none), "{what}");
            r.one::<Service>(&certs.webhook_service);
            r.one::<MutatingWebhookConfiguration>(&certs.mutating_webhook_configuration);
            r.one::<ValidatingWebhookConfiguration>(&certs.validating_webhook_configuration);
            let role: Role = r.one(&format!("{fullname}-certs"));
            let names: BTreeSet<String> = role
                .rules
                .iter()
                .flatten()
                .flat_map(|rule| rule.resource_names.clone().unwrap_or_default())
                .collect();
            assert_eq!(names, BTreeSet::from([certs.cert_secret.clone()]), "{what}");
            let cluster_role: ClusterRole = r.one(&format!("{fullname}-certs"));
            let names: BTreeSet<String> = cluster_role
                .rules
                .iter()
                .flatten()
                .flat_map(|rule| rule.resource_names.clone().unwrap_or_default())
                .collect();
            assert_eq!(
                names,
                BTreeSet::from([
                    certs.mutating_webhook_configuration.clone(),
                    certs.validating_webhook_configuration.clone(),
                    CRD_NAME.to_owned(),
                ]),
                "{what}"
            );
        }
        "provided" => {
            assert_eq!(args.flags.certs.mode, CertMode::Files, "{what}");
            assert!(certificates.is_empty() && issuers.is_empty(), "{what}");
            assert!(inject.iter().all(|a| inject_from(a).is_none()), "{what}");
            let expected = r
                .case
                .values
                .pointer("/certificates/provided/caBundle")
                .and_then(Value::as_str)
                .map(|b| {
                    let pem = base64::engine::general_purpose::STANDARD.decode(b).unwrap();
                    String::from_utf8(pem).unwrap()
                });
            assert!(
                ca_bundles.iter().all(|b| b == &expected) && expected.is_some(),
                "{what}: every caBundle is the provided one: {ca_bundles:?}"
            );
            let secret = volumes[0].secret.clone().unwrap().secret_name.unwrap();
            assert_eq!(
                Some(secret.as_str()),
                r.case
                    .values
                    .pointer("/certificates/provided/secretName")
                    .and_then(Value::as_str)
            );
        }
        other => panic!("{what}: mode {other}"),
    }
    if !volumes.is_empty() {
        let mounts = container.volume_mounts.clone().unwrap();
        assert_eq!(mounts.len(), 1);
        assert_eq!(mounts[0].name, volumes[0].name);
        assert_eq!(mounts[0].mount_path, CERT_DIR);
        assert_eq!(args.flags.server.cert_dir, Path::new(CERT_DIR));
    }

    // RBAC: bindings name rendered roles and the operator's ServiceAccount.
    let subjects_ok = |subjects: &Option<Vec<Subject>>| {
        let subjects = subjects.clone().unwrap();
        subjects.len() == 1
            && subjects[0].kind == "ServiceAccount"
            && subjects[0].name == account
            && subjects[0].namespace.as_deref() == Some(ns.as_str())
    };
    for binding in r.all::<ClusterRoleBinding>() {
        assert!(subjects_ok(&binding.subjects), "{what}");
        assert_eq!(binding.role_ref.kind, "ClusterRole");
        r.one::<ClusterRole>(&binding.role_ref.name);
    }
    for binding in r.all::<RoleBinding>() {
        assert!(subjects_ok(&binding.subjects), "{what}");
        assert_eq!(binding.role_ref.kind, "Role");
        let role_namespace = binding.metadata.namespace.clone();
        assert!(
            r.all::<Role>()
                .iter()
                .any(
                    |role| role.metadata.name.as_deref() == Some(binding.role_ref.name.as_str())
                        && role.metadata.namespace == role_namespace
                ),
            "{what}: RoleBinding {:?} names a missing Role",
            binding.metadata.name
        );
    }
    let leases = r.all::<Role>().into_iter().any(|role| {
        role.metadata.namespace.as_deref() == Some(ns.as_str())
            && role
                .rules
                .iter()
                .flatten()
                .any(|rule| rule.resources.iter().flatten().any(|res| res == "leases"))
    });
    assert_eq!(
        leases, args.flags.leader_elect,
        "{what}: leader-election RBAC"
    );

    // Namespaced mode: the controller's rules in each watched namespace, none cluster-wide.
    // WATCH_NAMESPACE comes from the environment (clap would read the test's own).
    let watched: Vec<String> = match literal_env(&container).get("WATCH_NAMESPACE") {
        Some(list) => list.split(',').map(str::to_owned).collect(),
        None => args.flags.watch_namespace.0.clone(),
    };
    let controller_rules = |rules: &Option<Vec<k8s_openapi::api::rbac::v1::PolicyRule>>| {
        rules.iter().flatten().any(|rule| {
            rule.resources
                .iter()
                .flatten()
                .any(|res| res == "locusttests")
        })
    };
    let cluster_wide = r
        .all::<ClusterRole>()
        .iter()
        .any(|c| controller_rules(&c.rules));
    assert_eq!(
        cluster_wide,
        watched.is_empty(),
        "{what}: controller ClusterRole"
    );
    for namespace in &watched {
        assert!(
            r.all::<Role>().iter().any(|role| {
                role.metadata.namespace.as_deref() == Some(namespace.as_str())
                    && controller_rules(&role.rules)
            }),
            "{what}: no controller Role in watched namespace {namespace}"
        );
    }
}
