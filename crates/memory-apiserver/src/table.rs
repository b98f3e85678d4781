//! Server-side printing: `meta.k8s.io` `Table`s, answered when the `Accept` header asks for
//! `as=Table` (as `kubectl get` does) on a list, a single GET or a watch. The columns are
//! kube-apiserver's: a custom resource's from its CRD's `additionalPrinterColumns` (simple
//! JSONPaths), built-in kinds' from kube's printers (pods, jobs, services, events, namespaces,
//! config maps, secrets), any other kind's `Name` and `Created At`. Every column is sent,
//! whatever its priority (`-o wide` only shows them). Rows carry the object as
//! `PartialObjectMetadata` (`?includeObject=Metadata`, the default), whole (`Object`) or not
//! at all (`None`).

use std::collections::BTreeMap;

use axum::http::HeaderMap;
use serde_json::{Map, Value, json};

use crate::resources::ResourceType;
use crate::state::State;

const NAME_DOC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const AGE_DOC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
const CRD_COLUMN_DOC: &str = "Custom resource definition column (in JSONPath format): ";

/// How rows carry their object (`?includeObject=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Include {
    None,
    Metadata,
    Object,
}

/// What the cells of a row are computed by.
#[derive(Clone, Debug)]
enum Printer {
    /// A custom resource: `(jsonPath, type)` of each column after the name.
    Custom(Vec<(String, String)>),
    Pod,
    Job,
    Service,
    Event,
    Namespace,
    ConfigMap,
    Secret,
    /// Any other kind: name and creation time.
    Default,
}

/// A Table for one request: its version, columns and how rows are made.
#[derive(Clone, Debug)]
pub struct Table {
    api_version: String,
    columns: Vec<Value>,
    printer: Printer,
    include: Include,
}

fn column(name: &str, ty: &str, format: &str, description: &str, priority: i64) -> Value {
    json!({"name": name, "type": ty, "format": format, "description": description, "priority": priority})
}

fn name_column() -> Value {
    column("Name", "string", "name", NAME_DOC, 0)
}

fn age_column() -> Value {
    column("Age", "string", "", AGE_DOC, 0)
}

impl Table {
    /// The Table a request asks for (`None`: it asks for objects).
    pub fn for_request(
        state: &State,
        resource: &ResourceType,
        headers: &HeaderMap,
        query: &BTreeMap<String, String>,
    ) -> Option<Self> {
        let version = crate::accept::table(headers)?;
        let include = match query.get("includeObject").map(String::as_str) {
            Some("None") => Include::None,
            Some("Object") => Include::Object,
            _ => Include::Metadata,
        };
        let (columns, printer) = columns(state, resource);
        Some(Self {
            api_version: format!("meta.k8s.io/{version}"),
            columns,
            printer,
            include,
        })
    }

    /// A Table of `objects` (in the request version) at `resource_version`; without column
    /// definitions (`null`) for the watch events after the first.
    pub fn of(&self, objects: &[Value], resource_version: &str, with_columns: bool) -> Value {
        let rows: Vec<Value> = objects.iter().map(|o| self.row(o)).collect();
        json!({
            "kind": "Table",
            "apiVersion": self.api_version,
            "metadata": {"resourceVersion": resource_version},
            "columnDefinitions": if with_columns { json!(self.columns) } else { Value::Null },
            "rows": rows,
        })
    }

    fn row(&self, object: &Value) -> Value {
        let now = jiff::Timestamp::now();
        let (cells, conditions) = match &self.printer {
            Printer::Custom(paths) => (custom_cells(object, paths, now), None),
            Printer::Pod => pod_cells(object, now),
            Printer::Job => (job_cells(object, now), None),
            Printer::Service => (service_cells(object, now), None),
            Printer::Event => (event_cells(object, now), None),
            Printer::Namespace => (
                vec![
                    name(object),
                    json!(text(object, "/status/phase")),
                    json!(age(object, now)),
                ],
                None,
            ),
            Printer::ConfigMap => {
                let count = ["data", "binaryData"]
                    .iter()
                    .filter_map(|field| object.get(*field).and_then(Value::as_object))
                    .map(Map::len)
                    .sum::<usize>();
                (
                    vec![name(object), json!(count), json!(age(object, now))],
                    None,
                )
            }
            Printer::Secret => {
                let count = object
                    .get("data")
                    .and_then(Value::as_object)
                    .map_or(0, Map::len);
                let ty = object
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("Opaque");
                (
                    vec![
                        name(object),
                        json!(ty),
                        json!(count),
                        json!(age(object, now)),
                    ],
                    None,
                )
            }
            Printer::Default => (
                vec![
                    name(object),
                    json!(text(object, "/metadata/creationTimestamp")),
                ],
                None,
            ),
        };
        let mut row = json!({"cells": cells});
        if let Some(conditions) = conditions {
            row["conditions"] = conditions;
        }
        row["object"] = match self.include {
            Include::None => Value::Null,
            Include::Object => object.clone(),
            Include::Metadata => json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": self.api_version,
                "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
            }),
        };
        row
    }
}

