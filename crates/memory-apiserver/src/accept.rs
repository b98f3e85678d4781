//! Content negotiation on the `Accept` header, as far as the API server varies its answers:
//! aggregated discovery (`as=APIGroupDiscoveryList`) and server-side printing (`as=Table`).
//! Protobuf is never served: a client that also accepts JSON (every client does) gets JSON.

use axum::http::{HeaderMap, header};

/// One media range of an `Accept` header: `type/subtype` and its parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
struct MediaRange {
    mime: String,
    params: Vec<(String, String)>,
}

impl MediaRange {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `application/json;as=<kind>;g=<group>;v=<version>` for a version in `versions`.
    fn names(&self, kind: &str, group: &str, versions: &[&'static str]) -> Option<&'static str> {
        if self.mime != "application/json"
            || self.param("as") != Some(kind)
            || self.param("g") != Some(group)
        {
            return None;
        }
        let version = self.param("v")?;
        versions.iter().copied().find(|v| *v == version)
    }
}

/// The media ranges of the request's `Accept` headers, in the client's order.
fn ranges(headers: &HeaderMap) -> Vec<MediaRange> {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|range| {
            let mut parts = range.split(';');
            let mime = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let params = parts
                .filter_map(|p| {
                    let (k, v) = p.split_once('=')?;
                    Some((k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
                })
                .collect();
            MediaRange { mime, params }
        })
        .collect()
}

/// The first of the client's ranges that asks for `kind` of `group` in one of `versions`.
fn first(
    headers: &HeaderMap,
    kind: &str,
    group: &str,
    versions: &[&'static str],
) -> Option<&'static str> {
    ranges(headers)
        .iter()
        .find_map(|r| r.names(kind, group, versions))
}

/// The aggregated discovery version asked for (`v2` or `v2beta1`), if any.
pub fn aggregated_discovery(headers: &HeaderMap) -> Option<&'static str> {
    first(
        headers,
        "APIGroupDiscoveryList",
        "apidiscovery.k8s.io",
        &["v2", "v2beta1"],
    )
}

/// The `meta.k8s.io` Table version asked for (`v1` or `v1beta1`), if any.
pub fn table(headers: &HeaderMap) -> Option<&'static str> {
    first(headers, "Table", "meta.k8s.io", &["v1", "v1beta1"])
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn accept(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn kubectls_accept_headers_are_understood() {
        let discovery = accept(
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json",
        );
        assert_eq!(aggregated_discovery(&discovery), Some("v2"));
        assert_eq!(table(&discovery), None);
        let get = accept(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json",
        );
        assert_eq!(table(&get), Some("v1"));
        assert_eq!(aggregated_discovery(&get), None);
        let beta = accept("application/json;as=Table;v=v1beta1;g=meta.k8s.io");
        assert_eq!(table(&beta), Some("v1beta1"));
        for plain in [
            "application/json",
            "application/vnd.kubernetes.protobuf,application/json",
            "application/json, */*",
        ] {
            assert_eq!(table(&accept(plain)), None);
            assert_eq!(aggregated_discovery(&accept(plain)), None);
        }
    }
}
