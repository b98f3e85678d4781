//! The Deployment runs the hardened operator with arguments and environment the real binary
//! accepts, and the Services select its pods and name its ports.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::OnceLock;

use clap::Parser;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use locust_operator::flags::ProcessFlags;
use locust_operator::webhook::server::SHUTDOWN_GRACE;

use crate::render::{RunFlags, container_port, installs, labels, port_of};
use crate::{
    DOWNWARD_API_ENV, IMAGE, METRICS_SERVICE, NAME, NAMESPACE, NONROOT, PART_OF, POD_SELECTOR,
    WEBHOOK_SERVICE,
};

/// The operator's defaults (no flags).
fn default_flags() -> ProcessFlags {
    RunFlags::try_parse_from(["locust-operator"]).unwrap().flags
}

fn operator_binary() -> &'static str {
    env!("CARGO_BIN_EXE_locust-operator")
}

/// `locust-operator run --help`.
fn run_help() -> &'static str {
    static HELP: OnceLock<String> = OnceLock::new();
    HELP.get_or_init(|| {
        let output = Command::new(operator_binary())
            .args(["run", "--help"])
            .output()
            .unwrap();
        assert!(output.status.success());
        String::from_utf8(output.stdout).unwrap()
    })
}

fn selector_labels() -> BTreeMap<String, String> {
    labels(&POD_SELECTOR)
}

/// The labels a `matchLabels`-only selector requires.
fn match_labels(selector: &LabelSelector) -> BTreeMap<String, String> {
    assert!(
        selector.match_expressions.is_none(),
        "selectors use matchLabels only"
    );
    selector.match_labels.clone().unwrap_or_default()
}

fn is_subset(small: &BTreeMap<String, String>, large: &BTreeMap<String, String>) -> bool {
    small.iter().all(|(k, v)| large.get(k) == Some(v))
}