/// The columns of a resource's Tables and how their cells are computed.
fn columns(state: &State, resource: &ResourceType) -> (Vec<Value>, Printer) {
    if resource.custom {
        return custom_columns(state, resource);
    }
    let (columns, printer) = match (resource.group, resource.kind) {
        ("", "Pod") => (
            vec![
                name_column(),
                column(
                    "Ready",
                    "string",
                    "",
                    "The aggregate readiness state of this pod for accepting traffic.",
                    0,
                ),
                column(
                    "Status",
                    "string",
                    "",
                    "The aggregate status of the containers in this pod.",
                    0,
                ),
                column(
                    "Restarts",
                    "string",
                    "",
                    "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
                    0,
                ),
                age_column(),
                column(
                    "IP",
                    "string",
                    "",
                    "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
                    1,
                ),
                column(
                    "Node",
                    "string",
                    "",
                    "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for scheduling by the scheduler defined in schedulerName. Once this field is set, the kubelet for this node becomes responsible for the lifecycle of this pod. This field should not be used to express a desire for the pod to be scheduled on a specific node. https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename",
                    1,
                ),
                column(
                    "Nominated Node",
                    "string",
                    "",
                    "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods. This field does not guarantee that the pod will be scheduled on this node. Scheduler may decide to place the pod elsewhere if other nodes become available sooner. Scheduler may also decide to give the resources on this node to a higher priority pod that is created after preemption. As a result, this field may be different than PodSpec.nodeName when the pod is scheduled.",
                    1,
                ),
                column(
                    "Readiness Gates",
                    "string",
                    "",
                    "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its containers are ready AND all conditions specified in the readiness gates have status equal to \"True\" More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates",
                    1,
                ),
            ],
            Printer::Pod,
        ),
        ("batch", "Job") => (
            vec![
                name_column(),
                column("Status", "string", "", "Status of the job.", 0),
                column(
                    "Completions",
                    "string",
                    "",
                    "The number of pods which reached phase Succeeded. The value increases monotonically for a given spec. However, it may decrease in reaction to scale down of elastic indexed jobs.",
                    0,
                ),
                column(
                    "Duration",
                    "string",
                    "",
                    "Time required to complete the job.",
                    0,
                ),
                age_column(),
                column(
                    "Containers",
                    "string",
                    "",
                    "Names of each container in the template.",
                    1,
                ),
                column(
                    "Images",
                    "string",
                    "",
                    "Images referenced by each container in the template.",
                    1,
                ),
                column(
                    "Selector",
                    "string",
                    "",
                    "A label query over pods that should match the pod count. Normally, the system sets this field for you. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
                    1,
                ),
            ],
            Printer::Job,
        ),
        ("", "Service") => (
            vec![
                name_column(),
                column(
                    "Type",
                    "string",
                    "",
                    "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are ExternalName, ClusterIP, NodePort, and LoadBalancer. \"ClusterIP\" allocates a cluster-internal IP address for load-balancing to endpoints. Endpoints are determined by the selector or if that is not specified, by manual construction of an Endpoints object or EndpointSlice objects. If clusterIP is \"None\", no virtual IP is allocated and the endpoints are published as a set of endpoints rather than a virtual IP. \"NodePort\" builds on ClusterIP and allocates a port on every node which routes to the same endpoints as the clusterIP. \"LoadBalancer\" builds on NodePort and creates an external load-balancer (if supported in the current cloud) which routes to the same endpoints as the clusterIP. \"ExternalName\" aliases this service to the specified externalName. Several other fields do not apply to ExternalName services. More info: https://kubernetes.io/docs/concepts/services-networking/service/#publishing-services-service-types",
                    0,
                ),
                column(
                    "Cluster-IP",
                    "string",
                    "",
                    "clusterIP is the IP address of the service and is usually assigned randomly. If an address is specified manually, is in-range (as per system configuration), and is not in use, it will be allocated to the service; otherwise creation of the service will fail. This field may not be changed through updates unless the type field is also being changed to ExternalName (which requires this field to be blank) or the type field is being changed from ExternalName (in which case this field may optionally be specified, as describe above).  Valid values are \"None\", empty string (\"\"), or a valid IP address. Setting this to \"None\" makes a \"headless service\" (no virtual IP), which is useful when direct endpoint connections are preferred and proxying is not required.  Only applies to types ClusterIP, NodePort, and LoadBalancer. If this field is specified when creating a Service of type ExternalName, creation will fail. This field will be wiped when updating a Service to type ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies",
                    0,
                ),
                column(
                    "External-IP",
                    "string",
                    "",
                    "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.  These IPs are not managed by Kubernetes.  The user is responsible for ensuring that traffic arrives at a node with this IP.  A common example is external load-balancers that are not part of the Kubernetes system.",
                    0,
                ),
                column(
                    "Port(s)",
                    "string",
                    "",
                    "The list of ports that are exposed by this service. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies",
                    0,
                ),
                age_column(),
                column(
                    "Selector",
                    "string",
                    "",
                    "Route service traffic to pods with label keys and values matching this selector. If empty or not present, the service is assumed to have an external process managing its endpoints, which Kubernetes will not modify. Only applies to types ClusterIP, NodePort, and LoadBalancer. Ignored if type is ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/service/",
                    1,
                ),
            ],
            Printer::Service,
        ),
        (_, "Event") => (
            vec![
                column(
                    "Last Seen",
                    "string",
                    "",
                    "The time at which the most recent occurrence of this event was recorded.",
                    0,
                ),
                column(
                    "Type",
                    "string",
                    "",
                    "Type of this event (Normal, Warning), new types could be added in the future",
                    0,
                ),
                column(
                    "Reason",
                    "string",
                    "",
                    "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
                    0,
                ),
                column(
                    "Object",
                    "string",
                    "",
                    "The object that this event is about.",
                    0,
                ),
                column(
                    "Subobject",
                    "string",
                    "",
                    "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]. For example, if the object reference is to a container within a pod, this would take on a value like: \"spec.containers{name}\" (where \"name\" refers to the name of the container that triggered the event) or if no container name is specified \"spec.containers[2]\" (container with index 2 in this pod). This syntax is chosen only to have some well-defined way of referencing a part of an object.",
                    1,
                ),
                column(
                    "Source",
                    "string",
                    "",
                    "The component reporting this event. Should be a short machine understandable string.",
                    1,
                ),
                column(
                    "Message",
                    "string",
                    "",
                    "A human-readable description of the status of this operation.",
                    0,
                ),
                column(
                    "First Seen",
                    "string",
                    "",
                    "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
                    1,
                ),
                column(
                    "Count",
                    "string",
                    "",
                    "The number of times this event has occurred.",
                    1,
                ),
                column("Name", "string", "name", NAME_DOC, 1),
            ],
            Printer::Event,
        ),
        ("", "Namespace") => (
            vec![
                name_column(),
                column("Status", "string", "", "The status of the namespace", 0),
                age_column(),
            ],
            Printer::Namespace,
        ),
        ("", "ConfigMap") => (
            vec![
                name_column(),
                column(
                    "Data",
                    "string",
                    "",
                    "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process.",
                    0,
                ),
                age_column(),
            ],
            Printer::ConfigMap,
        ),
        ("", "Secret") => (
            vec![
                name_column(),
                column(
                    "Type",
                    "string",
                    "",
                    "Used to facilitate programmatic handling of secret data. More info: https://kubernetes.io/docs/concepts/configuration/secret/#secret-types",
                    0,
                ),
                column(
                    "Data",
                    "string",
                    "",
                    "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string, representing the arbitrary (possibly non-string) data value here. Described in https://tools.ietf.org/html/rfc4648#section-4",
                    0,
                ),
                age_column(),
            ],
            Printer::Secret,
        ),
        _ => (
            vec![name_column(), column("Created At", "date", "", AGE_DOC, 0)],
            Printer::Default,
        ),
    };
    (columns, printer)
}

