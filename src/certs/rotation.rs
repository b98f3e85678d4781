//! The decisions of the self-managed certificates, as pure functions of what the Secret holds
//! ([`SecretFacts`]), the time and the [`Policy`]: whether to create, replace, rotate or roll
//! over, and which CAs make up the bundle the API servers trust. No I/O, no crypto: the
//! certificates are reduced to facts (validity, which CA signed what, whether a key is there)
//! by [`super::generate::inspect`], so every rule here is table-tested with plain values.
//!
//! The rules, in order:
//! 1. No Secret: create one (a new CA and a serving certificate it signed).
//! 2. No healthy CA (none whose key is `ca.key`, or it expires within
//!    [`Policy::ca_renew_before`]):
//!    - while the current serving certificate still works, start a **rollover**: a new CA goes
//!      first in `ca.crt` (its key into `ca.key`), the old CAs stay in the bundle, and the
//!      serving certificate is kept for now, so nothing served stops being trusted;
//!    - otherwise nothing works anyway: **replace** everything.
//! 3. A healthy CA but no working serving certificate (missing, unparsable, wrong key, expired,
//!    wrong DNS names, signed by no CA of the bundle): issue one.
//! 4. The serving certificate was signed by an older CA (a rollover is under way): switch to a
//!    certificate of the new CA once the new CA has been in the bundle for
//!    [`Policy::propagation`] and this replica has seen the bundle injected everywhere.
//! 5. Less than 1/[`Policy::serving_renew_divisor`] of the serving certificate's lifetime is
//!    left: issue a new one from the same CA (the bundle does not change).
//! 6. The bundle holds more than the current CA (or entries that are not CA certificates):
//!    once the serving certificate of the current CA has been in the Secret for
//!    [`Policy::propagation`] (every replica serves it by then), trim the bundle to that CA.
//! 7. Otherwise keep everything, and look again when the next of these times comes.

use std::fmt;
use std::time::{Duration, SystemTime};

const DAY: Duration = Duration::from_secs(24 * 60 * 60);
const YEAR: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// When certificates are made and renewed. [`Policy::default`] is what the operator runs
/// with; tests shorten every period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Validity of a new CA.
    pub ca_validity: Duration,
    /// A CA with less than this left is replaced by a new one (a rollover).
    pub ca_renew_before: Duration,
    /// Validity of a new serving certificate (never beyond the end of its CA).
    pub serving_validity: Duration,
    /// A serving certificate is renewed when less than 1/`serving_renew_divisor` of its
    /// lifetime is left.
    pub serving_renew_divisor: u32,
    /// How long a new CA must have been in the bundle before the serving certificate switches
    /// to it (the API servers pick up changed webhook configurations and CRDs
    /// asynchronously), and how long a new serving certificate must have been in the Secret
    /// before older CAs leave the bundle (every replica re-reads the Secret every
    /// `--cert-reload-interval`).
    pub propagation: Duration,
    /// New certificates start this long before they are made, so that an API server whose
    /// clock is behind ours accepts them at once.
    pub backdate: Duration,
}

impl Default for Policy {
    /// A CA for 5 years, replaced when less than 1 year is left; serving certificates for
    /// 1 year, renewed when less than a third (about 4 months) is left; 5 minutes of
    /// propagation; 1 hour of backdating.
    fn default() -> Self {
        Self {
            ca_validity: 5 * YEAR,
            ca_renew_before: YEAR,
            serving_validity: YEAR,
            serving_renew_divisor: 3,
            propagation: Duration::from_secs(5 * 60),
            backdate: Duration::from_secs(60 * 60),
        }
    }
}

