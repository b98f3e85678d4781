//! Self-managed certificates, without a cluster: the decisions (`certs::rotation`, table tests with
//! fixed clocks), the injection patches (`certs::inject`), the flags, and generation and
//! inspection of real certificates (`certs::generate`) through whole lifecycles, including
//! garbage Secret content.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;
use locust_operator::certs::generate::{Contents, execute, inspect};
use locust_operator::certs::inject::{
    CrdInjection, crd_conversion_patch, encode, webhook_configuration_patch,
};
use locust_operator::certs::rotation::{
    Action, CaFacts, Policy, PolicyError, SecretFacts, ServingFacts, Validity, Verdict, Why,
    bundle_members, decide, human,
};
use locust_operator::flags::{CertFlags, CertMode};
use rustls::client::danger::ServerCertVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use serde_json::{Value, json};

const S: Duration = Duration::from_secs(1);
const MIN: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(86_400);
const YEAR: Duration = Duration::from_secs(365 * 86_400);

/// A fixed "now" for the table tests.
fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

/// Valid from `now - age` for `lifetime`.
fn valid(age: Duration, lifetime: Duration) -> Validity {
    let not_before = now() - age;
    Validity {
        not_before,
        not_after: not_before + lifetime,
    }
}

fn ca(age: Duration, lifetime: Duration, has_key: bool) -> CaFacts {
    CaFacts {
        validity: valid(age, lifetime),
        has_key,
    }
}

fn serving(age: Duration, lifetime: Duration, issuer: Option<usize>) -> ServingFacts {
    ServingFacts {
        validity: valid(age, lifetime),
        issuer,
        names_ok: true,
    }
}

/// The default policy without backdating (the table's ages are real ages).
fn policy() -> Policy {
    Policy {
        backdate: Duration::ZERO,
        ..Policy::default()
    }
}

fn observed(cas: Vec<CaFacts>, serving: Option<ServingFacts>) -> SecretFacts {
    SecretFacts {
        cas,
        ca_extra: false,
        serving,
    }
}

#[test]
fn default_policy_and_dns_names() {
    let policy = Policy::default();
    assert_eq!(policy.ca_validity, 5 * YEAR);
    assert_eq!(policy.ca_renew_before, YEAR);
    assert_eq!(policy.serving_validity, YEAR);
    assert_eq!(policy.serving_renew_divisor, 3);
    assert_eq!(policy.validate(), Ok(()));
    assert_eq!(
        Policy::dns_names("locust-operator-webhook", "locust-operator-system"),
        vec![
            "locust-operator-webhook",
            "locust-operator-webhook.locust-operator-system",
            "locust-operator-webhook.locust-operator-system.svc",
            "locust-operator-webhook.locust-operator-system.svc.cluster.local",
        ]
    );
}

#[test]
fn policy_validation() {
    let base = Policy::default();
    let cases: Vec<(&str, Policy, PolicyError)> = vec![
        (
            "zero validity",
            Policy {
                serving_validity: Duration::ZERO,
                ..base
            },
            PolicyError::ZeroValidity,
        ),
        (
            "CA renewed at once",
            Policy {
                ca_renew_before: base.ca_validity,
                ..base
            },
            PolicyError::CaRenewal(base.ca_validity, base.ca_validity),
        ),
        (
            "divisor 1 renews at once",
            Policy {
                serving_renew_divisor: 1,
                ..base
            },
            PolicyError::Divisor(1),
        ),
        (
            "serving outlives its CA's renewal",
            Policy {
                serving_validity: 4 * YEAR + DAY,
                ..base
            },
            PolicyError::ServingOutlivesCa,
        ),
        (
            "propagation longer than the renewal window",
            Policy {
                propagation: YEAR / 3,
                ..base
            },
            PolicyError::Propagation(YEAR / 3),
        ),
    ];
    for (name, policy, expected) in cases {
        assert_eq!(policy.validate(), Err(expected), "{name}");
    }
}

