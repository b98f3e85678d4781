//! RBAC per scope: the rendered roles grant exactly the API calls the operator makes.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use locust_operator::flags::{CertMode, ProcessFlags};
use locust_operator::rbac::{self, Names, Scope};

use crate::render::{Install, installs};
use crate::{CERT_SECRET, LEADER_ELECTION_ROLE, NAMESPACE, WATCHED};

/// One permission: (API group, resource, verb, resource name or any).
type Grant = (String, String, String, Option<String>);

fn grants(rules: &[PolicyRule]) -> BTreeSet<Grant> {
    let mut all = BTreeSet::new();
    for rule in rules {
        assert!(rule.non_resource_urls.is_none(), "{rule:?}");
        let names: Vec<Option<String>> = match &rule.resource_names {
            Some(names) => names.iter().cloned().map(Some).collect(),
            None => vec![None],
        };
        for group in rule.api_groups.iter().flatten() {
            for resource in rule.resources.iter().flatten() {
                for verb in &rule.verbs {
                    for name in &names {
                        all.insert((group.clone(), resource.clone(), verb.clone(), name.clone()));
                    }
                }
            }
        }
    }
    all
}

/// What the operator started with `flags` in `namespace` (its `POD_NAMESPACE`) needs:
/// cluster-wide, and per namespace. Computed from the code's own lists of the API calls each
/// component makes ([`rbac::api_calls`]: the start-up check, the controller, leader election,
/// self-managed certificates; tests/rbac.rs and tests/self_managed_certs.rs prove the lists
/// are what the code requests), placed by their [`Scope`] and limited to the names of
/// [`Names`]: least privilege is exactly this, no verb more.
fn needed(
    flags: &ProcessFlags,
    namespace: &str,
) -> (BTreeSet<Grant>, BTreeMap<String, BTreeSet<Grant>>) {
    let names = Names::from_flags(flags);
    let watched = &flags.watch_namespace.0;
    let lease_namespace = flags
        .leader_election_namespace
        .clone()
        .unwrap_or_else(|| namespace.to_owned());
    let mut cluster = BTreeSet::new();
    let mut namespaced: BTreeMap<String, BTreeSet<Grant>> = BTreeMap::new();
    for call in rbac::api_calls(flags) {
        let grant = (
            call.group.to_owned(),
            call.resource.to_owned(),
            call.verb.to_owned(),
            names.of(call.target).map(str::to_owned),
        );
        let namespaces = match call.scope {
            Scope::Cluster => None,
            Scope::Watched if watched.is_empty() => None,
            Scope::Watched => Some(watched.clone()),
            Scope::Operator => Some(vec![namespace.to_owned()]),
            Scope::Lease => Some(vec![lease_namespace.clone()]),
        };
        match namespaces {
            None => {
                cluster.insert(grant);
            }
            Some(namespaces) => {
                for namespace in namespaces {
                    namespaced
                        .entry(namespace)
                        .or_default()
                        .insert(grant.clone());
                }
            }
        }
    }
    (cluster, namespaced)
}

/// What the operator's ServiceAccount may do: cluster-wide, and per namespace. Also checks
/// that every binding binds only that ServiceAccount to a role of the install, that every
/// role is bound, and that no rule uses a wildcard.
fn access(install: &Install) -> (BTreeSet<Grant>, BTreeMap<String, BTreeSet<Grant>>) {
    let overlay = install.overlay;
    let service_account = install.pod().service_account_name.unwrap();
    let _: ServiceAccount = install.one(Some(NAMESPACE), &service_account);
    let expected_subject = (
        "ServiceAccount".to_owned(),
        service_account,
        Some(NAMESPACE.to_owned()),
    );
    let mut bound = BTreeSet::new();
    let check_subjects =
        |what: &str, subjects: &Option<Vec<k8s_openapi::api::rbac::v1::Subject>>| {
            let subjects: Vec<_> = subjects
                .iter()
                .flatten()
                .map(|s| (s.kind.clone(), s.name.clone(), s.namespace.clone()))
                .collect();
            assert_eq!(
                subjects,
                vec![expected_subject.clone()],
                "{overlay}: {what}"
            );
        };
    let rules_of = |kind: &str, namespace: Option<&str>, name: &str| -> Vec<PolicyRule> {
        match kind {
            "ClusterRole" => install
                .one::<ClusterRole>(None, name)
                .rules
                .unwrap_or_default(),
            "Role" => install
                .one::<Role>(namespace, name)
                .rules
                .unwrap_or_default(),
            other => panic!("{overlay}: roleRef kind {other}"),
        }
    };
    let mut cluster = BTreeSet::new();
    for binding in install.all::<ClusterRoleBinding>() {
        let name = binding.metadata.name.clone().unwrap();
        check_subjects(&name, &binding.subjects);
        assert_eq!(binding.role_ref.api_group, "rbac.authorization.k8s.io");
        assert_eq!(binding.role_ref.kind, "ClusterRole", "{overlay}: {name}");
        bound.insert((
            "ClusterRole".to_owned(),
            String::new(),
            binding.role_ref.name.clone(),
        ));
        cluster.extend(grants(&rules_of(
            "ClusterRole",
            None,
            &binding.role_ref.name,
        )));
    }
    let mut namespaced: BTreeMap<String, BTreeSet<Grant>> = BTreeMap::new();
    for binding in install.all::<RoleBinding>() {
        let name = binding.metadata.name.clone().unwrap();
        let namespace = binding.metadata.namespace.clone().unwrap();
        check_subjects(&name, &binding.subjects);
        assert_eq!(binding.role_ref.api_group, "rbac.authorization.k8s.io");
        let role_namespace = (binding.role_ref.kind == "Role").then_some(namespace.as_str());
        bound.insert((
            binding.role_ref.kind.clone(),
            role_namespace.unwrap_or_default().to_owned(),
            binding.role_ref.name.clone(),
        ));
        namespaced
            .entry(namespace.clone())
            .or_default()
            .extend(grants(&rules_of(
                &binding.role_ref.kind,
                role_namespace,
                &binding.role_ref.name,
            )));
    }
    let mut roles = BTreeSet::new();
    for role in install.all::<ClusterRole>() {
        roles.insert((
            "ClusterRole".to_owned(),
            String::new(),
            role.metadata.name.unwrap(),
        ));
    }
    for role in install.all::<Role>() {
        roles.insert((
            "Role".to_owned(),
            role.metadata.namespace.unwrap(),
            role.metadata.name.unwrap(),
        ));
    }
    assert_eq!(
        roles, bound,
        "{overlay}: every role bound, every binding to a role here"
    );
    for grant in cluster.iter().chain(namespaced.values().flatten()) {
        assert!(
            ![&grant.0, &grant.1, &grant.2].contains(&&"*".to_owned()),
            "{overlay}: wildcard in {grant:?}"
        );
    }
    (cluster, namespaced)
}

