//! Certificates: reading whatever the Secret holds into [`SecretFacts`] facts ([`inspect`]), and
//! making the content an [`Action`] calls for ([`execute`]).
//!
//! Generation uses `rcgen` (ECDSA P-256 keys, ring backend); parsing uses `x509-parser` (with
//! ring signature verification, to tell which CA signed the serving certificate), so the
//! decisions work from any Secret content, including content written by someone else. Nothing
//! here panics on bad input: unparsable entries are simply not usable.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData,
};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

use super::rotation::{
    Action, CaFacts, Policy, SecretFacts, ServingFacts, Validity, bundle_members,
};

/// Common name prefix of the CAs the operator makes (`<prefix>@<unix time>-<random>`).
pub const CA_COMMON_NAME: &str = "locust-operator-webhook-ca";

/// The four entries of the certificate Secret, as stored (bytes, any content).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Contents {
    /// `ca.crt`: the CA bundle, PEM; the signing CA first, then older CAs during a rollover.
    pub ca_crt: Vec<u8>,
    /// `ca.key`: the signing CA's private key, PEM (PKCS#8).
    pub ca_key: Vec<u8>,
    /// `tls.crt`: the serving certificate, PEM.
    pub tls_crt: Vec<u8>,
    /// `tls.key`: its private key, PEM (PKCS#8).
    pub tls_key: Vec<u8>,
}

/// Why new certificates could not be made.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// rcgen refused (a bad parameter or key).
    #[error("generating a certificate: {0}")]
    Rcgen(#[from] rcgen::Error),
    /// The action needs a signing CA and the content has none (a decision bug).
    #[error("no signing CA in the Secret for {0:?}")]
    NoSigner(Action),
    /// A time is out of the range certificates can hold.
    #[error("a certificate time is out of range")]
    Time,
}

/// The Secret's content, parsed: the facts the decisions take, and the certificates to build on.
#[derive(Clone, Debug, Default)]
pub struct Inspected {
    /// The facts for [`super::rotation::decide`].
    pub observed: SecretFacts,
    /// PEM of each CA of `observed.cas` (same order).
    ca_pems: Vec<String>,
}

impl Inspected {
    /// The PEM bundle of the CAs at `members` (indices in `observed.cas`), in that order.
    pub fn bundle(&self, members: &[usize]) -> Vec<u8> {
        members
            .iter()
            .filter_map(|&index| self.ca_pems.get(index))
            .flat_map(|pem| pem.bytes())
            .collect()
    }

    /// The bundle to inject at `now` ([`bundle_members`]).
    pub fn current_bundle(&self, now: SystemTime) -> Vec<u8> {
        self.bundle(&bundle_members(&self.observed, now))
    }
}

/// The time of an ASN.1 `Time`.
fn system_time(seconds: i64) -> SystemTime {
    if seconds >= 0 {
        UNIX_EPOCH + Duration::from_secs(seconds.unsigned_abs())
    } else {
        UNIX_EPOCH
            .checked_sub(Duration::from_secs(seconds.unsigned_abs()))
            .unwrap_or(UNIX_EPOCH)
    }
}

fn validity(cert: &X509Certificate<'_>) -> Validity {
    Validity {
        not_before: system_time(cert.validity().not_before.timestamp()),
        not_after: system_time(cert.validity().not_after.timestamp()),
    }
}