/// A rule that a [`Policy`] breaks (each would make the manager rewrite the Secret forever).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// A validity is zero.
    #[error("certificate validities must be greater than zero")]
    ZeroValidity,
    /// `ca_renew_before` is not shorter than `ca_validity`.
    #[error("ca_renew_before ({0:?}) must be shorter than ca_validity ({1:?})")]
    CaRenewal(Duration, Duration),
    /// `serving_renew_divisor` is below 2.
    #[error("serving_renew_divisor must be at least 2, not {0}")]
    Divisor(u32),
    /// `propagation` does not fit in the renewal windows.
    #[error(
        "propagation ({0:?}) must be shorter than the serving certificate's renewal window and than ca_renew_before"
    )]
    Propagation(Duration),
    /// A new CA would be due for renewal at once.
    #[error("serving_validity must not exceed ca_validity - ca_renew_before")]
    ServingOutlivesCa,
}

impl Policy {
    /// Checks that the periods fit together.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.ca_validity.is_zero() || self.serving_validity.is_zero() {
            return Err(PolicyError::ZeroValidity);
        }
        if self.ca_renew_before >= self.ca_validity {
            return Err(PolicyError::CaRenewal(
                self.ca_renew_before,
                self.ca_validity,
            ));
        }
        if self.serving_renew_divisor < 2 {
            return Err(PolicyError::Divisor(self.serving_renew_divisor));
        }
        if self.serving_validity > self.ca_validity - self.ca_renew_before {
            return Err(PolicyError::ServingOutlivesCa);
        }
        let window = self.serving_validity / self.serving_renew_divisor;
        if self.propagation >= window || self.propagation >= self.ca_renew_before {
            return Err(PolicyError::Propagation(self.propagation));
        }
        Ok(())
    }

    /// The DNS names `<service>`, `<service>.<namespace>`, `<service>.<namespace>.svc` and
    /// `<service>.<namespace>.svc.cluster.local` of the webhook Service: the serving
    /// certificate's subject alternative names (the API server verifies
    /// `<service>.<namespace>.svc`).
    pub fn dns_names(service: &str, namespace: &str) -> Vec<String> {
        vec![
            service.to_owned(),
            format!("{service}.{namespace}"),
            format!("{service}.{namespace}.svc"),
            format!("{service}.{namespace}.svc.cluster.local"),
        ]
    }
}

/// The validity period of a certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    /// `notBefore`.
    pub not_before: SystemTime,
    /// `notAfter`.
    pub not_after: SystemTime,
}

impl Validity {
    /// Whether the certificate is valid at `now`.
    pub fn contains(&self, now: SystemTime) -> bool {
        self.not_before <= now && now < self.not_after
    }

    /// Whether the certificate has expired at `now`.
    pub fn expired(&self, now: SystemTime) -> bool {
        now >= self.not_after
    }

    /// Time left at `now` (zero once expired).
    pub fn remaining(&self, now: SystemTime) -> Duration {
        self.not_after.duration_since(now).unwrap_or(Duration::ZERO)
    }

    /// `notAfter - notBefore`.
    pub fn lifetime(&self) -> Duration {
        self.not_after
            .duration_since(self.not_before)
            .unwrap_or(Duration::ZERO)
    }

    /// When the certificate was made, as far as it tells: `notBefore + backdate` (the
    /// operator backdates what it makes by that much), but never later than `now`.
    pub fn issued(&self, backdate: Duration, now: SystemTime) -> SystemTime {
        self.not_before
            .checked_add(backdate)
            .map_or(now, |issued| issued.min(now))
    }
}

/// A CA certificate of `ca.crt`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CaFacts {
    /// Its validity.
    pub validity: Validity,
    /// `ca.key` is its private key (it can sign).
    pub has_key: bool,
}

/// The serving certificate of `tls.crt` and `tls.key` (only when they are a usable pair).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServingFacts {
    /// Its validity.
    pub validity: Validity,
    /// Index in [`SecretFacts::cas`] of the CA that signed it, if any does.
    pub issuer: Option<usize>,
    /// It covers every DNS name of the webhook Service.
    pub names_ok: bool,
}

