//! Values files of the Go operator's chart: its defaults and its translated keys install exactly
//! the objects of this chart's own keys; keys without a meaning here are rejected word for word.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::Role;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use locust_operator::config::Config;
use locust_operator::flags::CertMode;
use serde_json::{Value, json};

use crate::consistency::check_consistency;
use crate::renderer::{Case, Rendered, Renderer, case, render_all, render_ok, renderer};
use crate::typed::{CertificateSpec, container, kind_of, literal_env, operator_config, run_args};
use crate::values::ca_bundle;
use crate::{Key, NAMESPACE, coalesce, first_difference, go_chart_defaults, go_chart_file};

/// The documents of a render by (kind, namespace, name), as rendered.
fn documents_by_key(r: &Rendered) -> BTreeMap<Key, Value> {
    r.documents
        .iter()
        .map(|d| {
            let key = (
                kind_of(d).1.to_owned(),
                d["metadata"]["namespace"].as_str().unwrap_or("").to_owned(),
                d["metadata"]["name"].as_str().unwrap_or("").to_owned(),
            );
            (key, d.clone())
        })
        .collect()
}

/// Renders each (what, the Go chart's values, this chart's values with the same meaning) and
/// asserts the same objects, field for field, and the same notes; each render of this chart's
/// keys is also checked for consistency. Returns the renders of the Go values.
fn assert_same_install(renderer: &Renderer, pairs: &[(&str, Value, Value)]) -> Vec<Rendered> {
    let cases: Vec<Case> = pairs
        .iter()
        .flat_map(|(what, go, ours)| {
            [
                case(&format!("{what}, in the Go chart's keys"), go.clone()),
                case(&format!("{what}, in this chart's keys"), ours.clone()),
            ]
        })
        .collect();
    let mut renders = render_ok(renderer, &cases).into_iter();
    let mut go_renders = Vec::new();
    while let (Some(go), Some(ours)) = (renders.next(), renders.next()) {
        check_consistency(&ours);
        let (theirs, mine) = (documents_by_key(&go), documents_by_key(&ours));
        assert_eq!(
            theirs.keys().collect::<Vec<_>>(),
            mine.keys().collect::<Vec<_>>(),
            "{}: other objects than {}",
            go.case.what,
            ours.case.what
        );
        for (key, document) in &theirs {
            if let Some(difference) = first_difference(document, &mine[key], "") {
                panic!(
                    "{}: {key:?} differs from {} at {difference}",
                    go.case.what, ours.case.what
                );
            }
        }
        assert_eq!(go.notes, ours.notes, "{}: notes", go.case.what);
        go_renders.push(go);
    }
    go_renders
}

