//! The serving certificate: read from `<dir>/tls.crt` and `<dir>/tls.key` (the layout of a
//! mounted cert-manager Secret), served through a rustls resolver that can be swapped at any
//! time, and reloaded by polling the files. With self-managed certificates (`crate::certs`)
//! the same resolver is fed from memory instead ([`ReloadingCert::set_pem`]).
//!
//! Secret volumes are updated by swapping a symlink, which inotify on the file paths misses,
//! so the files are re-read every `interval` and compared byte for byte. A pair that does not
//! parse (for example a key written before its certificate) is ignored and the previous one
//! keeps serving; until a first valid pair exists, handshakes fail and the server is not ready.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// File name of the certificate chain in the certificate directory.
pub const CERT_FILE: &str = "tls.crt";
/// File name of the private key in the certificate directory.
pub const KEY_FILE: &str = "tls.key";

/// Why a certificate pair cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The certificate file holds no PEM certificate.
    #[error("{0}: no PEM certificate found")]
    NoCertificate(PathBuf),
    /// The key file holds no usable PEM private key.
    #[error("{path}: no usable PEM private key: {reason}")]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The key does not belong to the certificate.
    #[error("{0}: the private key does not match the certificate")]
    Mismatch(PathBuf),
}

/// The ring crypto provider: the only one this binary links for its server (rustls panics
/// when it must choose between two).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Parses a PEM certificate chain and private key into a signing identity.
pub fn certified_key(
    cert_pem: &[u8],
    key_pem: &[u8],
    dir: &Path,
) -> Result<CertifiedKey, CertError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .filter_map(Result::ok)
        .collect();
    if chain.is_empty() {
        return Err(CertError::NoCertificate(dir.join(CERT_FILE)));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| CertError::Key {
        path: dir.join(KEY_FILE),
        reason: e.to_string(),
    })?;
    let signing_key =
        provider()
            .key_provider
            .load_private_key(key)
            .map_err(|e| CertError::Key {
                path: dir.join(KEY_FILE),
                reason: e.to_string(),
            })?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        Ok(()) => Ok(certified),
        // Keys whose public half cannot be derived cannot be checked: accept them.
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(certified),
        Err(_) => Err(CertError::Mismatch(dir.join(KEY_FILE))),
    }
}

/// Serves whatever certificate is current; `None` until a valid pair has been loaded.
#[derive(Debug, Default)]
pub struct ReloadingCert {
    current: ArcSwapOption<CertifiedKey>,
}

impl ReloadingCert {
    /// Whether a certificate is loaded (the server is ready).
    pub fn is_loaded(&self) -> bool {
        self.current.load().is_some()
    }

    /// Replaces the served certificate.
    pub fn set(&self, key: CertifiedKey) {
        self.current.store(Some(Arc::new(key)));
    }

    /// Serves a PEM certificate chain and private key held in memory (no files), e.g. read
    /// from a Secret; `origin` names them in errors (`Secret ns/name`). A pair that does not
    /// parse, or whose key does not match, is refused and the current one keeps serving.
    pub fn set_pem(&self, cert_pem: &[u8], key_pem: &[u8], origin: &str) -> Result<(), CertError> {
        let key = certified_key(cert_pem, key_pem, Path::new(origin))?;
        self.set(key);
        Ok(())
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.load_full()
    }
}

/// Watches a certificate directory and feeds [`ReloadingCert`].
pub struct CertWatcher {
    dir: PathBuf,
    cert: Arc<ReloadingCert>,
    last: Option<(Vec<u8>, Vec<u8>)>,
}

impl CertWatcher {
    /// A watcher of `dir` feeding `cert`.
    pub fn new(dir: PathBuf, cert: Arc<ReloadingCert>) -> Self {
        Self {
            dir,
            cert,
            last: None,
        }
    }

    /// Reads the files once; installs the pair when it changed and is valid.
    /// Returns `Ok(true)` when a new certificate was installed.
    pub fn poll(&mut self) -> Result<bool, CertError> {
        let read = |name: &str| {
            let path = self.dir.join(name);
            std::fs::read(&path).map_err(|source| CertError::Read { path, source })
        };
        let pair = (read(CERT_FILE)?, read(KEY_FILE)?);
        if self.last.as_ref() == Some(&pair) {
            return Ok(false);
        }
        let key = certified_key(&pair.0, &pair.1, &self.dir)?;
        self.cert.set(key);
        self.last = Some(pair);
        Ok(true)
    }

    /// Polls every `interval` until `stop` resolves, logging each change and each error once.
    pub async fn run(mut self, interval: Duration, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        let mut last_error = String::new();
        loop {
            match self.poll() {
                Ok(true) => {
                    tracing::info!(dir = %self.dir.display(), "loaded the webhook serving certificate");
                    last_error.clear();
                }
                Ok(false) => {}
                Err(error) => {
                    let text = error.to_string();
                    if text != last_error {
                        if self.cert.is_loaded() {
                            tracing::warn!(%error, "new webhook certificate unusable; still serving the previous one");
                        } else {
                            tracing::warn!(%error, "no usable webhook certificate yet; not ready");
                        }
                        last_error = text;
                    }
                }
            }
            tokio::select! {
                () = &mut stop => return,
                () = tokio::time::sleep(interval) => {}
            }
        }
    }
}

/// A rustls server configuration (TLS 1.2 and 1.3, ALPN h2 and http/1.1) serving `cert`.
pub fn server_config(cert: Arc<ReloadingCert>) -> Result<rustls::ServerConfig, rustls::Error> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_cert_resolver(cert);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}
