//! `locust-operator render`: the Service and Jobs the operator would create for each
//! LocustTest of a manifest, as multi-document YAML, with the operator configuration of the
//! current environment. Nothing is sent anywhere.

use serde::Serialize;
use serde_json::Value;

use crate::api::KIND;
use crate::builders::desired;
use crate::check::{Severity, check_yaml, documents, is_locust_test};
use crate::config::Config;
use crate::parse::locust_test;
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
    let mut out = Vec::new();
    for (i, document) in documents(text)
        .map_err(RenderError::Yaml)?
        .iter()
        .enumerate()
    {
        if !is_locust_test(document) {
            continue;
        }
        // `check` found no error, so the document parses; keep the error path anyway.
        let test = locust_test(document).map_err(|error| RenderError::Invalid {
            document: i + 1,
            object: format!(
                "{KIND}/{}",
                document
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("<no name>")
            ),
            message: error.to_string(),
        })?;
        let objects = desired(&test, config);
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
