//! The webhook configurations and the CRD conversion point at the webhook Service and the server's
//! paths, and the end-to-end suite registers the same webhooks.

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, RuleWithOperations, ValidatingWebhookConfiguration,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use locust_operator::webhook::server::{CONVERT_PATH, HANDLER_TIMEOUT, MUTATE_PATH, VALIDATE_PATH};

use crate::render::{installs, webhook_paths};
use crate::{
    CRD_NAME, MUTATING_CONFIGURATION, MUTATING_WEBHOOK, VALIDATING_CONFIGURATION,
    VALIDATING_WEBHOOK, root,
};

#[test]
fn webhooks_and_conversion_point_at_the_webhook_service_and_the_server_paths() {
    for install in installs() {
        let overlay = install.overlay;
        let paths = webhook_paths(install);
        assert_eq!(paths["mutating"], MUTATE_PATH, "{overlay}");
        assert_eq!(paths["validating"], VALIDATE_PATH, "{overlay}");
        assert_eq!(paths["conversion"], CONVERT_PATH, "{overlay}");

        // The rules cover every version of the CRD's group, for the CRD's plural.
        let crd: CustomResourceDefinition = install.one(None, CRD_NAME);
        let mut versions: Vec<String> = crd.spec.versions.iter().map(|v| v.name.clone()).collect();
        versions.sort();
        let expected_rule = RuleWithOperations {
            api_groups: Some(vec![crd.spec.group.clone()]),
            api_versions: Some(versions),
            resources: Some(vec![crd.spec.names.plural.clone()]),
            operations: Some(vec!["CREATE".into(), "UPDATE".into()]),
            scope: Some(crd.spec.scope.clone()),
        };
        assert_eq!(
            expected_rule.api_versions,
            Some(vec!["v1".to_owned(), "v2".to_owned()])
        );
        let mutating: MutatingWebhookConfiguration = install.one(None, MUTATING_CONFIGURATION);
        let validating: ValidatingWebhookConfiguration =
            install.one(None, VALIDATING_CONFIGURATION);
        let m = &mutating.webhooks.unwrap()[0];
        let v = &validating.webhooks.unwrap()[0];
        assert_eq!(m.name, MUTATING_WEBHOOK, "{overlay}");
        assert_eq!(v.name, VALIDATING_WEBHOOK, "{overlay}");
        assert_eq!(m.reinvocation_policy.as_deref(), Some("Never"));
        for (name, review_versions, side_effects, failure, timeout, matching, rules, selectors) in [
            (
                &m.name,
                &m.admission_review_versions,
                &m.side_effects,
                &m.failure_policy,
                m.timeout_seconds,
                &m.match_policy,
                &m.rules,
                (m.namespace_selector.is_some(), m.object_selector.is_some()),
            ),
            (
                &v.name,
                &v.admission_review_versions,
                &v.side_effects,
                &v.failure_policy,
                v.timeout_seconds,
                &v.match_policy,
                &v.rules,
                (v.namespace_selector.is_some(), v.object_selector.is_some()),
            ),
        ] {
            assert_eq!(review_versions, &vec!["v1".to_owned()], "{overlay}: {name}");
            assert_eq!(side_effects, "None", "{overlay}: {name}");
            assert_eq!(failure.as_deref(), Some("Fail"), "{overlay}: {name}");
            assert_eq!(matching.as_deref(), Some("Equivalent"), "{overlay}: {name}");
            assert_eq!(timeout, Some(5), "{overlay}: {name}");
            // The server answers within HANDLER_TIMEOUT, well inside the API server's wait.
            assert!(
                u64::try_from(timeout.unwrap()).unwrap() > HANDLER_TIMEOUT.as_secs(),
                "{overlay}: {name}"
            );
            assert_eq!(
                rules,
                &Some(vec![expected_rule.clone()]),
                "{overlay}: {name}"
            );
            assert_eq!(
                selectors,
                (false, false),
                "{overlay}: {name}: every namespace"
            );
        }
    }
}

#[test]
fn the_e2e_suite_registers_the_same_webhooks() {
    let source = std::fs::read_to_string(root().join("tests/support/e2e.rs")).unwrap();
    for (constant, value) in [
        ("MUTATING_WEBHOOK", MUTATING_WEBHOOK),
        ("VALIDATING_WEBHOOK", VALIDATING_WEBHOOK),
    ] {
        assert!(
            source.contains(&format!("pub const {constant}: &str = \"{value}\";")),
            "tests/support/e2e.rs {constant} differs from webhooks/"
        );
    }
    for fragment in [
        "\"admissionReviewVersions\": [\"v1\"]",
        "\"sideEffects\": \"None\"",
        "\"failurePolicy\": \"Fail\"",
        "\"timeoutSeconds\": 5",
        "\"matchPolicy\": \"Equivalent\"",
        "\"apiVersions\": [\"v1\", \"v2\"]",
        "\"operations\": [\"CREATE\", \"UPDATE\"]",
        "\"reinvocationPolicy\"] = json!(\"Never\")",
    ] {
        assert!(
            source.contains(fragment),
            "tests/support/e2e.rs no longer registers {fragment}: keep webhooks/ and it in step"
        );
    }
}
