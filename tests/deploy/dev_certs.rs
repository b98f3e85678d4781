//! `certs/dev-certs.sh` makes a CA and a serving certificate the operator loads and serves for
//! every webhook path the manifests name.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use base64::Engine;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde_json::json;

use crate::render::{install, installs, webhook_paths};
use crate::{root, tls_support};

fn dev_certs(out: &Path, names: &[&str]) -> std::process::Output {
    Command::new("sh")
        .arg(root().join("certs/dev-certs.sh"))
        .arg("--out")
        .arg(out)
        .args(names)
        .output()
        .expect("running certs/dev-certs.sh with sh (openssl must be installed)")
}

#[test]
fn dev_certs_script_makes_a_ca_and_a_serving_certificate() {
    use std::os::unix::fs::PermissionsExt;

    let script = std::fs::read_to_string(root().join("certs/dev-certs.sh")).unwrap();
    assert!(script.starts_with("#!/bin/sh\n"), "a POSIX sh script");
    assert!(script.contains("\nset -eu\n"));
    let mode = std::fs::metadata(root().join("certs/dev-certs.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert!(mode & 0o111 != 0, "certs/dev-certs.sh is executable");
    let ignored = std::fs::read_to_string(root().join("certs/.gitignore")).unwrap();
    assert!(
        ignored.lines().any(|l| l == "dev/"),
        "certs/dev is git-ignored"
    );

    let dir = tls_support::fresh_dir("dev-certs-script");
    let output = dev_certs(&dir, &["webhook.dev.example", "10.11.12.13"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for (file, private) in [
        ("ca.crt", false),
        ("ca.key", true),
        ("tls.crt", false),
        ("tls.key", true),
    ] {
        let mode = std::fs::metadata(dir.join(file))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode & 0o077 == 0, private, "{file}: mode {mode:o}");
    }
    // The last line is the caBundle: base64 of ca.crt.
    let ca_pem = std::fs::read(dir.join("ca.crt")).unwrap();
    let bundle = stdout.lines().last().unwrap();
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(bundle)
            .unwrap(),
        ca_pem
    );
    assert!(
        stdout.contains(&format!("--cert-dir {}", dir.display())),
        "{stdout}"
    );
    // The operator's loader takes the pair.
    let (cert, key) = (
        std::fs::read(dir.join("tls.crt")).unwrap(),
        std::fs::read(dir.join("tls.key")).unwrap(),
    );
    locust_operator::webhook::tls::certified_key(&cert, &key, &dir).unwrap();

    // Re-running keeps the CA (the registered caBundle stays valid), renews the leaf.
    let again = dev_certs(&dir, &["other.dev.example"]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(std::fs::read(dir.join("ca.crt")).unwrap(), ca_pem);
    assert_ne!(std::fs::read(dir.join("tls.crt")).unwrap(), cert);
    assert_eq!(
        String::from_utf8_lossy(&again.stdout)
            .lines()
            .last()
            .unwrap(),
        bundle
    );

    // Bad input: exit 2 with a message, nothing written.
    let bad = tls_support::fresh_dir("dev-certs-bad");
    for args in [&["not a name"][..], &["--unknown"][..]] {
        let output = dev_certs(&bad, args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(!output.stderr.is_empty());
        assert!(!bad.join("tls.crt").exists());
    }
    let help = Command::new("sh")
        .arg(root().join("certs/dev-certs.sh"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("Usage: certs/dev-certs.sh"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_certs_serve_every_webhook_path_the_manifests_name() {
    use tls_support::{Http, HttpsClient, TestServer, client_config, handshake, plain_get};

    let dir = tls_support::fresh_dir("dev-certs-serve");
    let output = dev_certs(&dir, &["webhook.dev.example", "10.11.12.13"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let ca = CertificateDer::from_pem_slice(&std::fs::read(dir.join("ca.crt")).unwrap()).unwrap();

    let server = TestServer::start(&dir).await;
    server.wait_ready().await;
    // Trusted for every name asked for, and no other.
    for name in [
        "localhost",
        "127.0.0.1",
        "webhook.dev.example",
        "10.11.12.13",
    ] {
        handshake(server.webhook, name, client_config(&[&ca], None))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let Err(error) = handshake(
        server.webhook,
        "elsewhere.example",
        client_config(&[&ca], None),
    )
    .await
    else {
        panic!("a name not in the certificate is refused");
    };
    assert!(
        error.contains("NotValidForName") || error.contains("not valid"),
        "{error}"
    );

    // Every path the manifests name is served (a review of nothing is a 400, not a 404).
    let client = HttpsClient::with_config(client_config(&[&ca], None), Http::One);
    let paths: BTreeSet<String> = installs()
        .flat_map(|i| webhook_paths(i).into_values())
        .collect();
    assert_eq!(paths.len(), 3, "{paths:?}");
    for path in &paths {
        let reply = client.post_json(&server.url(path), &json!({})).await;
        assert_ne!(reply.status, 404, "{path} is not served: {}", reply.text());
        assert_eq!(reply.status, 400, "{path}: {}", reply.text());
    }
    let reply = client
        .post_json(&server.url("/not-a-webhook"), &json!({}))
        .await;
    assert_eq!(reply.status, 404, "unknown paths are told apart");

    // And the probes of the Deployment.
    let container = install("cert-manager").container();
    for probe in [container.liveness_probe, container.readiness_probe] {
        let path = probe.unwrap().http_get.unwrap().path.unwrap();
        let (status, body) = plain_get(server.probes, &path).await.unwrap();
        assert_eq!(status, 200, "{path}: {body}");
    }
    server.stop().await;
}