#[test]
fn decisions() {
    let p = policy();
    let healthy_ca = || ca(DAY, 5 * YEAR, true);
    struct Case {
        name: &'static str,
        observed: Option<SecretFacts>,
        injected: bool,
        expected: Verdict,
    }
    let write = |action| Verdict {
        action,
        recheck_at: None,
    };
    let keep = |at| Verdict {
        action: Action::Keep,
        recheck_at: Some(at),
    };
    let fresh_serving_renewal = now() - DAY + (YEAR - YEAR / 3);
    let cases = vec![
        Case {
            name: "no Secret: create",
            observed: None,
            injected: false,
            expected: write(Action::Create),
        },
        Case {
            name: "garbage (nothing parses): replace",
            observed: Some(SecretFacts {
                cas: vec![],
                ca_extra: true,
                serving: None,
            }),
            injected: false,
            expected: write(Action::Replace(Why::NoCa)),
        },
        Case {
            name: "healthy CA, no serving pair: issue",
            observed: Some(observed(vec![healthy_ca()], None)),
            injected: true,
            expected: write(Action::IssueServing(Why::ServingMissing)),
        },
        Case {
            name: "serving expired: issue",
            observed: Some(observed(
                vec![healthy_ca()],
                Some(serving(YEAR + S, YEAR, Some(0))),
            )),
            injected: true,
            expected: write(Action::IssueServing(Why::ServingExpired)),
        },
        Case {
            name: "serving not yet valid: issue",
            observed: Some(observed(
                vec![healthy_ca()],
                Some(ServingFacts {
                    validity: Validity {
                        not_before: now() + MIN,
                        not_after: now() + YEAR,
                    },
                    issuer: Some(0),
                    names_ok: true,
                }),
            )),
            injected: true,
            expected: write(Action::IssueServing(Why::ServingExpired)),
        },
        Case {
            name: "serving signed by no CA of the bundle: issue",
            observed: Some(observed(vec![healthy_ca()], Some(serving(DAY, YEAR, None)))),
            injected: true,
            expected: write(Action::IssueServing(Why::ServingUntrusted)),
        },
        Case {
            name: "serving for other DNS names: issue",
            observed: Some(observed(
                vec![healthy_ca()],
                Some(ServingFacts {
                    names_ok: false,
                    ..serving(DAY, YEAR, Some(0))
                }),
            )),
            injected: true,
            expected: write(Action::IssueServing(Why::ServingNames)),
        },
        Case {
            name: "all fresh: keep until the serving renewal",
            observed: Some(observed(
                vec![healthy_ca()],
                Some(serving(DAY, YEAR, Some(0))),
            )),
            injected: true,
            expected: keep(fresh_serving_renewal),
        },
        Case {
            name: "all fresh, not injected: still keep (nothing to switch)",
            observed: Some(observed(
                vec![healthy_ca()],
                Some(serving(DAY, YEAR, Some(0))),
            )),
            injected: false,
            expected: keep(fresh_serving_renewal),
        },
        Case {
            name: "less than a third of the serving lifetime left: rotate",
            observed: Some(observed(
                vec![healthy_ca()],
                Some(serving(YEAR - YEAR / 3 + S, YEAR, Some(0))),
            )),
            injected: true,
            expected: write(Action::IssueServing(Why::ServingExpiring)),
        },
        Case {
            name: "exactly a third left: rotate",
            observed: Some(observed(
                vec![healthy_ca()],
                Some(serving(YEAR - YEAR / 3, YEAR, Some(0))),
            )),
            injected: true,
            expected: write(Action::IssueServing(Why::ServingExpiring)),
        },
        Case {
            name: "keep until the CA renewal when it comes first",
            observed: Some(observed(
                vec![ca(4 * YEAR - 10 * DAY, 5 * YEAR, true)],
                Some(serving(DAY, 100 * DAY, Some(0))),
            )),
            injected: true,
            expected: keep(now() + 10 * DAY),
        },
        Case {
            name: "ca.key is not the CA's key, serving works: roll over",
            observed: Some(observed(
                vec![ca(DAY, 5 * YEAR, false)],
                Some(serving(DAY, YEAR, Some(0))),
            )),
            injected: true,
            expected: write(Action::AddCa(Why::NoCa)),
        },
        Case {
            name: "CA expiring within a year, serving works: roll over",
            observed: Some(observed(
                vec![ca(4 * YEAR + DAY, 5 * YEAR, true)],
                Some(serving(DAY, 100 * DAY, Some(0))),
            )),
            injected: true,
            expected: write(Action::AddCa(Why::CaExpiring)),
        },
        Case {
            name: "CA expiring and serving broken: replace",
            observed: Some(observed(vec![ca(4 * YEAR + DAY, 5 * YEAR, true)], None)),
            injected: true,
            expected: write(Action::Replace(Why::CaExpiring)),
        },
        Case {
            name: "CA expired: its serving certificate is untrusted too: replace",
            observed: Some(observed(
                vec![ca(5 * YEAR + S, 5 * YEAR, true)],
                Some(serving(DAY, YEAR, Some(0))),
            )),
            injected: true,
            expected: write(Action::Replace(Why::NoCa)),
        },
        Case {
            name: "rollover: new CA not propagated yet: keep until it is",
            observed: Some(observed(
                vec![
                    ca(10 * S, 5 * YEAR, true),
                    ca(4 * YEAR + DAY, 5 * YEAR, false),
                ],
                Some(serving(DAY, 100 * DAY, Some(1))),
            )),
            injected: true,
            expected: keep(now() - 10 * S + 5 * MIN),
        },
        Case {
            name: "rollover: propagated and injected: switch the serving certificate",
            observed: Some(observed(
                vec![
                    ca(6 * MIN, 5 * YEAR, true),
                    ca(4 * YEAR + DAY, 5 * YEAR, false),
                ],
                Some(serving(DAY, 100 * DAY, Some(1))),
            )),
            injected: true,
            expected: write(Action::IssueServing(Why::NewCa)),
        },
        Case {
            name: "rollover: propagated but not seen injected: wait",
            observed: Some(observed(
                vec![
                    ca(6 * MIN, 5 * YEAR, true),
                    ca(4 * YEAR + DAY, 5 * YEAR, false),
                ],
                Some(serving(DAY, 100 * DAY, Some(1))),
            )),
            injected: false,
            expected: keep(now()),
        },
        Case {
            name: "switched, old CA still needed until every replica serves the new certificate",
            observed: Some(observed(
                vec![
                    ca(6 * MIN, 5 * YEAR, true),
                    ca(4 * YEAR + DAY, 5 * YEAR, false),
                ],
                Some(serving(MIN, YEAR, Some(0))),
            )),
            injected: true,
            expected: keep(now() + 4 * MIN),
        },
        Case {
            name: "switched long enough ago: trim the bundle",
            observed: Some(observed(
                vec![
                    ca(16 * MIN, 5 * YEAR, true),
                    ca(4 * YEAR + DAY, 5 * YEAR, false),
                ],
                Some(serving(10 * MIN, YEAR, Some(0))),
            )),
            injected: true,
            expected: write(Action::TrimBundle),
        },
        Case {
            name: "garbage beside a working CA: trim",
            observed: Some(SecretFacts {
                cas: vec![healthy_ca()],
                ca_extra: true,
                serving: Some(serving(DAY, YEAR, Some(0))),
            }),
            injected: true,
            expected: write(Action::TrimBundle),
        },
        Case {
            name: "the signing CA need not come first (foreign content)",
            observed: Some(observed(
                vec![ca(DAY, 5 * YEAR, false), healthy_ca()],
                Some(serving(DAY, YEAR, Some(1))),
            )),
            injected: true,
            expected: write(Action::TrimBundle),
        },
    ];
    for case in cases {
        assert_eq!(
            decide(case.observed.as_ref(), now(), &p, case.injected),
            case.expected,
            "{}",
            case.name
        );
    }
}

