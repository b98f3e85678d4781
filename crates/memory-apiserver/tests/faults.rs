//! Fault injection through a plain `kube::Client`: failures of the next N matching requests
//! (500, 429, 409) as real `Status` errors, delays, dropped watches, and 410 after compaction.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use axum::http::Method;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{PostParams, WatchEvent, WatchParams};
use kube::{Api, ResourceExt};
use memory_apiserver::{ApiServer, Filter};
use serde_json::json;

async fn start() -> (ApiServer, Api<ConfigMap>) {
    let server = ApiServer::start().await.unwrap();
    let client = server.client().unwrap();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "f"}})).unwrap(),
        )
        .await
        .unwrap();
    (server, Api::namespaced(client, "f"))
}

fn config_map(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"k": "v"}})).unwrap()
}

#[tokio::test]
async fn the_next_matching_requests_fail_with_the_chosen_code() {
    let (server, maps) = start().await;
    let creates = Filter {
        method: Some(Method::POST),
        path_contains: Some("/configmaps".into()),
    };
    for (i, code) in [500u16, 409].into_iter().enumerate() {
        let name = format!("a{i}");
        server.faults().fail_next(creates.clone(), 2, code);
        for _ in 0..2 {
            let error = maps
                .create(&PostParams::default(), &config_map(&name))
                .await
                .unwrap_err();
            match error {
                kube::Error::Api(status) => assert_eq!(status.code, code),
                other => panic!("expected a Status error, got {other:?}"),
            }
        }
        // Reads were not affected, and the third create goes through.
        assert!(maps.get_opt(&name).await.unwrap().is_none());
        maps.create(&PostParams::default(), &config_map(&name))
            .await
            .unwrap();
    }
    assert_eq!(server.faults().injected(), 4);

    // kube's client retries 429 Too Many Requests by itself (as client-go does): the
    // injected failures are consumed and the create still succeeds.
    server.faults().fail_next(creates, 2, 429);
    let created = maps.create(&PostParams::default(), &config_map("b")).await;
    let injected = server.faults().injected() - 4;
    match created {
        Ok(_) => assert!(injected >= 1, "the 429s were injected ({injected})"),
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 429),
        Err(other) => panic!("unexpected error {other:?}"),
    }
}

#[tokio::test]
async fn delays_apply_until_cleared() {
    let (server, maps) = start().await;
    server.faults().delay(
        Filter {
            method: Some(Method::GET),
            path_contains: None,
        },
        Duration::from_millis(300),
    );
    let started = Instant::now();
    maps.list(&Default::default()).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    server.faults().clear();
    let started = Instant::now();
    maps.list(&Default::default()).await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(300));
}

#[tokio::test]
async fn dropped_watches_end_and_compaction_makes_old_versions_expire() {
    let (server, maps) = start().await;
    let list = maps.list(&Default::default()).await.unwrap();
    let rv = list.metadata.resource_version.unwrap();
    let mut stream = maps
        .watch(&WatchParams::default().timeout(30), &rv)
        .await
        .unwrap()
        .boxed();
    maps.create(&PostParams::default(), &config_map("a"))
        .await
        .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), stream.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(matches!(first, WatchEvent::Added(ref m) if m.name_any() == "a"));
    server.drop_watches();
    let end = tokio::time::timeout(Duration::from_secs(5), stream.try_next())
        .await
        .unwrap()
        .unwrap();
    assert!(end.is_none(), "the stream ends after drop_watches");

    server.compact();
    let mut stream = maps
        .watch(&WatchParams::default().timeout(30), &rv)
        .await
        .unwrap()
        .boxed();
    let event = tokio::time::timeout(Duration::from_secs(5), stream.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    match event {
        WatchEvent::Error(status) => {
            assert_eq!((status.code, status.reason.as_str()), (410, "Expired"))
        }
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }
}
