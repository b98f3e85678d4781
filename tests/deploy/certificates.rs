//! Certificates per overlay: cert-manager issues, mounts and injects the serving certificate; with
//! self-managed certificates no Secret is mounted and the operator injects the CA.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use locust_operator::flags::CertMode;
use locust_operator::rbac::{Names, Scope};
use serde_json::Value;

use crate::render::{Install, id_of, install, is};
use crate::typed::{Certificate, Issuer, KeyUsage};
use crate::{
    CERT_SECRET, CRD_NAME, INJECT_CA_FROM, MUTATING_CONFIGURATION, NAMESPACE,
    VALIDATING_CONFIGURATION, WEBHOOK_CERTIFICATE, WEBHOOK_SERVICE,
};

/// The `cert-manager.io/inject-ca-from` annotation of an object.
fn inject_ca_from(object: &Value) -> Option<&str> {
    object["metadata"]["annotations"][INJECT_CA_FROM].as_str()
}

/// The DNS names the API server may use for a Service.
fn service_dns_names(name: &str, namespace: &str) -> Vec<String> {
    vec![
        name.to_owned(),
        format!("{name}.{namespace}"),
        format!("{name}.{namespace}.svc"),
        format!("{name}.{namespace}.svc.cluster.local"),
    ]
}

/// cert-manager: the chain selfsigned -> CA -> webhook certificate, the Secret it writes
/// mounted at --cert-dir, and the CA injected into both webhooks and the conversion webhook.
fn check_cert_manager(install: &Install) {
    let overlay = install.overlay;
    let issuers: BTreeMap<String, Issuer> = install
        .all::<Issuer>()
        .into_iter()
        .map(|i| (i.metadata.name.clone().unwrap(), i))
        .collect();
    let certificates: BTreeMap<String, Certificate> = install
        .all::<Certificate>()
        .into_iter()
        .map(|c| (c.metadata.name.clone().unwrap(), c))
        .collect();
    assert_eq!(
        issuers.keys().map(String::as_str).collect::<Vec<_>>(),
        ["locust-operator-ca-issuer", "locust-operator-selfsigned"],
        "{overlay}"
    );
    assert_eq!(
        certificates.keys().map(String::as_str).collect::<Vec<_>>(),
        ["locust-operator-ca", WEBHOOK_CERTIFICATE],
        "{overlay}"
    );
    for object in issuers
        .values()
        .map(|i| &i.metadata)
        .chain(certificates.values().map(|c| &c.metadata))
    {
        assert_eq!(object.namespace.as_deref(), Some(NAMESPACE), "{overlay}");
    }
    let issuer_of = |certificate: &Certificate| -> &Issuer {
        let reference = &certificate.spec.issuer_ref;
        assert_eq!(reference.kind.as_deref().unwrap_or("Issuer"), "Issuer");
        assert_eq!(
            reference.group.as_deref().unwrap_or("cert-manager.io"),
            "cert-manager.io"
        );
        issuers
            .get(&reference.name)
            .unwrap_or_else(|| panic!("{overlay}: no Issuer {}", reference.name))
    };

    // selfsigned -> CA certificate -> CA issuer -> webhook certificate.
    let ca = &certificates["locust-operator-ca"];
    assert_eq!(ca.spec.is_ca, Some(true), "{overlay}");
    assert!(issuer_of(ca).spec.self_signed.is_some(), "{overlay}");
    let webhook = &certificates[WEBHOOK_CERTIFICATE];
    assert!(webhook.spec.is_ca.is_none_or(|ca| !ca), "{overlay}");
    let ca_issuer = issuer_of(webhook);
    assert_eq!(
        ca_issuer.spec.ca.as_ref().map(|ca| ca.secret_name.as_str()),
        Some(ca.spec.secret_name.as_str()),
        "{overlay}: the CA issuer signs with the CA certificate's Secret"
    );
    for issuer in issuers.values() {
        assert!(
            issuer.spec.self_signed.is_some() != issuer.spec.ca.is_some(),
            "{overlay}: one issuer type each"
        );
    }
    // The serving certificate covers every name of the webhook Service.
    let dns_names: BTreeSet<&str> = webhook
        .spec
        .dns_names
        .iter()
        .flatten()
        .map(String::as_str)
        .collect();
    for name in service_dns_names(WEBHOOK_SERVICE, NAMESPACE) {
        assert!(
            dns_names.contains(name.as_str()),
            "{overlay}: {name} not in dnsNames"
        );
    }
    if let Some(usages) = &webhook.spec.usages {
        assert!(usages.contains(&KeyUsage::ServerAuth), "{overlay}");
    }
    assert_eq!(webhook.spec.secret_name, CERT_SECRET, "{overlay}");

    // The Secret it writes is mounted read-only where the server reads it.
    let pod = install.pod();
    let container = install.container();
    let volume = pod
        .volumes
        .iter()
        .flatten()
        .find(|v| {
            v.secret.as_ref().is_some_and(|s| {
                s.secret_name.as_deref() == Some(webhook.spec.secret_name.as_str())
            })
        })
        .unwrap_or_else(|| panic!("{overlay}: the certificate Secret is not a volume"));
    assert!(volume.secret.as_ref().unwrap().optional.is_none_or(|o| !o));
    let mount = container
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.name == volume.name)
        .unwrap_or_else(|| panic!("{overlay}: volume {} not mounted", volume.name));
    assert_eq!(mount.read_only, Some(true), "{overlay}");
    assert!(
        mount.sub_path.is_none(),
        "{overlay}: subPath mounts never see renewals"
    );
    assert_eq!(
        Path::new(&mount.mount_path),
        install.flags().server.cert_dir,
        "{overlay}: mounted at --cert-dir"
    );
    assert_eq!(mount.mount_path, "/tmp/k8s-webhook-server/serving-certs");
    assert_eq!(install.flags().certs.mode, CertMode::Files, "{overlay}");

    // cainjector copies the CA of that certificate into all three webhooks.
    let expected = format!("{NAMESPACE}/{WEBHOOK_CERTIFICATE}");
    for (kind, name) in [
        ("CustomResourceDefinition", CRD_NAME),
        ("MutatingWebhookConfiguration", MUTATING_CONFIGURATION),
        ("ValidatingWebhookConfiguration", VALIDATING_CONFIGURATION),
    ] {
        let object = install
            .objects
            .iter()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
            .unwrap();
        assert_eq!(
            inject_ca_from(object),
            Some(expected.as_str()),
            "{overlay}: {kind} {name}"
        );
    }
    // And nowhere else.
    let annotated = install
        .objects
        .iter()
        .filter(|o| inject_ca_from(o).is_some())
        .count();
    assert_eq!(annotated, 3, "{overlay}");
}