#[test]
fn bundle_leaves_out_expired_cas_and_validity_helpers() {
    let observed = observed(
        vec![
            ca(DAY, 5 * YEAR, true),
            ca(5 * YEAR + S, 5 * YEAR, false),
            ca(YEAR, 5 * YEAR, false),
        ],
        None,
    );
    assert_eq!(bundle_members(&observed, now()), vec![0, 2]);

    let v = valid(DAY, YEAR);
    assert!(v.contains(now()));
    assert!(!v.contains(now() - 2 * DAY));
    assert!(v.expired(now() + YEAR));
    assert_eq!(v.remaining(now()), YEAR - DAY);
    assert_eq!(v.remaining(now() + 2 * YEAR), Duration::ZERO);
    assert_eq!(v.lifetime(), YEAR);
    // Issued = notBefore + backdate, never later than now.
    assert_eq!(
        v.issued(Duration::from_secs(3600), now()),
        now() - DAY + Duration::from_secs(3600)
    );
    assert_eq!(v.issued(2 * DAY, now()), now());

    assert_eq!(human(Duration::from_secs(12)), "12s");
    assert_eq!(human(5 * MIN), "5m");
    assert_eq!(human(Duration::from_secs(3 * 3600 + 120)), "3h 2m");
    assert_eq!(human(3 * DAY + Duration::from_secs(4 * 3600)), "3d 4h");
    assert_eq!(human(4 * YEAR + 30 * DAY), "4y 30d");
}

