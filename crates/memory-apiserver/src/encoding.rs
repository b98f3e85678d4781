//! JSON encoding of responses with the API server's key order.
//!
//! The API server encodes built-in types from Go structs, so their keys come out in struct
//! field order (`kind`, `apiVersion`, `metadata` with `name`, `namespace`, `uid`, ...), and
//! map-typed fields (labels, annotations, selectors, `fieldsV1`) sorted. Custom resources are
//! unstructured maps and come out entirely sorted (`apiVersion` before `kind`). This module
//! writes a `serde_json::Value` (whose maps are sorted) in that order: the fields of known
//! types first, in struct order, then any other key sorted.

use serde_json::Value;

/// A type whose field order is known: `(field, type of the field's value or of its items)`.
/// The empty type name stands for maps and unknown types (keys sorted, values untyped).
type Fields = &'static [(&'static str, &'static str)];

const OBJECT_META: Fields = &[
    ("name", ""),
    ("generateName", ""),
    ("namespace", ""),
    ("selfLink", ""),
    ("uid", ""),
    ("resourceVersion", ""),
    ("generation", ""),
    ("creationTimestamp", ""),
    ("deletionTimestamp", ""),
    ("deletionGracePeriodSeconds", ""),
    ("labels", ""),
    ("annotations", ""),
    ("ownerReferences", "OwnerReference"),
    ("finalizers", ""),
    ("managedFields", "ManagedFieldsEntry"),
];