fn show(grants: &BTreeSet<Grant>) -> String {
    grants
        .iter()
        .map(|(g, r, v, n)| {
            format!(
                "  {g}/{r} {v}{}",
                n.as_ref().map(|n| format!(" [{n}]")).unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_grants(overlay: &str, scope: &str, actual: &BTreeSet<Grant>, expected: &BTreeSet<Grant>) {
    assert!(
        actual == expected,
        "{overlay}: {scope}:\nmissing:\n{}\nextra:\n{}",
        show(&expected.difference(actual).cloned().collect()),
        show(&actual.difference(expected).cloned().collect())
    );
}

/// Each overlay grants its ServiceAccount exactly what the operator it runs needs ([`needed`]:
/// computed from the code's `API_CALLS` lists for the Deployment's own flags), in each scope:
/// nothing missing, no verb or name more.
#[test]
fn rbac_grants_exactly_what_the_operator_calls_in_each_scope() {
    for install in installs() {
        let overlay = install.overlay;
        let (cluster, namespaced) = access(install);
        let flags = install.flags();
        // What each overlay is (so that the expectation below follows the right flags).
        let (watched, certs): (&[&str], CertMode) = match overlay {
            "cert-manager" => (&[], CertMode::Files),
            "self-managed-certs" => (&[], CertMode::SelfManaged),
            "namespaced" => (&[WATCHED], CertMode::Files),
            other => panic!("no expectation for {other}"),
        };
        assert_eq!(
            flags.watch_namespace.0, watched,
            "{overlay}: WATCH_NAMESPACE"
        );
        assert_eq!(flags.certs.mode, certs, "{overlay}: --certs");
        assert!(flags.leader_elect, "{overlay}: --leader-elect");
        let (expected_cluster, expected_namespaced) = needed(&flags, NAMESPACE);
        assert_grants(overlay, "cluster-wide", &cluster, &expected_cluster);
        let scopes: BTreeSet<&str> = namespaced.keys().map(String::as_str).collect();
        assert_eq!(
            scopes,
            expected_namespaced.keys().map(String::as_str).collect(),
            "{overlay}: namespaces with access"
        );
        for (namespace, expected) in &expected_namespaced {
            assert_grants(overlay, namespace, &namespaced[namespace], expected);
        }
        // Secrets: only the self-managed certificate mode, only its own Secret (but create).
        let secrets: Vec<&Grant> = cluster
            .iter()
            .chain(namespaced.values().flatten())
            .filter(|g| g.1 == "secrets")
            .collect();
        if overlay == "self-managed-certs" {
            for grant in &secrets {
                assert!(
                    grant.2 == "create" || grant.3.as_deref() == Some(CERT_SECRET),
                    "{overlay}: {grant:?}"
                );
            }
            assert!(namespaced[NAMESPACE].iter().any(|g| g.1 == "secrets"));
        } else {
            assert!(secrets.is_empty(), "{overlay}: {secrets:?}");
        }
        // The leader-election Role is where the Lease lives: the operator's namespace.
        let _: Role = install.one(Some(NAMESPACE), LEADER_ELECTION_ROLE);
        assert!(
            flags.leader_election_namespace.is_none(),
            "{overlay}: POD_NAMESPACE decides"
        );
    }
}