// ---------------------------------------------------------------------------------------------
// Injection patches

fn webhook(name: &str, bundle: Option<&[u8]>) -> Value {
    let mut client_config =
        json!({"service": {"name": "svc", "namespace": "ns", "path": "/mutate"}});
    if let Some(bundle) = bundle {
        client_config["caBundle"] = json!(encode(bundle));
    }
    json!({"name": name, "clientConfig": client_config, "sideEffects": "None"})
}

#[test]
fn webhook_configuration_patches() {
    let bundle = b"-----BEGIN CERTIFICATE-----\nnew\n-----END CERTIFICATE-----\n".as_slice();
    let old = b"old".as_slice();
    let configuration =
        |webhooks: Vec<Value>| json!({"metadata": {"name": "c"}, "webhooks": webhooks});

    // Both differ: a test-guarded add per webhook.
    let both = configuration(vec![webhook("a.x.io", None), webhook("b.x.io", Some(old))]);
    let patch = webhook_configuration_patch(&both, bundle).expect("a patch");
    assert_eq!(
        patch,
        json!([
            {"op": "test", "path": "/webhooks/0/name", "value": "a.x.io"},
            {"op": "add", "path": "/webhooks/0/clientConfig/caBundle", "value": encode(bundle)},
            {"op": "test", "path": "/webhooks/1/name", "value": "b.x.io"},
            {"op": "add", "path": "/webhooks/1/clientConfig/caBundle", "value": encode(bundle)},
        ])
    );
    let patch: json_patch::Patch = serde_json::from_value(patch).unwrap();
    let mut patched = both.clone();
    json_patch::patch(&mut patched, &patch).unwrap();
    assert_eq!(
        webhook_configuration_patch(&patched, bundle),
        None,
        "idempotent"
    );

    // A reordered list fails the test instead of writing the wrong entry.
    let mut reordered = both.clone();
    reordered["webhooks"].as_array_mut().unwrap().reverse();
    assert!(json_patch::patch(&mut reordered, &patch).is_err());

    // Only what differs; nothing when all hold it; webhooks without a clientConfig skipped.
    let one = configuration(vec![
        webhook("a.x.io", Some(bundle)),
        webhook("b.x.io", None),
    ]);
    let patch = webhook_configuration_patch(&one, bundle).unwrap();
    assert_eq!(patch.as_array().unwrap().len(), 2);
    assert_eq!(patch[0]["path"], "/webhooks/1/name");
    assert_eq!(
        webhook_configuration_patch(
            &configuration(vec![webhook("a.x.io", Some(bundle))]),
            bundle
        ),
        None
    );
    assert_eq!(
        webhook_configuration_patch(&configuration(vec![]), bundle),
        None
    );
    assert_eq!(
        webhook_configuration_patch(&json!({"metadata": {}}), bundle),
        None
    );
    assert_eq!(
        webhook_configuration_patch(&configuration(vec![json!({"name": "a.x.io"})]), bundle),
        None
    );
    // A caBundle that is not base64 differs.
    let mut broken = configuration(vec![webhook("a.x.io", None)]);
    broken["webhooks"][0]["clientConfig"]["caBundle"] = json!("%%%");
    assert!(webhook_configuration_patch(&broken, bundle).is_some());
}