/// Someone switching passes the Go chart's whole `values.yaml`: a working install, the objects
/// of this chart's keys with the same meaning (where their defaults differ, the Go values win:
/// they are what the user's file says).
#[test]
fn go_chart_defaults_install_like_this_chart() {
    let Some(renderer) = renderer() else { return };
    let ours = json!({
        "fullnameOverride": "locust-operator",
        "replicas": 2,
        "resources": {"limits": {"cpu": "500m", "memory": "256Mi"},
                      "requests": {"cpu": "10m", "memory": "64Mi"}},
        "terminationGracePeriodSeconds": 10,
        "metrics": {"enabled": false},
        // Without webhooks the Go chart needed no certificate: here the operator makes its own.
        "certificates": {"mode": "selfManaged"},
        "namespaced": {"enabled": false},
        "locustPods": {
            "resources": {"cpuRequest": "250m", "memRequest": "128Mi", "ephemeralRequest": "30M",
                          "cpuLimit": "1000m", "memLimit": "1024Mi", "ephemeralLimit": "50M"},
            "affinityInjection": true,
            "tolerationsInjection": true,
            "metricsExporter": {
                "image": "containersol/locust_exporter:v0.5.0", "port": 9646,
                "pullPolicy": "IfNotPresent",
                "resources": {"cpuRequest": "100m", "memRequest": "64Mi", "ephemeralRequest": "30M",
                              "cpuLimit": "250m", "memLimit": "128Mi", "ephemeralLimit": "50M"}
            }
        }
    });
    let r = assert_same_install(
        renderer,
        &[("the Go chart's values.yaml", go_chart_defaults(), ours)],
    )
    .remove(0);

    // What that means, checked on the render itself.
    let deployment = r.deployment();
    let spec = deployment.spec.clone().unwrap();
    assert_eq!(spec.replicas, Some(2));
    let pod = spec.template.spec.unwrap();
    assert_eq!(pod.termination_grace_period_seconds, Some(10));
    let operator = container(&deployment);
    assert_eq!(
        operator.image.as_deref(),
        Some(
            format!(
                "ghcr.io/locust-operator/locust-operator:{}",
                env!("CARGO_PKG_VERSION")
            )
            .as_str()
        ),
        "the Go chart's image stands for the operator's image"
    );
    assert_eq!(
        operator.resources.clone().unwrap().requests.unwrap()["cpu"].0,
        "10m"
    );
    assert_eq!(run_args(&operator).flags.certs.mode, CertMode::SelfManaged);
    // The Go chart's defaults for the test pods are the operator's own.
    assert_eq!(literal_env(&operator)["POD_CPU_LIMIT"], "1000m");
    assert_eq!(operator_config(&operator), Config::defaults());
    assert!(r.find::<Service>("locust-operator-metrics").is_none());
    assert_eq!(r.all::<PodDisruptionBudget>().len(), 1);
    assert!(r.cert_manager::<CertificateSpec>("Certificate").is_empty());
}