#[test]
fn cert_manager_issues_mounts_and_injects_the_serving_certificate() {
    check_cert_manager(install("cert-manager"));
    check_cert_manager(install("namespaced"));
}

#[test]
fn self_managed_certs_mount_no_secret_and_inject_by_the_operator() {
    let install = install("self-managed-certs");
    assert_eq!(install.values::<Issuer>().count(), 0);
    assert_eq!(install.values::<Certificate>().count(), 0);
    assert!(
        install.objects.iter().all(|o| o["apiVersion"]
            .as_str()
            .is_some_and(|v| !v.starts_with("cert-manager.io"))),
        "no cert-manager objects"
    );
    assert!(
        install.objects.iter().all(|o| inject_ca_from(o).is_none()),
        "no cert-manager.io/inject-ca-from: the operator injects the CA itself"
    );
    let pod = install.pod();
    assert!(
        pod.volumes.iter().flatten().all(|v| v.secret.is_none()),
        "no Secret volume"
    );
    assert!(
        install
            .container()
            .volume_mounts
            .iter()
            .flatten()
            .next()
            .is_none()
    );
    let args = install.container().args.unwrap();
    assert!(
        args.contains(&"--certs=self-managed".to_owned()),
        "{args:?}"
    );
    assert!(
        args.contains(&format!("--cert-secret={CERT_SECRET}")),
        "{args:?}"
    );
    // The operator's certificate Secret, Service and injection targets are this install's.
    let certs = install.flags().certs;
    assert_eq!(certs.mode, CertMode::SelfManaged);
    assert_eq!(certs.cert_secret, CERT_SECRET);
    assert_eq!(certs.webhook_service, WEBHOOK_SERVICE);
    assert_eq!(certs.mutating_webhook_configuration, MUTATING_CONFIGURATION);
    assert_eq!(
        certs.validating_webhook_configuration,
        VALIDATING_CONFIGURATION
    );
    let _: Service = install.one(Some(NAMESPACE), &certs.webhook_service);
    // The injection RBAC (the cluster-scoped calls of the certificate manager) names exactly
    // the objects of this install.
    let flags = install.flags();
    let names = Names::from_flags(&flags);
    let names: BTreeSet<String> = locust_operator::certs::API_CALLS
        .iter()
        .filter(|call| call.scope == Scope::Cluster)
        .map(|call| names.of(call.target).unwrap().to_owned())
        .collect();
    let installed: BTreeSet<String> = install
        .objects
        .iter()
        .filter(|o| {
            is::<MutatingWebhookConfiguration>(o)
                || is::<ValidatingWebhookConfiguration>(o)
                || is::<CustomResourceDefinition>(o)
        })
        .map(|o| id_of(o).3)
        .collect();
    assert_eq!(names, installed);
}