#[test]
fn crd_conversion_patches() {
    let bundle = b"bundle".as_slice();
    let crd = |conversion: Value| json!({"metadata": {"name": "locusttests.locust.io"}, "spec": {"conversion": conversion}});
    let by_webhook = |client_config: Value| {
        crd(
            json!({"strategy": "Webhook", "webhook": {"clientConfig": client_config, "conversionReviewVersions": ["v1"]}}),
        )
    };
    let service = json!({"service": {"name": "svc", "namespace": "ns", "path": "/convert"}});
    assert_eq!(
        crd_conversion_patch(&by_webhook(service.clone()), bundle),
        CrdInjection::Patch(
            json!({"spec": {"conversion": {"webhook": {"clientConfig": {"caBundle": encode(bundle)}}}}})
        )
    );
    let mut injected = service.clone();
    injected["caBundle"] = json!(encode(bundle));
    assert_eq!(
        crd_conversion_patch(&by_webhook(injected), bundle),
        CrdInjection::UpToDate
    );
    assert_eq!(
        crd_conversion_patch(&crd(json!({"strategy": "None"})), bundle),
        CrdInjection::NoWebhook
    );
    assert_eq!(
        crd_conversion_patch(&json!({"spec": {}}), bundle),
        CrdInjection::NoWebhook
    );
    assert_eq!(
        crd_conversion_patch(&crd(json!({"strategy": "Webhook", "webhook": {}})), bundle),
        CrdInjection::NoWebhook
    );
}

// ---------------------------------------------------------------------------------------------
// Flags

#[derive(Parser, Debug)]
struct Flags {
    #[command(flatten)]
    certs: CertFlags,
}

#[test]
fn certificate_flags() {
    let parse = |args: &[&str]| {
        Flags::try_parse_from(std::iter::once("test").chain(args.iter().copied())).map(|f| f.certs)
    };
    // No CERTS/CERT_SECRET/... variables are set in the test process.
    let defaults = parse(&[]).unwrap();
    assert_eq!(defaults.mode, CertMode::Files);
    assert_eq!(defaults.cert_secret, "locust-operator-webhook-cert");
    assert_eq!(defaults.webhook_service, "locust-operator-webhook");
    assert_eq!(
        defaults.mutating_webhook_configuration,
        "locust-operator-mutating-webhook"
    );
    assert_eq!(
        defaults.validating_webhook_configuration,
        "locust-operator-validating-webhook"
    );

    let parsed = parse(&[
        "--certs=self-managed",
        "--cert-secret=my-cert",
        "--webhook-service=hooks",
        "--mutating-webhook-configuration=m",
        "--validating-webhook-configuration=v.example",
    ])
    .unwrap();
    assert_eq!(parsed.mode, CertMode::SelfManaged);
    assert_eq!(parsed.cert_secret, "my-cert");
    assert_eq!(parsed.webhook_service, "hooks");
    assert_eq!(parsed.mutating_webhook_configuration, "m");
    assert_eq!(parsed.validating_webhook_configuration, "v.example");

    for (bad, needle) in [
        (&["--certs=cert-manager"][..], "cert-manager"),
        (&["--cert-secret=Bad_Name"][..], "Bad_Name"),
        (&["--webhook-service=a.b"][..], "a.b"),
    ] {
        let error = parse(bad).unwrap_err().to_string();
        assert!(error.contains(needle), "{bad:?}: {error}");
    }
}

