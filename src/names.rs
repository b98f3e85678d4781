//! Names and labels of the objects the operator creates for a test: one source of truth for
//! the builders, the validation rules that protect them, and the controller's selectors.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// Role of a test pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// The single master pod.
    Master,
    /// The worker pods.
    Worker,
}

impl Role {
    /// Both roles, master first.
    pub const ALL: [Role; 2] = [Role::Master, Role::Worker];

    /// `master` or `worker`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Master => "master",
            Role::Worker => "worker",
        }
    }
}

/// Label with the test's name on every pod of the test (`kubectl get pods -l performance-test-name=<name>`).
pub const LABEL_TEST_NAME: &str = "performance-test-name";
/// Label with the node name (`<name>-master` / `<name>-worker`) on every pod of a role.
pub const LABEL_POD_NAME: &str = "performance-test-pod-name";
/// Legacy `managed-by` label (value [`MANAGED_BY_VALUE`]).
pub const LABEL_MANAGED_BY: &str = "managed-by";
/// Legacy `app` label (value: the test's name).
pub const LABEL_APP: &str = "app";
/// Value of [`LABEL_MANAGED_BY`], as the Go operator writes it.
pub const MANAGED_BY_VALUE: &str = "locust-k8s-operator";

/// Recommended label: the application (`locust`).
pub const LABEL_K8S_NAME: &str = "app.kubernetes.io/name";
/// Recommended label: the instance (the test's name).
pub const LABEL_K8S_INSTANCE: &str = "app.kubernetes.io/instance";
/// Recommended label: the component (`master` or `worker`).
pub const LABEL_K8S_COMPONENT: &str = "app.kubernetes.io/component";
/// Recommended label: the manager (`locust-operator`).
pub const LABEL_K8S_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Value of [`LABEL_K8S_NAME`].
pub const K8S_NAME_VALUE: &str = "locust";
/// Value of [`LABEL_K8S_MANAGED_BY`], also the field manager of the operator's writes.
pub const OPERATOR_NAME: &str = "locust-operator";

/// Field manager of every write the operator makes (children, LocustTest metadata and status,
/// the leader Lease).
pub const FIELD_MANAGER: &str = OPERATOR_NAME;

/// Labels users may not override through `master.labels` / `worker.labels`.
pub const PROTECTED_LABELS: [&str; 3] = [LABEL_TEST_NAME, LABEL_POD_NAME, LABEL_MANAGED_BY];

/// `<name>-<role>` with every `.` of the test's name replaced by `-`: the name of the
/// role's Job, of its Locust container, and (for the master) of the Service.
pub fn node_name(test_name: &str, role: Role) -> String {
    format!("{}-{}", test_name.replace('.', "-"), role.as_str())
}

/// The operator's labels on every object it makes for a test, whatever its role: the Go
/// operator's `app`, `performance-test-name` and `managed-by`, plus the recommended
/// `app.kubernetes.io/name`, `instance` and `managed-by`.
pub fn test_labels(test_name: &str) -> BTreeMap<String, String> {
    [
        (LABEL_APP, test_name.to_owned()),
        (LABEL_TEST_NAME, test_name.to_owned()),
        (LABEL_MANAGED_BY, MANAGED_BY_VALUE.to_owned()),
        (LABEL_K8S_NAME, K8S_NAME_VALUE.to_owned()),
        (LABEL_K8S_INSTANCE, test_name.to_owned()),
        (LABEL_K8S_MANAGED_BY, OPERATOR_NAME.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// The operator's labels on a role's pods: the Go operator's four plus the recommended
/// `app.kubernetes.io/*` labels.
pub fn pod_labels(test_name: &str, role: Role) -> BTreeMap<String, String> {
    let mut labels = test_labels(test_name);
    labels.insert(LABEL_POD_NAME.to_owned(), node_name(test_name, role));
    labels.insert(LABEL_K8S_COMPONENT.to_owned(), role.as_str().to_owned());
    labels
}

/// Value of [`LABEL_K8S_COMPONENT`] on the ConfigMap that keeps a test's report.
pub const REPORT_COMPONENT: &str = "report";

/// `<name>-report`: the ConfigMap that keeps a test's report once its run stops (a
/// ConfigMap name may hold dots, so the test's name is kept as it is).
pub fn report_name(test_name: &str) -> String {
    format!("{test_name}-report")
}

/// Labels of a test's report ConfigMap: the test's labels, component `report` (no pod name:
/// it is no role's).
pub fn report_labels(test_name: &str) -> BTreeMap<String, String> {
    let mut labels = test_labels(test_name);
    labels.insert(LABEL_K8S_COMPONENT.to_owned(), REPORT_COMPONENT.to_owned());
    labels
}

/// Selector of every pod of a test (master and workers).
pub fn test_selector(test_name: &str) -> String {
    format!("{LABEL_TEST_NAME}={test_name}")
}

/// The test an object (a pod) belongs to by its labels: the value of [`LABEL_TEST_NAME`].
pub fn test_name_of(meta: &ObjectMeta) -> Option<&str> {
    meta.labels
        .as_ref()?
        .get(LABEL_TEST_NAME)
        .map(String::as_str)
}
