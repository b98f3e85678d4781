//! TLS: HTTP/1.1 and HTTP/2 over TLS, clients that do not trust the CA, and the negotiated protocol
//! versions.

use std::net::SocketAddr;

use hyper::Method;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::tls_support::{
    Ca, Http, HttpsClient, REQUEST_TIMEOUT, TestServer, client_config, handshake,
};
use crate::{admission_response, admission_review, assert_allowed, assert_still_serving, v2_test};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_http1_and_http2_over_tls() {
    let ca = Ca::new("versions");
    let (server, _dir, _leaf) = TestServer::ready("versions", &ca).await;
    for (http, version) in [
        (Http::One, hyper::Version::HTTP_11),
        (Http::Two, hyper::Version::HTTP_2),
    ] {
        let client = HttpsClient::new(&ca, http);
        let review = admission_review("CREATE", &v2_test("checkout"), &Value::Null, false);
        let reply = client.post_json(&server.url("/validate"), &review).await;
        assert_eq!(reply.version, version);
        assert_allowed(&admission_response(&reply, &review));
    }
    // ALPN: the server offers h2 and http/1.1.
    for (offered, chosen) in [
        (vec![b"h2".to_vec(), b"http/1.1".to_vec()], &b"h2"[..]),
        (vec![b"http/1.1".to_vec()], b"http/1.1"),
    ] {
        let mut config = client_config(&[&ca.der], None);
        config.alpn_protocols = offered;
        let stream = handshake(server.webhook, "localhost", config)
            .await
            .unwrap();
        assert_eq!(stream.get_ref().1.alpn_protocol(), Some(chosen));
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_that_does_not_trust_the_ca_fails_the_handshake() {
    let ca = Ca::new("trusted");
    let (server, _dir, _leaf) = TestServer::ready("untrusted", &ca).await;
    let stranger = Ca::new("someone else");
    let error = handshake(
        server.webhook,
        "localhost",
        client_config(&[&stranger.der], None),
    )
    .await
    .expect_err("the handshake fails");
    assert!(
        error.contains("UnknownIssuer") || error.contains("invalid peer certificate"),
        "{error}"
    );
    let client = HttpsClient::new(&stranger, Http::Two);
    let review = admission_review("CREATE", &v2_test("checkout"), &Value::Null, false);
    let error = client
        .send(
            Method::POST,
            &server.url("/validate"),
            &[("content-type", "application/json")],
            serde_json::to_vec(&review).unwrap(),
        )
        .await
        .expect_err("no response to an untrusting client");
    assert!(error.contains("request failed"), "{error}");
    // The name must match too.
    let error = handshake(
        server.webhook,
        "webhook.example.com",
        client_config(&[&ca.der], None),
    )
    .await
    .expect_err("wrong name");
    assert!(error.contains("not valid for name"), "{error}");
    // And the trusting client is unaffected.
    assert_still_serving(&HttpsClient::new(&ca, Http::Two), &server).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negotiates_tls13_by_default_and_tls12_when_the_client_is_limited_to_it() {
    let ca = Ca::new("protocols");
    let (server, _dir, _leaf) = TestServer::ready("protocols", &ca).await;
    let cases: [(Option<&[&'static rustls::SupportedProtocolVersion]>, _); 3] = [
        (None, rustls::ProtocolVersion::TLSv1_3),
        (
            Some(&[&rustls::version::TLS12]),
            rustls::ProtocolVersion::TLSv1_2,
        ),
        (
            Some(&[&rustls::version::TLS13]),
            rustls::ProtocolVersion::TLSv1_3,
        ),
    ];
    for (versions, expected) in cases {
        let stream = handshake(
            server.webhook,
            "localhost",
            client_config(&[&ca.der], versions),
        )
        .await
        .unwrap();
        assert_eq!(stream.get_ref().1.protocol_version(), Some(expected));
        // And a request works over it.
        let client = HttpsClient::with_config(client_config(&[&ca.der], versions), Http::One);
        assert_still_serving(&client, &server).await;
    }
    // TLS 1.0/1.1 (which rustls cannot speak): a raw ClientHello offering only TLS 1.1 is
    // refused with an alert, not answered with a ServerHello.
    let alert = raw_client_hello(server.webhook, [0x03, 0x02]).await;
    assert_eq!(
        alert.first(),
        Some(&0x15),
        "a TLS alert record: {alert:02x?}"
    );
    server.stop().await;
}

/// Sends a minimal ClientHello with `version` as its only version, returns the first bytes the
/// server answers.
async fn raw_client_hello(addr: SocketAddr, version: [u8; 2]) -> Vec<u8> {
    let mut hello = Vec::new();
    hello.extend_from_slice(&version); // client_version
    hello.extend_from_slice(&[0x11; 32]); // random
    hello.push(0); // session id
    hello.extend_from_slice(&[0x00, 0x04, 0xc0, 0x2b, 0xc0, 0x2f]); // ECDHE-ECDSA/RSA-AES128-GCM
    hello.extend_from_slice(&[0x01, 0x00]); // compression: null
    // extensions: supported_groups (x25519, secp256r1), ec_point_formats, signature_algorithms
    let extensions: &[u8] = &[
        0x00, 0x0a, 0x00, 0x06, 0x00, 0x04, 0x00, 0x1d, 0x00, 0x17, // groups
        0x00, 0x0b, 0x00, 0x02, 0x01, 0x00, // point formats
        0x00, 0x0d, 0x00, 0x06, 0x00, 0x04, 0x04, 0x03, 0x08, 0x04, // signature algorithms
    ];
    hello.extend_from_slice(&u16::try_from(extensions.len()).unwrap().to_be_bytes());
    hello.extend_from_slice(extensions);
    let mut handshake = vec![0x01];
    handshake.extend_from_slice(&u32::try_from(hello.len()).unwrap().to_be_bytes()[1..]);
    handshake.extend_from_slice(&hello);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&u16::try_from(handshake.len()).unwrap().to_be_bytes());
    record.extend_from_slice(&handshake);
    let exchange = async {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.write_all(&record).await.unwrap();
        let mut answer = vec![0; 64];
        let n = tcp.read(&mut answer).await.unwrap_or(0);
        answer.truncate(n);
        answer
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .expect("the server answers the ClientHello")
}
