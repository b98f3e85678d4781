//! Replays the HTTP exchanges recorded from a real kube-apiserver v1.32 with
//! kube-controller-manager (`tests/fixtures/apiserver-http`, see its README) against the harness,
//! with its Job controller, and compares the answers.
//!
//! The fixtures form one session in namespace `http-capture`. They are replayed in file-name
//! order by two tests that run in parallel, each on a fresh harness: `session` (00 to 12g, then
//! 14) and `foreground_delete_watches` (00, the unrecorded setup of LocustTest t2, 13a to 13e
//! while the four watches run, then 14). 13b to 13e need their own 8 s watch window and depend
//! only on t2, so running them apart keeps the wall time near 8 s instead of 13 s.
//! `every_fixture_is_replayed` checks that the two together cover every file.
//!
//! Every request is sent as recorded: method, path with query, `Accept`/`Content-Type` and
//! body, plus `User-Agent: curl/7.88.1` (the README says curl made the recording; the server
//! names the field manager after it, which is why managedFields say `curl`). Values the real
//! server generated (uids, resourceVersions, generated names, clusterIPs) are translated from
//! the recorded values to the harness's in requests, and compared through the same mapping in
//! responses:
//! - uids must map one to one (a recorded uid always stands for the same harness uid);
//! - resourceVersions must keep their order: recorded `a < b` iff harness `a' < b'`, and equal
//!   recorded values (a no-op write, a GET right after a write, a list right after a write) are
//!   equal in the harness too;
//! - timestamps only need to be timestamps (unless the request itself carried them);
//! - managedFields entries are matched by manager/operation/subresource, with apiVersion,
//!   fieldsType and the owned field paths compared (list items collapsed to the list, since the
//!   harness tracks lists atomically);
//! - JSON key order is compared too (custom resources alphabetical, built-ins in Go struct order).
//!
//! What the recording's Job controller did (pods, their finalizers, Job status) the harness's
//! own Job controller does: the replay waits for it where the recording shows its result
//! (pods of a Job bind to the recorded ones in creation order) and never writes a Job's pods
//! or status itself. Setup the recording did not capture (Jobs t1-orphan-demo and bg-demo,
//! LocustTests t2 and t3) is recreated from what the fixtures show of those objects.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use k8s_openapi::api::batch::v1::{Job, JobStatus};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::ListParams;
use memory_apiserver::ApiServer;
use regex::Regex;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

const NAMESPACE: &str = "http-capture";
/// Upper bound of one plain request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a "some seconds later" fixture (GC results) may take to become true.
const EVENTUALLY: Duration = Duration::from_secs(5);

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/apiserver-http")
}

// ---- order-preserving JSON ------------------------------------------------------------------