/// A Go values file setting every key this chart translates (and the rest at values that
/// change nothing), and one case for each other meaning of the Go keys: the objects of this
/// chart's keys with the same meaning.
#[test]
fn go_chart_values_are_translated() {
    let Some(renderer) = renderer() else { return };
    let file = go_chart_file("non-default-values.yaml");
    // The Go operator read the Kafka user name from the credentials Secret; this one takes it
    // as a value (rejected without it, below).
    let go = coalesce(
        &file,
        &json!({"locustPods": {"kafka": {"username": "locust"}}}),
    );
    let mut ours = json!({
        "image": {"repository": "registry.example.com/locust-operator", "tag": "0.1.0-rc.1",
                  "pullPolicy": "Always"},
        "imagePullSecrets": [{"name": "regcred"}, {"name": "mirror-credentials"}],
        "replicas": 3,
        "fullnameOverride": "lo-operator",
        "terminationGracePeriodSeconds": 45,
        "metrics": {"enabled": true, "port": 9090},
        "webhook": {"port": 10250},
        "certificates": {"mode": "certManager"},
        "namespaced": {"enabled": true, "namespaces": [NAMESPACE]},
        "locustPods": {
            // The Go chart's "" (ephemeralStorage request) is its default, not a removal.
            "resources": {
                "cpuRequest": "300m", "memRequest": "256Mi",
                "cpuLimit": "2", "memLimit": "2Gi", "ephemeralLimit": "100M",
                "master": {"cpuRequest": "500m", "memLimit": "3Gi"},
                "worker": {"memRequest": "512Mi", "ephemeralRequest": "40M", "cpuLimit": "1.5"}
            },
            "affinityInjection": false,
            "tolerationsInjection": false,
            "ttlSecondsAfterFinished": 3600,
            "metricsExporter": {
                "image": "registry.example.com/locust_exporter:v0.5.0", "port": 9999,
                "pullPolicy": "Always",
                "resources": {"cpuRequest": "50m", "memRequest": "32Mi", "cpuLimit": "500m",
                              "ephemeralLimit": "60M"}
            },
            "kafka": {
                "bootstrapServers": "kafka.example.org:9093", "securityEnabled": true,
                "securityProtocol": "SASL_SSL", "saslMechanism": "PLAIN",
                "saslJaasConfig": "org.apache.kafka.common.security.plain.PlainLoginModule required;",
                "username": "locust",
                "passwordSecret": {"name": "kafka-credentials", "key": "pass"}
            }
        }
    });
    // The same keys in both charts, with the same meaning.
    for key in [
        "resources",
        "podAnnotations",
        "nodeSelector",
        "tolerations",
        "affinity",
    ] {
        ours[key] = file[key].clone();
    }
    let bundle = ca_bundle();
    let go_provided = json!({"webhook": {"enabled": true, "certManager": {"enabled": false}}});
    let ours_provided = |secret: &str| {
        json!({"certificates": {"mode": "provided",
        "provided": {"secretName": secret, "caBundle": bundle}}})
    };
    let renders = assert_same_install(
        renderer,
        &[
            ("every translated key", go, ours),
            (
                "webhooks with your certificate",
                coalesce(
                    &go_provided,
                    &json!({"certificates": {"provided": {"caBundle": bundle}}}),
                ),
                ours_provided("locust-operator-webhook-certs"),
            ),
            (
                "webhooks with your certificate in your Secret",
                coalesce(
                    &go_provided,
                    &json!({"certificates": {"provided": {"secretName": "my-tls", "caBundle": bundle}}}),
                ),
                ours_provided("my-tls"),
            ),
            (
                "cert-manager without webhooks",
                json!({"webhook": {"certManager": {"enabled": true}}}),
                json!({"certificates": {"mode": "selfManaged"}}),
            ),
            (
                "webhooks with cert-manager by default",
                json!({"webhook": {"enabled": true}}),
                json!({"certificates": {"mode": "certManager"}}),
            ),
            (
                "a cluster role",
                json!({"k8s": {"clusterRole": {"enabled": true}}}),
                json!({"namespaced": {"enabled": false}}),
            ),
            (
                "agreeing keys of both charts",
                json!({
                    "replicaCount": 3, "replicas": 3,
                    "webhook": {"enabled": false}, "certificates": {"mode": "selfManaged"},
                    "image": {"pullSecrets": ["regcred"]}, "imagePullSecrets": [{"name": "regcred"}],
                    "k8s": {"clusterRole": {"enabled": false}},
                    "namespaced": {"enabled": true, "namespaces": [NAMESPACE]},
                    "locustPods": {"resources": {"limits": {"cpu": "2"}, "cpuLimit": "2"}}
                }),
                json!({
                    "replicas": 3, "certificates": {"mode": "selfManaged"},
                    "imagePullSecrets": [{"name": "regcred"}],
                    "namespaced": {"enabled": true, "namespaces": [NAMESPACE]},
                    "locustPods": {"resources": {"cpuLimit": "2"}}
                }),
            ),
            (
                "Kafka with the Go chart's defaults",
                json!({"kafka": {"enabled": true}}),
                json!({"locustPods": {"kafka": {"bootstrapServers": "localhost:9092"}}}),
            ),
            (
                "Kafka servers from this chart's key",
                json!({"kafka": {"enabled": true},
                       "locustPods": {"kafka": {"bootstrapServers": "kafka:9092"}}}),
                json!({"locustPods": {"kafka": {"bootstrapServers": "kafka:9092"}}}),
            ),
            (
                "Kafka security off: its settings change nothing, as in the Go chart",
                json!({"kafka": {"enabled": true, "bootstrapServers": "kafka:9092",
                                 "security": {"enabled": false, "protocol": "SSL", "jaasConfig": "x"},
                                 "credentials": {"secretName": "kafka-credentials"}}}),
                json!({"locustPods": {"kafka": {"bootstrapServers": "kafka:9092",
                                                "securityEnabled": false}}}),
            ),
            (
                "Kafka off: its settings change nothing, as in the Go chart",
                json!({"kafka": {"enabled": false, "bootstrapServers": "kafka:9092",
                                 "security": {"enabled": true, "protocol": "SSL"}}}),
                json!({}),
            ),
            (
                "quantities as numbers",
                json!({"locustPods": {
                    "resources": {"limits": {"cpu": 2, "memory": ""}},
                    "metricsExporter": {"resources": {"requests": {"cpu": 0.5}}}}}),
                json!({"locustPods": {
                    "resources": {"cpuLimit": "2"},
                    "metricsExporter": {"resources": {"cpuRequest": "0.5"}}}}),
            ),
            (
                "no TTL, the Go chart's way",
                json!({"locustPods": {"ttlSecondsAfterFinished": ""}}),
                json!({}),
            ),
            (
                "TTL 0 in quotes",
                json!({"locustPods": {"ttlSecondsAfterFinished": "0"}}),
                json!({"locustPods": {"ttlSecondsAfterFinished": 0}}),
            ),
            (
                "the Go operator's image, untagged",
                json!({"image": {"repository": "lotest/locust-k8s-operator", "tag": ""}}),
                json!({}),
            ),
            (
                "one replica",
                json!({"replicaCount": 1, "leaderElection": {"enabled": false},
                       "podDisruptionBudget": {"enabled": false}}),
                json!({"replicas": 1, "leaderElection": {"enabled": false}}),
            ),
            (
                "one replica with the Go chart's budget",
                json!({"replicaCount": 1, "leaderElection": {"enabled": false},
                       "podDisruptionBudget": {"enabled": true, "maxUnavailable": 1}}),
                json!({"replicas": 1, "leaderElection": {"enabled": false}}),
            ),
            (
                "three replicas with this chart's budget",
                json!({"replicaCount": 3, "podDisruptionBudget": {"maxUnavailable": 2}}),
                json!({"replicas": 3}),
            ),
            (
                "keys without a meaning here, at values that change nothing",
                json!({
                    "extraEnv": [],
                    "metrics": {"secure": false},
                    "serviceAccount": {"create": true, "name": "", "annotations": {}},
                    "otelCollector": {"enabled": false, "image": "example.org/collector:1",
                                      "replicas": 3, "config": "receivers: {}"},
                    "podSecurityContext": {"runAsUser": 65532, "fsGroup": 65532},
                    "containerSecurityContext": {"readOnlyRootFilesystem": true,
                                                 "capabilities": {"drop": ["ALL"]}},
                    "podDisruptionBudget": {"enabled": true, "maxUnavailable": 1},
                    "config": {}
                }),
                json!({}),
            ),
        ],
    );

    // What the file means, checked on its render itself.
    let r = &renders[0];
    let deployment = r.deployment();
    let spec = deployment.spec.clone().unwrap();
    assert_eq!(spec.replicas, Some(3));
    let pod = spec.template.spec.unwrap();
    assert_eq!(pod.termination_grace_period_seconds, Some(45));
    let secrets: Vec<String> = pod
        .image_pull_secrets
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(secrets, ["regcred", "mirror-credentials"]);
    let operator = container(&deployment);
    assert_eq!(
        literal_env(&operator)
            .get("WATCH_NAMESPACE")
            .map(String::as_str),
        Some(NAMESPACE)
    );
    assert_eq!(run_args(&operator).flags.certs.mode, CertMode::Files);
    assert_eq!(r.cert_manager::<CertificateSpec>("Certificate").len(), 2);
    let budget = r.all::<PodDisruptionBudget>().remove(0).spec.unwrap();
    assert_eq!(budget.min_available, Some(IntOrString::Int(1)));
    let config = operator_config(&operator);
    let quantity =
        |list: &Option<
            BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
        >,
         key: &str| { list.as_ref().and_then(|l| l.get(key)).map(|q| q.0.clone()) };
    assert_eq!(
        quantity(&config.master_resources.requests, "cpu").as_deref(),
        Some("500m")
    );
    assert_eq!(
        quantity(&config.worker_resources.requests, "cpu").as_deref(),
        Some("300m")
    );
    assert_eq!(
        quantity(&config.worker_resources.limits, "cpu").as_deref(),
        Some("1.5")
    );
    // "" in the Go chart: the default, not a removal.
    assert_eq!(
        quantity(&config.master_resources.requests, "ephemeral-storage").as_deref(),
        Some("30M")
    );
    assert_eq!(config.job_ttl_seconds_after_finished, Some(3600));
    assert!(!config.affinity_injection && !config.tolerations_injection);
    assert_eq!(config.exporter.port, 9999);
    let kafka = config.kafka.expect("Kafka");
    assert_eq!(kafka.bootstrap_servers, "kafka.example.org:9093");
    assert_eq!(kafka.username.as_deref(), Some("locust"));
    assert_eq!(
        kafka.password_secret,
        Some(("kafka-credentials".to_owned(), "pass".to_owned()))
    );
    // Webhooks with your certificate: the Secret the Go chart mounted, no cert-manager objects.
    let provided = &renders[1];
    assert!(
        provided
            .cert_manager::<CertificateSpec>("Certificate")
            .is_empty()
    );
    let pod = provided.deployment().spec.unwrap().template.spec.unwrap();
    let secret = pod.volumes.unwrap()[0].secret.clone().unwrap().secret_name;
    assert_eq!(secret.as_deref(), Some("locust-operator-webhook-certs"));
    let role_namespaces: Vec<_> = r
        .all::<Role>()
        .into_iter()
        .filter(|role| role.metadata.name.as_deref() == Some("lo-operator"))
        .map(|role| role.metadata.namespace.unwrap())
        .collect();
    assert_eq!(role_namespaces, [NAMESPACE]);
}

