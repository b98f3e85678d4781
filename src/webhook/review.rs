//! An AdmissionReview read straight from the request body into typed structs, in one pass:
//! the request's fields with kube's types and rules, and its objects as typed LocustTests (a
//! v1 one converted to v2) rather than as untyped JSON.
//!
//! This is the common case's decoder. It reads only what kube's `AdmissionReview` reads
//! the same way (the same field types, optional fields, ignored unknown fields) and fails on
//! anything else — duplicate keys, an object whose `apiVersion` is not its first key or not
//! a served version, an object that does not read as a LocustTest, a `response` in the
//! request — so that [`super::admission::admit`] can leave every unusual review to the
//! untyped reading, which gives the precise answers and error messages.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use k8s_openapi::api::authentication::v1::UserInfo;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use kube::core::admission::Operation;
use kube::core::{GroupVersionKind, GroupVersionResource};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::api::{API_VERSION_V1, API_VERSION_V2, v1, v2};
use crate::conversion::v1_to_v2;

/// An `admission.k8s.io/v1` AdmissionReview as the API server sends it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
#[serde(remote = "Self")]
pub struct TypedReview {
    /// `apiVersion` of the review.
    pub api_version: String,
    /// `kind` of the review.
    pub kind: String,
    /// The request (required here; a review without one is left to the untyped reading).
    pub request: TypedRequest,
    /// Never in a request: read only to fail, so that kube's reading of it decides.
    #[allow(dead_code)]
    #[serde(default)]
    response: Option<Refused>,
}

impl<'de> Deserialize<'de> for TypedReview {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ObjectOnly::<Self>(PhantomData))
    }
}

impl TypedReview {
    /// Reads `body`, or fails on anything the untyped reading must answer.
    pub fn from_slice(body: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(body)
    }
}

/// The request of a [`TypedReview`]: kube's `AdmissionRequest` fields with its types (those
/// the webhooks do not use are still read, so that what kube rejects is not accepted here).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
#[serde(remote = "Self")]
pub struct TypedRequest {
    /// Echoed in the response.
    pub uid: String,
    /// Kind of the object.
    pub kind: GroupVersionKind,
    #[allow(dead_code)] // read for its type check only
    resource: GroupVersionResource,
    /// The subresource (`status`, `scale`), if any.
    #[serde(default)]
    pub sub_resource: Option<String>,
    #[allow(dead_code)]
    #[serde(default)]
    request_kind: Option<GroupVersionKind>,
    #[allow(dead_code)]
    #[serde(default)]
    request_resource: Option<GroupVersionResource>,
    #[allow(dead_code)]
    #[serde(default)]
    request_sub_resource: Option<String>,
    #[allow(dead_code)]
    #[serde(default)]
    name: String,
    #[allow(dead_code)]
    #[serde(default)]
    namespace: Option<String>,
    /// CREATE, UPDATE, DELETE or CONNECT.
    pub operation: Operation,
    #[allow(dead_code)]
    user_info: UserInfo,
    /// The new object (none on DELETE).
    pub object: Option<TypedObject>,
    /// The existing object (UPDATE, DELETE).
    pub old_object: Option<TypedObject>,
    #[allow(dead_code)]
    #[serde(default)]
    dry_run: bool,
    #[allow(dead_code)]
    #[serde(default)]
    options: Option<IgnoredAny>,
}

impl<'de> Deserialize<'de> for TypedRequest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ObjectOnly::<Self>(PhantomData))
    }
}

/// A struct with a derived reading (`#[serde(remote = "Self")]`), which alone would also take
/// a JSON array, field by field, where kube's reading takes only an object.
trait Derived: Sized {
    fn derived<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error>;
}

impl Derived for TypedReview {
    fn derived<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        TypedReview::deserialize(deserializer)
    }
}

impl Derived for TypedRequest {
    fn derived<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        TypedRequest::deserialize(deserializer)
    }
}

/// Reads a JSON object, only, with a [`Derived`] reading.
struct ObjectOnly<T>(PhantomData<T>);

impl<'de, T: Derived> Visitor<'de> for ObjectOnly<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::derived(de::value::MapAccessDeserializer::new(map))
    }
}

/// A request's object as a v2 LocustTest as written (no defaults filled in). Its
/// `metadata.managedFields` are read (with kube's types) but not kept: no webhook decision
/// reads them, and their `fieldsV1` trees were a third of the reading.
#[derive(Debug)]
pub struct TypedObject {
    /// Whether the object was `locust.io/v2` (else `locust.io/v1`, converted).
    pub v2: bool,
    /// The test.
    pub test: v2::LocustTest,
}

impl<'de> Deserialize<'de> for TypedObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ObjectVisitor)
    }
}