/// A DER certificate as PEM (64-character lines).
pub fn pem(der: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in encoded.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// Reads the Secret's content: every CA certificate of `ca.crt` (whether `ca.key` is its key),
/// and the serving pair (validity, which CA signed it, whether it covers `dns_names`).
pub fn inspect(contents: &Contents, dns_names: &[String]) -> Inspected {
    let mut ca_ders: Vec<Vec<u8>> = Vec::new();
    let mut ca_extra = false;
    let mut entries = 0;
    for entry in CertificateDer::pem_slice_iter(&contents.ca_crt) {
        entries += 1;
        let Ok(der) = entry else {
            ca_extra = true;
            break;
        };
        match X509Certificate::from_der(der.as_ref()) {
            Ok((_, cert)) if cert.is_ca() => ca_ders.push(der.as_ref().to_vec()),
            _ => ca_extra = true,
        }
    }
    if entries == 0 && !contents.ca_crt.is_empty() {
        ca_extra = true;
    }
    let ca_key_public = std::str::from_utf8(&contents.ca_key)
        .ok()
        .and_then(|text| KeyPair::from_pem(text).ok())
        .map(|key| key.der_bytes().to_vec());
    let mut cas = Vec::new();
    let mut ca_pems = Vec::new();
    for der in &ca_ders {
        if let Ok((_, cert)) = X509Certificate::from_der(der) {
            let public = &cert.public_key().subject_public_key.data;
            cas.push(CaFacts {
                validity: validity(&cert),
                has_key: ca_key_public
                    .as_deref()
                    .is_some_and(|key| key == public.as_ref()),
            });
            ca_pems.push(pem(der));
        }
    }
    let serving = serving_facts(contents, &ca_ders, dns_names);
    Inspected {
        observed: SecretFacts {
            cas,
            ca_extra,
            serving,
        },
        ca_pems,
    }
}

fn serving_facts(
    contents: &Contents,
    ca_ders: &[Vec<u8>],
    dns_names: &[String],
) -> Option<ServingFacts> {
    // The pair must be one the TLS server accepts: key parses and matches.
    crate::webhook::tls::certified_key(&contents.tls_crt, &contents.tls_key, Path::new("Secret"))
        .ok()?;
    let leaf_der = CertificateDer::pem_slice_iter(&contents.tls_crt)
        .next()?
        .ok()?;
    let (_, leaf) = X509Certificate::from_der(leaf_der.as_ref()).ok()?;
    let names: Vec<&str> = match leaf.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|name| match name {
                GeneralName::DNSName(dns) => Some(*dns),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let names_ok = dns_names
        .iter()
        .all(|wanted| names.iter().any(|name| name.eq_ignore_ascii_case(wanted)));
    let issuer = ca_ders.iter().position(|der| {
        X509Certificate::from_der(der).is_ok_and(|(_, ca)| {
            ca.subject().as_raw() == leaf.issuer().as_raw()
                && leaf.verify_signature(Some(ca.public_key())).is_ok()
        })
    });
    Some(ServingFacts {
        validity: validity(&leaf),
        issuer,
        names_ok,
    })
}

fn offset(at: SystemTime) -> OffsetDateTime {
    OffsetDateTime::from(at)
}

/// A new self-signed CA: `(certificate PEM, key PEM)`.
pub fn new_ca(now: SystemTime, policy: &Policy) -> Result<(String, String), GenerateError> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    let unix = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let mut name = DistinguishedName::new();
    name.push(
        DnType::CommonName,
        format!(
            "{CA_COMMON_NAME}@{unix}-{:08x}",
            (crate::random::random_u64() as u32)
        ),
    );
    params.distinguished_name = name;
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = offset(
        now.checked_sub(policy.backdate)
            .ok_or(GenerateError::Time)?,
    );
    params.not_after = offset(
        now.checked_add(policy.ca_validity)
            .ok_or(GenerateError::Time)?,
    );
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// A new serving certificate for `dns_names` signed by the CA `ca_pem`/`ca_key_pem`, valid
/// for [`Policy::serving_validity`] but never beyond `ca_not_after`: `(certificate PEM, key PEM)`.
pub fn new_serving(
    ca_pem: &str,
    ca_key_pem: &str,
    ca_not_after: SystemTime,
    dns_names: &[String],
    now: SystemTime,
    policy: &Policy,
) -> Result<(String, String), GenerateError> {
    let issuer = Issuer::from_ca_cert_pem(ca_pem, KeyPair::from_pem(ca_key_pem)?)?;
    let mut params = CertificateParams::new(dns_names.to_vec())?;
    let mut name = DistinguishedName::new();
    // The name the API server verifies: <service>.<namespace>.svc.
    let common_name = dns_names
        .get(2)
        .or_else(|| dns_names.first())
        .cloned()
        .unwrap_or_default();
    name.push(DnType::CommonName, common_name);
    params.distinguished_name = name;
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = offset(
        now.checked_sub(policy.backdate)
            .ok_or(GenerateError::Time)?,
    );
    let not_after = now
        .checked_add(policy.serving_validity)
        .ok_or(GenerateError::Time)?
        .min(ca_not_after);
    params.not_after = offset(not_after);
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// The Secret content `action` calls for, from the `current` content (with its inspection).
/// `None` for [`Action::Keep`].
pub fn execute(
    action: Action,
    current: Option<(&Contents, &Inspected)>,
    dns_names: &[String],
    now: SystemTime,
    policy: &Policy,
) -> Result<Option<Contents>, GenerateError> {
    let empty = (Contents::default(), Inspected::default());
    let (contents, inspected) = current.unwrap_or((&empty.0, &empty.1));
    let observed = &inspected.observed;
    // Still-valid CAs stay in the bundle behind a new one.
    let valid_olds: Vec<usize> = bundle_members(observed, now);
    let fresh = |policy: &Policy| -> Result<Contents, GenerateError> {
        let (ca_pem, ca_key) = new_ca(now, policy)?;
        let ca_not_after = now
            .checked_add(policy.ca_validity)
            .ok_or(GenerateError::Time)?;
        let (tls_crt, tls_key) =
            new_serving(&ca_pem, &ca_key, ca_not_after, dns_names, now, policy)?;
        let mut ca_crt = ca_pem.into_bytes();
        ca_crt.extend(inspected.bundle(&valid_olds));
        Ok(Contents {
            ca_crt,
            ca_key: ca_key.into_bytes(),
            tls_crt: tls_crt.into_bytes(),
            tls_key: tls_key.into_bytes(),
        })
    };
    let signer = || {
        super::rotation::signer(observed, now)
            .and_then(|index| Some((index, inspected.ca_pems.get(index)?, observed.cas[index])))
            .ok_or(GenerateError::NoSigner(action))
    };
    let next = match action {
        Action::Keep => return Ok(None),
        Action::Create | Action::Replace(_) => fresh(policy)?,
        Action::AddCa(_) => {
            let (ca_pem, ca_key) = new_ca(now, policy)?;
            let mut ca_crt = ca_pem.into_bytes();
            ca_crt.extend(inspected.bundle(&valid_olds));
            Contents {
                ca_crt,
                ca_key: ca_key.into_bytes(),
                ..contents.clone()
            }
        }
        Action::IssueServing(_) => {
            let (index, ca_pem, ca) = signer()?;
            let ca_key = String::from_utf8_lossy(&contents.ca_key);
            let (tls_crt, tls_key) = new_serving(
                ca_pem,
                &ca_key,
                ca.validity.not_after,
                dns_names,
                now,
                policy,
            )?;
            let order: Vec<usize> = std::iter::once(index)
                .chain(valid_olds.iter().copied().filter(|&other| other != index))
                .collect();
            Contents {
                ca_crt: inspected.bundle(&order),
                ca_key: contents.ca_key.clone(),
                tls_crt: tls_crt.into_bytes(),
                tls_key: tls_key.into_bytes(),
            }
        }
        Action::TrimBundle => {
            let (index, _, _) = signer()?;
            Contents {
                ca_crt: inspected.bundle(&[index]),
                ..contents.clone()
            }
        }
    };
    Ok(Some(next))
}