/// A custom resource's columns: the name, then its CRD's `additionalPrinterColumns` for the
/// version (an `Age` column when it declares none).
fn custom_columns(state: &State, resource: &ResourceType) -> (Vec<Value>, Printer) {
    let declared: Vec<Value> = state
        .crd(resource)
        .and_then(|crd| {
            crd.pointer("/spec/versions")?
                .as_array()?
                .iter()
                .find(|v| v.get("name").and_then(Value::as_str) == Some(resource.version))?
                .get("additionalPrinterColumns")?
                .as_array()
                .cloned()
        })
        .unwrap_or_default();
    let declared = if declared.is_empty() {
        vec![json!({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"})]
    } else {
        declared
    };
    let mut columns = vec![name_column()];
    let mut paths = Vec::new();
    for c in &declared {
        let field = |key: &str| c.get(key).and_then(Value::as_str).unwrap_or_default();
        let description = match field("description") {
            "" => format!("{CRD_COLUMN_DOC}{}", field("jsonPath")),
            given => given.to_owned(),
        };
        let priority = c.get("priority").and_then(Value::as_i64).unwrap_or(0);
        columns.push(column(
            field("name"),
            field("type"),
            field("format"),
            &description,
            priority,
        ));
        paths.push((field("jsonPath").to_owned(), field("type").to_owned()));
    }
    (columns, Printer::Custom(paths))
}

/// The value at a simple JSONPath (`.status.phase`, `.spec.containers[0].image`); `None`
/// when absent or when the path is not a simple one.
pub fn json_path<'a>(object: &'a Value, path: &str) -> Option<&'a Value> {
    let path = path.trim();
    let path = path
        .strip_prefix('{')
        .and_then(|p| p.strip_suffix('}'))
        .unwrap_or(path);
    let mut current = object;
    for segment in path.trim_start_matches('.').split('.') {
        if segment.is_empty() {
            continue;
        }
        let (key, indexes) = match segment.find('[') {
            Some(at) => (&segment[..at], &segment[at..]),
            None => (segment, ""),
        };
        if !key.is_empty() {
            current = current.get(key)?;
        }
        for index in indexes.split('[').filter(|i| !i.is_empty()) {
            let index: usize = index.strip_suffix(']')?.parse().ok()?;
            current = current.get(index)?;
        }
    }
    Some(current)
}

/// The cells of a custom resource: its name, then each column's value (`null` when absent;
/// dates as an age).
fn custom_cells(object: &Value, paths: &[(String, String)], now: jiff::Timestamp) -> Vec<Value> {
    let mut cells = vec![name(object)];
    for (path, ty) in paths {
        let cell = match json_path(object, path) {
            None | Some(Value::Null) => Value::Null,
            Some(value) => match ty.as_str() {
                "string" => match value {
                    Value::String(s) => json!(s),
                    other => json!(other.to_string()),
                },
                "integer" => value
                    .as_i64()
                    .or_else(|| value.as_f64().map(|f| f as i64))
                    .map_or(Value::Null, |n| json!(n)),
                "number" => value.as_f64().map_or(Value::Null, |n| json!(n)),
                "boolean" => value.as_bool().map_or(Value::Null, |b| json!(b)),
                "date" => match value.as_str() {
                    Some(text) => match text.parse::<jiff::Timestamp>() {
                        Ok(at) => json!(human_duration(now, at)),
                        Err(_) => json!("<invalid>"),
                    },
                    None => Value::Null,
                },
                _ => Value::Null,
            },
        };
        cells.push(cell);
    }
    cells
}

fn name(object: &Value) -> Value {
    json!(text(object, "/metadata/name"))
}

fn text<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn array<'a>(object: &'a Value, pointer: &str) -> &'a [Value] {
    object
        .pointer(pointer)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn int(object: &Value, pointer: &str) -> i64 {
    object.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

/// `timestamp` (RFC 3339) as an age, as kube's printers render it (`<unknown>` when unset).
fn since(now: jiff::Timestamp, timestamp: &str) -> String {
    match timestamp.parse::<jiff::Timestamp>() {
        Ok(at) if !timestamp.is_empty() => human_duration(now, at),
        _ => "<unknown>".to_owned(),
    }
}

fn age(object: &Value, now: jiff::Timestamp) -> String {
    since(now, text(object, "/metadata/creationTimestamp"))
}

/// `now - at` as apimachinery's `duration.HumanDuration` writes it: `31s`, `3m41s`, `15m`,
/// `2h5m`, `12h`, `3d4h`, `20d`, `2y30d`, `9y`.
pub fn human_duration(now: jiff::Timestamp, at: jiff::Timestamp) -> String {
    let millis = now.as_millisecond() - at.as_millisecond();
    human_duration_seconds(millis / 1000)
}

/// [`human_duration`] of a whole number of seconds.
pub fn human_duration_seconds(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".to_owned();
    }
    if seconds < 0 {
        return "0s".to_owned();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365;
        return if days == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{days}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

fn is_true(conditions: &[Value], ty: &str) -> bool {
    conditions
        .iter()
        .any(|c| c["type"] == ty && c["status"] == "True")
}

/// The cells of a pod (kube's `printPod`): NAME READY STATUS RESTARTS AGE IP NODE NOMINATED
/// NODE READINESS GATES; finished pods' rows carry a `Completed` condition.
fn pod_cells(pod: &Value, now: jiff::Timestamp) -> (Vec<Value>, Option<Value>) {
    let init_specs = array(pod, "/spec/initContainers");
    let restartable = |name: &str| {
        init_specs.iter().any(|c| {
            c["name"] == name && c.get("restartPolicy").and_then(Value::as_str) == Some("Always")
        })
    };
    let mut total = array(pod, "/spec/containers").len();
    total += init_specs
        .iter()
        .filter(|c| c.get("restartPolicy").and_then(Value::as_str) == Some("Always"))
        .count();
    let mut ready = 0usize;
    let mut restarts = 0i64;
    let mut restartable_restarts = 0i64;
    let mut last_restart = String::new();
    let mut last_restartable_restart = String::new();
    let later = |current: &mut String, candidate: &str| {
        if candidate > current.as_str() {
            *current = candidate.to_owned();
        }
    };
    let phase = text(pod, "/status/phase");
    let mut reason = match text(pod, "/status/reason") {
        "" => phase.to_owned(),
        given => given.to_owned(),
    };
    let conditions = array(pod, "/status/conditions");
    if conditions
        .iter()
        .any(|c| c["type"] == "PodScheduled" && c["reason"] == "SchedulingGated")
    {
        reason = "SchedulingGated".to_owned();
    }
    let init_statuses = array(pod, "/status/initContainerStatuses");
    let mut initializing = false;
    for (i, status) in init_statuses.iter().enumerate() {
        let name = text(status, "/name");
        let count = int(status, "/restartCount");
        restarts += count;
        let finished = text(status, "/lastState/terminated/finishedAt");
        later(&mut last_restart, finished);
        if restartable(name) {
            restartable_restarts += count;
            later(&mut last_restartable_restart, finished);
        }
        let terminated = status.pointer("/state/terminated");
        let waiting_reason = text(status, "/state/waiting/reason");
        if terminated.is_some_and(|t| int(t, "/exitCode") == 0) {
            continue;
        }
        if restartable(name) && status.get("started").and_then(Value::as_bool) == Some(true) {
            if status.get("ready").and_then(Value::as_bool) == Some(true) {
                ready += 1;
            }
            continue;
        }
        if let Some(terminated) = terminated {
            reason = match text(terminated, "/reason") {
                "" if int(terminated, "/signal") != 0 => {
                    format!("Init:Signal:{}", int(terminated, "/signal"))
                }
                "" => format!("Init:ExitCode:{}", int(terminated, "/exitCode")),
                given => format!("Init:{given}"),
            };
        } else if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
            reason = format!("Init:{waiting_reason}");
        } else {
            reason = format!("Init:{i}/{}", init_specs.len());
        }
        initializing = true;
        break;
    }
    if !initializing || is_true(conditions, "Initialized") {
        restarts = restartable_restarts;
        last_restart = last_restartable_restart;
        let mut running = false;
        for status in array(pod, "/status/containerStatuses").iter().rev() {
            restarts += int(status, "/restartCount");
            later(
                &mut last_restart,
                text(status, "/lastState/terminated/finishedAt"),
            );
            let waiting = text(status, "/state/waiting/reason");
            let terminated = status.pointer("/state/terminated");
            if !waiting.is_empty() {
                reason = waiting.to_owned();
            } else if let Some(terminated) = terminated {
                reason = match text(terminated, "/reason") {
                    "" if int(terminated, "/signal") != 0 => {
                        format!("Signal:{}", int(terminated, "/signal"))
                    }
                    "" => format!("ExitCode:{}", int(terminated, "/exitCode")),
                    given => given.to_owned(),
                };
            } else if status.get("ready").and_then(Value::as_bool) == Some(true)
                && status.pointer("/state/running").is_some()
            {
                running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && running {
            reason = if is_true(conditions, "Ready") {
                "Running".to_owned()
            } else {
                "NotReady".to_owned()
            };
        }
    }
    let deleting = pod
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null());
    if deleting && text(pod, "/status/reason") == "NodeLost" {
        reason = "Unknown".to_owned();
    } else if deleting && !matches!(phase, "Succeeded" | "Failed") {
        reason = "Terminating".to_owned();
    }
    let restarts = if restarts != 0 && !last_restart.is_empty() {
        format!("{restarts} ({} ago)", since(now, &last_restart))
    } else {
        restarts.to_string()
    };
    let or_none = |value: &str| {
        if value.is_empty() {
            "<none>".to_owned()
        } else {
            value.to_owned()
        }
    };
    let pod_ip = match text(pod, "/status/podIPs/0/ip") {
        "" => text(pod, "/status/podIP"),
        ip => ip,
    };
    let gates = array(pod, "/spec/readinessGates");
    let readiness_gates = if gates.is_empty() {
        "<none>".to_owned()
    } else {
        let met = gates
            .iter()
            .filter(|g| {
                conditions
                    .iter()
                    .find(|c| c["type"] == g["conditionType"])
                    .is_some_and(|c| c["status"] == "True")
            })
            .count();
        format!("{met}/{}", gates.len())
    };
    let cells = vec![
        name(pod),
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts),
        json!(age(pod, now)),
        json!(or_none(pod_ip)),
        json!(or_none(text(pod, "/spec/nodeName"))),
        json!(or_none(text(pod, "/status/nominatedNodeName"))),
        json!(readiness_gates),
    ];
    let conditions = match phase {
        "Succeeded" => Some(
            json!([{"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."}]),
        ),
        "Failed" => Some(
            json!([{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]),
        ),
        _ => None,
    };
    (cells, conditions)
}

/// `name,name` and `image,image` of a pod template's containers.
fn containers_and_images(containers: &[Value]) -> (String, String) {
    let names: Vec<&str> = containers.iter().map(|c| text(c, "/name")).collect();
    let images: Vec<&str> = containers.iter().map(|c| text(c, "/image")).collect();
    (names.join(","), images.join(","))
}

/// A label selector as `metav1.FormatLabelSelector` writes it (`<none>` when empty).
fn format_selector(selector: Option<&Value>) -> String {
    let Some(selector) = selector.filter(|s| s.is_object()) else {
        return "<none>".to_owned();
    };
    let mut terms: Vec<(String, String)> = Vec::new();
    for (key, value) in selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        terms.push((
            key.clone(),
            format!("{key}={}", value.as_str().unwrap_or_default()),
        ));
    }
    for expression in array(selector, "/matchExpressions") {
        let key = text(expression, "/key");
        let values: Vec<&str> = array(expression, "/values")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let term = match text(expression, "/operator") {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_owned(),
            "DoesNotExist" => format!("!{key}"),
            _ => continue,
        };
        terms.push((key.to_owned(), term));
    }
    terms.sort();
    let joined: Vec<String> = terms.into_iter().map(|(_, t)| t).collect();
    if joined.is_empty() {
        "<none>".to_owned()
    } else {
        joined.join(",")
    }
}

/// The cells of a Job (kube's `printJob`).
fn job_cells(job: &Value, now: jiff::Timestamp) -> Vec<Value> {
    let succeeded = int(job, "/status/succeeded");
    let completions = match job.pointer("/spec/completions").and_then(Value::as_i64) {
        Some(completions) => format!("{succeeded}/{completions}"),
        None => {
            let parallelism = int(job, "/spec/parallelism");
            if parallelism > 1 {
                format!("{succeeded}/1 of {parallelism}")
            } else {
                format!("{succeeded}/1")
            }
        }
    };
    let start = text(job, "/status/startTime");
    let completion = text(job, "/status/completionTime");
    let duration = match (
        start.parse::<jiff::Timestamp>(),
        completion.parse::<jiff::Timestamp>(),
    ) {
        (Err(_), _) => String::new(),
        (Ok(start), Err(_)) => human_duration(now, start),
        (Ok(start), Ok(end)) => human_duration(end, start),
    };
    let conditions = array(job, "/status/conditions");
    let deleting = job
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null());
    let status = if is_true(conditions, "Complete") {
        "Complete"
    } else if is_true(conditions, "Failed") {
        "Failed"
    } else if deleting {
        "Terminating"
    } else if is_true(conditions, "Suspended") {
        "Suspended"
    } else if is_true(conditions, "FailureTarget") {
        "FailureTarget"
    } else if is_true(conditions, "SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else {
        "Running"
    };
    let (names, images) = containers_and_images(array(job, "/spec/template/spec/containers"));
    vec![
        name(job),
        json!(status),
        json!(completions),
        json!(duration),
        json!(age(job, now)),
        json!(names),
        json!(images),
        json!(format_selector(job.pointer("/spec/selector"))),
    ]
}