/// The top-level keys of an object.
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum Key {
    ApiVersion,
    Kind,
    Metadata,
    Spec,
    Status,
    #[serde(other)]
    Other,
}

struct ObjectVisitor;

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = TypedObject;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a LocustTest object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TypedObject, A::Error> {
        // The API server writes objects with sorted keys: `apiVersion` first, which says how to
        // read the rest in the same pass.
        if !matches!(map.next_key::<Key>()?, Some(Key::ApiVersion)) {
            return Err(de::Error::custom("apiVersion is not the first key"));
        }
        let api_version: std::borrow::Cow<'de, str> = map.next_value()?;
        match api_version.as_ref() {
            API_VERSION_V2 => {
                let (metadata, spec, status) =
                    fields::<A, v2::LocustTestSpec, v2::LocustTestStatus>(map)?;
                Ok(TypedObject {
                    v2: true,
                    test: v2::LocustTest {
                        metadata,
                        spec,
                        status,
                    },
                })
            }
            API_VERSION_V1 => {
                let (metadata, spec, status) =
                    fields::<A, v1::LocustTestSpec, v1::LocustTestStatus>(map)?;
                Ok(TypedObject {
                    v2: false,
                    test: v1_to_v2(v1::LocustTest {
                        metadata,
                        spec,
                        status,
                    }),
                })
            }
            _ => Err(de::Error::custom("not a served apiVersion")),
        }
    }
}

/// The keys after `apiVersion`: `kind` (a string, required), `metadata` and `spec` (required),
/// `status` (optional), others ignored; a key twice is an error.
fn fields<'de, A, Spec, Status>(mut map: A) -> Result<(ObjectMeta, Spec, Option<Status>), A::Error>
where
    A: MapAccess<'de>,
    Spec: Deserialize<'de>,
    Status: Deserialize<'de>,
{
    let (mut kind, mut metadata, mut spec, mut status) = (None, None, None, None);
    while let Some(key) = map.next_key::<Key>()? {
        match key {
            Key::ApiVersion => return Err(de::Error::duplicate_field("apiVersion")),
            Key::Kind if kind.is_none() => {
                kind = Some(map.next_value::<std::borrow::Cow<'de, str>>()?);
            }
            Key::Metadata if metadata.is_none() => {
                metadata = Some(map.next_value::<Metadata>()?.0);
            }
            Key::Spec if spec.is_none() => spec = Some(map.next_value()?),
            Key::Status if status.is_none() => status = Some(map.next_value::<Option<Status>>()?),
            Key::Other => {
                map.next_value::<IgnoredAny>()?;
            }
            Key::Kind | Key::Metadata | Key::Spec | Key::Status => {
                return Err(de::Error::custom("duplicate key"));
            }
        }
    }
    match (kind, metadata, spec) {
        (Some(_), Some(metadata), Some(spec)) => Ok((metadata, spec, status.flatten())),
        _ => Err(de::Error::custom("kind, metadata or spec missing")),
    }
}

/// A value that never reads.
#[derive(Debug)]
struct Refused;

impl<'de> Deserialize<'de> for Refused {
    fn deserialize<D: Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(de::Error::custom("not read here"))
    }
}

/// The answer to an admission review, written once: keys in the order (sorted) and form
/// (the patch as base64) of the untyped answer.
#[derive(Debug, Serialize)]
pub struct Answer {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    kind: &'static str,
    response: AnswerResponse,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AnswerResponse {
    allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch_type: Option<&'static str>,
    status: AnswerStatus,
    uid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    warnings: Option<Vec<String>>,
}

#[derive(Debug, Default, Serialize)]
struct AnswerStatus {
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'static str>,
}

impl Answer {
    fn new(response: AnswerResponse) -> Self {
        Answer {
            api_version: super::admission::ADMISSION_API_VERSION,
            kind: "AdmissionReview",
            response,
        }
    }

    /// Allowed, nothing else.
    pub fn allow(uid: String) -> Self {
        Self::new(AnswerResponse {
            allowed: true,
            patch: None,
            patch_type: None,
            status: AnswerStatus::default(),
            uid,
            warnings: None,
        })
    }

    /// Denied with an HTTP-like `code`, a `reason` and a message.
    pub fn deny(uid: String, code: u16, reason: &'static str, message: String) -> Self {
        Self::new(AnswerResponse {
            allowed: false,
            patch: None,
            patch_type: None,
            status: AnswerStatus {
                code: Some(code),
                // kube leaves an empty message out.
                message: (!message.is_empty()).then_some(message),
                reason: Some(reason),
                status: Some("Failure"),
            },
            uid,
            warnings: None,
        })
    }