#[test]
fn the_deployment_runs_the_hardened_operator() {
    let defaults = default_flags();
    for install in installs() {
        let overlay = install.overlay;
        let deployment = install.deployment();
        let spec = deployment.spec.clone().unwrap();
        assert_eq!(spec.replicas, Some(2), "{overlay}");
        assert_eq!(match_labels(&spec.selector), selector_labels(), "{overlay}");
        let template_labels = spec.template.metadata.unwrap().labels.unwrap();
        assert!(is_subset(&selector_labels(), &template_labels), "{overlay}");
        assert_eq!(
            template_labels.get(PART_OF.0).map(String::as_str),
            Some(PART_OF.1)
        );
        let metadata_labels = deployment.metadata.labels.unwrap();
        assert!(is_subset(&selector_labels(), &metadata_labels), "{overlay}");

        let pod = install.pod();
        assert_eq!(pod.service_account_name.as_deref(), Some(NAME), "{overlay}");
        assert_eq!(pod.automount_service_account_token, Some(true), "{overlay}");
        // SIGTERM lets in-flight webhook requests finish within SHUTDOWN_GRACE, then the lease
        // is released: the pod must be given longer than that.
        let grace = pod.termination_grace_period_seconds.unwrap();
        assert_eq!(grace, 30, "{overlay}");
        assert!(grace as u64 > SHUTDOWN_GRACE.as_secs(), "{overlay}");

        let security = pod.security_context.clone().unwrap();
        assert_eq!(security.run_as_non_root, Some(true), "{overlay}");
        assert_eq!(security.run_as_user, Some(NONROOT), "{overlay}");
        assert_eq!(security.run_as_group, Some(NONROOT), "{overlay}");
        assert_eq!(security.seccomp_profile.unwrap().type_, "RuntimeDefault");

        // Replicas on different nodes when possible.
        let anti = pod.affinity.clone().unwrap().pod_anti_affinity.unwrap();
        let preferred = anti
            .preferred_during_scheduling_ignored_during_execution
            .unwrap();
        assert_eq!(preferred.len(), 1, "{overlay}");
        let term = &preferred[0].pod_affinity_term;
        assert_eq!(term.topology_key, "kubernetes.io/hostname", "{overlay}");
        assert!(
            is_subset(
                &match_labels(term.label_selector.as_ref().unwrap()),
                &template_labels
            ),
            "{overlay}: the anti-affinity selects the operator's own pods"
        );
        assert_eq!(
            match_labels(term.label_selector.as_ref().unwrap()),
            selector_labels()
        );
        assert!(
            anti.required_during_scheduling_ignored_during_execution
                .is_none()
        );

        let container = install.container();
        assert_eq!(
            container.image.as_deref(),
            Some(format!("{IMAGE}:{}", env!("CARGO_PKG_VERSION")).as_str()),
            "{overlay}: the image tag is the package version"
        );
        assert!(
            container.command.is_none(),
            "{overlay}: the image's ENTRYPOINT is the binary; the Deployment sets args only"
        );
        let args = container.args.clone().unwrap();
        assert_eq!(args[0], "run", "{overlay}");
        assert_eq!(args[1], "--log-format=json", "{overlay}");
        let container_security = container.security_context.clone().unwrap();
        assert_eq!(container_security.allow_privilege_escalation, Some(false));
        assert_eq!(container_security.read_only_root_filesystem, Some(true));
        assert_eq!(container_security.run_as_non_root, Some(true));
        assert!(container_security.privileged.is_none_or(|p| !p));
        let capabilities = container_security.capabilities.unwrap();
        assert_eq!(capabilities.drop, Some(vec!["ALL".to_owned()]));
        assert!(capabilities.add.is_none());
        assert_eq!(
            container_security.seccomp_profile.unwrap().type_,
            "RuntimeDefault"
        );
        let resources = container.resources.clone().unwrap();
        let requests = resources.requests.unwrap();
        assert_eq!(requests["cpu"].0, "50m", "{overlay}");
        assert_eq!(requests["memory"].0, "64Mi", "{overlay}");
        assert_eq!(resources.limits.unwrap()["memory"].0, "256Mi", "{overlay}");

        // Downward API for the leader-election identity and namespace.
        let env = container.env.clone().unwrap();
        for (name, field) in DOWNWARD_API_ENV {
            let var = env
                .iter()
                .find(|e| e.name == name)
                .unwrap_or_else(|| panic!("{overlay}: no {name}"));
            let from = var.value_from.as_ref().unwrap().field_ref.as_ref().unwrap();
            assert_eq!(from.field_path, field, "{overlay}: {name}");
        }
        // Every other variable is one `run` reads.
        for var in &env {
            if DOWNWARD_API_ENV.iter().any(|(name, _)| *name == var.name) {
                continue;
            }
            assert!(
                run_help().contains(&format!("[env: {}=", var.name)),
                "{overlay}: {} is not read by `locust-operator run`",
                var.name
            );
        }

        // Ports: the servers' addresses, named as the Services and probes refer to them.
        let flags = install.flags();
        let ports: BTreeMap<String, i32> = container
            .ports
            .iter()
            .flatten()
            .map(|p| (p.name.clone().unwrap(), p.container_port))
            .collect();
        let expected = BTreeMap::from([
            (
                "webhook".to_owned(),
                port_of(flags.server.webhook_bind_address),
            ),
            (
                "metrics".to_owned(),
                port_of(flags.server.metrics_bind_address),
            ),
            (
                "probes".to_owned(),
                port_of(flags.server.health_probe_bind_address),
            ),
        ]);
        assert_eq!(ports, expected, "{overlay}");
        assert_eq!(
            expected.values().copied().collect::<Vec<_>>(),
            vec![8080, 8081, 9443],
            "{overlay}: the contract's ports"
        );
        assert_eq!(
            flags.server, defaults.server,
            "{overlay}: server flags left at their defaults"
        );
        assert!(
            flags.leader_elect,
            "{overlay}: 2 replicas need leader election"
        );

        // Probes on the probes port: liveness never depends on the certificate, readiness does.
        for (probe, path) in [
            (container.liveness_probe.clone(), "/healthz"),
            (container.readiness_probe.clone(), "/readyz"),
        ] {
            let get = probe.unwrap().http_get.unwrap();
            assert_eq!(get.path.as_deref(), Some(path), "{overlay}");
            assert_eq!(
                container_port(&container, &get.port),
                Some(port_of(flags.server.health_probe_bind_address)),
                "{overlay}: {path}"
            );
            assert!(get.scheme.is_none_or(|s| s == "HTTP"), "{overlay}");
        }

        // Every mount names a volume, every volume is mounted.
        let volumes: BTreeSet<String> = pod
            .volumes
            .iter()
            .flatten()
            .map(|v| v.name.clone())
            .collect();
        let mounted: BTreeSet<String> = container
            .volume_mounts
            .iter()
            .flatten()
            .map(|m| m.name.clone())
            .collect();
        assert_eq!(volumes, mounted, "{overlay}");

        // At least one replica through voluntary disruptions, never blocking a drain.
        let pdb: PodDisruptionBudget = install.one(Some(NAMESPACE), NAME);
        let pdb = pdb.spec.unwrap();
        assert_eq!(pdb.min_available, Some(IntOrString::Int(1)), "{overlay}");
        assert!(pdb.max_unavailable.is_none());
        assert_eq!(
            match_labels(pdb.selector.as_ref().unwrap()),
            selector_labels()
        );
        assert!(spec.replicas.unwrap() > 1);
    }
}

