//! The chart's copy of the CRD (`templates/crd.yaml`) equals `locust-operator crd` from
//! `spec.group` on (`UPDATE_GOLDEN=1` rewrites it), and its templated head mirrors the generated
//! conversion block.

use locust_operator::crd::{locust_test_crd, locust_test_crd_yaml};
use locust_operator::webhook::server::CONVERT_PATH;

use crate::{CRD_NAME, chart_file, read};

/// The marker line of `templates/crd.yaml` after which the generated CRD is copied verbatim.
const CRD_MARKER: &str =
    "# ---- generated: `locust-operator crd` from spec.group on (tests/helm/) ----";

fn generated_crd_body() -> String {
    let yaml = locust_test_crd_yaml().expect("CRD renders");
    let start = yaml
        .find("\n  group: ")
        .expect("the generated CRD has spec.group");
    let body = yaml[start + 1..].to_owned();
    assert!(
        !body.contains("\n  conversion:"),
        "spec.conversion no longer comes before spec.group in the generated CRD; \
         templates/crd.yaml templates that block and copies the rest"
    );
    body
}

#[test]
fn chart_crd_equals_the_generated_crd() {
    let path = chart_file("templates/crd.yaml");
    let text = read(&path);
    let (head, rest) = text
        .split_once(&format!("{CRD_MARKER}\n"))
        .unwrap_or_else(|| panic!("{}: no marker line {CRD_MARKER:?}", path.display()));
    const END: &str = "{{- end }}\n";
    let copy = rest
        .strip_suffix(END)
        .unwrap_or_else(|| panic!("{}: must end with {END:?}", path.display()));
    let generated = generated_crd_body();
    assert!(
        !generated.contains("{{") && !generated.contains("}}"),
        "the generated CRD contains template delimiters; it cannot be copied verbatim"
    );
    if copy != generated {
        if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
            std::fs::write(&path, format!("{head}{CRD_MARKER}\n{generated}{END}")).unwrap();
            eprintln!("rewrote {}", path.display());
        } else {
            let line = copy
                .lines()
                .zip(generated.lines())
                .position(|(a, b)| a != b)
                .map_or_else(|| "the length".to_owned(), |i| format!("line {}", i + 1));
            panic!(
                "{} differs from `locust-operator crd` (from spec.group on; first difference at \
                 {line} after the marker): rewrite it with `UPDATE_GOLDEN=1 cargo test --test helm`",
                path.display()
            );
        }
    }

    // The templated head mirrors the generated conversion block, with the release's Service.
    let crd = locust_test_crd().unwrap();
    let conversion = crd.spec.conversion.expect("conversion");
    assert_eq!(conversion.strategy, "Webhook");
    let webhook = conversion.webhook.expect("conversion webhook");
    assert_eq!(webhook.conversion_review_versions, vec!["v1".to_owned()]);
    let service = webhook
        .client_config
        .and_then(|c| c.service)
        .expect("service");
    assert_eq!(service.path.as_deref(), Some(CONVERT_PATH));
    assert_eq!(service.port, Some(443));
    for line in [
        "  conversion:\n    strategy: Webhook\n    webhook:\n      clientConfig:\n".to_owned(),
        format!("          path: {CONVERT_PATH}\n          port: 443\n"),
        "      conversionReviewVersions:\n      - v1\n".to_owned(),
        format!("  name: {CRD_NAME}\n"),
    ] {
        assert!(
            head.contains(&line),
            "templates/crd.yaml head lacks {line:?}"
        );
    }
}