// ---------------------------------------------------------------------------------------------
// Real certificates

fn names() -> Vec<String> {
    Policy::dns_names("locust-operator-webhook", "locust-operator-system")
}

/// The certificates of a PEM bundle.
fn ders(pem: &[u8]) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem)
        .map(Result::unwrap)
        .collect()
}

/// Verifies `tls.crt` for `<svc>.<ns>.svc` against the roots of `ca.crt`, as a TLS client
/// (an API server) would, at `at`.
fn verifies(contents: &Contents, at: SystemTime) -> Result<(), rustls::Error> {
    let mut roots = rustls::RootCertStore::empty();
    for der in ders(&contents.ca_crt) {
        roots.add(der).unwrap();
    }
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        locust_operator::webhook::tls::provider(),
    )
    .build()
    .unwrap();
    let chain = ders(&contents.tls_crt);
    verifier
        .verify_server_cert(
            &chain[0],
            &chain[1..],
            &ServerName::try_from("locust-operator-webhook.locust-operator-system.svc").unwrap(),
            &[],
            UnixTime::since_unix_epoch(at.duration_since(UNIX_EPOCH).unwrap()),
        )
        .map(drop)
}

/// Runs `action` on `contents` at `at`.
fn step(action: Action, contents: Option<&Contents>, at: SystemTime, policy: &Policy) -> Contents {
    let inspected = contents.map(|c| inspect(c, &names()));
    execute(
        action,
        contents.zip(inspected.as_ref()),
        &names(),
        at,
        policy,
    )
    .unwrap()
    .expect("new content")
}

fn decide_on(contents: &Contents, at: SystemTime, policy: &Policy) -> Verdict {
    let inspected = inspect(contents, &names());
    decide(Some(&inspected.observed), at, policy, true)
}

#[test]
fn created_content_is_consistent_and_verifies() {
    let policy = Policy::default();
    let at = SystemTime::now();
    let contents = step(Action::Create, None, at, &policy);
    let inspected = inspect(&contents, &names());
    let observed = &inspected.observed;
    assert_eq!(observed.cas.len(), 1);
    assert!(observed.cas[0].has_key);
    assert!(!observed.ca_extra);
    let serving = observed.serving.expect("a serving pair");
    assert_eq!(serving.issuer, Some(0));
    assert!(serving.names_ok);
    // Validities: backdated by an hour, CA 5 years, serving 1 year (second precision).
    let ca = observed.cas[0].validity;
    let close = |a: SystemTime, b: SystemTime| {
        a.duration_since(b).unwrap_or_else(|e| e.duration()) <= Duration::from_secs(1)
    };
    assert!(close(ca.not_before, at - policy.backdate));
    assert!(close(ca.not_after, at + 5 * YEAR));
    assert!(close(serving.validity.not_after, at + YEAR));
    // A TLS client trusting ca.crt accepts tls.crt for the Service's name.
    verifies(&contents, at).unwrap();
    // The bundle is the CA.
    assert_eq!(inspected.current_bundle(at), contents.ca_crt);
    // Nothing to do on it.
    assert_eq!(decide_on(&contents, at, &policy).action, Action::Keep);
    // Keys are PEM PKCS#8, certificates PEM.
    assert!(String::from_utf8_lossy(&contents.ca_key).starts_with("-----BEGIN PRIVATE KEY-----"));
    assert!(String::from_utf8_lossy(&contents.tls_crt).starts_with("-----BEGIN CERTIFICATE-----"));
}