/// What the Secret holds, reduced to what the decisions need.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecretFacts {
    /// The CA certificates of `ca.crt`, in order (entries that are not parsable CA
    /// certificates are left out).
    pub cas: Vec<CaFacts>,
    /// `ca.crt` also holds something that is not a CA certificate (to clean up).
    pub ca_extra: bool,
    /// The serving certificate, when `tls.crt` and `tls.key` are a usable pair.
    pub serving: Option<ServingFacts>,
}

/// Why a certificate is (re)made; logged with the action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    /// No CA certificate whose key is `ca.key`, or it has expired.
    NoCa,
    /// The CA expires within [`Policy::ca_renew_before`].
    CaExpiring,
    /// `tls.crt`/`tls.key` are missing, unparsable or do not match.
    ServingMissing,
    /// The serving certificate is expired or not yet valid.
    ServingExpired,
    /// The serving certificate is signed by no valid CA of the bundle.
    ServingUntrusted,
    /// The serving certificate does not cover the webhook Service's DNS names.
    ServingNames,
    /// Less than 1/[`Policy::serving_renew_divisor`] of its lifetime is left.
    ServingExpiring,
    /// It was signed by the previous CA, and the new one has propagated.
    NewCa,
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NoCa => "no usable CA (ca.crt and ca.key missing, unparsable, mismatched or expired)",
            Self::CaExpiring => "the CA expires soon",
            Self::ServingMissing => {
                "no usable serving certificate (tls.crt and tls.key missing, unparsable or mismatched)"
            }
            Self::ServingExpired => "the serving certificate is expired or not yet valid",
            Self::ServingUntrusted => "the serving certificate is not signed by a valid CA of the bundle",
            Self::ServingNames => {
                "the serving certificate does not cover the webhook Service's DNS names"
            }
            Self::ServingExpiring => "the serving certificate expires soon",
            Self::NewCa => "the new CA has propagated; switching the serving certificate to it",
        })
    }
}

/// What to write to the Secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing.
    Keep,
    /// Create the Secret: a new CA and a serving certificate it signed.
    Create,
    /// Replace the content: a new CA first in `ca.crt` (still-valid old CAs after it) and a
    /// serving certificate it signed.
    Replace(Why),
    /// Start a rollover: a new CA first in `ca.crt` (still-valid old CAs after it), its key in
    /// `ca.key`; the serving certificate stays.
    AddCa(Why),
    /// A new serving certificate from the signing CA (the one whose key is `ca.key`), which
    /// goes first in `ca.crt`.
    IssueServing(Why),
    /// `ca.crt` keeps only the signing CA.
    TrimBundle,
}

/// A decision: the action, and when to look again if nothing is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// What to write.
    pub action: Action,
    /// With [`Action::Keep`]: the earliest time the decision may change (a renewal or
    /// propagation deadline). `None` after a write (decide again on the written content).
    pub recheck_at: Option<SystemTime>,
}

impl Verdict {
    fn write(action: Action) -> Self {
        Self {
            action,
            recheck_at: None,
        }
    }

    fn keep(at: SystemTime) -> Self {
        Self {
            action: Action::Keep,
            recheck_at: Some(at),
        }
    }
}

/// Index of the signing CA: the first valid CA whose key is `ca.key`.
pub fn signer(observed: &SecretFacts, now: SystemTime) -> Option<usize> {
    observed
        .cas
        .iter()
        .position(|ca| ca.has_key && ca.validity.contains(now))
}

/// The CAs that make up the bundle injected into the API server's configurations: every CA
/// of `ca.crt` that has not expired, in order (the signing CA first, as written).
pub fn bundle_members(observed: &SecretFacts, now: SystemTime) -> Vec<usize> {
    observed
        .cas
        .iter()
        .enumerate()
        .filter(|(_, ca)| !ca.validity.expired(now))
        .map(|(index, _)| index)
        .collect()
}

