//! Rendering the chart: with the `helm_python` module of `helm-python-sdk` or a `helm` binary,
//! whichever is found (or required), every [`Case`] at once.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::{Value, json};

use crate::{CHART, NAMESPACE, RELEASE, ROOT, yaml_documents};

pub(crate) enum Renderer {
    /// A Python with `helm_python` (PyPI `helm-python-sdk`: Helm's Go SDK as a library).
    Python(PathBuf),
    /// A `helm` binary.
    Binary(PathBuf),
}

fn python_has_helm(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import helm_python"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn find_renderer() -> Result<Renderer, String> {
    if let Some(python) = std::env::var_os("HELM_PYTHON") {
        let python = PathBuf::from(python);
        assert!(
            python_has_helm(&python),
            "HELM_PYTHON={} cannot import helm_python (pip install helm-python-sdk)",
            python.display()
        );
        return Ok(Renderer::Python(python));
    }
    let venv = Path::new(ROOT).join(".venv/bin/python");
    if venv.is_file() && python_has_helm(&venv) {
        return Ok(Renderer::Python(venv));
    }
    let helm = Command::new("helm")
        .args(["version", "--short"])
        .stdin(Stdio::null())
        .output();
    if let Ok(out) = helm
        && out.status.success()
        && String::from_utf8_lossy(&out.stdout).starts_with('v')
    {
        return Ok(Renderer::Binary(PathBuf::from("helm")));
    }
    Err(format!(
        "no Helm renderer: HELM_PYTHON is unset, {} cannot import helm_python \
         (pip install helm-python-sdk), and there is no `helm` on PATH",
        venv.display()
    ))
}

fn renderer_required() -> bool {
    std::env::var_os("HELM_REQUIRED").is_some_and(|v| v == "1")
        || std::fs::read_to_string(Path::new(ROOT).join(".ci/requirements-test.txt"))
            .is_ok_and(|r| r.contains("helm-python-sdk"))
}

/// The renderer, or `None` (with the reason printed) when there is none and none is required.
pub(crate) fn renderer() -> Option<&'static Renderer> {
    static RENDERER: OnceLock<Result<Renderer, String>> = OnceLock::new();
    match RENDERER.get_or_init(find_renderer) {
        Ok(renderer) => Some(renderer),
        Err(why) if renderer_required() => panic!("{why}"),
        Err(why) => {
            eprintln!("skipped (the chart is not rendered): {why}");
            None
        }
    }
}

#[derive(Clone)]
pub(crate) struct Case {
    pub(crate) what: String,
    pub(crate) values: Value,
    pub(crate) release: String,
    pub(crate) namespace: String,
}

pub(crate) fn case(what: &str, values: Value) -> Case {
    Case {
        what: what.to_owned(),
        values,
        release: RELEASE.to_owned(),
        namespace: NAMESPACE.to_owned(),
    }
}

pub(crate) struct Rendered {
    pub(crate) case: Case,
    pub(crate) documents: Vec<Value>,
    /// NOTES.txt, when the renderer gives it.
    pub(crate) notes: Option<String>,
}

const RENDER_PY: &str = r#"
import json, sys
import helm_python as helm
request = json.load(sys.stdin)
results = []
with helm.Chart.load(request["chart"]) as chart:
    for case in request["cases"]:
        try:
            files = chart.render(case["values"], name=case["release"],
                                 namespace=case["namespace"], is_install=True)
            results.append({"files": files})
        except helm.HelmError as error:
            results.append({"error": str(error)})
json.dump(results, sys.stdout)
"#;

/// Renders every case like `helm install` (values validated against the schema): the
/// documents, or Helm's error.
pub(crate) fn render_all(renderer: &Renderer, cases: &[Case]) -> Vec<Result<Rendered, String>> {
    let chart = Path::new(ROOT).join(CHART);
    match renderer {
        Renderer::Python(python) => {
            let request = json!({
                "chart": chart,
                "cases": cases.iter().map(|c| json!({
                    "values": c.values, "release": c.release, "namespace": c.namespace,
                })).collect::<Vec<_>>(),
            });
            let mut child = Command::new(python)
                .args(["-c", RENDER_PY])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("{}: {e}", python.display()));
            child
                .stdin
                .take()
                .unwrap()
                .write_all(request.to_string().as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "the Helm renderer failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let results: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(results.len(), cases.len());
            results
                .into_iter()
                .zip(cases)
                .map(|(result, case)| {
                    if let Some(error) = result.get("error") {
                        return Err(error.as_str().unwrap_or_default().to_owned());
                    }
                    let files: BTreeMap<String, String> =
                        serde_json::from_value(result["files"].clone()).unwrap();
                    let mut documents = Vec::new();
                    let mut notes = None;
                    for (file, text) in files {
                        if file.ends_with("NOTES.txt") {
                            notes = Some(text);
                        } else if file.ends_with(".yaml") {
                            documents.extend(yaml_documents(&text, &file));
                        }
                    }
                    Ok(Rendered {
                        case: case.clone(),
                        documents,
                        notes,
                    })
                })
                .collect()
        }
        Renderer::Binary(helm) => cases
            .iter()
            .enumerate()
            .map(|(i, case)| {
                let values = std::env::temp_dir().join(format!(
                    "locust-operator-helm-test-{}-{i}.json",
                    std::process::id()
                ));
                std::fs::write(&values, case.values.to_string()).unwrap();
                let out = Command::new(helm)
                    .arg("template")
                    .arg(&case.release)
                    .arg(&chart)
                    .args(["--namespace", &case.namespace, "--values"])
                    .arg(&values)
                    .stdin(Stdio::null())
                    .output()
                    .unwrap();
                let _ = std::fs::remove_file(&values);
                if !out.status.success() {
                    return Err(String::from_utf8_lossy(&out.stderr).into_owned());
                }
                Ok(Rendered {
                    case: case.clone(),
                    documents: yaml_documents(&String::from_utf8_lossy(&out.stdout), "helm"),
                    notes: None,
                })
            })
            .collect(),
    }
}

/// Renders cases that must render.
pub(crate) fn render_ok(renderer: &Renderer, cases: &[Case]) -> Vec<Rendered> {
    render_all(renderer, cases)
        .into_iter()
        .zip(cases)
        .map(|(result, case)| {
            result.unwrap_or_else(|e| panic!("{}: {} does not render: {e}", case.what, case.values))
        })
        .collect()
}