/// The cells of a Service (kube's `printService`).
fn service_cells(service: &Value, now: jiff::Timestamp) -> Vec<Value> {
    let ty = text(service, "/spec/type");
    let cluster_ip = match text(service, "/spec/clusterIPs/0") {
        "" => "<none>",
        ip => ip,
    };
    let external: Vec<&str> = array(service, "/spec/externalIPs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let external_ip = match ty {
        "ClusterIP" | "NodePort" if !external.is_empty() => external.join(","),
        "ClusterIP" | "NodePort" => "<none>".to_owned(),
        "LoadBalancer" => {
            let mut ips: Vec<&str> = array(service, "/status/loadBalancer/ingress")
                .iter()
                .map(|i| match text(i, "/ip") {
                    "" => text(i, "/hostname"),
                    ip => ip,
                })
                .filter(|ip| !ip.is_empty())
                .collect();
            ips.extend(external.iter().copied());
            if ips.is_empty() {
                "<pending>".to_owned()
            } else {
                ips.join(",")
            }
        }
        "ExternalName" => text(service, "/spec/externalName").to_owned(),
        _ => "<unknown>".to_owned(),
    };
    let ports: Vec<String> = array(service, "/spec/ports")
        .iter()
        .map(|p| {
            let port = int(p, "/port");
            let protocol = match text(p, "/protocol") {
                "" => "TCP",
                given => given,
            };
            match int(p, "/nodePort") {
                0 => format!("{port}/{protocol}"),
                node_port => format!("{port}:{node_port}/{protocol}"),
            }
        })
        .collect();
    let ports = if ports.is_empty() {
        "<none>".to_owned()
    } else {
        ports.join(",")
    };
    let selector: Vec<String> = service
        .pointer("/spec/selector")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    let selector = if selector.is_empty() {
        "<none>".to_owned()
    } else {
        selector.join(",")
    };
    vec![
        name(service),
        json!(ty),
        json!(cluster_ip),
        json!(external_ip),
        json!(ports),
        json!(age(service, now)),
        json!(selector),
    ]
}

