//! The master Service: its ports follow OpenTelemetry and the metrics exporter's port.

use serde_json::{Value, json};

use crate::{Vars, build, config, json_of, test_with};

/// Expected `(name, port)` pairs.
type NamedPorts = Vec<(&'static str, i32)>;

#[test]
fn service_ports_follow_opentelemetry_and_exporter_port() {
    let otel_on = json!({"observability": {"openTelemetry": {"enabled": true, "endpoint": "collector:4317"}}});
    let otel_off = json!({"observability": {"openTelemetry": {"enabled": false, "endpoint": "collector:4317"}}});
    let cases: [(&str, Value, Vars, NamedPorts); 5] = [
        (
            "no observability",
            json!({}),
            vec![],
            vec![
                ("port5557", 5557),
                ("port5558", 5558),
                ("web", 8089),
                ("prometheus-metrics", 9646),
            ],
        ),
        (
            "custom exporter port",
            json!({}),
            vec![("METRICS_EXPORTER_PORT", "9999")],
            vec![
                ("port5557", 5557),
                ("port5558", 5558),
                ("web", 8089),
                ("prometheus-metrics", 9999),
            ],
        ),
        (
            "otel disabled explicitly",
            otel_off,
            vec![],
            vec![
                ("port5557", 5557),
                ("port5558", 5558),
                ("web", 8089),
                ("prometheus-metrics", 9646),
            ],
        ),
        (
            "otel enabled",
            otel_on.clone(),
            vec![],
            vec![("port5557", 5557), ("port5558", 5558), ("web", 8089)],
        ),
        (
            "otel enabled, custom exporter port",
            otel_on,
            vec![("METRICS_EXPORTER_PORT", "9999")],
            vec![("port5557", 5557), ("port5558", 5558), ("web", 8089)],
        ),
    ];
    for (case, spec, vars, expected) in cases {
        let built = build(&test_with(spec), &config(&vars));
        let spec = built.service.spec.as_ref().unwrap();
        assert_eq!(spec.type_.as_deref(), Some("ClusterIP"), "{case}");
        let ports: Vec<(String, i32, Value, Option<String>)> = spec
            .ports
            .iter()
            .flatten()
            .map(|p| {
                (
                    p.name.clone().unwrap(),
                    p.port,
                    json_of(&p.target_port),
                    p.protocol.clone(),
                )
            })
            .collect();
        let expected: Vec<(String, i32, Value, Option<String>)> = expected
            .into_iter()
            .map(|(n, p)| (n.to_owned(), p, json!(p), Some("TCP".to_owned())))
            .collect();
        assert_eq!(ports, expected, "{case}");
    }
}