/// The field order of a named type.
fn fields(ty: &str) -> Fields {
    match ty {
        "ObjectMeta" => OBJECT_META,
        "OwnerReference" => &[
            ("apiVersion", ""),
            ("kind", ""),
            ("name", ""),
            ("uid", ""),
            ("controller", ""),
            ("blockOwnerDeletion", ""),
        ],
        "ManagedFieldsEntry" => &[
            ("manager", ""),
            ("operation", ""),
            ("apiVersion", ""),
            ("time", ""),
            ("fieldsType", ""),
            ("fieldsV1", ""),
            ("subresource", ""),
        ],
        "ListMeta" => &[
            ("selfLink", ""),
            ("resourceVersion", ""),
            ("continue", ""),
            ("remainingItemCount", ""),
        ],
        "Status" => &[
            ("kind", ""),
            ("apiVersion", ""),
            ("metadata", "ListMeta"),
            ("status", ""),
            ("message", ""),
            ("reason", ""),
            ("details", "StatusDetails"),
            ("code", ""),
        ],
        "StatusDetails" => &[
            ("name", ""),
            ("group", ""),
            ("kind", ""),
            ("uid", ""),
            ("causes", "StatusCause"),
            ("retryAfterSeconds", ""),
        ],
        "StatusCause" => &[("reason", ""), ("message", ""), ("field", "")],
        "LabelSelector" => &[
            ("matchLabels", ""),
            ("matchExpressions", "LabelSelectorRequirement"),
        ],
        "LabelSelectorRequirement" => &[("key", ""), ("operator", ""), ("values", "")],
        "Namespace" => &[
            ("kind", ""),
            ("apiVersion", ""),
            ("metadata", "ObjectMeta"),
            ("spec", "NamespaceSpec"),
            ("status", "NamespaceStatus"),
        ],
        "NamespaceSpec" => &[("finalizers", "")],
        "NamespaceStatus" => &[("phase", ""), ("conditions", "Condition")],
        "Condition" => &[
            ("type", ""),
            ("status", ""),
            ("observedGeneration", ""),
            ("lastProbeTime", ""),
            ("lastTransitionTime", ""),
            ("reason", ""),
            ("message", ""),
        ],
        "Job" => &[
            ("kind", ""),
            ("apiVersion", ""),
            ("metadata", "ObjectMeta"),
            ("spec", "JobSpec"),
            ("status", "JobStatus"),
        ],
        "JobSpec" => &[
            ("parallelism", ""),
            ("completions", ""),
            ("activeDeadlineSeconds", ""),
            ("podFailurePolicy", ""),
            ("successPolicy", ""),
            ("backoffLimit", ""),
            ("backoffLimitPerIndex", ""),
            ("maxFailedIndexes", ""),
            ("selector", "LabelSelector"),
            ("manualSelector", ""),
            ("template", "PodTemplateSpec"),
            ("ttlSecondsAfterFinished", ""),
            ("completionMode", ""),
            ("suspend", ""),
            ("podReplacementPolicy", ""),
            ("managedBy", ""),
        ],
        "JobStatus" => &[
            ("conditions", "Condition"),
            ("startTime", ""),
            ("completionTime", ""),
            ("active", ""),
            ("succeeded", ""),
            ("failed", ""),
            ("terminating", ""),
            ("completedIndexes", ""),
            ("failedIndexes", ""),
            ("uncountedTerminatedPods", "UncountedTerminatedPods"),
            ("ready", ""),
        ],
        "UncountedTerminatedPods" => &[("succeeded", ""), ("failed", "")],
        "CronJob" => &[
            ("kind", ""),
            ("apiVersion", ""),
            ("metadata", "ObjectMeta"),
            ("spec", "CronJobSpec"),
            ("status", "CronJobStatus"),
        ],
        "CronJobSpec" => &[
            ("schedule", ""),
            ("timeZone", ""),
            ("startingDeadlineSeconds", ""),
            ("concurrencyPolicy", ""),
            ("suspend", ""),
            ("jobTemplate", "JobTemplateSpec"),
            ("successfulJobsHistoryLimit", ""),
            ("failedJobsHistoryLimit", ""),
        ],
        "JobTemplateSpec" => &[("metadata", "ObjectMeta"), ("spec", "JobSpec")],
        "CronJobStatus" => &[
            ("active", "ObjectReference"),
            ("lastScheduleTime", ""),
            ("lastSuccessfulTime", ""),
        ],
        "PodTemplateSpec" => &[("metadata", "ObjectMeta"), ("spec", "PodSpec")],
        "Pod" => &[
            ("kind", ""),
            ("apiVersion", ""),
            ("metadata", "ObjectMeta"),
            ("spec", "PodSpec"),
            ("status", "PodStatus"),
        ],
        "PodSpec" => &[
            ("volumes", "Volume"),
            ("initContainers", "Container"),
            ("containers", "Container"),
            ("ephemeralContainers", "Container"),
            ("restartPolicy", ""),
            ("terminationGracePeriodSeconds", ""),
            ("activeDeadlineSeconds", ""),
            ("dnsPolicy", ""),
            ("nodeSelector", ""),
            ("serviceAccountName", ""),
            ("serviceAccount", ""),
            ("automountServiceAccountToken", ""),
            ("nodeName", ""),
            ("hostNetwork", ""),
            ("hostPID", ""),
            ("hostIPC", ""),
            ("shareProcessNamespace", ""),
            ("securityContext", "PodSecurityContext"),
            ("imagePullSecrets", ""),
            ("hostname", ""),
            ("subdomain", ""),
            ("affinity", ""),
            ("schedulerName", ""),
            ("tolerations", "Toleration"),
            ("hostAliases", ""),
            ("priorityClassName", ""),
            ("priority", ""),
            ("dnsConfig", ""),
            ("readinessGates", ""),
            ("runtimeClassName", ""),
            ("enableServiceLinks", ""),
            ("preemptionPolicy", ""),
            ("overhead", ""),
            ("topologySpreadConstraints", ""),
            ("setHostnameAsFQDN", ""),
            ("os", ""),
            ("hostUsers", ""),
            ("schedulingGates", ""),
            ("resourceClaims", ""),
            ("resources", "ResourceRequirements"),
        ],
        "Container" => &[
            ("name", ""),
            ("image", ""),
            ("command", ""),
            ("args", ""),
            ("workingDir", ""),
            ("ports", "ContainerPort"),
            ("envFrom", "EnvFromSource"),
            ("env", "EnvVar"),
            ("resources", "ResourceRequirements"),
            ("resizePolicy", ""),
            ("restartPolicy", ""),
            ("volumeMounts", "VolumeMount"),
            ("volumeDevices", ""),
            ("livenessProbe", "Probe"),
            ("readinessProbe", "Probe"),
            ("startupProbe", "Probe"),
            ("lifecycle", ""),
            ("terminationMessagePath", ""),
            ("terminationMessagePolicy", ""),
            ("imagePullPolicy", ""),
            ("securityContext", "SecurityContext"),
            ("stdin", ""),
            ("stdinOnce", ""),
            ("tty", ""),
        ],
        "ContainerPort" => &[
            ("name", ""),
            ("hostPort", ""),
            ("containerPort", ""),
            ("protocol", ""),
            ("hostIP", ""),
        ],
        "EnvVar" => &[("name", ""), ("value", ""), ("valueFrom", "EnvVarSource")],
        "EnvVarSource" => &[
            ("fieldRef", "ObjectFieldSelector"),
            ("resourceFieldRef", ""),
            ("configMapKeyRef", "KeySelector"),
            ("secretKeyRef", "KeySelector"),
        ],
        "KeySelector" => &[("name", ""), ("key", ""), ("optional", "")],
        "EnvFromSource" => &[("prefix", ""), ("configMapRef", ""), ("secretRef", "")],
        "ResourceRequirements" => &[("limits", ""), ("requests", ""), ("claims", "")],
        "VolumeMount" => &[
            ("name", ""),
            ("readOnly", ""),
            ("recursiveReadOnly", ""),
            ("mountPath", ""),
            ("subPath", ""),
            ("mountPropagation", ""),
            ("subPathExpr", ""),
        ],
        "Volume" => &[
            ("name", ""),
            ("hostPath", ""),
            ("emptyDir", ""),
            ("secret", "SecretVolumeSource"),
            ("persistentVolumeClaim", ""),
            ("downwardAPI", "DownwardAPIProjection"),
            ("configMap", "ConfigMapVolumeSource"),
            ("projected", "ProjectedVolumeSource"),
            ("csi", ""),
            ("ephemeral", ""),
            ("image", ""),
        ],
        "SecretVolumeSource" => &[
            ("secretName", ""),
            ("items", "KeyToPath"),
            ("defaultMode", ""),
            ("optional", ""),
        ],
        "ConfigMapVolumeSource" => &[
            ("name", ""),
            ("items", "KeyToPath"),
            ("defaultMode", ""),
            ("optional", ""),
        ],
        "ProjectedVolumeSource" => &[("sources", "VolumeProjection"), ("defaultMode", "")],
        "VolumeProjection" => &[
            ("secret", "ConfigMapProjection"),
            ("downwardAPI", "DownwardAPIProjection"),
            ("configMap", "ConfigMapProjection"),
            ("serviceAccountToken", "ServiceAccountTokenProjection"),
            ("clusterTrustBundle", ""),
        ],
        "ConfigMapProjection" => &[("name", ""), ("items", "KeyToPath"), ("optional", "")],
        "ServiceAccountTokenProjection" => {
            &[("audience", ""), ("expirationSeconds", ""), ("path", "")]
        }
        "KeyToPath" => &[("key", ""), ("path", ""), ("mode", "")],
        "DownwardAPIProjection" => &[("items", "DownwardAPIVolumeFile")],
        "DownwardAPIVolumeFile" => &[
            ("path", ""),
            ("fieldRef", "ObjectFieldSelector"),
            ("resourceFieldRef", ""),
            ("mode", ""),
        ],
        "ObjectFieldSelector" => &[("apiVersion", ""), ("fieldPath", "")],
        "Toleration" => &[
            ("key", ""),
            ("operator", ""),
            ("value", ""),
            ("effect", ""),
            ("tolerationSeconds", ""),
        ],
        "Probe" => &[
            ("exec", ""),
            ("httpGet", ""),
            ("tcpSocket", ""),
            ("grpc", ""),
            ("initialDelaySeconds", ""),
            ("timeoutSeconds", ""),
            ("periodSeconds", ""),
            ("successThreshold", ""),
            ("failureThreshold", ""),
            ("terminationGracePeriodSeconds", ""),
        ],
        "PodSecurityContext" => &[
            ("seLinuxOptions", ""),
            ("windowsOptions", ""),
            ("runAsUser", ""),
            ("runAsGroup", ""),
            ("runAsNonRoot", ""),
            ("supplementalGroups", ""),
            ("supplementalGroupsPolicy", ""),
            ("fsGroup", ""),
            ("sysctls", ""),
            ("fsGroupChangePolicy", ""),
            ("seccompProfile", ""),
            ("appArmorProfile", ""),
            ("seLinuxChangePolicy", ""),
        ],
        "SecurityContext" => &[
            ("capabilities", ""),
            ("privileged", ""),
            ("seLinuxOptions", ""),
            ("windowsOptions", ""),
            ("runAsUser", ""),
            ("runAsGroup", ""),
            ("runAsNonRoot", ""),
            ("readOnlyRootFilesystem", ""),
            ("allowPrivilegeEscalation", ""),
            ("procMount", ""),
            ("seccompProfile", ""),
            ("appArmorProfile", ""),
        ],
        "PodStatus" => &[
            ("phase", ""),
            ("conditions", "Condition"),
            ("message", ""),
            ("reason", ""),
            ("nominatedNodeName", ""),
            ("hostIP", ""),
            ("hostIPs", ""),
            ("podIP", ""),
            ("podIPs", ""),
            ("startTime", ""),
            ("initContainerStatuses", "ContainerStatus"),
            ("containerStatuses", "ContainerStatus"),
            ("qosClass", ""),
            ("ephemeralContainerStatuses", "ContainerStatus"),
            ("resize", ""),
            ("resourceClaimStatuses", ""),
        ],
        "ContainerStatus" => &[
            ("name", ""),
            ("state", "ContainerState"),
            ("lastState", "ContainerState"),
            ("ready", ""),
            ("restartCount", ""),
            ("image", ""),
            ("imageID", ""),
            ("containerID", ""),
            ("started", ""),
            ("allocatedResources", ""),
            ("resources", "ResourceRequirements"),
            ("volumeMounts", ""),
            ("user", ""),
            ("allocatedResourcesStatus", ""),
        ],
        "ContainerState" => &[
            ("waiting", "ContainerStateWaiting"),
            ("running", ""),
            ("terminated", "ContainerStateTerminated"),
        ],
        "ContainerStateWaiting" => &[("reason", ""), ("message", "")],
        "ContainerStateTerminated" => &[
            ("exitCode", ""),
            ("signal", ""),
            ("reason", ""),
            ("message", ""),
            ("startedAt", ""),
            ("finishedAt", ""),
            ("containerID", ""),
        ],
        "Service" => &[
            ("kind", ""),
            ("apiVersion", ""),
            ("metadata", "ObjectMeta"),
            ("spec", "ServiceSpec"),
            ("status", "ServiceStatus"),
        ],
        "ServiceSpec" => &[
            ("ports", "ServicePort"),
            ("selector", ""),
            ("clusterIP", ""),
            ("clusterIPs", ""),
            ("type", ""),
            ("externalIPs", ""),
            ("sessionAffinity", ""),
            ("loadBalancerIP", ""),
            ("loadBalancerSourceRanges", ""),
            ("externalName", ""),
            ("externalTrafficPolicy", ""),
            ("healthCheckNodePort", ""),
            ("publishNotReadyAddresses", ""),
            ("sessionAffinityConfig", ""),
            ("ipFamilies", ""),
            ("ipFamilyPolicy", ""),
            ("allocateLoadBalancerNodePorts", ""),
            ("loadBalancerClass", ""),
            ("internalTrafficPolicy", ""),
            ("trafficDistribution", ""),
        ],
        "ServicePort" => &[
            ("name", ""),
            ("protocol", ""),
            ("appProtocol", ""),
            ("port", ""),
            ("targetPort", ""),
            ("nodePort", ""),
        ],
        "ServiceStatus" => &[("loadBalancer", ""), ("conditions", "Condition")],
        "ObjectReference" => &[
            ("kind", ""),
            ("namespace", ""),
            ("name", ""),
            ("uid", ""),
            ("apiVersion", ""),
            ("resourceVersion", ""),
            ("fieldPath", ""),
        ],
        "CoreEvent" => &[
            ("kind", ""),
            ("apiVersion", ""),
            ("metadata", "ObjectMeta"),
            ("involvedObject", "ObjectReference"),
            ("reason", ""),
            ("message", ""),
            ("source", ""),
            ("firstTimestamp", ""),
            ("lastTimestamp", ""),
            ("count", ""),
            ("type", ""),
            ("eventTime", ""),
            ("series", ""),
            ("action", ""),
            ("related", "ObjectReference"),
            ("reportingComponent", ""),
            ("reportingInstance", ""),
        ],
        "Event" => &[
            ("kind", ""),
            ("apiVersion", ""),
            ("metadata", "ObjectMeta"),
            ("eventTime", ""),
            ("series", ""),
            ("reportingController", ""),
            ("reportingInstance", ""),
            ("action", ""),
            ("reason", ""),
            ("regarding", "ObjectReference"),
            ("related", "ObjectReference"),
            ("note", ""),
            ("type", ""),
            ("deprecatedSource", ""),
            ("deprecatedFirstTimestamp", ""),
            ("deprecatedLastTimestamp", ""),
            ("deprecatedCount", ""),
        ],
        "Lease" => &[
            ("kind", ""),
            ("apiVersion", ""),
            ("metadata", "ObjectMeta"),
            ("spec", "LeaseSpec"),
        ],
        "LeaseSpec" => &[
            ("holderIdentity", ""),
            ("leaseDurationSeconds", ""),
            ("acquireTime", ""),
            ("renewTime", ""),
            ("leaseTransitions", ""),
            ("strategy", ""),
            ("preferredHolder", ""),
        ],
        "ConfigMap" => &[
            ("kind", ""),
            ("apiVersion", ""),
            ("metadata", "ObjectMeta"),
            ("immutable", ""),
            ("data", ""),
            ("binaryData", ""),
        ],
        "Secret" => &[
            ("kind", ""),
            ("apiVersion", ""),
            ("metadata", "ObjectMeta"),
            ("immutable", ""),
            ("data", ""),
            ("stringData", ""),
            ("type", ""),
        ],
        "CustomResourceDefinition" => &[
            ("kind", ""),
            ("apiVersion", ""),
            ("metadata", "ObjectMeta"),
            ("spec", ""),
            ("status", ""),
        ],
        "APIResourceList" => &[
            ("kind", ""),
            ("apiVersion", ""),
            ("groupVersion", ""),
            ("resources", "APIResource"),
        ],
        "APIResource" => &[
            ("name", ""),
            ("singularName", ""),
            ("namespaced", ""),
            ("group", ""),
            ("version", ""),
            ("kind", ""),
            ("verbs", ""),
            ("shortNames", ""),
            ("categories", ""),
            ("storageVersionHash", ""),
        ],
        "APIGroupList" => &[("kind", ""), ("apiVersion", ""), ("groups", "APIGroup")],
        "Table" => &[
            ("kind", ""),
            ("apiVersion", ""),
            ("metadata", "ListMeta"),
            ("columnDefinitions", "TableColumnDefinition"),
            ("rows", "TableRow"),
        ],
        "TableColumnDefinition" => &[
            ("name", ""),
            ("type", ""),
            ("format", ""),
            ("description", ""),
            ("priority", ""),
        ],
        "TableRow" => &[
            ("cells", ""),
            ("conditions", ""),
            ("object", "PartialObjectMetadata"),
        ],
        "PartialObjectMetadata" => &[("kind", ""), ("apiVersion", ""), ("metadata", "ObjectMeta")],
        "APIGroup" => &[
            ("name", ""),
            ("versions", "GroupVersionForDiscovery"),
            ("preferredVersion", "GroupVersionForDiscovery"),
            ("serverAddressByClientCIDRs", ""),
        ],
        "GroupVersionForDiscovery" => &[("groupVersion", ""), ("version", "")],
        "APIVersions" => &[
            ("kind", ""),
            ("versions", ""),
            ("serverAddressByClientCIDRs", ""),
        ],
        "Info" => &[
            ("major", ""),
            ("minor", ""),
            ("emulationMajor", ""),
            ("emulationMinor", ""),
            ("minCompatibilityMajor", ""),
            ("minCompatibilityMinor", ""),
            ("gitVersion", ""),
            ("gitCommit", ""),
            ("gitTreeState", ""),
            ("buildDate", ""),
            ("goVersion", ""),
            ("compiler", ""),
            ("platform", ""),
        ],
        _ => &[],
    }
}

