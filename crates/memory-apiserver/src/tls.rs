//! Serving over HTTPS: the server's certificate and key ([`Tls`], or a self-signed pair for
//! 127.0.0.1 from [`Tls::self_signed`]) and a listener for `axum::serve` whose connections
//! are TLS streams. Handshakes run in their own tasks, so a slow or silent client never holds
//! up the accept loop. Only HTTP/1.1 is offered (ALPN), as the server speaks nothing else.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How long a client may take to complete its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The certificate and key an [`crate::ApiServer`] serves HTTPS with.
#[derive(Clone)]
pub struct Tls {
    /// The certificate chain, PEM, leaf first. Clients of [`crate::ApiServer::client`] and the
    /// kubeconfig of [`crate::ApiServer::kubeconfig`] trust every certificate in it: a
    /// self-signed certificate, or a chain that ends with its CA.
    pub cert_pem: Vec<u8>,
    /// The private key of the leaf certificate, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key_pem: Vec<u8>,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("cert_pem", &String::from_utf8_lossy(&self.cert_pem))
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

impl Tls {
    /// A new self-signed certificate (ECDSA P-256) for `127.0.0.1`, `::1` and `localhost`.
    pub fn self_signed() -> Result<Self, String> {
        let names = vec![
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
            "localhost".to_owned(),
        ];
        let certified = rcgen::generate_simple_self_signed(names).map_err(|e| e.to_string())?;
        Ok(Self {
            cert_pem: certified.cert.pem().into_bytes(),
            key_pem: certified.signing_key.serialize_pem().into_bytes(),
        })
    }

    /// The certificates of [`Tls::cert_pem`], DER, leaf first.
    pub fn certificates_der(&self) -> Result<Vec<Vec<u8>>, String> {
        let certificates = CertificateDer::pem_slice_iter(&self.cert_pem)
            .map(|c| {
                c.map(|c| c.to_vec())
                    .map_err(|e| format!("certificate: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if certificates.is_empty() {
            return Err("certificate: no PEM certificate found".to_owned());
        }
        Ok(certificates)
    }

    /// The rustls server configuration: this certificate and key, HTTP/1.1 only.
    pub(crate) fn server_config(&self) -> Result<rustls::ServerConfig, String> {
        let chain = self
            .certificates_der()?
            .into_iter()
            .map(CertificateDer::from)
            .collect();
        let key = PrivateKeyDer::from_pem_slice(&self.key_pem)
            .map_err(|e| format!("private key: {e}"))?;
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("certificate and key: {e}"))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// A listener whose connections are TLS streams whose handshake completed.
pub(crate) struct TlsListener {
    accepted: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl TlsListener {
    /// Accepts on `listener` and completes handshakes with `config` in the background.
    pub(crate) fn new(listener: TcpListener, config: rustls::ServerConfig) -> io::Result<Self> {
        let addr = listener.local_addr()?;
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let (tx, accepted) = mpsc::channel(64);
        let task = tokio::spawn(async move {
            loop {
                let (tcp, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(_) => {
                        // Out of file descriptors and the like: wait, then go on.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp));
                    if let Ok(Ok(stream)) = handshake.await {
                        let _ = tx.send((stream, peer)).await;
                    }
                });
            }
        });
        Ok(Self {
            accepted,
            addr,
            task,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.accepted.recv().await {
            Some(accepted) => accepted,
            // The accept task is gone (only when the listener is dropped): accept no more.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.addr)
    }
}
