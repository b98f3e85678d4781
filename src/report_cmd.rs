//! `locust-operator report NAME`: writes the report the operator kept for a test (its
//! ConfigMap `<NAME>-report`) and the test's `.status` into a directory, as files a person
//! opens: `report.html`, `requests.csv`, `failures.csv`, `exceptions.csv`, `status.json`.

use std::io::Write;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::DynamicObject;
use kube::discovery::ApiResource;
use kube::{Api, Client};

use crate::api::LocustTest;
use crate::locust::report::{self, File, ReportError, Unpacked};
use crate::names;

/// The name of the file that holds the test's `.status`.
pub const STATUS_FILE: &str = "status.json";

/// Why the report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportCmdError {
    /// No usable kube context.
    #[error(
        "cannot connect to the Kubernetes API of the current kube context: {0}; check KUBECONFIG and `kubectl config current-context`"
    )]
    Connect(#[source] kube::Error),
    /// The test does not exist.
    #[error("LocustTest {name} not found in namespace {namespace}")]
    TestNotFound {
        /// The test's name.
        name: String,
        /// Its namespace.
        namespace: String,
    },
    /// The operator has not kept a report (yet).
    #[error(
        "LocustTest {name} has no report yet ({phase}): the operator keeps it once the run stops"
    )]
    NoReport {
        /// The test's name.
        name: String,
        /// `phase Running`, or `no phase yet`.
        phase: String,
    },
    /// The API server refused a read.
    #[error("cannot read {what} in namespace {namespace}: {source}")]
    Api {
        /// What was read (`LocustTest my-test`).
        what: String,
        /// Its namespace.
        namespace: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// The ConfigMap holds something that is not a report.
    #[error(
        "ConfigMap {name} in namespace {namespace}: {source}; it is not as the operator wrote it"
    )]
    Corrupt {
        /// The ConfigMap's name.
        name: String,
        /// Its namespace.
        namespace: String,
        /// What is wrong with which key.
        #[source]
        source: ReportError,
    },
    /// A file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
}

/// What the cluster holds of a test's run: its `.status` and its report's files.
#[derive(Clone, Debug, PartialEq)]
pub struct Fetched {
    /// The test's `.status` as stored (`null` when it has none).
    pub status: serde_json::Value,
    /// The report's files, and those it lacks.
    pub report: Unpacked,
}

/// Connects with the current kube context, as `run` does; the context's namespace comes with
/// it ([`Client::default_namespace`]).
pub async fn connect() -> Result<Client, ReportCmdError> {
    Client::try_default().await.map_err(ReportCmdError::Connect)
}

/// Reads test `name` in `namespace` (v2, as stored, so every status field the operator writes
/// is kept) and its report ConfigMap, and unpacks the report.
pub async fn fetch(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Fetched, ReportCmdError> {
    let resource = ApiResource::erase::<LocustTest>(&());
    let tests: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
    let api_error = |what: String| {
        let namespace = namespace.to_owned();
        move |source| ReportCmdError::Api {
            what,
            namespace,
            source,
        }
    };
    let test = tests
        .get_opt(name)
        .await
        .map_err(api_error(format!("LocustTest {name}")))?
        .ok_or_else(|| ReportCmdError::TestNotFound {
            name: name.to_owned(),
            namespace: namespace.to_owned(),
        })?;
    let status = test
        .data
        .get("status")
        .cloned()
        .unwrap_or(serde_json::Value::Null);
    let config_map_name = names::report_name(name);
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let config_map = config_maps
        .get_opt(&config_map_name)
        .await
        .map_err(api_error(format!("ConfigMap {config_map_name}")))?
        .ok_or_else(|| ReportCmdError::NoReport {
            name: name.to_owned(),
            phase: match status.get("phase").and_then(serde_json::Value::as_str) {
                Some(phase) => format!("phase {phase}"),
                None => "no phase yet".to_owned(),
            },
        })?;
    let report = report::unpack(&config_map).map_err(|source| ReportCmdError::Corrupt {
        name: config_map_name,
        namespace: namespace.to_owned(),
        source,
    })?;
    Ok(Fetched { status, report })
}

/// Writes `fetched` into `dir` (created if missing): each file of the report, then
/// [`STATUS_FILE`]. The paths written, with their sizes.
pub fn write(dir: &Path, fetched: &Fetched) -> Result<Vec<(PathBuf, usize)>, ReportCmdError> {
    let failed = |path: &Path| {
        let path = path.to_owned();
        move |source| ReportCmdError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(failed(dir))?;
    let status = serde_json::to_vec_pretty(&fetched.status)
        .map(|mut text| {
            text.push(b'\n');
            text
        })
        .map_err(|e| ReportCmdError::Write {
            path: dir.join(STATUS_FILE),
            source: e.into(),
        })?;
    let files = fetched
        .report
        .files
        .iter()
        .map(|(file, data)| (file.file_name(), data.as_slice()))
        .chain([(STATUS_FILE, status.as_slice())]);
    let mut written = Vec::new();
    for (file_name, data) in files {
        let path = dir.join(file_name);
        std::fs::write(&path, data).map_err(failed(&path))?;
        written.push((path, data.len()));
    }
    Ok(written)
}

/// The whole command: fetches the report of test `name` in `namespace` and writes it into
/// `dir`, one line per file written on `out`, a warning per file the report lacks on `warn`.
pub async fn run(
    client: &Client,
    namespace: &str,
    name: &str,
    dir: &Path,
    out: &mut dyn Write,
    warn: &mut dyn Write,
) -> Result<(), ReportCmdError> {
    let fetched = fetch(client, namespace, name).await?;
    // Printing is best effort: a closed pipe must not hide that the files were written.
    for file in &fetched.report.missing {
        let _ = writeln!(warn, "{}", missing_warning(name, *file, &fetched.report));
    }
    for (path, size) in write(dir, &fetched)? {
        let _ = writeln!(out, "wrote {} ({size} bytes)", path.display());
    }
    Ok(())
}

/// `warning: report.html is not in ConfigMap NAME-report: WHY`, the reason being the file's
/// entry of the omitted annotation (`report.html: WHY; …`).
fn missing_warning(name: &str, file: File, report: &Unpacked) -> String {
    let prefix = format!("{}: ", file.file_name());
    let why = report
        .omitted
        .as_deref()
        .and_then(|omitted| {
            omitted
                .split("; ")
                .find_map(|entry| entry.strip_prefix(prefix.as_str()))
        })
        .unwrap_or("the operator did not keep it");
    format!(
        "warning: {} is not in ConfigMap {}: {why}",
        file.file_name(),
        names::report_name(name)
    )
}