/// Each Go key without a meaning here, each value of one that would change something, and
/// each conflict with this chart's key: rendering fails with this message, word for word.
#[test]
fn go_chart_values_without_a_meaning_here_are_rejected() {
    let Some(renderer) = renderer() else { return };
    let unsupported = |key: &str, why: &str| {
        format!(
            "locust-operator: value `{key}` of the Go operator's chart is not supported here: {why}"
        )
    };
    let conflict = |go: &str, ours: &str, meant: &str, set: &str| {
        format!(
            "locust-operator: value {go} of the Go operator's chart means `{ours}: {meant}` here, \
             which conflicts with `{ours}: {set}`: keep only one of them"
        )
    };
    let deprecated = |key: &str, instead: &str| {
        format!(
            "locust-operator: value `{key}` of the Go operator's chart (a deprecated path of its \
             1.x values) is not supported here: use {instead} instead"
        )
    };
    let pod_context = r#"{"fsGroup":65532,"runAsGroup":65532,"runAsNonRoot":true,"runAsUser":65532,"seccompProfile":{"type":"RuntimeDefault"}}"#;
    let container_context = r#"{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]},"readOnlyRootFilesystem":true,"runAsNonRoot":true,"seccompProfile":{"type":"RuntimeDefault"}}"#;
    let keeps = |replicas: i32| {
        format!(
            "this chart keeps one of the {replicas} replicas available (minAvailable: 1, which is \
             maxUnavailable: {}) so that the webhooks stay served: remove it",
            replicas - 1
        )
    };
    let rejected: Vec<(&str, Value, String)> = vec![
        (
            "extra environment",
            json!({"extraEnv": [{"name": "LOG_LEVEL", "value": "debug"}]}),
            unsupported("extraEnv", "the operator takes its settings from this chart's values (its environment variables from `locustPods`): remove it"),
        ),
        (
            "HTTPS metrics",
            json!({"metrics": {"secure": true}}),
            unsupported("metrics.secure", "the operator serves /metrics over plain HTTP only: remove it"),
        ),
        (
            "no ServiceAccount",
            json!({"serviceAccount": {"create": false}}),
            unsupported("serviceAccount.create", "the chart always creates the operator's ServiceAccount, with exactly the permissions it uses: remove it"),
        ),
        (
            "a ServiceAccount name",
            json!({"serviceAccount": {"name": "locust"}}),
            unsupported("serviceAccount.name", "the ServiceAccount is named like every object of the release: use `fullnameOverride` instead"),
        ),
        (
            "ServiceAccount annotations",
            json!({"serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/locust"}}}),
            unsupported("serviceAccount.annotations", "the operator needs no cloud identity (it only talks to the Kubernetes API), so the chart sets no ServiceAccount annotations: remove it"),
        ),
        (
            "an OpenTelemetry Collector",
            json!({"otelCollector": {"enabled": true}}),
            unsupported("otelCollector.enabled", "the chart installs no OpenTelemetry Collector: deploy one separately, point the tests' `spec.observability.openTelemetry.endpoint` at it, and remove `otelCollector`"),
        ),
        (
            "another user",
            json!({"podSecurityContext": {"runAsUser": 1000}}),
            unsupported("podSecurityContext", &format!("the chart always sets the restricted security context {pod_context}: remove it (fields that agree with it are accepted)")),
        ),
        (
            "no pod security context",
            json!({"podSecurityContext": {}}),
            unsupported("podSecurityContext", &format!("the chart always sets the restricted security context {pod_context}: remove it (fields that agree with it are accepted)")),
        ),
        (
            "a writable root file system",
            json!({"containerSecurityContext": {"readOnlyRootFilesystem": false}}),
            unsupported("containerSecurityContext", &format!("the chart always sets the restricted security context {container_context}: remove it (fields that agree with it are accepted)")),
        ),
        (
            "no disruption budget",
            json!({"podDisruptionBudget": {"enabled": false}}),
            format!("locust-operator: value `podDisruptionBudget.enabled: false` of the Go operator's chart is not supported here: {}", keeps(2)),
        ),
        (
            "the Go chart's budget with three replicas",
            json!({"replicaCount": 3, "podDisruptionBudget": {"enabled": true}}),
            format!("locust-operator: value `podDisruptionBudget` of the Go operator's chart (maxUnavailable: 1) is not supported here: {}", keeps(3)),
        ),
        (
            "a tagged Go operator image",
            json!({"image": {"repository": "lotest/locust-k8s-operator", "tag": "2.3.0"}}),
            "locust-operator: value `image.tag: \"2.3.0\"` with `image.repository: lotest/locust-k8s-operator` of the Go operator's chart is not supported here: that is an image of the Go operator, which this chart cannot run: remove both (the default is this operator's image, tagged with the chart's appVersion)".to_owned(),
        ),
        (
            "the deprecated TTL",
            json!({"config": {"loadGenerationJobs": {"ttlSecondsAfterFinished": 60}}}),
            deprecated("config.loadGenerationJobs.ttlSecondsAfterFinished", "`locustPods.ttlSecondsAfterFinished`"),
        ),
        (
            "the deprecated Kafka user Secret",
            json!({"config": {"loadGenerationPods": {"kafka": {"locustK8sKafkaUser": {"userName": "kafka-user"}}}}}),
            deprecated("config.loadGenerationPods.kafka.locustK8sKafkaUser.userName", "`locustPods.kafka.passwordSecret.name` (a Secret in each test's namespace) and `locustPods.kafka.username`"),
        ),
        (
            "a deprecated path the Go chart never read",
            json!({"config": {"loadGenerationPods": {"kafka": {"topic": "locust"}}}}),
            deprecated("config.loadGenerationPods.kafka.topic", "the keys under `locustPods`"),
        ),
        (
            "Kafka credentials without the user name",
            go_chart_file("non-default-values.yaml"),
            "locust-operator: value `kafka.credentials.secretName` of the Go operator's chart needs `locustPods.kafka.username` here: this operator takes the Kafka user name as a value, so set it to what key `user` of the Secret `kafka-credentials` holds (the password stays in that Secret, which must exist in each test's namespace)".to_owned(),
        ),
        (
            "webhooks with your certificate but no CA",
            json!({"webhook": {"enabled": true, "certManager": {"enabled": false}}}),
            "locust-operator: value `webhook.enabled: true` with `webhook.certManager.enabled: false` of the Go operator's chart means `certificates.mode: \"provided\"` here, with your certificate in the Secret `locust-operator-webhook-certs`, which also needs the CA that signed it: set `certificates.provided.caBundle` (`base64 -w0 ca.crt`), or remove the `webhook` keys and choose another `certificates.mode`".to_owned(),
        ),
        (
            "a TTL above the maximum, in quotes",
            json!({"locustPods": {"ttlSecondsAfterFinished": "9999999999"}}),
            "locust-operator: value `locustPods.ttlSecondsAfterFinished: \"9999999999\"` is more than 2147483647 seconds".to_owned(),
        ),
        (
            "two replicas without leader election, in the Go chart's key",
            json!({"replicaCount": 2, "leaderElection": {"enabled": false}}),
            "replicas > 1 needs leaderElection.enabled=true: without it every replica would reconcile".to_owned(),
        ),
        (
            "the default replicas without leader election",
            json!({"leaderElection": {"enabled": false}}),
            "replicas > 1 needs leaderElection.enabled=true: without it every replica would reconcile".to_owned(),
        ),
        // Conflicts.
        (
            "replicas",
            json!({"replicaCount": 3, "replicas": 4}),
            conflict("`replicaCount: 3`", "replicas", "3", "4"),
        ),
        (
            "the whole Go values.yaml with another replica count",
            coalesce(&go_chart_defaults(), &json!({"replicas": 3})),
            conflict("`replicaCount: 2`", "replicas", "2", "3"),
        ),
        (
            "no webhooks and cert-manager",
            json!({"webhook": {"enabled": false}, "certificates": {"mode": "certManager"}}),
            conflict("`webhook.enabled: false`", "certificates.mode", "\"selfManaged\"", "\"certManager\""),
        ),
        (
            "cert-manager alone and another mode",
            json!({"webhook": {"certManager": {"enabled": true}}, "certificates": {"mode": "provided",
                   "provided": {"secretName": "my-tls", "caBundle": ca_bundle()}}}),
            conflict("`webhook.certManager.enabled` without `webhook.enabled` (false there by default)", "certificates.mode", "\"selfManaged\"", "\"provided\""),
        ),
        (
            "webhooks with cert-manager and self-managed certificates",
            json!({"webhook": {"enabled": true}, "certificates": {"mode": "selfManaged"}}),
            conflict("`webhook.enabled: true` with `webhook.certManager.enabled: true`", "certificates.mode", "\"certManager\"", "\"selfManaged\""),
        ),
        (
            "a cluster role and namespaces",
            json!({"k8s": {"clusterRole": {"enabled": true}},
                   "namespaced": {"enabled": true, "namespaces": ["load-tests"]}}),
            conflict("`k8s.clusterRole.enabled: true`", "namespaced.enabled", "false", "true"),
        ),
        (
            "the release namespace and others",
            json!({"k8s": {"clusterRole": {"enabled": false}},
                   "namespaced": {"enabled": true, "namespaces": ["load-tests"]}}),
            conflict("`k8s.clusterRole.enabled: false`", "namespaced.namespaces", &format!("[\"{NAMESPACE}\"]"), "[\"load-tests\"]"),
        ),
        (
            "pull secrets",
            json!({"image": {"pullSecrets": ["regcred"]}, "imagePullSecrets": [{"name": "other"}]}),
            conflict("`image.pullSecrets: [\"regcred\"]`", "imagePullSecrets", "[{\"name\":\"regcred\"}]", "[{\"name\":\"other\"}]"),
        ),
        (
            "a CPU request",
            json!({"locustPods": {"resources": {"requests": {"cpu": "300m"}, "cpuRequest": "250m"}}}),
            conflict("`locustPods.resources.requests.cpu: \"300m\"`", "locustPods.resources.cpuRequest", "\"300m\"", "\"250m\""),
        ),
        (
            "Kafka servers",
            json!({"kafka": {"enabled": true, "bootstrapServers": "kafka:9092"},
                   "locustPods": {"kafka": {"bootstrapServers": "other:9092"}}}),
            conflict("`kafka.bootstrapServers: \"kafka:9092\"`", "locustPods.kafka.bootstrapServers", "\"kafka:9092\"", "\"other:9092\""),
        ),
    ];
    let cases: Vec<Case> = rejected
        .iter()
        .map(|(what, values, _)| case(what, values.clone()))
        .collect();
    for ((what, values, message), result) in rejected.iter().zip(render_all(renderer, &cases)) {
        let error = match result {
            Ok(_) => panic!("{what}: Helm rendered {values}"),
            Err(error) => error,
        };
        assert!(
            error.contains("execution error") && error.trim_end().ends_with(message.as_str()),
            "{what}: expected the message\n  {message}\ngot\n  {error}"
        );
    }
}