#[test]
fn deployment_args_and_environment_are_accepted_by_the_binary() {
    for install in installs() {
        let container = install.container();
        // clap rejects an unknown flag or a bad value as it reads it; `--help` last then
        // succeeds only when every argument before it was accepted.
        let output = Command::new(operator_binary())
            .args(container.args.iter().flatten())
            .arg("--help")
            .env_clear()
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}: locust-operator {:?} is rejected:\n{}",
            install.overlay,
            container.args,
            String::from_utf8_lossy(&output.stderr)
        );
        // The values of the environment variables parse too.
        let _ = install.flags();
    }
}

#[test]
fn services_select_the_operator_pods_and_name_its_ports() {
    for install in installs() {
        let overlay = install.overlay;
        let container = install.container();
        let flags = install.flags();
        let template_labels = install
            .deployment()
            .spec
            .unwrap()
            .template
            .metadata
            .unwrap()
            .labels
            .unwrap();
        for (name, port, target) in [
            (
                WEBHOOK_SERVICE,
                443,
                port_of(flags.server.webhook_bind_address),
            ),
            (
                METRICS_SERVICE,
                8080,
                port_of(flags.server.metrics_bind_address),
            ),
        ] {
            let service: Service = install.one(Some(NAMESPACE), name);
            let spec = service.spec.unwrap();
            assert!(
                spec.type_.is_none_or(|t| t == "ClusterIP"),
                "{overlay}: {name}"
            );
            let selector = spec.selector.unwrap();
            assert_eq!(selector, selector_labels(), "{overlay}: {name}");
            assert!(is_subset(&selector, &template_labels), "{overlay}: {name}");
            let ports = spec.ports.unwrap();
            assert_eq!(ports.len(), 1, "{overlay}: {name}");
            assert_eq!(ports[0].port, port, "{overlay}: {name}");
            let target_port = ports[0].target_port.as_ref().unwrap();
            assert!(
                matches!(target_port, IntOrString::String(_)),
                "{overlay}: {name}: target ports by name"
            );
            assert_eq!(
                container_port(&container, target_port),
                Some(target),
                "{overlay}: {name}: {target_port:?} names the container port of the server"
            );
        }
    }
}
