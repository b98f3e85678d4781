//! `locust-operator check`: lints LocustTest manifests offline, the way the cluster would judge
//! them — the CRD schema and CEL rules (what the API server rejects), then defaulting and the
//! operator's validation (what the admission webhook rejects or warns about).

use std::fmt;

use serde_json::Value;

use crate::api::{API_VERSION_V1, GROUP, KIND};
use crate::field::FieldError;
use crate::parse::locust_test;
use crate::schema_check::SchemaChecker;
use crate::validation::validate;

/// How serious a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The cluster would reject the manifest.
    Error,
    /// Accepted, but probably not what was meant.
    Warning,
}

/// One problem in one document of one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// 1-based position of the document among the file's non-empty YAML documents.
    pub document: usize,
    /// `LocustTest/<name>` (or the document's kind), when known.
    pub object: String,
    /// The field and what is wrong with it.
    pub error: FieldError,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "document {} ({}): {severity}: {}",
            self.document, self.object, self.error
        )
    }
}

/// The findings of one file, and how many LocustTests it held.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileReport {
    /// Every error and warning, in document order.
    pub findings: Vec<Finding>,
    /// Number of LocustTest documents checked.
    pub tests: usize,
    /// Documents that are not LocustTests (skipped).
    pub skipped: usize,
}

impl FileReport {
    /// Number of errors.
    pub fn errors(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count()
    }
}

/// Checks every document of a YAML stream. A document that is not YAML at all makes the whole
/// file unreadable: that is returned as `Err` with the parser's message (line and column).
pub fn check_yaml(text: &str, checker: &SchemaChecker) -> Result<FileReport, String> {
    let documents = documents(text)?;
    let mut report = FileReport::default();
    for (i, document) in documents.iter().enumerate() {
        let number = i + 1;
        let api_version = document
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !is_locust_test(document) {
            if !document.is_object() {
                report.findings.push(Finding {
                    severity: Severity::Error,
                    document: number,
                    object: "?".into(),
                    error: FieldError::new(
                        "",
                        "not a Kubernetes object (expected a mapping with apiVersion and kind)",
                    ),
                });
            } else {
                report.skipped += 1;
            }
            continue;
        }
        report.tests += 1;
        let name = document
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("<no name>");
        let object = format!("{KIND}/{name}");
        let push = |report: &mut FileReport, severity, error| {
            report.findings.push(Finding {
                severity,
                document: number,
                object: object.clone(),
                error,
            });
        };
        let schema_errors = check_document(document, checker);
        // Values that do not even parse are left out, so the operator's own rules still run
        // on the rest and every problem is reported in one pass.
        let usable = parsable_part(document);
        for error in schema_errors {
            push(&mut report, Severity::Error, error);
        }
        if let Ok(test) = locust_test(&usable) {
            let verdict = validate(&test);
            for error in verdict.errors {
                // The schema already reported what it covers; keep the operator's own findings.
                if !report
                    .findings
                    .iter()
                    .any(|f| f.document == number && f.error.field == error.field)
                {
                    push(&mut report, Severity::Error, error);
                }
            }
            for warning in verdict.warnings {
                push(&mut report, Severity::Warning, warning);
            }
        }
        if api_version == API_VERSION_V1 {
            push(
                &mut report,
                Severity::Warning,
                FieldError::new(
                    "apiVersion",
                    "locust.io/v1 LocustTest is deprecated, migrate to locust.io/v2",
                ),
            );
        }
    }
    Ok(report)
}

/// Schema errors, and the error of a document that does not deserialize (a wrong type the
/// schema missed is impossible, but an unserved version is not).
fn check_document(document: &Value, checker: &SchemaChecker) -> Vec<FieldError> {
    let mut errors = checker.check(document);
    if errors.is_empty()
        && let Err(error) = locust_test(document)
    {
        errors.push(error);
    }
    errors
}

/// Whether a document is a `locust.io` LocustTest (of any version).
pub fn is_locust_test(document: &Value) -> bool {
    let field = |name: &str| {
        document
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    field("kind") == KIND && field("apiVersion").split('/').next() == Some(GROUP)
}

/// The non-empty YAML documents of a stream, or the parser's message.
pub fn documents(text: &str) -> Result<Vec<Value>, String> {
    serde_saphyr::from_multiple(text).map_err(|e| e.to_string())
}

/// `document` minus the fields that stop it from parsing as a typed LocustTest (a string
/// where a number belongs, an unknown enum value), found one at a time. A missing required
/// field cannot be left out: then the document is returned as it is.
fn parsable_part(document: &Value) -> Value {
    let mut copy = document.clone();
    for _ in 0..64 {
        let Err(error) = locust_test(&copy).map(|_| ()) else {
            break;
        };
        if error.field.is_empty()
            || error.field == "."
            || error.message.starts_with("missing field")
        {
            break;
        }
        let before = copy.clone();
        remove_path(&mut copy, &error.field);
        if copy == before {
            break;
        }
    }
    copy
}

fn remove_path(value: &mut Value, path: &str) {
    let mut steps: Vec<String> = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let mut pieces = part.split('[');
        if let Some(name) = pieces.next()
            && !name.is_empty()
        {
            steps.push(name.to_owned());
        }
        steps.extend(pieces.map(|index| index.trim_end_matches(']').to_owned()));
    }
    let Some((last, parents)) = steps.split_last() else {
        return;
    };
    let mut current = value;
    for step in parents {
        let next = match current {
            Value::Object(map) => map.get_mut(step),
            Value::Array(list) => step.parse::<usize>().ok().and_then(|i| list.get_mut(i)),
            _ => None,
        };
        match next {
            Some(next) => current = next,
            None => return,
        }
    }
    match current {
        Value::Object(map) => {
            map.remove(last);
        }
        Value::Array(list) => {
            if let Some(item) = last.parse::<usize>().ok().and_then(|i| list.get_mut(i)) {
                *item = Value::Null;
            }
        }
        _ => {}
    }
}
