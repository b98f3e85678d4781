//! The Dockerfile, statically: a static binary in a distroless non-root image matching the
//! Deployment, and a build context that leaves out local state but not the sources.

use std::collections::BTreeSet;

use crate::render::install;
use crate::{NONROOT, root};

/// One Dockerfile instruction: stage index, keyword (upper case), arguments.
#[derive(Debug)]
struct Instruction {
    stage: usize,
    keyword: String,
    args: String,
}

fn dockerfile() -> Vec<Instruction> {
    let text = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let mut logical = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if trimmed.starts_with('#') {
            continue; // a comment inside a continued instruction
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                logical.push(std::mem::take(&mut current));
            }
        }
    }
    assert!(current.is_empty(), "the Dockerfile ends in a continuation");
    let mut stage = 0;
    let mut instructions = Vec::new();
    for line in logical {
        let (keyword, args) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
        let keyword = keyword.to_uppercase();
        if keyword == "FROM" && !instructions.is_empty() {
            stage += 1;
        }
        instructions.push(Instruction {
            stage,
            keyword,
            args: args.trim().to_owned(),
        });
    }
    instructions
}

#[test]
fn the_dockerfile_builds_a_static_binary_into_a_distroless_nonroot_image() {
    let instructions = dockerfile();
    let stage = |index: usize| instructions.iter().filter(move |i| i.stage == index);
    let froms: Vec<&Instruction> = instructions
        .iter()
        .filter(|i| i.keyword == "FROM")
        .collect();
    assert_eq!(froms.len(), 2, "two stages: build, run");
    assert_eq!(
        instructions[0].keyword, "FROM",
        "only comments before the first FROM"
    );

    // Build: Rust at least the package's rust-version, static musl binary, locked, release.
    let build: Vec<&str> = froms[0].args.split_whitespace().collect();
    assert_eq!(build.len(), 3, "{build:?}");
    assert!(build[1].eq_ignore_ascii_case("AS"));
    let alias = build[2];
    let version = build[0]
        .strip_prefix("rust:")
        .and_then(|t| t.strip_suffix("-bookworm"))
        .unwrap_or_else(|| panic!("{}: a rust:<version>-bookworm builder", build[0]));
    let numbers = |v: &str| -> Vec<u32> { v.split('.').map(|n| n.parse().unwrap()).collect() };
    assert!(
        numbers(version) >= numbers(env!("CARGO_PKG_RUST_VERSION")),
        "rust:{version} is older than rust-version {}",
        env!("CARGO_PKG_RUST_VERSION")
    );
    let runs: String = stage(0)
        .filter(|i| i.keyword == "RUN")
        .map(|i| i.args.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    for needle in [
        "musl-tools",
        "x86_64-unknown-linux-musl",
        "rustup target add",
        "cargo build --profile dist --locked",
        "--bin locust-operator",
        "/out/locust-operator",
    ] {
        assert!(runs.contains(needle), "build stage lacks {needle:?}");
    }
    assert!(
        stage(0).any(|i| i.keyword == "ENV" && i.args.contains("CC_x86_64_unknown_linux_musl=musl-gcc")),
        "ring's C code is compiled with musl-gcc"
    );

    // Run: distroless static, no shell (so no RUN), the binary only, non-root.
    let run: Vec<&Instruction> = stage(1).collect();
    assert_eq!(run[0].args, "gcr.io/distroless/static-debian12:nonroot");
    for instruction in &run {
        assert!(
            !["RUN", "SHELL", "ADD"].contains(&instruction.keyword.as_str()),
            "the final stage has no shell: {instruction:?}"
        );
    }
    let copies: Vec<&&Instruction> = run.iter().filter(|i| i.keyword == "COPY").collect();
    assert_eq!(copies.len(), 1, "only the binary is copied");
    let copy: Vec<&str> = copies[0].args.split_whitespace().collect();
    assert_eq!(
        copy,
        [
            &format!("--from={alias}"),
            "/out/locust-operator",
            "/locust-operator"
        ]
    );
    let single = |keyword: &str| -> &str {
        let found: Vec<&&Instruction> = run.iter().filter(|i| i.keyword == keyword).collect();
        assert_eq!(found.len(), 1, "one {keyword}");
        &found[0].args
    };
    let pod = install("cert-manager").pod();
    let security = pod.security_context.unwrap();
    let (uid, gid) = single("USER").split_once(':').expect("USER uid:gid");
    assert_eq!(
        uid.parse::<i64>().ok(),
        security.run_as_user,
        "image and pod agree on the user"
    );
    assert_eq!(gid.parse::<i64>().ok(), security.run_as_group);
    assert_eq!(security.run_as_user, Some(NONROOT));
    // Exec form (no shell to run a string form).
    let entrypoint: Vec<String> =
        serde_json::from_str(single("ENTRYPOINT")).expect("ENTRYPOINT [..]");
    assert_eq!(entrypoint, [copy[2]], "the entrypoint is the copied binary");
    let cmd: Vec<String> = serde_json::from_str(single("CMD")).expect("CMD [..]");
    let container = install("cert-manager").container();
    assert!(
        container.command.is_none(),
        "the Deployment keeps the ENTRYPOINT"
    );
    assert_eq!(
        cmd[0],
        container.args.unwrap()[0],
        "CMD and the Deployment run the same command"
    );
    let exposed: BTreeSet<i32> = single("EXPOSE")
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    let ports: BTreeSet<i32> = container
        .ports
        .iter()
        .flatten()
        .map(|p| p.container_port)
        .collect();
    assert_eq!(exposed, ports);
}

#[test]
fn the_docker_build_context_leaves_out_local_state_but_not_the_sources() {
    let text = std::fs::read_to_string(root().join(".dockerignore")).unwrap();
    let patterns: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let matcher = |pattern: &str| {
        let pattern = pattern.trim_end_matches('/');
        let mut expression = String::from("^");
        let mut rest = pattern;
        while !rest.is_empty() {
            if let Some(tail) = rest.strip_prefix("**/") {
                expression.push_str("(.*/)?");
                rest = tail;
            } else if let Some(tail) = rest.strip_prefix('*') {
                expression.push_str("[^/]*");
                rest = tail;
            } else {
                let c = rest.chars().next().unwrap();
                expression.push_str(&regex::escape(&c.to_string()));
                rest = &rest[c.len_utf8()..];
            }
        }
        expression.push('$');
        regex::Regex::new(&expression).unwrap()
    };
    let matchers: Vec<regex::Regex> = patterns.iter().map(|p| matcher(p)).collect();
    // A path is left out when it or one of its parent directories matches.
    let ignored = |path: &str| {
        let parts: Vec<&str> = path.split('/').collect();
        (1..=parts.len()).any(|n| {
            let prefix = parts[..n].join("/");
            matchers.iter().any(|m| m.is_match(&prefix))
        })
    };
    assert!(
        patterns.iter().all(|p| !p.starts_with('!')),
        "no re-inclusions"
    );
    for path in ["target", ".git", ".venv", "certs/dev"] {
        assert!(ignored(path), "{path} is sent to the builder");
    }
    for path in [
        "Cargo.toml",
        "Cargo.lock",
        "src/main.rs",
        "benches/webhook.rs",
        "crates/memory-apiserver/Cargo.toml",
        "crates/memory-apiserver/src/lib.rs",
    ] {
        assert!(!ignored(path), "{path} is needed by cargo but left out");
    }
}
