//! Serving HTTPS with a bearer token: `ApiServer::client` trusts the certificate and sends the
//! token; requests without it get kube-apiserver's 401 `Unauthorized` Status, except
//! `/version`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::ListParams;
use memory_apiserver::{ApiServer, Options, Tls};

async fn secured() -> ApiServer {
    ApiServer::start_with(Options {
        tls: Some(Tls::self_signed().unwrap()),
        token: Some("s3cret".to_owned()),
        ..Options::default()
    })
    .await
    .unwrap()
}

/// A kube client of `server` with the given token (none: no Authorization header).
fn client_with_token(server: &ApiServer, token: Option<&str>) -> kube::Client {
    let mut config = kube::Config::new(server.url().parse().unwrap());
    config.accept_invalid_certs = true;
    config.auth_info.token = token.map(|t| t.to_owned().into());
    kube::Client::try_from(config).unwrap()
}

#[tokio::test]
async fn the_client_trusts_the_certificate_and_sends_the_token() {
    let server = secured().await;
    assert!(server.url().starts_with("https://127.0.0.1:"));
    let namespaces: Api<Namespace> = Api::all(server.client().unwrap());
    let names: Vec<String> = namespaces
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    assert!(names.contains(&"default".to_owned()), "{names:?}");
}

#[tokio::test]
async fn requests_without_the_token_are_unauthorized() {
    let server = secured().await;
    for token in [None, Some("wrong")] {
        let namespaces: Api<Namespace> = Api::all(client_with_token(&server, token));
        let error = namespaces.list(&ListParams::default()).await.unwrap_err();
        let kube::Error::Api(status) = error else {
            panic!("expected an API error, got {error:?}");
        };
        assert_eq!(status.code, 401);
        assert_eq!(status.reason, "Unauthorized");
        assert_eq!(status.message, "Unauthorized");
    }
    // `/version` is public, as on kube-apiserver.
    let version = client_with_token(&server, None)
        .apiserver_version()
        .await
        .unwrap();
    assert_eq!(version.major, "1");
}

#[tokio::test]
async fn the_default_stays_plain_http_without_authentication() {
    let server = ApiServer::start().await.unwrap();
    assert!(server.url().starts_with("http://127.0.0.1:"));
    assert_eq!(server.token(), None);
    let namespaces: Api<Namespace> = Api::all(server.client().unwrap());
    namespaces.list(&ListParams::default()).await.unwrap();
}

#[tokio::test]
async fn the_kubeconfig_names_the_server_its_certificate_and_token() {
    let server = secured().await;
    let kubeconfig: serde_json::Value = serde_json::from_str(&server.kubeconfig("demo")).unwrap();
    assert_eq!(kubeconfig["clusters"][0]["cluster"]["server"], server.url());
    assert!(kubeconfig["clusters"][0]["cluster"]["certificate-authority-data"].is_string());
    assert_eq!(kubeconfig["users"][0]["user"]["token"], "s3cret");
    assert_eq!(kubeconfig["contexts"][0]["context"]["namespace"], "demo");
    let parsed: kube::config::Kubeconfig = serde_json::from_value(kubeconfig).unwrap();
    let config = kube::Config::from_custom_kubeconfig(parsed, &Default::default())
        .await
        .unwrap();
    let namespaces: Api<Namespace> = Api::all(kube::Client::try_from(config).unwrap());
    namespaces.list(&ListParams::default()).await.unwrap();
}
