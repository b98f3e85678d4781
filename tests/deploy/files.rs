//! The files under `deploy/`, `webhooks/` and `certs/`: each parses into its typed object, unknown
//! or misspelled fields fail, kustomizations reference existing paths, and the CRD is the generated
//! one.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::json;

use crate::render::{documents, id_of, installs, relative};
use crate::typed::{Certificate, check_typed, parse_kustomization, typed};
use crate::{CRD_NAME, OVERLAYS, root};

fn is_kustomization(path: &Path) -> bool {
    matches!(
        path.file_name().and_then(|n| n.to_str()),
        Some("kustomization.yaml" | "kustomization.yml" | "Kustomization")
    )
}

/// Every YAML file under deploy/ (but deploy/helm/, another install path), webhooks/ and
/// certs/ (but the developer certificates of certs/dev/), sorted.
fn manifest_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
        let skip = [root().join("deploy/helm"), root().join("certs/dev")];
        if skip.iter().any(|s| s == dir) {
            return;
        }
        for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                walk(&path, files);
            } else if is_kustomization(&path)
                || matches!(
                    path.extension().and_then(|e| e.to_str()),
                    Some("yaml" | "yml")
                )
            {
                files.push(path);
            }
        }
    }
    let mut files = Vec::new();
    for dir in ["deploy", "webhooks", "certs"] {
        walk(&root().join(dir), &mut files);
    }
    files.sort();
    files
}

#[test]
fn every_manifest_file_parses_into_its_typed_object() {
    let files = manifest_files();
    assert!(files.len() >= 25, "found only {files:?}");
    let mut failures = Vec::new();
    let mut objects = 0;
    for file in &files {
        for (index, document) in documents(file).iter().enumerate() {
            let result = if is_kustomization(file) {
                parse_kustomization(document).map(drop)
            } else {
                objects += 1;
                check_typed(document)
            };
            if let Err(error) = result {
                failures.push(format!(
                    "{} (document {}): {error}",
                    relative(file),
                    index + 1
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(objects >= 20, "{objects} objects");
}

#[test]
fn strict_parsing_rejects_unknown_and_misspelled_fields() {
    let deployment = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x", "labels": {"a": "b"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "i", "args": ["run"]}]}
            }
        }
    });
    typed::<Deployment>(&deployment).expect("the well-formed Deployment parses");

    let misspell = |pointer: &str, field: &str| {
        let mut broken = deployment.clone();
        let parent = broken
            .pointer_mut(pointer)
            .unwrap()
            .as_object_mut()
            .unwrap();
        parent.insert(field.to_owned(), json!(1));
        broken
    };
    for (pointer, field, path) in [
        ("/spec", "replica", ".spec.replica"),
        (
            "/spec/template/spec/containers/0",
            "imagePulPolicy",
            ".spec.template.spec.containers[0].imagePulPolicy",
        ),
        ("/metadata", "label", ".metadata.label"),
        ("", "spec2", ".spec2"),
    ] {
        let error = typed::<Deployment>(&misspell(pointer, field)).unwrap_err();
        assert!(error.contains(path), "{field}: {error}");
    }
    // A wrong kind, a wrong type (with its path).
    let mut wrong_kind = deployment.clone();
    wrong_kind["kind"] = json!("Deploymnet");
    assert!(typed::<Deployment>(&wrong_kind).is_err());
    let mut wrong_type = deployment.clone();
    wrong_type["spec"]["replicas"] = json!("two");
    let error = typed::<Deployment>(&wrong_type).unwrap_err();
    assert!(error.contains("spec.replicas"), "{error}");

    // The cert-manager and kustomize structs: deny_unknown_fields, plus the round trip for
    // their embedded ObjectMeta.
    let certificate = json!({
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "c", "namespace": "n"},
        "spec": {"secretName": "s", "issuerRef": {"name": "i"}, "dnsNames": ["a"]}
    });
    typed::<Certificate>(&certificate).unwrap();
    let mut broken = certificate.clone();
    broken["spec"]["dnsName"] = json!(["a"]);
    assert!(typed::<Certificate>(&broken).is_err());
    let mut broken = certificate.clone();
    broken["metadata"]["annotation"] = json!({});
    assert!(typed::<Certificate>(&broken).is_err());
    let mut broken = certificate;
    broken["spec"]["privateKey"] = json!({"algorithm": "DSA"});
    assert!(typed::<Certificate>(&broken).is_err());
    let kustomization = json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resource": ["a.yaml"]
    });
    assert!(parse_kustomization(&kustomization).is_err());

    // check_typed knows only the kinds of an install.
    assert!(check_typed(&json!({"apiVersion": "v1", "kind": "ConfigMap"})).is_err());
}

