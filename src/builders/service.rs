//! The master Service `<n>-master`: how workers reach the master, and the web UI and metrics ports.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::args::{MASTER_BIND_PORT, MASTER_PORT, WEB_UI_PORT, otel_enabled};
use super::meta::{object_meta, test_name};
use super::{
    PORT_NAME_MASTER, PORT_NAME_MASTER_BIND, PORT_NAME_METRICS, PORT_NAME_WEB, PROTOCOL_TCP,
    SERVICE_TYPE_CLUSTER_IP,
};
use crate::config::Config;
use crate::defaulting::Defaulted;
use crate::names::{self, LABEL_POD_NAME, Role};

/// A TCP Service port whose target is the same port number.
fn tcp_port(name: &str, port: i32) -> ServicePort {
    ServicePort {
        name: Some(name.to_owned()),
        protocol: Some(PROTOCOL_TCP.to_owned()),
        port,
        target_port: Some(IntOrString::Int(port)),
        ..ServicePort::default()
    }
}

/// The master Service: ClusterIP, selecting the master pod by `performance-test-pod-name`,
/// with ports `port5557`, `port5558`, `web` (8089) and, when OpenTelemetry is off,
/// `prometheus-metrics` (the exporter port).
pub fn master_service(test: &Defaulted, config: &Config) -> Service {
    let mut ports = vec![
        tcp_port(PORT_NAME_MASTER, MASTER_PORT),
        tcp_port(PORT_NAME_MASTER_BIND, MASTER_BIND_PORT),
        tcp_port(PORT_NAME_WEB, WEB_UI_PORT),
    ];
    if !otel_enabled(&test.spec) {
        ports.push(tcp_port(PORT_NAME_METRICS, config.exporter.port));
    }
    Service {
        metadata: object_meta(test, Role::Master),
        spec: Some(ServiceSpec {
            type_: Some(SERVICE_TYPE_CLUSTER_IP.to_owned()),
            selector: Some(BTreeMap::from([(
                LABEL_POD_NAME.to_owned(),
                names::node_name(test_name(test), Role::Master),
            )])),
            ports: Some(ports),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}
