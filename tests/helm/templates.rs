//! The templates, statically: every `{{` is closed, every `.Values` path exists in `values.yaml`
//! and the schema, and every key of the Go operator's chart is handled.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::{Value, json};

use crate::{
    GO_CHART_COMMENTED_KEYS, GO_CHART_FIXTURES, ROOT, both_charts_keys, chart_file,
    go_chart_defaults, read, schema, values_yaml,
};

fn templates() -> Vec<(String, String)> {
    let dir = chart_file("templates");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("templates/ exists")
        .map(|e| e.expect("readable").path())
        .filter(|p| p.is_file())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                read(&p),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn template_actions_are_balanced() {
    for (name, text) in templates() {
        let mut rest = text.as_str();
        while let Some(open) = rest.find("{{") {
            let after = &rest[open + 2..];
            let close = after
                .find("}}")
                .unwrap_or_else(|| panic!("{name}: `{{{{` never closed"));
            assert!(
                !after[..close].contains("{{"),
                "{name}: `{{{{` opened twice before `}}}}`: {}",
                &after[..close]
            );
            rest = &after[close + 2..];
        }
        assert!(!rest.contains("}}"), "{name}: `}}}}` without `{{{{`");
    }
}

/// Does `path` exist as nested keys of `values` and as nested properties of the schema? Below
/// an empty map of `values` (like `masterResources: {}`), only the schema documents the keys.
fn value_path_problems(path: &[String], values: &Value, schema: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let mut value = values;
    let mut node = schema;
    for (i, key) in path.iter().enumerate() {
        let shown = path[..=i].join(".");
        match value.as_object() {
            Some(map) if map.is_empty() => {}
            _ => match value.as_object().and_then(|m| m.get(key)) {
                Some(v) => value = v,
                None => problems.push(format!(".Values.{shown} is not in the values")),
            },
        }
        match node.get("properties").and_then(|p| p.get(key)) {
            Some(n) => node = n,
            None => {
                problems.push(format!(".Values.{shown} is not in values.schema.json"));
                break;
            }
        }
        if !problems.is_empty() {
            break;
        }
    }
    problems
}

/// Every value path the templates read: `.Values.a.b`, `$x.b` where `$x := .Values.a` or
/// `$x := include "locust-operator.values" . | fromJson` (the values with the Go operator's
/// chart's keys translated), and the resource maps read field by field: keys of `values.yaml`.
/// The Go chart's keys, named as strings (looked up, renamed, checked): keys of its
/// `values.yaml`; the keys they are translated into: keys of `values.yaml`. All of them in the
/// schema.
#[test]
fn templates_use_only_values_that_exist() {
    let values = values_yaml();
    let schema = schema();
    let both = both_charts_keys();
    let mut go = go_chart_defaults();
    for key in GO_CHART_COMMENTED_KEYS {
        go[key] = json!({});
    }
    let direct = regex::Regex::new(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)").unwrap();
    let alias = regex::Regex::new(
        r#"\$([A-Za-z_][A-Za-z0-9_]*) :?= (\.Values|\$[A-Za-z_][A-Za-z0-9_]*|include "locust-operator\.values" \. \| fromJson)((?:\.[A-Za-z_][A-Za-z0-9_]*)*)"#,
    )
    .unwrap();
    // `(list $values "a.b")` (a lookup), `(list $values "a.b" VALUE SHOWN)` (a translation's
    // target), `(list "go.key" "our.key" "plain")` (a rename), `(list "go.key" DEFAULT "why")`
    // and `(list "goKey" "locust-operator.helper")` (Go keys checked, not translated).
    let looked_up =
        regex::Regex::new(r#"locust-operator\.lookup" \(list \$values "([A-Za-z.]+)"\)"#).unwrap();
    let target = regex::Regex::new(r#"goChart\.set" \(list \$values "([A-Za-z.]+)""#).unwrap();
    let rename =
        regex::Regex::new(r#"\(list "([A-Za-z.]+)" "([A-Za-z.]+)" "(?:plain|quantity)"\)"#)
            .unwrap();
    let checked_go = regex::Regex::new(
        r#"\(list "([A-Za-z.]+)" (?:\(list\)|\(dict\)|true|false|""|"locust-operator\.[A-Za-z]+")[ )]"#,
    )
    .unwrap();
    let use_of =
        regex::Regex::new(r"\$([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z_][A-Za-z0-9_]*)+)").unwrap();
    let resource_field = regex::Regex::new(r#"\(list "([A-Z_]+)" "([A-Za-z]+)"\)"#).unwrap();
    let split = |s: &str| -> Vec<String> {
        s.split('.')
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let mut problems = Vec::new();
    let mut checked = 0;
    let mut checked_strings = 0;
    for (name, text) in templates() {
        // `$x := .Values.a.b` and `$y := $x.c`: variables standing for value paths.
        let mut aliases: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for captures in alias.captures_iter(&text) {
            let base = if !captures[2].starts_with('$') {
                Some(Vec::new())
            } else {
                aliases.get(&captures[2][1..]).cloned()
            };
            if let Some(mut path) = base {
                path.extend(split(&captures[3]));
                aliases.insert(captures[1].to_owned(), path);
            }
        }
        let mut paths = Vec::new();
        for captures in direct.captures_iter(&text) {
            paths.push(split(&captures[1]));
        }
        for captures in use_of.captures_iter(&text) {
            if let Some(base) = aliases.get(&captures[1]) {
                let mut path = base.clone();
                path.extend(split(&captures[2]));
                paths.push(path);
            }
        }
        for path in paths {
            checked += 1;
            for problem in value_path_problems(&path, &values, &schema) {
                problems.push(format!("{name}: {problem}"));
            }
        }
        // The resource maps are read field by field through a list of (SUFFIX, key) pairs.
        for captures in resource_field.captures_iter(&text) {
            for map in [
                &["locustPods", "resources"][..],
                &["locustPods", "resources", "master"],
                &["locustPods", "resources", "worker"],
                &["locustPods", "metricsExporter", "resources"],
            ] {
                let mut path: Vec<String> = map.iter().map(|s| (*s).to_owned()).collect();
                path.push(captures[2].to_owned());
                checked += 1;
                for problem in value_path_problems(&path, &values, &schema) {
                    problems.push(format!("{name} ({}): {problem}", &captures[1]));
                }
            }
        }
        // The Go operator's chart's keys and their translations, named as strings.
        let mut check = |path: &str, values: &Value, what: &str| {
            checked_strings += 1;
            for problem in value_path_problems(&split(path), values, &schema) {
                problems.push(format!("{name} ({what} {path}): {problem}"));
            }
        };
        for captures in looked_up.captures_iter(&text) {
            check(&captures[1], &both, "lookup of");
        }
        for captures in target.captures_iter(&text) {
            check(&captures[1], &values, "translation into");
        }
        for captures in rename.captures_iter(&text) {
            check(&captures[1], &go, "Go key");
            check(&captures[2], &values, "translation into");
        }
        for captures in checked_go.captures_iter(&text) {
            check(&captures[1], &go, "Go key");
        }
    }
    assert!(checked > 50, "only {checked} value references found");
    assert!(
        checked_strings > 60,
        "only {checked_strings} Go chart keys and translations found"
    );
    assert!(problems.is_empty(), "{problems:#?}");
}

/// Keys the Go operator's chart shares with this one, with the same meaning: a value there is a
/// value here (each is a key of `values.yaml`). A path stands for the keys below it too.
const SHARED_WITH_THE_GO_CHART: [&str; 21] = [
    "image.repository",
    "image.tag",
    "image.pullPolicy",
    "resources",
    "nameOverride",
    "fullnameOverride",
    "terminationGracePeriodSeconds",
    "leaderElection.enabled",
    "metrics.enabled",
    "metrics.port",
    "webhook.port",
    "locustPods.affinityInjection",
    "locustPods.tolerationsInjection",
    "locustPods.ttlSecondsAfterFinished",
    "locustPods.metricsExporter.image",
    "locustPods.metricsExporter.port",
    "locustPods.metricsExporter.pullPolicy",
    "podAnnotations",
    "nodeSelector",
    "tolerations",
    "affinity",
];

/// The paths of the leaves of a values tree (an empty map or list is a leaf).
fn leaves(value: &Value, path: &str, out: &mut Vec<String>) {
    match value.as_object() {
        Some(map) if !map.is_empty() => {
            for (key, child) in map {
                let at = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                leaves(child, &at, out);
            }
        }
        _ => out.push(path.to_owned()),
    }
}

/// Every key of the Go operator's chart's `values.yaml` is handled: shared with this chart, or
/// named by `templates/_go-chart.tpl` (translated, or checked to change nothing, else
/// rejected), or inside `otelCollector`, which changes nothing while its `enabled` (checked) is
/// false. No Go key can be ignored.
#[test]
fn every_key_of_the_go_chart_is_handled() {
    let (values, schema) = (values_yaml(), schema());
    for shared in SHARED_WITH_THE_GO_CHART {
        let path: Vec<String> = shared.split('.').map(str::to_owned).collect();
        let problems = value_path_problems(&path, &values, &schema);
        assert!(problems.is_empty(), "{shared}: {problems:?}");
    }
    let text = read(&chart_file("templates/_go-chart.tpl"));
    let quoted = regex::Regex::new(r#""([A-Za-z0-9.]+)""#).unwrap();
    let named: BTreeSet<String> = quoted
        .captures_iter(&text)
        .map(|c| c[1].to_owned())
        .collect();
    assert!(named.contains("otelCollector.enabled"));
    let mut all = Vec::new();
    leaves(&go_chart_defaults(), "", &mut all);
    all.extend(GO_CHART_COMMENTED_KEYS.map(str::to_owned));
    let under =
        |path: &str, prefix: &str| path == prefix || path.starts_with(&format!("{prefix}."));
    let unhandled: Vec<_> = all
        .iter()
        .filter(|leaf| {
            !SHARED_WITH_THE_GO_CHART.iter().any(|s| under(leaf, s))
                && !named.iter().any(|n| under(leaf, n) || under(n, leaf))
                && !under(leaf, "otelCollector")
        })
        .collect();
    assert!(all.len() > 60, "only {} Go keys", all.len());
    assert!(
        unhandled.is_empty(),
        "Go chart keys nothing handles: {unhandled:#?}"
    );
}

/// The Go operator's chart's deprecated `config.*` paths are rejected naming the key to use
/// instead: one entry for each path its templates read, and each key named exists here.
#[test]
fn go_config_paths_name_keys_of_this_chart() {
    let ours = read(&chart_file("templates/_go-chart.tpl"));
    let entry = regex::Regex::new(r#""(config\.[A-Za-z0-9.]+)" "([^"]+)""#).unwrap();
    let named = regex::Regex::new(r"`([A-Za-z.]+)`").unwrap();
    let (values, schema) = (values_yaml(), schema());
    let mut entries = BTreeSet::new();
    for captures in entry.captures_iter(&ours) {
        entries.insert(captures[1].to_owned());
        let keys: Vec<_> = named.captures_iter(&captures[2]).collect();
        assert!(!keys.is_empty(), "{} names no key", &captures[1]);
        for key in keys {
            let path: Vec<String> = key[1].split('.').map(str::to_owned).collect();
            let problems = value_path_problems(&path, &values, &schema);
            assert!(problems.is_empty(), "{}: {problems:?}", &captures[1]);
        }
    }
    // What the Go chart's templates read: the paths that are no prefix of another.
    let theirs = read(
        &Path::new(ROOT)
            .join(GO_CHART_FIXTURES)
            .join("templates/_helpers.tpl"),
    );
    let read_paths: BTreeSet<String> = regex::Regex::new(r"\.Values\.(config(?:\.[A-Za-z0-9]+)+)")
        .unwrap()
        .captures_iter(&theirs)
        .map(|c| c[1].to_owned())
        .collect();
    let read_leaves: BTreeSet<String> = read_paths
        .iter()
        .filter(|p| !read_paths.iter().any(|q| q.starts_with(&format!("{p}."))))
        .cloned()
        .collect();
    assert!(read_leaves.len() > 20, "{read_leaves:?}");
    assert_eq!(entries, read_leaves);
}
