//! Serving certificates: rotation under load, broken rotations, starting without a certificate, and
//! every key encoding cert-manager writes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;

use crate::tls_support::{
    Ca, Http, HttpsClient, RELOAD_INTERVAL, REQUEST_TIMEOUT, TestServer, client_config,
    current_leaf, fresh_dir, handshake, install, install_leaf, plain_get, served_leaf, wait_for,
};
use crate::{admission_review, assert_still_serving, v2_test};

/// One request/response loop on a single kept-alive connection (HTTP/1.1 or HTTP/2), counting
/// successes and failures until `stop`.
struct Looper {
    ok: AtomicUsize,
    failed: AtomicUsize,
    errors: std::sync::Mutex<Vec<String>>,
}

async fn loop_on_one_connection(
    addr: SocketAddr,
    ca: &Ca,
    http: Http,
    stop: Arc<AtomicBool>,
    stats: Arc<Looper>,
) -> tokio::task::JoinHandle<rustls::pki_types::CertificateDer<'static>> {
    let mut config = client_config(&[&ca.der], None);
    config.alpn_protocols = match http {
        Http::One => vec![b"http/1.1".to_vec()],
        Http::Two => vec![b"h2".to_vec()],
    };
    let stream = handshake(addr, "localhost", config).await.unwrap();
    let leaf = served_leaf(&stream);
    let io = TokioIo::new(stream);
    enum Sender {
        One(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
        Two(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
    }
    let mut sender = match http {
        Http::One => {
            let (sender, connection) = hyper::client::conn::http1::handshake(io).await.unwrap();
            tokio::spawn(connection);
            Sender::One(sender)
        }
        Http::Two => {
            let (sender, connection) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                    .await
                    .unwrap();
            tokio::spawn(connection);
            Sender::Two(sender)
        }
    };
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            let review = admission_review("CREATE", &v2_test("checkout"), &Value::Null, false);
            let request = Request::post(format!("https://{addr}/validate"))
                .header("host", addr.to_string())
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(serde_json::to_vec(&review).unwrap())))
                .unwrap();
            let exchange = async {
                let response = match &mut sender {
                    Sender::One(s) => {
                        s.ready().await.map_err(|e| e.to_string())?;
                        s.send_request(request).await
                    }
                    Sender::Two(s) => {
                        s.ready().await.map_err(|e| e.to_string())?;
                        s.send_request(request).await
                    }
                }
                .map_err(|e| e.to_string())?;
                let status = response.status();
                let body = response
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| e.to_string())?
                    .to_bytes();
                let body: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
                if status == 200 && body["response"]["allowed"] == true {
                    Ok(())
                } else {
                    Err(format!("{status}: {body}"))
                }
            };
            match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
                Ok(Ok(())) => {
                    stats.ok.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Err(error)) => {
                    stats.failed.fetch_add(1, Ordering::Relaxed);
                    stats.errors.lock().unwrap().push(error);
                }
                Err(_) => {
                    stats.failed.fetch_add(1, Ordering::Relaxed);
                    stats.errors.lock().unwrap().push("timeout".into());
                }
            }
        }
        leaf
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_certificate_reaches_new_handshakes_while_kept_alive_connections_keep_working() {
    let old_ca = Ca::new("old CA");
    let new_ca = Ca::new("new CA");
    let (server, dir, old_leaf) = TestServer::ready("rotation", &old_ca).await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut loops = Vec::new();
    let mut stats = Vec::new();
    for http in [Http::One, Http::Two] {
        let looper = Arc::new(Looper {
            ok: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            errors: Default::default(),
        });
        loops.push(
            loop_on_one_connection(server.webhook, &old_ca, http, stop.clone(), looper.clone())
                .await,
        );
        stats.push(looper);
    }
    // Meanwhile, a client trusting both CAs opens a new connection for every request: during
    // the swap every handshake succeeds, and once it has seen the new certificate it never
    // sees the old one again.
    let fresh_stop = Arc::new(AtomicBool::new(false));
    let fresh = {
        let (addr, old_ca, new_ca, stop) = (
            server.webhook,
            old_ca.der.clone(),
            new_ca.der.clone(),
            fresh_stop.clone(),
        );
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                seen.push(current_leaf(addr, &[&old_ca, &new_ca]).await);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            seen
        })
    };
    // Waits until every loop has made `more` requests beyond `base`.
    let wait_for_requests = |base: Vec<usize>, more: usize| {
        let stats = stats.clone();
        async move {
            wait_for(
                "the loops to make progress",
                Duration::from_secs(10),
                || {
                    for s in &stats {
                        let errors = s.errors.lock().unwrap();
                        assert!(errors.is_empty(), "a looping request failed: {errors:?}");
                    }
                    let done = stats
                        .iter()
                        .zip(&base)
                        .all(|(s, base)| s.ok.load(Ordering::Relaxed) >= base + more);
                    async move { done }
                },
            )
            .await;
        }
    };
    wait_for_requests(vec![0; stats.len()], 10).await;

    let new_leaf = new_ca.issue("webhook rotated");
    let rotated = Instant::now();
    install_leaf(&dir, &new_leaf);
    let (addr, new_root) = (server.webhook, new_ca.der.clone());
    wait_for(
        "new handshakes to see the new certificate",
        RELOAD_INTERVAL * 10,
        || {
            let new_root = new_root.clone();
            async move { current_leaf(addr, &[&new_root]).await.is_ok() }
        },
    )
    .await;
    let took = rotated.elapsed();
    assert_eq!(
        current_leaf(addr, &[&new_ca.der]).await.unwrap(),
        new_leaf.der,
        "the new leaf is served"
    );
    assert!(
        current_leaf(addr, &[&old_ca.der]).await.is_err(),
        "the old certificate is no longer served"
    );
    // The kept-alive connections go on working after the rotation.
    let after: Vec<usize> = stats.iter().map(|s| s.ok.load(Ordering::Relaxed)).collect();
    wait_for_requests(after, 10).await;
    stop.store(true, Ordering::Relaxed);
    fresh_stop.store(true, Ordering::Relaxed);
    for (looped, stats) in loops.into_iter().zip(&stats) {
        let leaf = tokio::time::timeout(REQUEST_TIMEOUT, looped)
            .await
            .expect("the loop stops")
            .expect("the loop does not panic");
        assert_eq!(
            leaf, old_leaf.der,
            "the kept-alive connection began on the old one"
        );
        assert_eq!(
            stats.failed.load(Ordering::Relaxed),
            0,
            "no request failed: {:?}",
            stats.errors.lock().unwrap()
        );
    }
    let seen = tokio::time::timeout(REQUEST_TIMEOUT, fresh)
        .await
        .unwrap()
        .unwrap();
    let seen: Vec<_> = seen
        .into_iter()
        .map(|leaf| leaf.expect("every fresh handshake succeeds during the rotation"))
        .collect();
    let first_new = seen
        .iter()
        .position(|leaf| *leaf == new_leaf.der)
        .expect("the fresh client saw the new certificate");
    assert!(seen[..first_new].iter().all(|leaf| *leaf == old_leaf.der));
    assert!(seen[first_new..].iter().all(|leaf| *leaf == new_leaf.der));
    eprintln!("rotation picked up after {took:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_new_certificate_keeps_the_old_one_serving() {
    let ca = Ca::new("broken rotation");
    let (server, dir, old_leaf) = TestServer::ready("broken-rotation", &ca).await;
    let roots = [&ca.der];
    let other = ca.issue("other");
    let next = ca.issue("next");
    let broken: [(&str, &[u8], &[u8]); 5] = [
        (
            "a garbage key",
            next.cert_pem.as_bytes(),
            b"-----BEGIN PRIVATE KEY-----\nnot base64 at all\n-----END PRIVATE KEY-----\n",
        ),
        ("an empty key", next.cert_pem.as_bytes(), b""),
        (
            "another certificate's key",
            next.cert_pem.as_bytes(),
            other.key_pem.as_bytes(),
        ),
        ("no certificate", b"", next.key_pem.as_bytes()),
        (
            "a truncated certificate",
            &next.cert_pem.as_bytes()[..next.cert_pem.len() / 2],
            next.key_pem.as_bytes(),
        ),
    ];
    for (what, cert, key) in broken {
        install(&dir, cert, key);
        tokio::time::sleep(RELOAD_INTERVAL * 5).await;
        assert_eq!(
            current_leaf(server.webhook, &roots).await.unwrap(),
            old_leaf.der,
            "{what}: the old certificate still serves"
        );
        assert!(
            matches!(plain_get(server.probes, "/readyz").await, Ok((200, _))),
            "{what}: still ready"
        );
    }
    // A valid pair is then picked up.
    install_leaf(&dir, &next);
    let addr = server.webhook;
    let (expected, root) = (next.der.clone(), ca.der.clone());
    wait_for("the next certificate", RELOAD_INTERVAL * 30, || {
        let (expected, root) = (expected.clone(), root.clone());
        async move { current_leaf(addr, &[&root]).await.ok() == Some(expected) }
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_certificate_the_server_is_up_but_not_ready_until_one_is_written() {
    let ca = Ca::new("late");
    // An empty directory, and one that does not exist yet.
    for dir in [fresh_dir("late"), fresh_dir("late-missing").join("not-yet")] {
        let server = TestServer::start(&dir).await;
        // Give the watcher a few polls.
        tokio::time::sleep(RELOAD_INTERVAL * 3).await;
        assert!(matches!(
            plain_get(server.probes, "/healthz").await,
            Ok((200, _))
        ));
        let (status, body) = plain_get(server.probes, "/readyz").await.unwrap();
        assert_eq!(status, 503, "{body}");
        assert!(body.contains("webhook certificate"), "{body}");
        let error = current_leaf(server.webhook, &[&ca.der])
            .await
            .expect_err("no certificate to offer");
        assert!(error.contains("handshake"), "{error}");
        // Metrics are served meanwhile.
        assert!(matches!(
            plain_get(server.metrics, "/metrics").await,
            Ok((200, _))
        ));

        let leaf = ca.issue("late");
        install_leaf(&dir, &leaf);
        server.wait_ready().await;
        assert_eq!(
            current_leaf(server.webhook, &[&ca.der]).await.unwrap(),
            leaf.der
        );
        assert_still_serving(&HttpsClient::new(&ca, Http::One), &server).await;
        server.stop().await;
    }
}

// Keys as cert-manager writes them (`privateKey.encoding: PKCS1`, its default): PKCS#1 for
// RSA, SEC1 for ECDSA; each also in PKCS#8 for rcgen, which signs the certificate. Generated
// once with `openssl genrsa -traditional 2048`, `openssl ecparam -name prime256v1 -genkey
// -noout` and `openssl pkcs8 -topk8 -nocrypt` (ring cannot generate RSA keys). Test-only.
const RSA_PKCS1: &str = "-----BEGIN RSA PRIVATE KEY-----\n\
MIIEowIBAAKCAQEAz+/MJhC9dj/cx6D1RdVEiNlz0YiRezOx7tQIr2XZ16UiW6PJ\n\
YHsaKc+RNq9RJCvEpaY1mflnPXF94c0FK6lSnH5942nCL3yTwMbvSg2WIvePNjV1\n\
ABOH+KEPW+xMXc3qjHtRAZq18SejGXQ4qAx6CiLn7VFhgRygmemhDoX8QRHPRNfj\n\
tCXhuJciHJkUcnWUcSSk2ivp04dM6OHytDXGFaNtL1qz11QEpgIafjSBw5Y5lt2a\n\
/W+02FLcF0H6+Ifi9VOd1O+uICGoNJw8Z7P9rpVnjetI+GhFCdms5Qh3hq1oWB/h\n\
+E6WMECehvhMKOGyEWFONWS/0rXyyWQt8QQrAwIDAQABAoIBABwLZIZRxavYKyfF\n\
fq8fd3HZmjRNbgmmzD3A3TcCzqG2BO9FJNjdYYb4FsbAWHo/aPNKeno81/7Ces7k\n\
fukHmju/F61/SxBqheb/LbDYKkKnDuqpxRDwkWsoFdE5CoewSQ0PaLqFqjpPNUEu\n\
mqGXpTIOyScJzdPDD6oSh4VU7tO7m82oIFIipi4bs8eehty0qb0SlzFS3BM6MkKE\n\
wYfiDu53zWp+G7LbowdwD5XzpYBzuezK9SkkviI9QMTSSF1oLxz6UCa8Awpq8kd5\n\
izTknCxH1mZ0gVHXmFWphSZraGT/ryfmlsJp7K1MMTCBYQONgHpxKBH6ueD3+l6e\n\
rhsSPZECgYEA9y+XT9mg9FZrP0Aflz9KzbfyMgAhHyUhHdRCdDAhMsWj9ENwkv4Z\n\
YH//JYxzzNzxGzdT/W1pBFDazxLbJy1ZwyaPzsCsBmIUKD+kpY3X6M1xgs3ngcuw\n\
DhZV5wT+bmo0j7X0ecbPhDrK1Jh1YfVIgirypHuCL/DnMR4dXmQX5VkCgYEA11ns\n\
rHbUvSr44ujrae7bshSuI9god3+PEJ7GIPozmYYx0AhIXe56VUgCz7K5OJ6qnFD5\n\
CSfSWKDbn7XajmiL+hCVnCH1dn5dTOml3b0a7arVynGO1XFzP+wTWIOpVcNo8Pla\n\
rwkhuKHDGs3L09gteXd1VqhW8AvsYBsZfgcxW7sCgYARiswXO5+jl3p2+6sCRdie\n\
Lt6+U6oGFtF513V732qLuuD+1cZoeCX+5jaKSKRzNn7Z6pxIUPpx9vcAWRs6dYp4\n\
QgVUq/HJZi5+CL47jYx0FhhnKwux922gIk+oXH9eAKWISWZ3OffCL5XzbnpuIEUs\n\
D7Y2nBlKI7OUlcmJyFq1yQKBgQDNHLxc4+3qo0RdM4YN5tBgBGx8fYTFlLxaEzAY\n\
9tYw0u0c/NaYiO0Bz03GL69VK2LK8iDQxJoHimbE7rvVSeSQ8DzfckTOcLtC54Pw\n\
+A3u8vkgEhr+V0lzR9KBSx39LtsEMixabPMuXPxsyjjqdIuTluEvAbWUe3bPbuBP\n\
9l/fwwKBgD/6qOFCdll+OOthtK1Xy8FtihVNI3lKzfiDB6MI4nHSYi2crNJKtWoU\n\
SxlwP4fWYXlIbN3cgAZt2mhJlzkWhHCW+ZMtjQyrqS12IjoU5DBU0v+9BVYefqkn\n\
EDv6hsV3A35cbvk/8oYT+oGJc0vAx/nHgiSxhJleRurvRv+fFvc2\n\
-----END RSA PRIVATE KEY-----\n\
";
const RSA_PKCS8: &str = "-----BEGIN PRIVATE KEY-----\n\
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDP78wmEL12P9zH\n\
oPVF1USI2XPRiJF7M7Hu1AivZdnXpSJbo8lgexopz5E2r1EkK8SlpjWZ+Wc9cX3h\n\
zQUrqVKcfn3jacIvfJPAxu9KDZYi9482NXUAE4f4oQ9b7ExdzeqMe1EBmrXxJ6MZ\n\
dDioDHoKIuftUWGBHKCZ6aEOhfxBEc9E1+O0JeG4lyIcmRRydZRxJKTaK+nTh0zo\n\
4fK0NcYVo20vWrPXVASmAhp+NIHDljmW3Zr9b7TYUtwXQfr4h+L1U53U764gIag0\n\
nDxns/2ulWeN60j4aEUJ2azlCHeGrWhYH+H4TpYwQJ6G+Ewo4bIRYU41ZL/StfLJ\n\
ZC3xBCsDAgMBAAECggEAHAtkhlHFq9grJ8V+rx93cdmaNE1uCabMPcDdNwLOobYE\n\
70Uk2N1hhvgWxsBYej9o80p6ejzX/sJ6zuR+6QeaO78XrX9LEGqF5v8tsNgqQqcO\n\
6qnFEPCRaygV0TkKh7BJDQ9ouoWqOk81QS6aoZelMg7JJwnN08MPqhKHhVTu07ub\n\
zaggUiKmLhuzx56G3LSpvRKXMVLcEzoyQoTBh+IO7nfNan4bstujB3APlfOlgHO5\n\
7Mr1KSS+Ij1AxNJIXWgvHPpQJrwDCmryR3mLNOScLEfWZnSBUdeYVamFJmtoZP+v\n\
J+aWwmnsrUwxMIFhA42AenEoEfq54Pf6Xp6uGxI9kQKBgQD3L5dP2aD0Vms/QB+X\n\
P0rNt/IyACEfJSEd1EJ0MCEyxaP0Q3CS/hlgf/8ljHPM3PEbN1P9bWkEUNrPEtsn\n\
LVnDJo/OwKwGYhQoP6SljdfozXGCzeeBy7AOFlXnBP5uajSPtfR5xs+EOsrUmHVh\n\
9UiCKvKke4Iv8OcxHh1eZBflWQKBgQDXWeysdtS9Kvji6Otp7tuyFK4j2Ch3f48Q\n\
nsYg+jOZhjHQCEhd7npVSALPsrk4nqqcUPkJJ9JYoNuftdqOaIv6EJWcIfV2fl1M\n\
6aXdvRrtqtXKcY7VcXM/7BNYg6lVw2jw+VqvCSG4ocMazcvT2C15d3VWqFbwC+xg\n\
Gxl+BzFbuwKBgBGKzBc7n6OXenb7qwJF2J4u3r5TqgYW0XnXdXvfaou64P7Vxmh4\n\
Jf7mNopIpHM2ftnqnEhQ+nH29wBZGzp1inhCBVSr8clmLn4IvjuNjHQWGGcrC7H3\n\
baAiT6hcf14ApYhJZnc598IvlfNuem4gRSwPtjacGUojs5SVyYnIWrXJAoGBAM0c\n\
vFzj7eqjRF0zhg3m0GAEbHx9hMWUvFoTMBj21jDS7Rz81piI7QHPTcYvr1UrYsry\n\
INDEmgeKZsTuu9VJ5JDwPN9yRM5wu0Lng/D4De7y+SASGv5XSXNH0oFLHf0u2wQy\n\
LFps8y5c/GzKOOp0i5OW4S8BtZR7ds9u4E/2X9/DAoGAP/qo4UJ2WX4462G0rVfL\n\
wW2KFU0jeUrN+IMHowjicdJiLZys0kq1ahRLGXA/h9ZheUhs3dyABm3aaEmXORaE\n\
cJb5ky2NDKupLXYiOhTkMFTS/70FVh5+qScQO/qGxXcDflxu+T/yhhP6gYlzS8DH\n\
+ceCJLGEmV5G6u9G/58W9zY=\n\
-----END PRIVATE KEY-----\n\
";
const EC_SEC1: &str = "-----BEGIN EC PRIVATE KEY-----\n\
MHcCAQEEINELwU+1nBopFpCprG84xEDlNORZMEp8aT0KbO8sC+NaoAoGCCqGSM49\n\
AwEHoUQDQgAEnhXRGhWUYfcIOT5MNnPbykvYHOHLL4mZ3JDoWAWM7tjpigWQXj4B\n\
rEPuuuz9tstlny58FniM3D/5wTtxOReLWw==\n\
-----END EC PRIVATE KEY-----\n\
";
const EC_PKCS8: &str = "-----BEGIN PRIVATE KEY-----\n\
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg0QvBT7WcGikWkKms\n\
bzjEQOU05FkwSnxpPQps7ywL41qhRANCAASeFdEaFZRh9wg5Pkw2c9vKS9gc4csv\n\
iZnckOhYBYzu2OmKBZBePgGsQ+667P22y2WfLnwWeIzcP/nBO3E5F4tb\n\
-----END PRIVATE KEY-----\n\
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_keys_in_every_encoding_cert_manager_writes() {
    let ca = Ca::new("cert-manager");
    let (server, dir, _leaf) = TestServer::ready("encodings", &ca).await;
    // cert-manager's Secret also holds ca.crt; tls.crt may carry the chain.
    std::fs::write(dir.join("ca.crt"), ca.pem()).unwrap();
    let client = HttpsClient::new(&ca, Http::Two);
    let cases = [
        (
            "RSA, PKCS#1",
            ca.issue_for_pem("rsa", RSA_PKCS8),
            RSA_PKCS1.to_owned(),
            false,
        ),
        (
            "ECDSA P-256, SEC1",
            ca.issue_for_pem("ec", EC_PKCS8),
            EC_SEC1.to_owned(),
            false,
        ),
        (
            "RSA, PKCS#8, with the chain",
            ca.issue_for_pem("rsa8", RSA_PKCS8),
            RSA_PKCS8.to_owned(),
            true,
        ),
        (
            "ECDSA P-256, PKCS#8",
            ca.issue("generated"),
            String::new(),
            false,
        ),
    ];
    for (what, leaf, key, chain) in cases {
        let key = if key.is_empty() {
            leaf.key_pem.clone()
        } else {
            key
        };
        let cert = if chain {
            format!("{}{}", leaf.cert_pem, ca.pem())
        } else {
            leaf.cert_pem.clone()
        };
        install(&dir, cert.as_bytes(), key.as_bytes());
        let (addr, root, expected) = (server.webhook, ca.der.clone(), leaf.der.clone());
        wait_for(what, RELOAD_INTERVAL * 30, || {
            let (root, expected) = (root.clone(), expected.clone());
            async move { current_leaf(addr, &[&root]).await.ok() == Some(expected) }
        })
        .await;
        // A fresh connection (the pool's may predate the rotation) completes a request.
        let fresh = HttpsClient::new(&ca, Http::Two);
        assert_still_serving(&fresh, &server).await;
    }
    assert_still_serving(&client, &server).await;
    server.stop().await;
}