/// The type of a built-in object by `apiVersion` and `kind`; `None` for custom resources and
/// unknown kinds (encoded sorted).
fn object_type(api_version: &str, kind: &str) -> Option<&'static str> {
    let ty = match (api_version, kind) {
        ("v1", "Namespace") => "Namespace",
        ("v1", "Pod") => "Pod",
        ("v1", "Service") => "Service",
        ("v1", "Event") => "CoreEvent",
        ("v1", "ConfigMap") => "ConfigMap",
        ("v1", "Secret") => "Secret",
        ("v1", "Status") => "Status",
        ("v1", "APIResourceList") => "APIResourceList",
        ("v1", "APIGroupList") => "APIGroupList",
        ("meta.k8s.io/v1" | "meta.k8s.io/v1beta1", "Table") => "Table",
        ("batch/v1", "Job") => "Job",
        ("batch/v1", "CronJob") => "CronJob",
        ("events.k8s.io/v1", "Event") => "Event",
        ("coordination.k8s.io/v1", "Lease") => "Lease",
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition") => "CustomResourceDefinition",
        (_, "Status") => "Status",
        _ => return None,
    };
    Some(ty)
}

/// How to encode one value.
#[derive(Clone, Copy)]
enum Shape {
    /// Keys sorted, all the way down.
    Sorted,
    /// A value of a named type.
    Typed(&'static str),
    /// A list of built-in objects: `kind`, `apiVersion`, `metadata`, `items` of the type.
    List(&'static str),
    /// A watch event: `type`, then `object` (typed by its own kind).
    WatchEvent,
}

/// How to encode a response body, from its `kind` and `apiVersion`.
fn shape_of(value: &Value) -> Shape {
    let Some(map) = value.as_object() else {
        return Shape::Sorted;
    };
    if map.contains_key("type") && map.contains_key("object") && !map.contains_key("kind") {
        return Shape::WatchEvent;
    }
    let api_version = map
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Some(kind) = map.get("kind").and_then(Value::as_str) else {
        // `/version` has no kind.
        return if map.contains_key("gitVersion") {
            Shape::Typed("Info")
        } else {
            Shape::Sorted
        };
    };
    if kind == "APIVersions" {
        return Shape::Typed("APIVersions");
    }
    if let Some(ty) = object_type(api_version, kind) {
        return Shape::Typed(ty);
    }
    if let Some(item) = kind.strip_suffix("List")
        && let Some(ty) = object_type(api_version, item)
    {
        return Shape::List(ty);
    }
    Shape::Sorted
}

/// Encodes a response body (object, list, Status, watch event, discovery document) the way the
/// API server orders its keys.
pub fn to_vec(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write(&mut out, value, shape_of(value));
    out
}

/// Encodes one watch event line (newline-terminated).
pub fn to_line(value: &Value) -> Vec<u8> {
    let mut out = to_vec(value);
    out.push(b'\n');
    out
}

fn write_scalar(out: &mut Vec<u8>, value: &Value) {
    // Writing a scalar or a string to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
}

fn write_key(out: &mut Vec<u8>, key: &str, first: &mut bool) {
    if !*first {
        out.push(b',');
    }
    *first = false;
    let _ = serde_json::to_writer(&mut *out, key);
    out.push(b':');
}

fn write(out: &mut Vec<u8>, value: &Value, shape: Shape) {
    match value {
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(out, item, shape);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let order: Vec<(&str, Shape)> = match shape {
                Shape::Sorted => Vec::new(),
                Shape::Typed(ty) => fields(ty)
                    .iter()
                    .map(|(k, t)| {
                        let child = if t.is_empty() {
                            Shape::Sorted
                        } else {
                            Shape::Typed(t)
                        };
                        (*k, child)
                    })
                    .collect(),
                Shape::List(item) => vec![
                    ("kind", Shape::Sorted),
                    ("apiVersion", Shape::Sorted),
                    ("metadata", Shape::Typed("ListMeta")),
                    ("items", Shape::Typed(item)),
                ],
                Shape::WatchEvent => {
                    let object = map.get("object").map(shape_of).unwrap_or(Shape::Sorted);
                    vec![("type", Shape::Sorted), ("object", object)]
                }
            };
            out.push(b'{');
            let mut first = true;
            for (key, child) in &order {
                if let Some(v) = map.get(*key) {
                    write_key(out, key, &mut first);
                    write(out, v, *child);
                }
            }
            for (key, v) in map {
                if order.iter().any(|(k, _)| k == key) {
                    continue;
                }
                write_key(out, key, &mut first);
                write(out, v, Shape::Sorted);
            }
            out.push(b'}');
        }
        scalar => write_scalar(out, scalar),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn built_ins_in_struct_order_custom_resources_sorted() {
        let job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"uid": "u", "name": "j", "labels": {"b": "1", "a": "2"}}, "status": {"ready": 0, "active": 1}});
        assert_eq!(
            String::from_utf8(to_vec(&job)).unwrap_or_default(),
            r#"{"kind":"Job","apiVersion":"batch/v1","metadata":{"name":"j","uid":"u","labels":{"a":"2","b":"1"}},"status":{"active":1,"ready":0}}"#
        );
        let custom = json!({"kind": "LocustTest", "apiVersion": "locust.io/v2", "metadata": {"uid": "u", "name": "t"}});
        assert_eq!(
            String::from_utf8(to_vec(&custom)).unwrap_or_default(),
            r#"{"apiVersion":"locust.io/v2","kind":"LocustTest","metadata":{"name":"t","uid":"u"}}"#
        );
        let event = json!({"type": "ADDED", "object": job});
        assert!(
            String::from_utf8(to_vec(&event))
                .unwrap_or_default()
                .starts_with(r#"{"type":"ADDED","object":{"kind":"Job""#)
        );
    }
}
