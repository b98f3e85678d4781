//! `locust-operator render`: the Service and Jobs the operator would create for each
//! LocustTest of a manifest, as multi-document YAML, with the operator configuration of the
//! current environment. Nothing is sent anywhere.

use serde::Serialize;
use serde_json::Value;

use crate::api::{API_VERSION_V1, API_VERSION_V2, GROUP, KIND, v1, v2};
use crate::builders::desired;
use crate::check::{Severity, check_yaml};
use crate::config::Config;
use crate::conversion::v1_to_v2;
use crate::defaulting::defaulted;
use crate::schema_check::SchemaChecker;

/// Why a manifest could not be rendered.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RenderError {
    /// The text is not YAML (or the output could not be written as YAML).
    #[error("YAML: {0}")]
    Yaml(String),
    /// The manifest has errors (one finding per line, as `check` prints them).
    #[error("the manifest is invalid; nothing would be created:\n{0}")]
    Rejected(String),
    /// No document is a LocustTest.
    #[error("no locust.io LocustTest in the input")]
    NoTests,
    /// A LocustTest does not parse.
    #[error("document {document} ({object}): {message}")]
    Invalid {
        /// 1-based document number.
        document: usize,
        /// `LocustTest/<name>`.
        object: String,
        /// What is wrong.
        message: String,
    },
}

/// Renders every LocustTest of `text`. Any error `locust-operator check` would report stops
/// rendering, with every finding listed (the operator would create nothing for such a test).
pub fn render_yaml(text: &str, config: &Config) -> Result<String, RenderError> {
    let checker = SchemaChecker::new().map_err(|e| RenderError::Yaml(e.to_string()))?;
    let report = check_yaml(text, &checker).map_err(RenderError::Yaml)?;
    if report.errors() > 0 {
        let lines: Vec<String> = report
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .map(ToString::to_string)
            .collect();
        return Err(RenderError::Rejected(lines.join("\n")));
    }
    let documents: Vec<Value> =
        serde_saphyr::from_multiple(text).map_err(|e| RenderError::Yaml(e.to_string()))?;
    let mut out = Vec::new();
    for (i, document) in documents.into_iter().enumerate() {
        let kind = document
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let api_version = document
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if kind != KIND || api_version.split('/').next() != Some(GROUP) {
            continue;
        }
        let name = document
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("<no name>");
        let invalid = |message: String| RenderError::Invalid {
            document: i + 1,
            object: format!("{KIND}/{name}"),
            message,
        };
        let test = match api_version.as_str() {
            API_VERSION_V2 => {
                serde_path_to_error::deserialize::<_, v2::LocustTest>(document.clone())
                    .map_err(|e| invalid(format!("{}: {}", e.path(), e.inner())))?
            }
            API_VERSION_V1 => {
                serde_path_to_error::deserialize::<_, v1::LocustTest>(document.clone())
                    .map(v1_to_v2)
                    .map_err(|e| invalid(format!("{}: {}", e.path(), e.inner())))?
            }
            other => {
                return Err(invalid(format!(
                    "apiVersion {other:?} is not served; use locust.io/v2"
                )));
            }
        };
        let objects = desired(&defaulted(&test), config);
        out.push(document_yaml(&objects.service)?);
        out.push(document_yaml(&objects.master_job)?);
        out.push(document_yaml(&objects.worker_job)?);
    }
    if out.is_empty() {
        return Err(RenderError::NoTests);
    }
    Ok(out.join("---\n"))
}

fn document_yaml<T: Serialize>(object: &T) -> Result<String, RenderError> {
    serde_saphyr::to_string(object).map_err(|e| RenderError::Yaml(e.to_string()))
}
