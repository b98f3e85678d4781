//! The install manifests, the certificates and the image, checked without a cluster:
//!
//! - every YAML file under `deploy/` (but `deploy/helm/`), `webhooks/` and `certs/` parses into
//!   its typed object (k8s-openapi, or the cert-manager and kustomize structs in [`typed`]), and a
//!   field the typed object does not know (a misspelling) fails: k8s-openapi ignores unknown
//!   fields, so [`typed::strict`] re-serializes the typed value and requires every original field
//!   back;
//! - every overlay of `deploy/overlays/` rendered with `kubectl kustomize` (kubectl must be on
//!   `PATH`) is internally consistent: names, labels and selectors, ports, probes, webhook and
//!   conversion service references and paths (against the running server), the certificate
//!   chain and CA injection, RBAC per scope, volumes, flags (accepted by the real binary);
//! - `certs/dev-certs.sh` makes certificates the operator loads and serves, for every name asked;
//! - the Dockerfile, statically (no image registry here): stages, static binary, distroless
//!   non-root final stage without a shell, entrypoint and user matching the Deployment.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

#[allow(dead_code)] // shared with other test targets; this one uses a part of it
#[path = "../support/tls.rs"]
mod tls_support;

use std::path::Path;

mod certificates;
mod deployment;
mod dev_certs;
mod files;
mod image;
mod overlays;
mod rbac;
mod render;
mod typed;
mod webhooks;

// The contract (the names other parts of the project build against)

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const NAMESPACE: &str = "locust-operator-system";
const NAME: &str = "locust-operator";
const CONTAINER: &str = "operator";
const IMAGE: &str = "ghcr.io/locust-operator/locust-operator";
const WEBHOOK_SERVICE: &str = "locust-operator-webhook";
const METRICS_SERVICE: &str = "locust-operator-metrics";
const MUTATING_CONFIGURATION: &str = "locust-operator-mutating-webhook";
const VALIDATING_CONFIGURATION: &str = "locust-operator-validating-webhook";
const MUTATING_WEBHOOK: &str = "mutate.locusttests.locust.io";
const VALIDATING_WEBHOOK: &str = "validate.locusttests.locust.io";
const CRD_NAME: &str = "locusttests.locust.io";
const CERT_SECRET: &str = "locust-operator-webhook-cert";
const WEBHOOK_CERTIFICATE: &str = "locust-operator-webhook-cert";
const INJECT_CA_FROM: &str = "cert-manager.io/inject-ca-from";
const LEADER_ELECTION_ROLE: &str = "locust-operator-leader-election";
const PART_OF: (&str, &str) = ("app.kubernetes.io/part-of", "locust-operator");
/// The operator pods' labels, which the Deployment, Services, PDB and anti-affinity select on.
const POD_SELECTOR: [(&str, &str); 2] = [
    ("app.kubernetes.io/name", "locust-operator"),
    ("app.kubernetes.io/component", "controller"),
];
/// The namespace the namespaced overlay watches.
const WATCHED: &str = "load-tests";
/// Every overlay under deploy/overlays/ (a test fails when a directory is not listed here).
const OVERLAYS: [&str; 3] = ["cert-manager", "self-managed-certs", "namespaced"];
/// Environment variables the operator reads that are not `run` flags (src/leader.rs).
const DOWNWARD_API_ENV: [(&str, &str); 2] = [
    ("POD_NAME", "metadata.name"),
    ("POD_NAMESPACE", "metadata.namespace"),
];
/// UID and GID of the image (distroless `nonroot`) and of the pod.
const NONROOT: i64 = 65532;

fn root() -> &'static Path {
    Path::new(ROOT)
}