#[test]
fn garbage_and_mismatches_are_seen_as_unusable() {
    let policy = Policy::default();
    let at = SystemTime::now();
    let good = step(Action::Create, None, at, &policy);
    let other = step(Action::Create, None, at, &policy);

    let garbage = Contents {
        ca_crt: b"garbage".to_vec(),
        ca_key: b"garbage".to_vec(),
        tls_crt: b"garbage".to_vec(),
        tls_key: vec![0, 159, 146, 150],
    };
    let inspected = inspect(&garbage, &names());
    assert!(inspected.observed.cas.is_empty());
    assert!(inspected.observed.ca_extra);
    assert_eq!(inspected.observed.serving, None);
    assert_eq!(
        decide_on(&garbage, at, &policy).action,
        Action::Replace(Why::NoCa)
    );
    let replaced = step(Action::Replace(Why::NoCa), Some(&garbage), at, &policy);
    verifies(&replaced, at).unwrap();
    assert_eq!(decide_on(&replaced, at, &policy).action, Action::Keep);

    // A PEM block that is not a certificate in ca.crt is garbage beside the CA.
    let mut polluted = good.clone();
    polluted
        .ca_crt
        .extend(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    let inspected = inspect(&polluted, &names());
    assert_eq!(inspected.observed.cas.len(), 1);
    assert!(inspected.observed.ca_extra);
    // The serving certificate (not a CA) in ca.crt is left out too.
    let mut leaf_in_bundle = good.clone();
    leaf_in_bundle.ca_crt.extend(&good.tls_crt);
    assert!(inspect(&leaf_in_bundle, &names()).observed.ca_extra);

    // ca.key of another CA: the CA cannot sign.
    let wrong_ca_key = Contents {
        ca_key: other.ca_key.clone(),
        ..good.clone()
    };
    let inspected = inspect(&wrong_ca_key, &names());
    assert!(!inspected.observed.cas[0].has_key);
    assert_eq!(
        decide_on(&wrong_ca_key, at, &policy).action,
        Action::AddCa(Why::NoCa),
        "serving still works: roll over to a new CA"
    );

    // tls.key of another certificate: no usable pair.
    let wrong_tls_key = Contents {
        tls_key: other.tls_key.clone(),
        ..good.clone()
    };
    assert_eq!(inspect(&wrong_tls_key, &names()).observed.serving, None);
    assert_eq!(
        decide_on(&wrong_tls_key, at, &policy).action,
        Action::IssueServing(Why::ServingMissing)
    );

    // A serving certificate of another CA: untrusted.
    let foreign_serving = Contents {
        tls_crt: other.tls_crt.clone(),
        tls_key: other.tls_key.clone(),
        ..good.clone()
    };
    assert_eq!(
        inspect(&foreign_serving, &names())
            .observed
            .serving
            .unwrap()
            .issuer,
        None
    );
    assert_eq!(
        decide_on(&foreign_serving, at, &policy).action,
        Action::IssueServing(Why::ServingUntrusted)
    );

    // Made for another Service: wrong names.
    let other_names = Policy::dns_names("other", "locust-operator-system");
    assert!(
        !inspect(&good, &other_names)
            .observed
            .serving
            .unwrap()
            .names_ok
    );
}

#[test]
fn rotation_and_ca_rollover_lifecycle() {
    // Short periods; propagation 1 minute.
    let policy = Policy {
        ca_validity: 100 * DAY,
        ca_renew_before: 30 * DAY,
        serving_validity: 30 * DAY,
        serving_renew_divisor: 3,
        propagation: MIN,
        backdate: Duration::ZERO,
    };
    policy.validate().unwrap();
    let t0 = SystemTime::now();
    let created = step(Action::Create, None, t0, &policy);
    let ca1 = ders(&created.ca_crt)[0].clone();

    // Serving rotation: after 2/3 of its life, a new one from the same CA.
    let t1 = t0 + 20 * DAY + S;
    assert_eq!(
        decide_on(&created, t1, &policy).action,
        Action::IssueServing(Why::ServingExpiring)
    );
    let rotated = step(
        Action::IssueServing(Why::ServingExpiring),
        Some(&created),
        t1,
        &policy,
    );
    assert_eq!(
        ders(&rotated.ca_crt),
        ders(&created.ca_crt),
        "the bundle does not change"
    );
    assert_eq!(rotated.ca_key, created.ca_key);
    assert_ne!(rotated.tls_crt, created.tls_crt);
    verifies(&rotated, t1).unwrap();

    // CA rollover: with less than 30 days left, a new CA goes first; serving stays.
    let t2 = t0 + 70 * DAY + S;
    let before = step(
        Action::IssueServing(Why::ServingExpiring),
        Some(&created),
        t2 - 5 * DAY,
        &policy,
    );
    // A serving certificate never outlives its CA.
    let late = step(
        Action::IssueServing(Why::ServingExpiring),
        Some(&created),
        t0 + 80 * DAY,
        &policy,
    );
    let late = inspect(&late, &names()).observed;
    assert_eq!(
        late.serving.unwrap().validity.not_after,
        late.cas[0].validity.not_after
    );
    assert_eq!(
        decide_on(&before, t2, &policy).action,
        Action::AddCa(Why::CaExpiring)
    );
    let rollover = step(Action::AddCa(Why::CaExpiring), Some(&before), t2, &policy);
    let bundle = ders(&rollover.ca_crt);
    assert_eq!(bundle.len(), 2, "new CA + old CA");
    assert_ne!(bundle[0], ca1);
    assert_eq!(bundle[1], ca1);
    assert_eq!(rollover.tls_crt, before.tls_crt, "serving unchanged");
    verifies(&rollover, t2).unwrap();
    let inspected = inspect(&rollover, &names());
    assert!(inspected.observed.cas[0].has_key && !inspected.observed.cas[1].has_key);
    assert_eq!(inspected.observed.serving.unwrap().issuer, Some(1));

    // Within the propagation time: keep (until propagated).
    assert_eq!(
        decide_on(&rollover, t2 + 10 * S, &policy),
        Verdict {
            action: Action::Keep,
            recheck_at: Some(inspected.observed.cas[0].validity.not_before + MIN),
        }
    );
    // Propagated (and injected): switch to a serving certificate of the new CA.
    let t3 = t2 + 2 * MIN;
    assert_eq!(
        decide_on(&rollover, t3, &policy).action,
        Action::IssueServing(Why::NewCa)
    );
    let switched = step(
        Action::IssueServing(Why::NewCa),
        Some(&rollover),
        t3,
        &policy,
    );
    assert_eq!(
        ders(&switched.ca_crt),
        bundle,
        "both CAs still in the bundle"
    );
    verifies(&switched, t3).unwrap();
    assert_eq!(
        inspect(&switched, &names())
            .observed
            .serving
            .unwrap()
            .issuer,
        Some(0)
    );
    // The old serving certificate is still trusted by the bundle during the switch.
    verifies(
        &Contents {
            tls_crt: rollover.tls_crt.clone(),
            ..switched.clone()
        },
        t3,
    )
    .unwrap();

    // Every replica serves it after the propagation time: trim to the new CA.
    assert_eq!(
        decide_on(&switched, t3 + 10 * S, &policy).action,
        Action::Keep
    );
    let t4 = t3 + 2 * MIN;
    assert_eq!(decide_on(&switched, t4, &policy).action, Action::TrimBundle);
    let trimmed = step(Action::TrimBundle, Some(&switched), t4, &policy);
    assert_eq!(ders(&trimmed.ca_crt), vec![bundle[0].clone()]);
    assert_eq!(trimmed.tls_crt, switched.tls_crt);
    verifies(&trimmed, t4).unwrap();
    assert_eq!(decide_on(&trimmed, t4, &policy).action, Action::Keep);
    // The old serving certificate is no longer trusted.
    assert!(
        verifies(
            &Contents {
                tls_crt: rollover.tls_crt.clone(),
                ..trimmed.clone()
            },
            t4,
        )
        .is_err()
    );
}
