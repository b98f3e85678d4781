//! A verdict CI can use: thresholds (`spec.thresholds`) on a run's final numbers
//! ([`super::stats::Stats`]), each missed one named with the value measured. Pure: the
//! controller decides with it once the run has stopped.

use super::stats::Stats;

pub use crate::api::v2::Thresholds;

/// One threshold the run missed.
#[derive(Clone, Debug, PartialEq)]
pub struct Missed {
    /// The threshold's field (`maxFailRatio`, …).
    pub field: &'static str,
    /// Its limit.
    pub limit: f64,
    /// What the run measured (`None`: nothing was measured, e.g. no request at all).
    pub measured: Option<f64>,
}

impl std::fmt::Display for Missed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.measured {
            Some(measured) => write!(
                f,
                "{} {} (measured {})",
                self.field,
                short(self.limit),
                short(measured)
            ),
            None => write!(f, "{} {} (nothing measured)", self.field, short(self.limit)),
        }
    }
}

/// A number without noise: three significant decimals (more below 0.001, so that a small
/// measured ratio never shows as 0), no trailing zeros.
fn short(value: f64) -> String {
    let decimals = if value != 0.0 && value.abs() < 0.001 {
        6
    } else {
        3
    };
    let text = format!("{value:.decimals$}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// The final numbers a verdict is checked against.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Measured {
    /// Requests (none: nothing to measure a ratio or percentile on).
    pub requests: u64,
    /// Failed share of requests, 0 to 1.
    pub fail_ratio: f64,
    /// 95th percentile response time, ms.
    pub p95_ms: Option<f64>,
    /// 99th percentile response time, ms.
    pub p99_ms: Option<f64>,
    /// Average requests per second over the run.
    pub rps: f64,
}

impl From<&Stats> for Measured {
    fn from(stats: &Stats) -> Self {
        Self {
            requests: stats.requests,
            fail_ratio: stats.fail_ratio,
            p95_ms: stats.p95_ms,
            p99_ms: stats.p99_ms,
            rps: stats.avg_rps,
        }
    }
}

impl Thresholds {
    /// Whether any threshold is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Every threshold the numbers miss, in field order; empty when the run passes.
    pub fn check(&self, measured: impl Into<Measured>) -> Vec<Missed> {
        let measured: Measured = measured.into();
        let measured_ratio = (measured.requests > 0).then_some(measured.fail_ratio);
        let checks: [(&'static str, Option<f64>, Option<f64>, bool); 4] = [
            ("maxFailRatio", self.max_fail_ratio, measured_ratio, true),
            ("maxP95Ms", self.max_p95_ms, measured.p95_ms, true),
            ("maxP99Ms", self.max_p99_ms, measured.p99_ms, true),
            ("minRps", self.min_rps, Some(measured.rps), false),
        ];
        checks
            .into_iter()
            .filter_map(|(field, limit, measured, is_max)| {
                let limit = limit?;
                let passes = match measured {
                    Some(value) if is_max => value <= limit,
                    Some(value) => value >= limit,
                    None => false,
                };
                (!passes).then_some(Missed {
                    field,
                    limit,
                    measured,
                })
            })
            .collect()
    }

    /// The rules a threshold must follow, as `(field, message)`: finite, not negative, a ratio
    /// within 0 to 1.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        for (field, value) in [
            ("maxFailRatio", self.max_fail_ratio),
            ("maxP95Ms", self.max_p95_ms),
            ("maxP99Ms", self.max_p99_ms),
            ("minRps", self.min_rps),
        ] {
            let Some(value) = value else { continue };
            if !value.is_finite() || value < 0.0 {
                problems.push((
                    field,
                    format!("must be a number of 0 or more, found {value}"),
                ));
            }
        }
        if let Some(ratio) = self.max_fail_ratio.filter(|r| *r > 1.0) {
            problems.push((
                "maxFailRatio",
                format!("is a share of requests, from 0 to 1, found {ratio}"),
            ));
        }
        if let (Some(p95), Some(p99)) = (self.max_p95_ms, self.max_p99_ms)
            && p99 < p95
        {
            problems.push((
                "maxP99Ms",
                format!(
                    "{p99} is below maxP95Ms {p95}: the 99th percentile is never below the 95th"
                ),
            ));
        }
        problems
    }
}