    /// Allowed with a JSON Patch (already encoded as JSON).
    pub fn patch(uid: String, patch: &[u8]) -> Self {
        use base64::Engine;
        let mut answer = Self::allow(uid);
        answer.response.patch = Some(base64::engine::general_purpose::STANDARD.encode(patch));
        answer.response.patch_type = Some("JSONPatch");
        answer
    }

    /// With these warnings (none: no `warnings` key).
    #[must_use]
    pub fn with_warnings(mut self, warnings: Vec<String>) -> Self {
        self.response.warnings = Some(warnings);
        self
    }

    /// Whether the request is allowed.
    pub fn allowed(&self) -> bool {
        self.response.allowed
    }

    /// Whether the answer carries a patch.
    pub fn patched(&self) -> bool {
        self.response.patch.is_some()
    }

    /// Whether the answer carries warnings.
    pub fn warned(&self) -> bool {
        self.response
            .warnings
            .as_ref()
            .is_some_and(|w| !w.is_empty())
    }
}

/// `metadata` read as k8s-openapi's `ObjectMeta` reads it (an object; the same keys and types;
/// a repeated key overrides; unknown keys ignored), except that `managedFields` is only
/// checked: read with `ManagedFieldsEntry`'s types, `fieldsV1` (any JSON) skipped, not kept.
struct Metadata(ObjectMeta);

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum MetaKey {
    Annotations,
    CreationTimestamp,
    DeletionGracePeriodSeconds,
    DeletionTimestamp,
    Finalizers,
    GenerateName,
    Generation,
    Labels,
    ManagedFields,
    Name,
    Namespace,
    OwnerReferences,
    ResourceVersion,
    SelfLink,
    Uid,
    #[serde(other)]
    Other,
}

impl<'de> Deserialize<'de> for Metadata {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(MetadataVisitor)
    }
}

struct MetadataVisitor;

impl<'de> Visitor<'de> for MetadataVisitor {
    type Value = Metadata;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("ObjectMeta")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Metadata, A::Error> {
        let mut meta = ObjectMeta::default();
        while let Some(key) = map.next_key::<MetaKey>()? {
            match key {
                MetaKey::Annotations => {
                    meta.annotations = map.next_value::<Option<BTreeMap<String, String>>>()?;
                }
                MetaKey::CreationTimestamp => {
                    meta.creation_timestamp = map.next_value::<Option<Time>>()?;
                }
                MetaKey::DeletionGracePeriodSeconds => {
                    meta.deletion_grace_period_seconds = map.next_value::<Option<i64>>()?;
                }
                MetaKey::DeletionTimestamp => {
                    meta.deletion_timestamp = map.next_value::<Option<Time>>()?;
                }
                MetaKey::Finalizers => {
                    meta.finalizers = map.next_value::<Option<Vec<String>>>()?;
                }
                MetaKey::GenerateName => meta.generate_name = map.next_value::<Option<String>>()?,
                MetaKey::Generation => meta.generation = map.next_value::<Option<i64>>()?,
                MetaKey::Labels => {
                    meta.labels = map.next_value::<Option<BTreeMap<String, String>>>()?;
                }
                MetaKey::ManagedFields => {
                    map.next_value::<Option<Vec<ManagedFieldsEntry>>>()?;
                }
                MetaKey::Name => meta.name = map.next_value::<Option<String>>()?,
                MetaKey::Namespace => meta.namespace = map.next_value::<Option<String>>()?,
                MetaKey::OwnerReferences => {
                    meta.owner_references = map.next_value::<Option<Vec<OwnerReference>>>()?;
                }
                MetaKey::ResourceVersion => {
                    meta.resource_version = map.next_value::<Option<String>>()?;
                }
                MetaKey::SelfLink => meta.self_link = map.next_value::<Option<String>>()?,
                MetaKey::Uid => meta.uid = map.next_value::<Option<String>>()?,
                MetaKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Metadata(meta))
    }
}

/// One `managedFields` entry, checked as k8s-openapi's `ManagedFieldsEntry` reads it (a
/// repeated key is an error here: stricter, so such an object goes the untyped way).
#[derive(Deserialize)]
#[serde(remote = "Self")]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // read for its type checks only
struct ManagedFieldsEntry {
    api_version: Option<String>,
    fields_type: Option<String>,
    /// `FieldsV1` is any JSON.
    fields_v1: Option<IgnoredAny>,
    manager: Option<String>,
    operation: Option<String>,
    subresource: Option<String>,
    time: Option<Time>,
}

impl Derived for ManagedFieldsEntry {
    fn derived<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        ManagedFieldsEntry::deserialize(deserializer)
    }
}

impl<'de> Deserialize<'de> for ManagedFieldsEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ObjectOnly::<Self>(PhantomData))
    }
}