/// The cells of an Event (kube's `printEvent`, on the core `v1` form).
fn event_cells(event: &Value, now: jiff::Timestamp) -> Vec<Value> {
    let core = crate::events::convert(event, crate::events::CORE).unwrap_or_else(|| event.clone());
    let event = &core;
    let first_seen = match text(event, "/firstTimestamp") {
        "" => since(now, text(event, "/eventTime")),
        first => since(now, first),
    };
    let mut last_seen = match text(event, "/lastTimestamp") {
        "" => first_seen.clone(),
        last => since(now, last),
    };
    let mut count = int(event, "/count");
    if let Some(series) = event.get("series").filter(|s| s.is_object()) {
        last_seen = since(now, text(series, "/lastObservedTime"));
        count = int(series, "/count");
    } else if count == 0 {
        count = 1;
    }
    let kind = text(event, "/involvedObject/kind").to_lowercase();
    let object = match text(event, "/involvedObject/name") {
        "" => kind,
        name => format!("{kind}/{name}"),
    };
    let first_non_empty = |a: &'_ str, b: &'_ str| {
        if a.is_empty() {
            b.to_owned()
        } else {
            a.to_owned()
        }
    };
    let component = first_non_empty(
        text(event, "/source/component"),
        text(event, "/reportingComponent"),
    );
    let instance = first_non_empty(
        text(event, "/source/host"),
        text(event, "/reportingInstance"),
    );
    let source = if instance.is_empty() {
        component
    } else {
        format!("{component}, {instance}")
    };
    vec![
        json!(last_seen),
        json!(text(event, "/type")),
        json!(text(event, "/reason")),
        json!(object),
        json!(text(event, "/involvedObject/fieldPath")),
        json!(source),
        json!(text(event, "/message").trim()),
        json!(first_seen),
        json!(count),
        name(event),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_kubectl_shows_them() {
        for (seconds, shown) in [
            (-5, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (31, "31s"),
            (119, "119s"),
            (120, "2m"),
            (221, "3m41s"),
            (470, "7m50s"),
            (600, "10m"),
            (179 * 60, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 25 * 60, "3h25m"),
            (12 * 3600, "12h"),
            (47 * 3600, "47h"),
            (48 * 3600, "2d"),
            (3 * 86400 + 4 * 3600, "3d4h"),
            (20 * 86400, "20d"),
            (730 * 86400, "2y"),
            (760 * 86400, "2y30d"),
            (9 * 365 * 86400, "9y"),
        ] {
            assert_eq!(human_duration_seconds(seconds), shown, "{seconds}s");
        }
    }

    #[test]
    fn simple_json_paths() {
        let object =
            json!({"status": {"phase": "Running"}, "spec": {"containers": [{"image": "x"}]}});
        assert_eq!(json_path(&object, ".status.phase"), Some(&json!("Running")));
        assert_eq!(
            json_path(&object, ".spec.containers[0].image"),
            Some(&json!("x"))
        );
        assert_eq!(json_path(&object, ".status.missing"), None);
    }

    #[test]
    fn pod_statuses_as_kubectl_shows_them() {
        let now = jiff::Timestamp::now();
        let status = |pod: Value| pod_cells(&pod, now).0[2].clone();
        let spec = json!({"containers": [{"name": "c"}]});
        assert_eq!(
            status(json!({"spec": spec, "status": {"phase": "Pending"}})),
            "Pending"
        );
        let waiting = |reason: &str| json!({"spec": spec, "status": {"phase": "Pending", "containerStatuses": [{"name": "c", "state": {"waiting": {"reason": reason}}}]}});
        for reason in [
            "ErrImagePull",
            "ImagePullBackOff",
            "CreateContainerConfigError",
            "CrashLoopBackOff",
        ] {
            assert_eq!(status(waiting(reason)), reason);
        }
        let terminated = |code: i64, reason: &str, phase: &str| json!({"spec": spec, "status": {"phase": phase, "containerStatuses": [{"name": "c", "state": {"terminated": {"exitCode": code, "reason": reason}}}]}});
        assert_eq!(status(terminated(0, "Completed", "Succeeded")), "Completed");
        assert_eq!(status(terminated(1, "Error", "Failed")), "Error");
        assert_eq!(status(terminated(2, "", "Failed")), "ExitCode:2");
        let running = json!({"spec": spec, "status": {"phase": "Running", "podIP": "10.0.0.1", "containerStatuses": [{"name": "c", "ready": true, "restartCount": 0, "state": {"running": {}}}]}});
        let (cells, conditions) = pod_cells(&running, now);
        assert_eq!(cells[1], "1/1");
        assert_eq!(cells[2], "Running");
        assert_eq!(cells[5], "10.0.0.1");
        assert_eq!(cells[6], "<none>");
        assert!(conditions.is_none());
        let init = json!({"spec": {"initContainers": [{"name": "i"}], "containers": [{"name": "c"}]}, "status": {"phase": "Failed", "initContainerStatuses": [{"name": "i", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}], "containerStatuses": [{"name": "c", "state": {"waiting": {"reason": "PodInitializing"}}}]}});
        assert_eq!(status(init), "Init:Error");
        let terminating = json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}, "spec": spec, "status": {"phase": "Running"}});
        assert_eq!(status(terminating), "Terminating");
    }
}
