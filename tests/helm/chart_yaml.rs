//! `Chart.yaml` parses, with the crate's version as appVersion.

use serde::Deserialize;

use crate::{CHART, chart_file, read};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ChartYaml {
    api_version: String,
    name: String,
    description: String,
    #[serde(rename = "type")]
    chart_type: String,
    version: String,
    app_version: String,
    kube_version: String,
    keywords: Vec<String>,
}

#[test]
fn chart_yaml_describes_this_version() {
    let chart: ChartYaml =
        serde_saphyr::from_str(&read(&chart_file("Chart.yaml"))).expect("Chart.yaml parses");
    assert_eq!(chart.api_version, "v2");
    assert_eq!(chart.name, "locust-operator");
    assert_eq!(chart.chart_type, "application");
    assert_eq!(chart.version, "0.1.0");
    assert_eq!(
        chart.app_version,
        env!("CARGO_PKG_VERSION"),
        "appVersion (the default image tag) must be the operator's version"
    );
    assert!(!chart.description.is_empty() && !chart.keywords.is_empty());
    assert!(chart.kube_version.starts_with(">="));
    for required in [
        "values.yaml",
        "values.schema.json",
        "README.md",
        "templates/_helpers.tpl",
        "templates/NOTES.txt",
        "templates/crd.yaml",
        "templates/deployment.yaml",
        "templates/webhooks.yaml",
    ] {
        assert!(
            chart_file(required).is_file(),
            "{CHART}/{required} is missing"
        );
    }
}