/// A JSON value that keeps object keys in the order they were written.
#[derive(Clone, Debug, PartialEq)]
enum J {
    Null,
    Bool(bool),
    Num(serde_json::Number),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl<'de> Deserialize<'de> for J {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = J;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("JSON")
            }
            fn visit_unit<E>(self) -> Result<J, E> {
                Ok(J::Null)
            }
            fn visit_none<E>(self) -> Result<J, E> {
                Ok(J::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<J, D::Error> {
                J::deserialize(d)
            }
            fn visit_bool<E>(self, b: bool) -> Result<J, E> {
                Ok(J::Bool(b))
            }
            fn visit_i64<E>(self, n: i64) -> Result<J, E> {
                Ok(J::Num(n.into()))
            }
            fn visit_u64<E>(self, n: u64) -> Result<J, E> {
                Ok(J::Num(n.into()))
            }
            fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<J, E> {
                serde_json::Number::from_f64(n)
                    .map(J::Num)
                    .ok_or_else(|| E::custom("not a JSON number"))
            }
            fn visit_str<E>(self, s: &str) -> Result<J, E> {
                Ok(J::Str(s.to_owned()))
            }
            fn visit_string<E>(self, s: String) -> Result<J, E> {
                Ok(J::Str(s))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<J, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(J::Arr(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<J, A::Error> {
                let mut entries = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, J>()? {
                    entries.push((key, value));
                }
                Ok(J::Obj(entries))
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl Serialize for J {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            J::Null => serializer.serialize_unit(),
            J::Bool(b) => serializer.serialize_bool(*b),
            J::Num(n) => n.serialize(serializer),
            J::Str(s) => serializer.serialize_str(s),
            J::Arr(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            J::Obj(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl fmt::Display for J {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let text = serde_json::to_string(self).unwrap_or_default();
        if text.len() > 400 {
            write!(f, "{}…", &text[..text.floor_char_boundary(400)])
        } else {
            f.write_str(&text)
        }
    }
}

impl J {
    fn parse(bytes: &[u8]) -> Result<J, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    fn get(&self, key: &str) -> Option<&J> {
        match self {
            J::Obj(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn at(&self, path: &[&str]) -> Option<&J> {
        path.iter().try_fold(self, |v, key| v.get(key))
    }

    fn str_at(&self, path: &[&str]) -> Option<&str> {
        self.at(path).and_then(J::as_str)
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            J::Str(s) => Some(s),
            _ => None,
        }
    }

    fn as_arr(&self) -> &[J] {
        match self {
            J::Arr(items) => items,
            _ => &[],
        }
    }

    fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap()
    }

    /// Every string in the value (to know which values a request carried).
    fn strings(&self, out: &mut BTreeSet<String>) {
        match self {
            J::Str(s) => {
                out.insert(s.clone());
            }
            J::Arr(items) => items.iter().for_each(|i| i.strings(out)),
            J::Obj(entries) => entries.iter().for_each(|(_, v)| v.strings(out)),
            _ => {}
        }
    }
}

// ---- fixtures -----------------------------------------------------------------------------

/// One recorded exchange.
#[derive(Clone, Debug)]
struct Fixture {
    name: String,
    method: String,
    path: String,
    accept: Option<String>,
    content_type: Option<String>,
    body: J,
    status: u16,
    headers: BTreeMap<String, String>,
    response: J,
    raw: J,
}

/// The recording's API server is OpenShift's build: its pods' projected service-account
/// volume has a fourth source, `openshift-service-ca.crt` (README). Upstream has three.
fn upstream(value: &J) -> J {
    match value {
        J::Arr(items) => J::Arr(
            items
                .iter()
                .filter(|i| i.str_at(&["configMap", "name"]) != Some("openshift-service-ca.crt"))
                .map(upstream)
                .collect(),
        ),
        J::Obj(entries) => J::Obj(
            entries
                .iter()
                .map(|(k, v)| (k.clone(), upstream(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn load(name: &str) -> Fixture {
    let path = fixture_dir().join(format!("{name}.json"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let raw = upstream(&J::parse(&bytes).unwrap());
    let request = raw.get("request").unwrap();
    let response = raw.get("response").unwrap();
    let header = |name: &str| request.str_at(&["headers", name]).map(str::to_owned);
    let headers = match response.get("headers") {
        Some(J::Obj(entries)) => entries
            .iter()
            .map(|(k, v)| {
                (
                    k.to_ascii_lowercase(),
                    v.as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
        _ => BTreeMap::new(),
    };
    let status = match response.get("status") {
        Some(J::Num(n)) => u16::try_from(n.as_u64().unwrap()).unwrap(),
        other => panic!("{name}: status {other:?}"),
    };
    Fixture {
        name: name.to_owned(),
        method: request.str_at(&["method"]).unwrap().to_owned(),
        path: request.str_at(&["path"]).unwrap().to_owned(),
        accept: header("Accept"),
        content_type: header("Content-Type"),
        body: request.get("body").cloned().unwrap_or(J::Null),
        status,
        headers,
        response: response.get("body").cloned().unwrap_or(J::Null),
        raw: raw.clone(),
    }
}

fn all_fixture_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixture_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .map(|n| n.trim_end_matches(".json").to_owned())
        .collect();
    names.sort();
    names
}

// ---- HTTP -----------------------------------------------------------------------------------

/// A response as received.
struct Received {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

/// A watch response: the lines with their arrival time, and when the server closed the stream.
struct Watched {
    status: u16,
    headers: BTreeMap<String, String>,
    lines: Vec<(Duration, J)>,
    closed_after: Option<Duration>,
}

#[derive(Clone)]
struct Http {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Http {
    fn new(base: String) -> Self {
        Self {
            base,
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> hyper::Request<Full<Bytes>> {
        let mut builder = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("User-Agent", "curl/7.88.1");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .unwrap()
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Received {
        let request = self.request(method, path, headers, body);
        let response = tokio::time::timeout(REQUEST_TIMEOUT, self.client.request(request))
            .await
            .unwrap_or_else(|_| panic!("{method} {path}: no answer within {REQUEST_TIMEOUT:?}"))
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status().as_u16();
        let headers = header_map(response.headers());
        let body = tokio::time::timeout(REQUEST_TIMEOUT, response.into_body().collect())
            .await
            .unwrap()
            .unwrap()
            .to_bytes()
            .to_vec();
        Received {
            status,
            headers,
            body,
        }
    }

    /// Sends a watch request and reads its lines until the server ends the stream (or `limit`).
    async fn watch(&self, path: &str, headers: &[(&str, &str)], limit: Duration) -> Watched {
        let started = Instant::now();
        let request = self.request("GET", path, headers, None);
        let response = tokio::time::timeout(REQUEST_TIMEOUT, self.client.request(request))
            .await
            .unwrap()
            .unwrap();
        let status = response.status().as_u16();
        let headers = header_map(response.headers());
        let mut body = response.into_body();
        let mut buffer = Vec::new();
        let mut lines = Vec::new();
        let mut closed_after = None;
        loop {
            let remaining = limit.saturating_sub(started.elapsed());
            match tokio::time::timeout(remaining, body.frame()).await {
                Err(_) => break,
                Ok(None) => {
                    closed_after = Some(started.elapsed());
                    break;
                }
                Ok(Some(frame)) => {
                    let frame = frame.unwrap();
                    if let Some(data) = frame.data_ref() {
                        buffer.extend_from_slice(data);
                        while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                            let line: Vec<u8> = buffer.drain(..=end).collect();
                            lines.push((started.elapsed(), J::parse(&line).unwrap()));
                        }
                    }
                }
            }
        }
        assert!(
            buffer.iter().all(u8::is_ascii_whitespace),
            "{path}: the stream ended inside a line: {:?}",
            String::from_utf8_lossy(&buffer)
        );
        Watched {
            status,
            headers,
            lines,
            closed_after,
        }
    }
}

fn header_map(headers: &hyper::HeaderMap) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (name, value) in headers {
        out.insert(
            name.as_str().to_ascii_lowercase(),
            value.to_str().unwrap_or_default().to_owned(),
        );
    }
    out
}

// ---- recorded -> harness mapping ------------------------------------------------------------

fn uuid_re() -> &'static Regex {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        Regex::new("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$").unwrap()
    })
}

fn timestamp_re() -> &'static Regex {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$").unwrap())
}

fn ipv4_re() -> &'static Regex {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$").unwrap())
}

fn generated_re() -> &'static Regex {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^(kube-api-access-|t\d-(worker|master)-)[a-z0-9]{5}$").unwrap())
}

/// What a recorded generated value stands for in this harness session, and the
/// resourceVersions seen so far.
#[derive(Default)]
struct Mapping {
    /// recorded -> harness (uids, generated names, clusterIPs).
    values: BTreeMap<String, String>,
    /// harness -> recorded.
    reverse: BTreeMap<String, String>,
    /// (recorded, harness, where) of every resourceVersion compared so far.
    rvs: Vec<(u64, u64, String)>,
}

impl Mapping {
    /// Binds a recorded value to a harness value; an error when either is bound otherwise.
    fn bind(&mut self, recorded: &str, actual: &str) -> Result<(), String> {
        match (self.values.get(recorded), self.reverse.get(actual)) {
            (Some(a), _) if a == actual => Ok(()),
            (Some(a), _) => Err(format!(
                "recorded {recorded:?} stands for {a:?} in the harness, got {actual:?}"
            )),
            (None, Some(r)) => Err(format!(
                "harness {actual:?} already stands for recorded {r:?}, not {recorded:?}"
            )),
            (None, None) => {
                self.values.insert(recorded.to_owned(), actual.to_owned());
                self.reverse.insert(actual.to_owned(), recorded.to_owned());
                Ok(())
            }
        }
    }

    /// Records a resourceVersion pair; an error when the harness's order differs.
    fn rv(&mut self, recorded: u64, actual: u64, at: &str) -> Result<(), String> {
        let mut problems = Vec::new();
        for (r, a, w) in &self.rvs {
            if r.cmp(&recorded) != a.cmp(&actual) {
                problems.push(format!(
                    "resourceVersion order: recorded {recorded} vs {r} ({w}) is {:?}, harness {actual} vs {a} is {:?}",
                    recorded.cmp(r),
                    actual.cmp(a)
                ));
            }
        }
        if !self
            .rvs
            .iter()
            .any(|(r, a, _)| *r == recorded && *a == actual)
        {
            self.rvs.push((recorded, actual, at.to_owned()));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    fn actual_rv(&self, recorded: u64) -> Option<u64> {
        self.rvs
            .iter()
            .find(|(r, _, _)| *r == recorded)
            .map(|(_, a, _)| *a)
    }

    /// Replaces recorded generated values (uids, names) inside a string.
    fn translate(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for (recorded, actual) in &self.values {
            if out.contains(recorded.as_str()) {
                out = out.replace(recorded.as_str(), actual);
            }
        }
        out
    }

    /// A recorded request body with harness values: strings translated, the
    /// `metadata.resourceVersion` precondition mapped.
    fn translate_body(&self, body: &J, key: &str) -> J {
        match body {
            J::Str(s) if key == "resourceVersion" => match s.parse::<u64>() {
                Ok(rv) => J::Str(
                    self.actual_rv(rv)
                        .map(|a| a.to_string())
                        .unwrap_or_else(|| s.clone()),
                ),
                Err(_) => J::Str(s.clone()),
            },
            J::Str(s) => J::Str(self.translate(s)),
            J::Arr(items) => J::Arr(items.iter().map(|i| self.translate_body(i, "")).collect()),
            J::Obj(entries) => J::Obj(
                entries
                    .iter()
                    .map(|(k, v)| (self.translate(k), self.translate_body(v, k)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// A recorded path with harness names and a mapped `resourceVersion` parameter.
    fn translate_path(&self, path: &str) -> String {
        let path = self.translate(path);
        let Some((base, query)) = path.split_once('?') else {
            return path;
        };
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some(("resourceVersion", rv)) => {
                    match rv.parse::<u64>().ok().and_then(|r| self.actual_rv(r)) {
                        Some(actual) => format!("resourceVersion={actual}"),
                        None => param.to_owned(),
                    }
                }
                _ => param.to_owned(),
            })
            .collect();
        format!("{base}?{}", params.join("&"))
    }
}

// ---- comparison -----------------------------------------------------------------------------

/// A request ready to send: path with query, headers, body.
type RequestParts = (String, Vec<(&'static str, String)>, Option<Vec<u8>>);

/// One replay session: the harness, clients, the mapping and the differences found.
struct Replay {
    /// Kept alive for the session (dropping it stops the server).
    _server: ApiServer,
    kube: kube::Client,
    http: Http,
    map: Mutex<Mapping>,
    problems: Mutex<Vec<String>>,
    /// Recorded pod names by Job, in creation order (from 06b: sorted by resourceVersion).
    pod_names: Mutex<BTreeMap<String, Vec<String>>>,
    /// The harness's pods already bound to recorded ones.
    bound_pods: Mutex<BTreeSet<String>>,
}

/// Comparison context of one fixture.
struct Cmp<'a> {
    replay: &'a Replay,
    fixture: String,
    /// Strings the request carried: echoed timestamps must match exactly.
    sent: BTreeSet<String>,
    /// Whether resourceVersions take part in the session-wide order check.
    global_rvs: bool,
}

impl Cmp<'_> {
    fn problem(&self, path: &str, message: impl fmt::Display) {
        self.replay
            .problems
            .lock()
            .unwrap()
            .push(format!("{} {path}: {message}", self.fixture));
    }

    fn map(&self) -> std::sync::MutexGuard<'_, Mapping> {
        self.replay.map.lock().unwrap()
    }

    /// Compares a recorded value with the harness's, recursively.
    fn value(&self, path: &str, recorded: &J, actual: &J) {
        let key = path.rsplit('.').next().unwrap_or_default();
        let key = key.split('[').next().unwrap_or_default();
        match (recorded, actual) {
            (J::Obj(rec), J::Obj(act)) => self.object(path, rec, act),
            (J::Arr(rec), J::Arr(act)) if key == "managedFields" => {
                self.managed_fields(path, rec, act)
            }
            (J::Arr(rec), J::Arr(act)) if path == "items" && rec.len() == act.len() => {
                self.items(path, rec, act)
            }
            (J::Arr(rec), J::Arr(act)) => {
                if rec.len() != act.len() {
                    self.problem(
                        path,
                        format!(
                            "{} items recorded, {} served: recorded {recorded}, served {actual}",
                            rec.len(),
                            act.len()
                        ),
                    );
                    return;
                }
                for (i, (r, a)) in rec.iter().zip(act).enumerate() {
                    self.value(&format!("{path}[{i}]"), r, a);
                }
            }
            (J::Str(r), J::Str(a)) => self.string(path, key, r, a),
            (r, a) if r == a => {}
            (r, a) => self.problem(path, format!("recorded {r}, served {a}")),
        }
    }

    fn object(&self, path: &str, rec: &[(String, J)], act: &[(String, J)]) {
        let rec_keys: Vec<&str> = rec.iter().map(|(k, _)| k.as_str()).collect();
        let act_keys: Vec<&str> = act.iter().map(|(k, _)| k.as_str()).collect();
        let missing: Vec<&&str> = rec_keys.iter().filter(|k| !act_keys.contains(k)).collect();
        let extra: Vec<&&str> = act_keys.iter().filter(|k| !rec_keys.contains(k)).collect();
        if !missing.is_empty() {
            self.problem(path, format!("missing keys {missing:?}"));
        }
        if !extra.is_empty() {
            let extras: Vec<String> = act
                .iter()
                .filter(|(k, _)| extra.contains(&&k.as_str()))
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            self.problem(path, format!("extra keys {}", extras.join(", ")));
        }
        let rec_common: Vec<&str> = rec_keys
            .iter()
            .copied()
            .filter(|k| act_keys.contains(k))
            .collect();
        let act_common: Vec<&str> = act_keys
            .iter()
            .copied()
            .filter(|k| rec_keys.contains(k))
            .collect();
        if rec_common != act_common {
            self.problem(
                path,
                format!("key order: recorded {rec_common:?}, served {act_common:?}"),
            );
        }
        // The object's own uid first, so that references to it (selectors, labels) compare.
        let ordered = rec
            .iter()
            .filter(|(k, _)| k == "metadata")
            .chain(rec.iter().filter(|(k, _)| k != "metadata"));
        for (k, r) in ordered {
            if let Some((_, a)) = act.iter().find(|(ak, _)| ak == k) {
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                self.value(&child, r, a);
            }
        }
    }

    /// List items: sorted by name in both; generated names pair through the mapping.
    fn items(&self, path: &str, rec: &[J], act: &[J]) {
        let name = |j: &J| {
            (
                j.str_at(&["metadata", "namespace"])
                    .unwrap_or_default()
                    .to_owned(),
                j.str_at(&["metadata", "name"])
                    .unwrap_or_default()
                    .to_owned(),
            )
        };
        let act_names: Vec<(String, String)> = act.iter().map(name).collect();
        let mut sorted = act_names.clone();
        sorted.sort();
        if sorted != act_names {
            self.problem(path, format!("items not sorted by name: {act_names:?}"));
        }
        for r in rec {
            let (ns, recorded_name) = name(r);
            let wanted = self
                .map()
                .values
                .get(&recorded_name)
                .cloned()
                .unwrap_or(recorded_name.clone());
            match act
                .iter()
                .position(|a| name(a) == (ns.clone(), wanted.clone()))
            {
                Some(i) => self.value(&format!("{path}[{recorded_name}]"), r, &act[i]),
                None => self.problem(
                    path,
                    format!("no item {wanted} (recorded {recorded_name}) among {act_names:?}"),
                ),
            }
        }
    }

    fn string(&self, path: &str, key: &str, r: &str, a: &str) {
        if key == "resourceVersion" {
            match (r.parse::<u64>(), a.parse::<u64>()) {
                (Ok(rv), Ok(av)) if self.global_rvs => {
                    if let Err(e) = self.map().rv(rv, av, &format!("{} {path}", self.fixture)) {
                        self.problem(path, e);
                    }
                }
                (Ok(_), Ok(_)) => {}
                _ => self.problem(
                    path,
                    format!("resourceVersion recorded {r:?}, served {a:?}"),
                ),
            }
            return;
        }
        if r == a && !uuid_re().is_match(r) && !generated_re().is_match(r) {
            return;
        }
        if uuid_re().is_match(r) {
            if !uuid_re().is_match(a) {
                self.problem(path, format!("recorded uid {r}, served {a:?}"));
            } else if let Err(e) = self.map().bind(r, a) {
                self.problem(path, e);
            }
            return;
        }
        if timestamp_re().is_match(r) {
            // The client's metadata timestamps are ignored; status timestamps are stored.
            if self.sent.contains(r) && !path.contains("metadata") {
                if r != a {
                    self.problem(path, format!("the request set {r:?}, served {a:?}"));
                }
            } else if !timestamp_re().is_match(a) {
                self.problem(path, format!("recorded timestamp {r}, served {a:?}"));
            }
            return;
        }
        if ipv4_re().is_match(r) && (key == "clusterIP" || key.starts_with("clusterIPs")) {
            if !ipv4_re().is_match(a) {
                self.problem(path, format!("recorded IP {r}, served {a:?}"));
            } else if let Err(e) = self.map().bind(r, a) {
                self.problem(path, e);
            }
            return;
        }
        if let Some(caps) = generated_re().captures(r) {
            let prefix = caps.get(1).map(|m| m.as_str()).unwrap_or_default();
            let shape = Regex::new(&format!(
                "^{}[bcdfghjklmnpqrstvwxz2456789]{{5}}$",
                regex::escape(prefix)
            ))
            .unwrap();
            if !shape.is_match(a) {
                self.problem(path, format!("recorded generated name {r}, served {a:?}"));
            } else if let Err(e) = self.map().bind(r, a) {
                self.problem(path, e);
            }
            return;
        }
        let too_old = Regex::new(r"^too old resource version: (\d+) \((\d+)\)$").unwrap();
        if let (Some(rc), Some(ac)) = (too_old.captures(r), too_old.captures(a)) {
            if rc.get(1).map(|m| m.as_str()) != ac.get(1).map(|m| m.as_str()) {
                self.problem(path, format!("recorded {r:?}, served {a:?}"));
            }
            return;
        }
        let translated = self.map().translate(r);
        if translated != a {
            self.problem(path, format!("recorded {r:?}, served {a:?}"));
        }
    }

    /// managedFields: entries by (manager, operation, subresource); owned paths compared with
    /// list items collapsed into their list.
    fn managed_fields(&self, path: &str, rec: &[J], act: &[J]) {
        let key = |e: &J| {
            (
                e.str_at(&["manager"]).unwrap_or_default().to_owned(),
                e.str_at(&["operation"]).unwrap_or_default().to_owned(),
                e.str_at(&["subresource"]).unwrap_or_default().to_owned(),
            )
        };
        let rec_keys: Vec<_> = rec.iter().map(key).collect();
        let act_keys: Vec<_> = act.iter().map(key).collect();
        if rec_keys.iter().collect::<BTreeSet<_>>() != act_keys.iter().collect::<BTreeSet<_>>() {
            self.problem(
                path,
                format!("entries (manager, operation, subresource): recorded {rec_keys:?}, served {act_keys:?}"),
            );
        }
        for r in rec {
            let Some(a) = act.iter().find(|a| key(a) == key(r)) else {
                continue;
            };
            let at = format!("{path}[{}]", key(r).0);
            for field in ["apiVersion", "fieldsType", "subresource"] {
                if r.get(field) != a.get(field) {
                    self.problem(
                        &at,
                        format!(
                            "{field}: recorded {:?}, served {:?}",
                            r.get(field),
                            a.get(field)
                        ),
                    );
                }
            }
            let rec_fields: Vec<&str> = match r {
                J::Obj(e) => e.iter().map(|(k, _)| k.as_str()).collect(),
                _ => Vec::new(),
            };
            let act_fields: Vec<&str> = match a {
                J::Obj(e) => e.iter().map(|(k, _)| k.as_str()).collect(),
                _ => Vec::new(),
            };
            if rec_fields != act_fields {
                self.problem(
                    &at,
                    format!("keys: recorded {rec_fields:?}, served {act_fields:?}"),
                );
            }
            if !a
                .str_at(&["time"])
                .is_some_and(|t| timestamp_re().is_match(t))
            {
                self.problem(&at, format!("time {:?}", a.get("time")));
            }
            let owned = |e: &J| {
                let mut out = BTreeSet::new();
                if let Some(tree) = e.get("fieldsV1") {
                    collapse(tree, &mut Vec::new(), &mut out);
                }
                out
            };
            let (rp, ap) = (owned(r), owned(a));
            if rp != ap {
                let missing: Vec<_> = rp.difference(&ap).collect();
                let extra: Vec<_> = ap.difference(&rp).collect();
                self.problem(
                    &at,
                    format!("owned fields: missing {missing:?}, extra {extra:?}"),
                );
            }
        }
    }
}

/// The field paths of a `fieldsV1` tree, with list items (`k:`, `v:`, `i:`) collapsed into their
/// list and `.` markers dropped.
fn collapse(tree: &J, prefix: &mut Vec<String>, out: &mut BTreeSet<String>) {
    let J::Obj(entries) = tree else { return };
    let is_list = entries
        .iter()
        .any(|(k, _)| k.starts_with("k:") || k.starts_with("v:") || k.starts_with("i:"));
    let fields: Vec<&(String, J)> = entries
        .iter()
        .filter(|(k, _)| k.starts_with("f:"))
        .collect();
    if is_list || fields.is_empty() {
        if !prefix.is_empty() {
            out.insert(prefix.join("."));
        }
        return;
    }
    for (k, child) in fields {
        prefix.push(k.trim_start_matches("f:").to_owned());
        collapse(child, prefix, out);
        prefix.pop();
    }
}

// ---- replaying ------------------------------------------------------------------------------

impl Replay {
    async fn start() -> Arc<Self> {
        let server = ApiServer::start().await.unwrap();
        let mut crd: serde_json::Value = serde_saphyr::from_str(
            &std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../deploy/crd.yaml"
            ))
            .unwrap(),
        )
        .unwrap();
        // The recordings predate the CRD's category `locust`: discovery (11a) lists none.
        if let Some(names) = crd
            .pointer_mut("/spec/names")
            .and_then(|n| n.as_object_mut())
        {
            names.remove("categories");
        }
        server.install_crd(&crd).await;
        let kube = server.client().unwrap();
        let http = Http::new(server.url());
        Arc::new(Self {
            _server: server,
            kube,
            http,
            map: Mutex::new(Mapping::default()),
            problems: Mutex::new(Vec::new()),
            pod_names: Mutex::new(BTreeMap::new()),
            bound_pods: Mutex::new(BTreeSet::new()),
        })
    }

    fn cmp(&self, fixture: &Fixture) -> Cmp<'_> {
        let mut sent = BTreeSet::new();
        fixture.body.strings(&mut sent);
        Cmp {
            replay: self,
            fixture: fixture.name.clone(),
            sent,
            global_rvs: true,
        }
    }

    fn problem(&self, fixture: &str, message: impl fmt::Display) {
        self.problems
            .lock()
            .unwrap()
            .push(format!("{fixture}: {message}"));
    }

    /// The recorded request, translated to this session's values.
    fn request_parts(&self, fixture: &Fixture) -> RequestParts {
        let map = self.map.lock().unwrap();
        let path = map.translate_path(&fixture.path);
        let mut headers = Vec::new();
        if let Some(accept) = &fixture.accept {
            headers.push(("Accept", accept.clone()));
        }
        if let Some(content_type) = &fixture.content_type {
            headers.push(("Content-Type", content_type.clone()));
        }
        let body = match &fixture.body {
            J::Null => None,
            J::Str(text) => Some(map.translate(text).into_bytes()),
            other => Some(map.translate_body(other, "").to_bytes()),
        };
        (path, headers, body)
    }

    async fn send(&self, fixture: &Fixture) -> Received {
        let (path, headers, body) = self.request_parts(fixture);
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.http.send(&fixture.method, &path, &headers, body).await
    }

    /// Sends a fixture's request and compares the answer with the recorded one.
    async fn replay(&self, name: &str) -> Option<J> {
        let fixture = load(name);
        let received = self.send(&fixture).await;
        self.check(&fixture, &received)
    }

    /// Like `replay`, for state that the real server reached "some seconds later": the request
    /// is repeated (bounded) until the status code is the recorded one.
    async fn replay_eventually(&self, name: &str) -> Option<J> {
        let fixture = load(name);
        let deadline = Instant::now() + EVENTUALLY;
        loop {
            let received = self.send(&fixture).await;
            let settled = received.status == fixture.status
                && (fixture.status != 200
                    || J::parse(&received.body).ok().is_some_and(|b| {
                        b.get("items").map(|i| i.as_arr().len())
                            == fixture.response.get("items").map(|i| i.as_arr().len())
                    }));
            if settled || Instant::now() > deadline {
                return self.check(&fixture, &received);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn check(&self, fixture: &Fixture, received: &Received) -> Option<J> {
        let cmp = self.cmp(fixture);
        if received.status != fixture.status {
            cmp.problem(
                "status",
                format!(
                    "recorded {}, served {}: {}",
                    fixture.status,
                    received.status,
                    String::from_utf8_lossy(&received.body)
                ),
            );
            return None;
        }
        self.check_headers(fixture, &received.headers);
        let body = match J::parse(&received.body) {
            Ok(body) => body,
            Err(e) => {
                cmp.problem(
                    "body",
                    format!(
                        "not JSON ({e}): {}",
                        String::from_utf8_lossy(&received.body)
                    ),
                );
                return None;
            }
        };
        cmp.value("", &fixture.response, &body);
        Some(body)
    }

    fn check_headers(&self, fixture: &Fixture, headers: &BTreeMap<String, String>) {
        for name in ["content-type", "warning"] {
            if fixture.headers.get(name) != headers.get(name) {
                self.problem(
                    &fixture.name,
                    format!(
                        "header {name}: recorded {:?}, served {:?}",
                        fixture.headers.get(name),
                        headers.get(name)
                    ),
                );
            }
        }
    }

    /// A request that is not a fixture (setup, or a controller's write), which must succeed.
    async fn call(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: serde_json::Value,
    ) -> J {
        let body = (!body.is_null()).then(|| serde_json::to_vec(&body).unwrap());
        let received = self
            .http
            .send(
                method,
                path,
                &[
                    ("Accept", "application/json"),
                    ("Content-Type", content_type),
                ],
                body,
            )
            .await;
        assert!(
            (200..300).contains(&received.status),
            "{method} {path}: {} {}",
            received.status,
            String::from_utf8_lossy(&received.body)
        );
        J::parse(&received.body).unwrap()
    }

    /// The recorded value at `pointer` of a fixture's response stands for `actual`.
    fn bind_recorded(&self, fixture: &str, pointer: &[&str], actual: &str) {
        let recorded = load(fixture).response.str_at(pointer).unwrap().to_owned();
        if let Err(e) = self.map.lock().unwrap().bind(&recorded, actual) {
            self.problem(fixture, e);
        }
    }

    fn translate(&self, text: &str) -> String {
        self.map.lock().unwrap().translate(text)
    }

    /// Waits (bounded) until the Job controller has made `count` more pods for `job`; they
    /// stand for the recorded pods of that Job in creation order.
    async fn job_pods(&self, job: &str, count: usize) {
        let pods: Api<Pod> = Api::namespaced(self.kube.clone(), NAMESPACE);
        let selector = ListParams::default().labels(&format!("batch.kubernetes.io/job-name={job}"));
        let deadline = Instant::now() + EVENTUALLY;
        let fresh = loop {
            let mut listed: Vec<(u64, String)> = pods
                .list(&selector)
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|p| {
                    let rv = p.metadata.resource_version.unwrap().parse().unwrap();
                    (rv, p.metadata.name.unwrap())
                })
                .collect();
            // Just created, so their resourceVersions are those of their creation.
            listed.sort();
            let bound = self.bound_pods.lock().unwrap().clone();
            let fresh: Vec<String> = listed
                .into_iter()
                .map(|(_, name)| name)
                .filter(|name| !bound.contains(name))
                .collect();
            if fresh.len() >= count {
                break fresh;
            }
            assert!(
                Instant::now() < deadline,
                "the Job controller made {} of {count} new pods for {job}",
                fresh.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        for actual in fresh.into_iter().take(count) {
            self.bound_pods.lock().unwrap().insert(actual.clone());
            let recorded = {
                let mut names = self.pod_names.lock().unwrap();
                let queue = names.entry(job.to_owned()).or_default();
                (!queue.is_empty()).then(|| queue.remove(0))
            };
            if let Some(recorded) = recorded
                && let Err(e) = self.map.lock().unwrap().bind(&recorded, &actual)
            {
                self.problem(job, e);
            }
        }
    }

    /// Waits (bounded) until the Job controller has written a status of `job` that `pred`
    /// accepts.
    async fn job_status(&self, job: &str, what: &str, pred: impl Fn(&JobStatus) -> bool) {
        let jobs: Api<Job> = Api::namespaced(self.kube.clone(), NAMESPACE);
        let deadline = Instant::now() + EVENTUALLY;
        loop {
            let status = jobs
                .get_status(job)
                .await
                .unwrap()
                .status
                .unwrap_or_default();
            if pred(&status) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{job}: the Job controller did not write {what}: {status:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The Job controller's status after counting `active` pods.
    async fn job_counts(&self, job: &str, active: i32) {
        self.job_status(job, &format!("active {active}"), |s| {
            s.active == Some(active) && s.start_time.is_some()
        })
        .await;
    }

    /// The Job controller's status of a suspended Job.
    async fn job_suspended(&self, job: &str) {
        self.job_status(job, "Suspended", |s| has_condition(s, "Suspended"))
            .await;
    }

    fn finish(&self) {
        let problems = self.problems.lock().unwrap();
        assert!(
            problems.is_empty(),
            "the harness answered {} thing(s) differently from the recording:\n{}",
            problems.len(),
            problems.join("\n")
        );
    }
}

/// Whether the Job status has this condition with status `True`.
fn has_condition(status: &JobStatus, type_: &str) -> bool {
    status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == type_ && c.status == "True")
}

/// A Job like the ones of the recording (labels, owner reference to LocustTest `owner`).
fn job(
    name: &str,
    owner: &str,
    owner_uid: &str,
    test: &str,
    parallelism: i64,
    suspend: bool,
    args: &[&str],
) -> serde_json::Value {
    let mut job = serde_json::json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {
            "name": name,
            "labels": {"performance-test-name": test, "performance-test-pod-name": name, "app.kubernetes.io/managed-by": "locust-k8s-operator"},
            "ownerReferences": [{"apiVersion": "locust.io/v2", "kind": "LocustTest", "name": owner, "uid": owner_uid, "controller": true, "blockOwnerDeletion": true}]
        },
        "spec": {
            "parallelism": parallelism, "backoffLimit": 0,
            "template": {
                "metadata": {"labels": {"performance-test-name": test, "performance-test-pod-name": name}},
                "spec": {"restartPolicy": "Never", "containers": [{"name": name, "image": "locustio/locust:2.32.0", "args": args}]}
            }
        }
    });
    if suspend {
        job["spec"]["suspend"] = serde_json::json!(true);
    }
    job
}

/// The recorded pod names of each Job, in creation order (06b lists them with their
/// resourceVersions).
fn recorded_pod_names() -> BTreeMap<String, Vec<String>> {
    let list = load("06b-list-pods-label-equality").response;
    let mut pods: Vec<(u64, String, String)> = list
        .get("items")
        .unwrap()
        .as_arr()
        .iter()
        .map(|p| {
            (
                p.str_at(&["metadata", "resourceVersion"])
                    .unwrap()
                    .parse()
                    .unwrap(),
                p.str_at(&["metadata", "labels", "job-name"])
                    .unwrap()
                    .to_owned(),
                p.str_at(&["metadata", "name"]).unwrap().to_owned(),
            )
        })
        .collect();
    pods.sort();
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (_, job, name) in pods {
        out.entry(job).or_default().push(name);
    }
    out
}

// ---- watches --------------------------------------------------------------------------------

/// A recorded watch: its request and its event lines with arrival times.
struct RecordedWatch {
    fixture: Fixture,
    lines: Vec<(Duration, J)>,
    closed_after: Duration,
    timeout: Duration,
}

fn recorded_watch(name: &str) -> RecordedWatch {
    let fixture = load(name);
    let arrivals: Vec<u64> = fixture
        .raw
        .at(&["response", "line_arrival_ms"])
        .unwrap()
        .as_arr()
        .iter()
        .map(|n| match n {
            J::Num(n) => n.as_u64().unwrap(),
            other => panic!("{other:?}"),
        })
        .collect();
    let lines = fixture
        .response
        .as_arr()
        .iter()
        .zip(&arrivals)
        .map(|(l, ms)| (Duration::from_millis(*ms), l.clone()))
        .collect();
    let closed_after = match fixture
        .raw
        .at(&["response", "stream_closed_by_server_after_ms"])
    {
        Some(J::Num(n)) => Duration::from_millis(n.as_u64().unwrap()),
        other => panic!("{name}: {other:?}"),
    };
    let timeout = Regex::new(r"timeoutSeconds=(\d+)")
        .unwrap()
        .captures(&fixture.path)
        .map(|c| Duration::from_secs(c[1].parse().unwrap()))
        .unwrap();
    RecordedWatch {
        fixture,
        lines,
        closed_after,
        timeout,
    }
}

impl Replay {
    async fn start_watch(
        self: &Arc<Self>,
        recorded: &RecordedWatch,
    ) -> tokio::task::JoinHandle<Watched> {
        let (path, headers, _) = self.request_parts(&recorded.fixture);
        let http = self.http.clone();
        let limit = recorded.timeout + Duration::from_secs(3);
        tokio::spawn(async move {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            http.watch(&path, &headers, limit).await
        })
    }

    /// Checks what every watch response shares: status, headers, the server closing the stream
    /// at `timeoutSeconds`, and BOOKMARKs about 2 s before it carrying the last resourceVersion.
    fn check_watch_frame(&self, recorded: &RecordedWatch, watched: &Watched) {
        let name = &recorded.fixture.name;
        if watched.status != recorded.fixture.status {
            self.problem(
                name,
                format!(
                    "status: recorded {}, served {}",
                    recorded.fixture.status, watched.status
                ),
            );
        }
        self.check_headers(&recorded.fixture, &watched.headers);
        if watched.headers.get("transfer-encoding").map(String::as_str) != Some("chunked") {
            self.problem(
                name,
                format!(
                    "transfer-encoding {:?}",
                    watched.headers.get("transfer-encoding")
                ),
            );
        }
        match watched.closed_after {
            None => self.problem(name, "the server did not close the stream"),
            Some(closed) => {
                let expected = recorded.closed_after;
                if closed + Duration::from_millis(500) < expected
                    || closed > expected + Duration::from_millis(1500)
                {
                    self.problem(
                        name,
                        format!("stream closed after {closed:?}, recorded {expected:?}"),
                    );
                }
            }
        }
        let bookmarks: Vec<&(Duration, J)> = watched
            .lines
            .iter()
            .filter(|(_, l)| l.str_at(&["type"]) == Some("BOOKMARK"))
            .collect();
        let recorded_bookmarks = recorded
            .lines
            .iter()
            .filter(|(_, l)| l.str_at(&["type"]) == Some("BOOKMARK"))
            .count();
        if (recorded_bookmarks == 0) != bookmarks.is_empty() {
            self.problem(
                name,
                format!(
                    "{} BOOKMARK(s) served, {recorded_bookmarks} recorded",
                    bookmarks.len()
                ),
            );
        }
        let earliest = recorded.timeout.saturating_sub(Duration::from_millis(2500));
        for (at, _) in &bookmarks {
            if *at < earliest || *at > recorded.timeout {
                self.problem(
                    name,
                    format!(
                        "BOOKMARK at {at:?}, expected between {earliest:?} and {:?}",
                        recorded.timeout
                    ),
                );
            }
        }
        if let Some(last) = watched
            .lines
            .iter()
            .rposition(|(_, l)| l.str_at(&["type"]) != Some("BOOKMARK"))
            && watched.lines[..last]
                .iter()
                .any(|(_, l)| l.str_at(&["type"]) == Some("BOOKMARK"))
        {
            self.problem(name, "a BOOKMARK came before the last event");
        }
        let last_event_rv = watched
            .lines
            .iter()
            .filter(|(_, l)| l.str_at(&["type"]) != Some("BOOKMARK"))
            .filter_map(|(_, l)| l.str_at(&["object", "metadata", "resourceVersion"]))
            .next_back();
        for (_, bookmark) in &bookmarks {
            let rv = bookmark.str_at(&["object", "metadata", "resourceVersion"]);
            if last_event_rv.is_some() && rv != last_event_rv {
                self.problem(
                    name,
                    format!("BOOKMARK resourceVersion {rv:?}, last event {last_event_rv:?}"),
                );
            }
        }
    }

    /// Compares the events one by one (type, full object), and the bookmark objects.
    fn check_watch_events(&self, recorded: &RecordedWatch, watched: &Watched) {
        let name = &recorded.fixture.name;
        let types = |lines: &[(Duration, J)]| -> Vec<String> {
            lines
                .iter()
                .map(|(_, l)| {
                    format!(
                        "{} {}",
                        l.str_at(&["type"]).unwrap_or_default(),
                        l.str_at(&["object", "metadata", "name"])
                            .unwrap_or_default()
                    )
                })
                .collect()
        };
        let recorded_lines: Vec<(Duration, J)> = recorded
            .lines
            .iter()
            .filter(|(_, l)| l.str_at(&["type"]) != Some("BOOKMARK"))
            .cloned()
            .collect();
        let watched_lines: Vec<(Duration, J)> = watched
            .lines
            .iter()
            .filter(|(_, l)| l.str_at(&["type"]) != Some("BOOKMARK"))
            .cloned()
            .collect();
        let translated: Vec<String> = types(&recorded_lines)
            .iter()
            .map(|t| self.translate(t))
            .collect();
        if translated != types(&watched_lines) {
            self.problem(
                name,
                format!(
                    "events: recorded {translated:?}, served {:?}",
                    types(&watched_lines)
                ),
            );
            return;
        }
        let cmp = Cmp {
            replay: self,
            fixture: name.clone(),
            sent: BTreeSet::new(),
            global_rvs: true,
        };
        for (i, ((_, r), (_, a))) in recorded_lines.iter().zip(&watched_lines).enumerate() {
            cmp.value(&format!("event[{i}]"), r, a);
        }
        let recorded_bookmark = recorded
            .lines
            .iter()
            .find(|(_, l)| l.str_at(&["type"]) == Some("BOOKMARK"));
        let watched_bookmark = watched
            .lines
            .iter()
            .find(|(_, l)| l.str_at(&["type"]) == Some("BOOKMARK"));
        if let (Some((_, r)), Some((_, a))) = (recorded_bookmark, watched_bookmark) {
            cmp.value("BOOKMARK", r, a);
        }
    }
}

// ---- the sessions ---------------------------------------------------------------------------

/// Fixtures replayed by `session`, in order.
const SESSION: &[&str] = &[
    "00-create-namespace",
    "01-get-job-not-found",
    "01b-get-locusttest-not-found",
    "02-create-locusttest-v2",
    "02a-create-service",
    "02b-create-service-again-already-exists",
    "03-create-job",
    "03b-create-master-job",
    "04-put-job-stale-resourceversion-conflict",
    "05a-patch-job-merge-patch",
    "05b-patch-job-json-patch",
    "05b2-patch-job-json-patch-test-fails",
    "05c-patch-job-strategic-merge-patch",
    "05d-patch-job-apply-no-force-conflict",
    "05e-patch-job-apply-force",
    "05f-patch-locusttest-strategic-merge-unsupported",
    "05g-patch-service-strategic-merge-ports",
    "05h-patch-service-merge-patch-ports",
    "06a-list-jobs-label-equality",
    "06b-list-pods-label-equality",
    "06c-list-pods-label-set-based",
    "06d-list-jobs-selector-no-match",
    "06e-list-locusttests",
    "07a-list-jobs-before-watch",
    "07b-watch-jobs-bookmarks",
    "08-watch-jobs-resourceversion-1-too-old",
    "08b-delete-job-default-propagation-orphans",
    "08c-delete-job-background-immediate",
    "09a-patch-locusttest-spec-generation-bump",
    "09b-patch-locusttest-label-no-generation-bump",
    "09c-patch-locusttest-status-subresource",
    "09d-put-locusttest-main-resource-status-ignored",
    "09e-put-locusttest-without-resourceversion",
    "09f-get-locusttest-after",
    "10a-get-job-pod",
    "10b-patch-pod-status-imagepullbackoff",
    "10c-get-job-after-pod-imagepullbackoff",
    "10d-patch-master-pod-status-failed",
    "10e-get-master-job-after-pod-failed",
    "11a-discovery-locust-v2",
    "11b-discovery-batch-v1",
    "12a-delete-locusttest-foreground",
    "12b-get-locusttest-right-after-delete",
    "12c-get-job-after-gc",
    "12d-get-service-after-gc",
    "12e-get-locusttest-after-gc",
    "12f-list-pods-after-gc",
    "12g-delete-locusttest-no-options-immediate",
    "14-delete-namespace",
];

/// Fixtures replayed by `foreground_delete_watches`, in order.
const FOREGROUND: &[&str] = &[
    "00-create-namespace",
    "13a-delete-locusttest-foreground-2",
    "13b-watch-locusttests-during-foreground-delete",
    "13c-watch-jobs-during-foreground-delete",
    "13d-watch-pods-during-foreground-delete",
    "13e-watch-services-during-foreground-delete",
    "14-delete-namespace",
];

#[test]
fn every_fixture_is_replayed() {
    let replayed: BTreeSet<String> = SESSION
        .iter()
        .chain(FOREGROUND)
        .map(|s| (*s).to_owned())
        .collect();
    let all: BTreeSet<String> = all_fixture_names().into_iter().collect();
    assert_eq!(replayed, all, "fixtures and replayed lists differ");
    let mut session = SESSION.to_vec();
    session.sort_unstable();
    assert_eq!(session, SESSION, "the session replays in file-name order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn session() {
    let run = async {
        let replay = Replay::start().await;
        *replay.pod_names.lock().unwrap() = recorded_pod_names();
        for name in SESSION {
            step(&replay, name).await;
        }
        replay.finish();
    };
    tokio::time::timeout(Duration::from_secs(40), run)
        .await
        .expect("the session replay is bounded");
}

/// One fixture of `session`, with what the recording's controllers did around it.
async fn step(replay: &Arc<Replay>, name: &str) {
    let t1_uid = || replay.translate("08b8bdc5-8821-429a-b804-2d791efee326");
    match name {
        "03-create-job" => {
            replay.replay(name).await;
            replay.job_pods("t1-worker", 2).await;
            replay.job_counts("t1-worker", 2).await;
        }
        "03b-create-master-job" => {
            replay.replay(name).await;
            replay.job_pods("t1-master", 1).await;
            replay.job_counts("t1-master", 1).await;
        }
        "05e-patch-job-apply-force" => {
            replay.replay(name).await;
            // parallelism 2 -> 3: the Job controller adds a pod.
            replay.job_pods("t1-worker", 1).await;
            replay.job_counts("t1-worker", 3).await;
        }
        "07b-watch-jobs-bookmarks" => watch_with_writes(replay, name, &t1_uid()).await,
        "08-watch-jobs-resourceversion-1-too-old" => {
            let recorded = recorded_watch(name);
            let watched = replay.start_watch(&recorded).await.await.unwrap();
            replay.check_watch_frame(&recorded, &watched);
            replay.check_watch_events(&recorded, &watched);
        }
        "08b-delete-job-default-propagation-orphans" => {
            let job = job(
                "t1-orphan-demo",
                "t1",
                &t1_uid(),
                "t1",
                1,
                true,
                &["--worker", "--master-host=t1-master"],
            );
            replay
                .call(
                    "POST",
                    &format!("/apis/batch/v1/namespaces/{NAMESPACE}/jobs"),
                    "application/json",
                    job,
                )
                .await;
            replay.job_suspended("t1-orphan-demo").await;
            replay.replay(name).await;
        }
        "08c-delete-job-background-immediate" => {
            let job = job("bg-demo", "t1", &t1_uid(), "bg", 1, true, &["--worker"]);
            let created = replay
                .call(
                    "POST",
                    &format!("/apis/batch/v1/namespaces/{NAMESPACE}/jobs"),
                    "application/json",
                    job,
                )
                .await;
            replay.bind_recorded(
                name,
                &["details", "uid"],
                created.str_at(&["metadata", "uid"]).unwrap(),
            );
            replay.replay(name).await;
        }
        "10e-get-master-job-after-pod-failed" => {
            // backoffLimit 0 and the only pod failed: the Job controller fails the Job.
            replay
                .job_status("t1-master", "Failed", |s| has_condition(s, "Failed"))
                .await;
            replay.replay(name).await;
        }
        "12c-get-job-after-gc"
        | "12d-get-service-after-gc"
        | "12e-get-locusttest-after-gc"
        | "12f-list-pods-after-gc" => {
            replay.replay_eventually(name).await;
        }
        "12g-delete-locusttest-no-options-immediate" => {
            let created = replay
                .call(
                    "POST",
                    &format!("/apis/locust.io/v2/namespaces/{NAMESPACE}/locusttests"),
                    "application/json",
                    serde_json::json!({"apiVersion": "locust.io/v2", "kind": "LocustTest", "metadata": {"name": "t3"},
                        "spec": {"image": "locustio/locust:2.32.0", "master": {"command": "--locustfile /lotest/src/test.py"}, "worker": {"command": "--locustfile /lotest/src/test.py", "replicas": 1}}}),
                )
                .await;
            replay.bind_recorded(
                name,
                &["details", "uid"],
                created.str_at(&["metadata", "uid"]).unwrap(),
            );
            replay.replay(name).await;
        }
        _ => {
            replay.replay(name).await;
        }
    }
}

/// 07b: the watch runs while the recorded `actions_during_watch` happen at their recorded
/// times, each followed by what the Job controller did in reaction.
async fn watch_with_writes(replay: &Arc<Replay>, name: &str, t1_uid: &str) {
    let recorded = recorded_watch(name);
    let actions: Vec<(u64, String)> = recorded
        .fixture
        .raw
        .get("actions_during_watch")
        .unwrap()
        .as_arr()
        .iter()
        .map(|a| {
            let J::Num(t) = a.get("t_ms").unwrap() else {
                panic!()
            };
            (
                t.as_u64().unwrap(),
                a.str_at(&["action"]).unwrap().to_owned(),
            )
        })
        .collect();
    let started = Instant::now();
    let watch = replay.start_watch(&recorded).await;
    let jobs = format!("/apis/batch/v1/namespaces/{NAMESPACE}/jobs");
    for (t_ms, action) in &actions {
        tokio::time::sleep_until((started + Duration::from_millis(*t_ms)).into()).await;
        match action.as_str() {
            a if a.starts_with("POST create Job t1-watch-demo") => {
                let job = job(
                    "t1-watch-demo",
                    "t1",
                    t1_uid,
                    "t1",
                    1,
                    true,
                    &["--worker", "--master-host=t1-master"],
                );
                replay.call("POST", &jobs, "application/json", job).await;
            }
            a if a.starts_with("PATCH t1-worker merge-patch spec.parallelism=2") => {
                replay
                    .call(
                        "PATCH",
                        &format!("{jobs}/t1-worker"),
                        "application/merge-patch+json",
                        serde_json::json!({"spec": {"parallelism": 2}}),
                    )
                    .await;
                // The Job controller deletes the newest pod; it counts as terminating until
                // the controller's next look, about a second later.
            }
            a if a.starts_with("PATCH t1-worker merge-patch add label watch=seen") => {
                replay
                    .call(
                        "PATCH",
                        &format!("{jobs}/t1-worker"),
                        "application/merge-patch+json",
                        serde_json::json!({"metadata": {"labels": {"watch": "seen"}}}),
                    )
                    .await;
                // About 400 ms later the Job controller sees the pod gone (its batch period).
            }
            a if a.starts_with("DELETE Job t1-watch-demo") => {
                replay.call("DELETE", &format!("{jobs}/t1-watch-demo"), "application/json", serde_json::json!({"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"})).await;
            }
            other => panic!("{name}: unknown action {other:?}"),
        }
    }
    let watched = watch.await.unwrap();
    replay.check_watch_frame(&recorded, &watched);
    replay.check_watch_events(&recorded, &watched);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn foreground_delete_watches() {
    let run = async {
        let replay = Replay::start().await;
        replay.replay("00-create-namespace").await;
        foreground_delete(&replay).await;
        replay.replay("14-delete-namespace").await;
        replay.finish();
    };
    tokio::time::timeout(Duration::from_secs(40), run)
        .await
        .expect("the replay is bounded");
}

/// 13a-13e: LocustTest t2 owns Service t2-master and Job t2-worker (2 pods); it is deleted in
/// the foreground while four watches look on.
async fn foreground_delete(replay: &Arc<Replay>) {
    let deleted = load("13a-delete-locusttest-foreground-2");
    let spec = deleted.response.get("spec").unwrap().clone();
    let created = replay
        .call(
            "POST",
            &format!("/apis/locust.io/v2/namespaces/{NAMESPACE}/locusttests"),
            "application/json",
            serde_json::json!({"apiVersion": "locust.io/v2", "kind": "LocustTest", "metadata": {"name": "t2"}, "spec": serde_json::to_value(&spec).unwrap()}),
        )
        .await;
    let t2_uid = created.str_at(&["metadata", "uid"]).unwrap().to_owned();
    replay.bind_recorded(
        "13a-delete-locusttest-foreground-2",
        &["metadata", "uid"],
        &t2_uid,
    );
    replay
        .call(
            "POST",
            &format!("/api/v1/namespaces/{NAMESPACE}/services"),
            "application/json",
            serde_json::json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "t2-master", "labels": {"performance-test-name": "t2"},
                    "ownerReferences": [{"apiVersion": "locust.io/v2", "kind": "LocustTest", "name": "t2", "uid": t2_uid, "controller": true, "blockOwnerDeletion": true}]},
                "spec": {"selector": {"performance-test-pod-name": "t2-master"}, "ports": [{"name": "master", "port": 5557}, {"name": "web", "port": 8089}]}}),
        )
        .await;
    replay
        .call(
            "POST",
            &format!("/apis/batch/v1/namespaces/{NAMESPACE}/jobs"),
            "application/json",
            serde_json::json!({"apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": "t2-worker", "labels": {"performance-test-name": "t2", "performance-test-pod-name": "t2-worker"},
                    "ownerReferences": [{"apiVersion": "locust.io/v2", "kind": "LocustTest", "name": "t2", "uid": t2_uid, "controller": true, "blockOwnerDeletion": true}]},
                "spec": {"parallelism": 2, "backoffLimit": 0, "template": {
                    "metadata": {"labels": {"performance-test-name": "t2", "performance-test-pod-name": "t2-worker"}},
                    "spec": {"restartPolicy": "Never", "containers": [{"name": "t2-worker", "image": "locustio/locust:2.32.0"}]}}}}),
        )
        .await;
    let recorded_pods: BTreeSet<String> = load("13d-watch-pods-during-foreground-delete")
        .response
        .as_arr()
        .iter()
        .filter_map(|l| l.str_at(&["object", "metadata", "name"]).map(str::to_owned))
        .collect();
    replay
        .pod_names
        .lock()
        .unwrap()
        .insert("t2-worker".into(), recorded_pods.into_iter().collect());
    replay.job_pods("t2-worker", 2).await;
    replay.job_counts("t2-worker", 2).await;

    // "from a fresh list RV"
    let list = replay
        .call(
            "GET",
            &format!("/apis/locust.io/v2/namespaces/{NAMESPACE}/locusttests"),
            "application/json",
            serde_json::Value::Null,
        )
        .await;
    let list_rv: u64 = list
        .str_at(&["metadata", "resourceVersion"])
        .unwrap()
        .parse()
        .unwrap();
    let watches: Vec<RecordedWatch> = [
        "13b-watch-locusttests-during-foreground-delete",
        "13c-watch-jobs-during-foreground-delete",
        "13d-watch-pods-during-foreground-delete",
        "13e-watch-services-during-foreground-delete",
    ]
    .into_iter()
    .map(recorded_watch)
    .collect();
    for watch in &watches {
        let used: u64 = watch
            .fixture
            .raw
            .str_at(&["list_resourceVersion_used"])
            .unwrap()
            .parse()
            .unwrap();
        replay
            .map
            .lock()
            .unwrap()
            .rv(used, list_rv, "list before 13b-13e")
            .unwrap();
    }
    let mut handles = Vec::new();
    for watch in &watches {
        handles.push(replay.start_watch(watch).await);
    }
    // The recorded events start ~530 ms into the watches.
    tokio::time::sleep(Duration::from_millis(500)).await;
    replay.replay("13a-delete-locusttest-foreground-2").await;
    let mut results = Vec::new();
    for handle in handles {
        results.push(handle.await.unwrap());
    }
    // Per watch: the frame, then each object's own sequence of events.
    let mut deleted_rv: BTreeMap<String, u64> = BTreeMap::new();
    let mut first_rv: BTreeMap<String, u64> = BTreeMap::new();
    for (recorded, watched) in watches.iter().zip(&results) {
        replay.check_watch_frame(recorded, watched);
        let name = &recorded.fixture.name;
        let cmp = Cmp {
            replay,
            fixture: name.clone(),
            sent: BTreeSet::new(),
            global_rvs: false,
        };
        let per_object = |lines: &[(Duration, J)], translate: bool| -> BTreeMap<String, Vec<J>> {
            let mut out: BTreeMap<String, Vec<J>> = BTreeMap::new();
            for (_, line) in lines
                .iter()
                .filter(|(_, l)| l.str_at(&["type"]) != Some("BOOKMARK"))
            {
                let object = line
                    .str_at(&["object", "metadata", "name"])
                    .unwrap_or_default();
                let object = if translate {
                    replay.translate(object)
                } else {
                    object.to_owned()
                };
                out.entry(object).or_default().push(line.clone());
            }
            out
        };
        let recorded_objects = per_object(&recorded.lines, true);
        let watched_objects = per_object(&watched.lines, false);
        let describe = |m: &BTreeMap<String, Vec<J>>| -> Vec<String> {
            m.iter()
                .map(|(k, v)| {
                    format!(
                        "{k}: {}",
                        v.iter()
                            .map(|l| l.str_at(&["type"]).unwrap_or_default())
                            .collect::<Vec<_>>()
                            .join(",")
                    )
                })
                .collect()
        };
        if describe(&recorded_objects) != describe(&watched_objects) {
            replay.problem(
                name,
                format!(
                    "events per object: recorded {:?}, served {:?}",
                    describe(&recorded_objects),
                    describe(&watched_objects)
                ),
            );
            continue;
        }
        for (object, recorded_events) in &recorded_objects {
            for (i, (r, a)) in recorded_events
                .iter()
                .zip(&watched_objects[object])
                .enumerate()
            {
                // The facts of each step; the objects themselves come from the unrecorded setup.
                let at = format!("{object}[{i}]");
                let project = |l: &J| {
                    let meta = l.at(&["object", "metadata"]).cloned().unwrap_or(J::Null);
                    let keep = [
                        "name",
                        "finalizers",
                        "deletionTimestamp",
                        "deletionGracePeriodSeconds",
                        "generation",
                        "labels",
                        "ownerReferences",
                    ];
                    let meta = match meta {
                        J::Obj(entries) => J::Obj(
                            entries
                                .into_iter()
                                .filter(|(k, _)| keep.contains(&k.as_str()))
                                .collect(),
                        ),
                        other => other,
                    };
                    J::Obj(vec![
                        (
                            "kind".into(),
                            l.at(&["object", "kind"]).cloned().unwrap_or(J::Null),
                        ),
                        (
                            "apiVersion".into(),
                            l.at(&["object", "apiVersion"]).cloned().unwrap_or(J::Null),
                        ),
                        ("metadata".into(), meta),
                    ])
                };
                let (pr, pa) = (project(r), project(a));
                // Key order is compared on the full objects' shared keys.
                cmp.value(&at, &sort_keys(&pr), &sort_keys(&pa));
            }
            let rvs: Vec<u64> = watched_objects[object]
                .iter()
                .filter_map(|l| {
                    l.str_at(&["object", "metadata", "resourceVersion"])?
                        .parse()
                        .ok()
                })
                .collect();
            if rvs.windows(2).any(|w| w[0] >= w[1]) || rvs.first().is_some_and(|rv| *rv <= list_rv)
            {
                replay.problem(
                    name,
                    format!("{object}: resourceVersions {rvs:?} (list {list_rv})"),
                );
            }
            if let Some(last) = rvs.last() {
                deleted_rv.insert(object.clone(), *last);
            }
            if let Some(first) = rvs.first() {
                first_rv.insert(object.clone(), *first);
            }
        }
        // Bookmark objects: zero-valued objects of the watched kind.
        let recorded_bookmark = recorded
            .lines
            .iter()
            .find(|(_, l)| l.str_at(&["type"]) == Some("BOOKMARK"));
        let watched_bookmark = watched
            .lines
            .iter()
            .find(|(_, l)| l.str_at(&["type"]) == Some("BOOKMARK"));
        if let (Some((_, r)), Some((_, a))) = (recorded_bookmark, watched_bookmark) {
            cmp.value("BOOKMARK", r, a);
        }
    }
    // Causality across the watches: the owner goes first into deletion and last out of it; the
    // Job goes after its pods.
    let t2_first = first_rv.get("t2").copied().unwrap_or_default();
    let t2_last = deleted_rv.get("t2").copied().unwrap_or_default();
    for (object, rv) in &first_rv {
        if object != "t2" && *rv <= t2_first {
            replay.problem(
                "13b-13e",
                format!(
                    "{object} changed (rv {rv}) before its owner t2 was marked (rv {t2_first})"
                ),
            );
        }
    }
    for (object, rv) in &deleted_rv {
        if object != "t2" && *rv >= t2_last {
            replay.problem(
                "13b-13e",
                format!("{object} deleted (rv {rv}) after its owner t2 (rv {t2_last})"),
            );
        }
        if object.starts_with("t2-worker-")
            && deleted_rv.get("t2-worker").is_some_and(|job| rv >= job)
        {
            replay.problem(
                "13b-13e",
                format!("pod {object} deleted (rv {rv}) after its Job"),
            );
        }
    }
}

/// The same value with object keys sorted (for comparisons where key order is not the point).
fn sort_keys(value: &J) -> J {
    match value {
        J::Obj(entries) => {
            let mut entries: Vec<(String, J)> = entries
                .iter()
                .map(|(k, v)| (k.clone(), sort_keys(v)))
                .collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            J::Obj(entries)
        }
        J::Arr(items) => J::Arr(items.iter().map(sort_keys).collect()),
        other => other.clone(),
    }
}