#[test]
fn kustomizations_reference_existing_paths_and_every_manifest() {
    let files = manifest_files();
    let mut referenced = BTreeSet::new();
    let mut problems = Vec::new();
    for file in files.iter().filter(|f| is_kustomization(f)) {
        let dir = file.parent().unwrap();
        let kustomization = parse_kustomization(&documents(file)[0]).unwrap();
        for resource in &kustomization.resources {
            let path = dir.join(resource);
            if path.is_dir() {
                if !["kustomization.yaml", "kustomization.yml", "Kustomization"]
                    .iter()
                    .any(|name| path.join(name).is_file())
                {
                    problems.push(format!(
                        "{}: {resource} has no kustomization",
                        relative(file)
                    ));
                }
            } else if !path.is_file() {
                problems.push(format!("{}: {resource} does not exist", relative(file)));
            } else if resource.contains("..") || Path::new(resource).is_absolute() {
                problems.push(format!(
                    "{}: {resource} is a file outside the kustomization's directory",
                    relative(file)
                ));
            } else {
                referenced.insert(path.canonicalize().unwrap());
            }
        }
        for patch in &kustomization.patches {
            if let Some(path) = &patch.path {
                problems.push(format!(
                    "{}: patch file {path}: keep patches inline",
                    relative(file)
                ));
            }
            let text = patch.patch.as_deref().unwrap_or_default();
            let docs = locust_operator::check::documents(text).unwrap();
            assert_eq!(docs.len(), 1, "{}: one document per patch", relative(file));
            let (api_version, kind, _, name) = id_of(&docs[0]);
            if let Some(target) = &patch.target {
                let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
                if target.kind.as_deref() != Some(kind.as_str())
                    || target.name.as_deref() != Some(name.as_str())
                    || target.group.as_deref().unwrap_or("") != group
                {
                    problems.push(format!(
                        "{}: patch target {target:?} differs from the patch's {api_version} {kind} {name}",
                        relative(file)
                    ));
                }
            }
        }
    }
    for file in files.iter().filter(|f| !is_kustomization(f)) {
        if !referenced.contains(&file.canonicalize().unwrap()) {
            problems.push(format!(
                "{}: not part of any kustomization (so never installed)",
                relative(file)
            ));
        }
    }
    let overlays: BTreeSet<String> = std::fs::read_dir(root().join("deploy/overlays"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let listed: BTreeSet<String> = OVERLAYS.iter().map(|o| (*o).to_owned()).collect();
    assert_eq!(
        overlays, listed,
        "deploy/overlays/* and OVERLAYS in this file"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_crd_in_deploy_is_the_generated_one() {
    let generated = locust_operator::crd::locust_test_crd_yaml().unwrap();
    // deploy/crd.yaml (what the README and `locust-operator crd > deploy/crd.yaml` name) is a
    // symlink to deploy/crd/crd.yaml, the file kustomize can load.
    let link = root().join("deploy/crd.yaml");
    let metadata = std::fs::symlink_metadata(&link).unwrap();
    assert!(
        metadata.file_type().is_symlink(),
        "deploy/crd.yaml must be a symlink to crd/crd.yaml (kustomize loads files only from \
         inside a kustomization's directory); restore it with \
         `ln -sf crd/crd.yaml deploy/crd.yaml && cargo run -q -- crd > deploy/crd.yaml`"
    );
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        Path::new("crd/crd.yaml")
    );
    for path in ["deploy/crd.yaml", "deploy/crd/crd.yaml"] {
        let committed = std::fs::read_to_string(root().join(path)).unwrap();
        assert!(
            committed == generated,
            "{path} is stale: regenerate it with `cargo run -q -- crd > deploy/crd.yaml`"
        );
    }
    // Each overlay installs it unchanged but for labels and annotations.
    let crd = locust_operator::crd::locust_test_crd().unwrap();
    for install in installs() {
        let rendered: CustomResourceDefinition = install.one(None, CRD_NAME);
        assert_eq!(rendered.spec, crd.spec, "{}", install.overlay);
    }
}