/// Whether the serving certificate works at `now`: valid, for the right names, signed by a
/// valid CA of the bundle. The reason when it does not.
pub fn serving_problem(observed: &SecretFacts, now: SystemTime) -> Option<Why> {
    let Some(serving) = observed.serving else {
        return Some(Why::ServingMissing);
    };
    if !serving.validity.contains(now) {
        return Some(Why::ServingExpired);
    }
    let trusted = serving
        .issuer
        .and_then(|index| observed.cas.get(index))
        .is_some_and(|ca| ca.validity.contains(now));
    if !trusted {
        return Some(Why::ServingUntrusted);
    }
    if !serving.names_ok {
        return Some(Why::ServingNames);
    }
    None
}

/// The decision (see the module documentation). `observed` is `None` when there is no
/// Secret; `bundle_injected` says whether this replica has seen the current bundle (see
/// [`bundle_members`]) in every installed webhook configuration and the CRD.
pub fn decide(
    observed: Option<&SecretFacts>,
    now: SystemTime,
    policy: &Policy,
    bundle_injected: bool,
) -> Verdict {
    let Some(observed) = observed else {
        return Verdict::write(Action::Create);
    };
    let serving = serving_problem(observed, now);
    let signer = signer(observed, now);
    let healthy = signer
        .filter(|&index| observed.cas[index].validity.remaining(now) > policy.ca_renew_before);
    let Some(current) = healthy else {
        let why = if signer.is_some() {
            Why::CaExpiring
        } else {
            Why::NoCa
        };
        return Verdict::write(match serving {
            None => Action::AddCa(why),
            Some(_) => Action::Replace(why),
        });
    };
    let (Some(cert), None) = (observed.serving, serving) else {
        return Verdict::write(Action::IssueServing(serving.unwrap_or(Why::ServingMissing)));
    };
    let ca = observed.cas[current];
    // A rollover under way: switch once the new CA is trusted everywhere.
    if cert.issuer != Some(current) {
        let ready = ca
            .validity
            .issued(policy.backdate, now)
            .checked_add(policy.propagation)
            .unwrap_or(now);
        if now >= ready && bundle_injected {
            return Verdict::write(Action::IssueServing(Why::NewCa));
        }
        // Not injected yet: the next pass injects; look again soon after.
        return Verdict::keep(ready.max(now));
    }
    let renew_serving = cert
        .validity
        .not_after
        .checked_sub(cert.validity.lifetime() / policy.serving_renew_divisor)
        .unwrap_or(cert.validity.not_before);
    if now >= renew_serving {
        return Verdict::write(Action::IssueServing(Why::ServingExpiring));
    }
    let renew_ca = ca
        .validity
        .not_after
        .checked_sub(policy.ca_renew_before)
        .unwrap_or(now);
    let mut recheck = renew_serving.min(renew_ca);
    if observed.cas.len() > 1 || observed.ca_extra {
        let switched = cert
            .validity
            .issued(policy.backdate, now)
            .checked_add(policy.propagation)
            .unwrap_or(now);
        if now >= switched {
            return Verdict::write(Action::TrimBundle);
        }
        recheck = recheck.min(switched);
    }
    // Expired CAs leave the bundle when they expire.
    if let Some(expiry) = observed
        .cas
        .iter()
        .map(|ca| ca.validity.not_after)
        .filter(|&at| at > now)
        .min()
    {
        recheck = recheck.min(expiry);
    }
    Verdict::keep(recheck)
}

/// A short, human form of a duration for logs (`4y 30d`, `3d 4h`, `5m`, `12s`).
pub fn human(duration: Duration) -> String {
    let secs = duration.as_secs();
    let (years, days) = (
        secs / YEAR.as_secs(),
        (secs % YEAR.as_secs()) / DAY.as_secs(),
    );
    let (hours, minutes) = ((secs % DAY.as_secs()) / 3600, (secs % 3600) / 60);
    match (years, days, hours, minutes) {
        (0, 0, 0, 0) => format!("{secs}s"),
        (0, 0, 0, m) => format!("{m}m"),
        (0, 0, h, m) => format!("{h}h {m}m"),
        (0, d, h, _) => format!("{d}d {h}h"),
        (y, d, _, _) => format!("{y}y {d}d"),
    }
}
