//! A run's report, kept after the master exits: the files a Locust master serves (its HTML
//! report and three CSVs, read by [`Masters::artifacts`](super::client::Masters::artifacts)),
//! gzip-compressed into a ConfigMap `<test>-report` owned by the test, and read back out of it
//! ([`unpack`]). Pure: no I/O, no clock.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::jiff::Timestamp;

use super::client::{Artifacts, MAX_REPORT_BYTES};
use crate::api::LocustTest;
use crate::builders::meta;
use crate::names;

/// Annotation: when the report was read from the master (RFC 3339, UTC).
pub const ANNOTATION_REPORT_TIME: &str = "locust.io/report-time";
/// Annotation: which files the ConfigMap does not hold, and why.
pub const ANNOTATION_REPORT_OMITTED: &str = "locust.io/report-omitted";
/// Most compressed bytes a report ConfigMap holds: the API server refuses a ConfigMap whose
/// data exceeds 1 MiB, and this leaves room for the metadata.
pub const MAX_CONFIG_MAP_BYTES: usize = 900 * 1024;
/// Largest file [`unpack`] restores: none is read larger from a master, so anything larger is
/// not a report's (a gzip bomb is stopped there).
pub const MAX_FILE_BYTES: usize = MAX_REPORT_BYTES;

/// One file of a report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum File {
    /// `report.html`: Locust's HTML report (charts, tables, the locustfile).
    Html,
    /// `requests.csv`: per endpoint counts, response times and percentiles.
    Requests,
    /// `failures.csv`: each distinct failure and its occurrences.
    Failures,
    /// `exceptions.csv`: exceptions the locustfile raised.
    Exceptions,
}

impl File {
    /// Every file, in the order they are left out when the ConfigMap would be too large: the
    /// HTML report first (the largest, and the CSVs hold its numbers), the requests last.
    pub const ALL: [File; 4] = [File::Html, File::Exceptions, File::Failures, File::Requests];

    /// Its name on disk.
    pub fn file_name(self) -> &'static str {
        match self {
            File::Html => "report.html",
            File::Requests => "requests.csv",
            File::Failures => "failures.csv",
            File::Exceptions => "exceptions.csv",
        }
    }

    /// Its key in the ConfigMap's `binaryData` (gzip).
    pub fn key(self) -> &'static str {
        match self {
            File::Html => "report.html.gz",
            File::Requests => "requests.csv.gz",
            File::Failures => "failures.csv.gz",
            File::Exceptions => "exceptions.csv.gz",
        }
    }
}

/// Why a report could not be packed or unpacked.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Compression failed (writing to memory; not expected to happen).
    #[error("cannot compress {key}: {reason}")]
    Compress {
        /// The ConfigMap key.
        key: &'static str,
        /// What failed.
        reason: String,
    },
    /// A key that does not hold gzip data.
    #[error("{key} is not valid gzip data: {reason}")]
    Corrupt {
        /// The ConfigMap key.
        key: &'static str,
        /// What the decoder said.
        reason: String,
    },
    /// A key that unpacks to more than [`MAX_FILE_BYTES`].
    #[error("{key} unpacks to more than {MAX_FILE_BYTES} bytes, more than any report holds")]
    TooLarge {
        /// The ConfigMap key.
        key: &'static str,
    },
}

/// The ConfigMap `<test>-report` that keeps `artifacts` of `test`, read at `time`: in the
/// test's namespace, with the test's labels (component `report`) and its owner reference (so
/// it is deleted with the test), each file gzip-compressed under its [`File::key`]. Files that
/// would take it over [`MAX_CONFIG_MAP_BYTES`] are left out in the order of [`File::ALL`], and
/// [`ANNOTATION_REPORT_OMITTED`] says which and why, as it does for a report the master did not
/// give.
pub fn config_map(
    test: &LocustTest,
    artifacts: &Artifacts,
    time: Timestamp,
) -> Result<ConfigMap, ReportError> {
    let mut omitted = Vec::new();
    let mut files: BTreeMap<File, Vec<u8>> = BTreeMap::new();
    match &artifacts.html {
        Ok(html) => {
            files.insert(File::Html, gzip(File::Html, html)?);
        }
        Err(error) => omitted.push(format!("{}: {error}", File::Html.file_name())),
    }
    for (file, body) in [
        (File::Requests, &artifacts.requests_csv),
        (File::Failures, &artifacts.failures_csv),
        (File::Exceptions, &artifacts.exceptions_csv),
    ] {
        files.insert(file, gzip(file, body)?);
    }
    let all: usize = files.values().map(Vec::len).sum();
    for file in File::ALL {
        let total: usize = files.values().map(Vec::len).sum();
        if total <= MAX_CONFIG_MAP_BYTES {
            break;
        }
        if let Some(dropped) = files.remove(&file) {
            omitted.push(format!(
                "{}: {} bytes compressed, of {all} for the whole report, over the \
                 {MAX_CONFIG_MAP_BYTES} bytes a report ConfigMap keeps",
                file.file_name(),
                dropped.len()
            ));
        }
    }
    let name = meta::test_name(test);
    let mut metadata = meta::owned_meta(test, names::report_name(name), names::report_labels(name));
    let mut annotations = BTreeMap::from([(
        ANNOTATION_REPORT_TIME.to_owned(),
        // Seconds, as Kubernetes writes its own times.
        time.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )]);
    if !omitted.is_empty() {
        annotations.insert(ANNOTATION_REPORT_OMITTED.to_owned(), omitted.join("; "));
    }
    metadata.annotations = Some(annotations);
    Ok(ConfigMap {
        metadata,
        binary_data: Some(
            files
                .into_iter()
                .map(|(file, data)| (file.key().to_owned(), ByteString(data)))
                .collect(),
        ),
        ..ConfigMap::default()
    })
}

/// What a report ConfigMap holds, unpacked.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Unpacked {
    /// The files it holds, in the order of [`File::ALL`] reversed (CSVs first).
    pub files: Vec<(File, Vec<u8>)>,
    /// The files it does not hold.
    pub missing: Vec<File>,
    /// Why, as its [`ANNOTATION_REPORT_OMITTED`] says.
    pub omitted: Option<String>,
}

/// The files of a report ConfigMap, uncompressed.
pub fn unpack(config_map: &ConfigMap) -> Result<Unpacked, ReportError> {
    let mut unpacked = Unpacked {
        omitted: config_map
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(ANNOTATION_REPORT_OMITTED))
            .cloned(),
        ..Unpacked::default()
    };
    for file in File::ALL.into_iter().rev() {
        match config_map
            .binary_data
            .as_ref()
            .and_then(|data| data.get(file.key()))
        {
            Some(data) => unpacked.files.push((file, gunzip(file.key(), &data.0)?)),
            None => unpacked.missing.push(file),
        }
    }
    Ok(unpacked)
}

fn gzip(file: File, data: &[u8]) -> Result<Vec<u8>, ReportError> {
    let error = |e: std::io::Error| ReportError::Compress {
        key: file.key(),
        reason: e.to_string(),
    };
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(data).map_err(error)?;
    encoder.finish().map_err(error)
}

fn gunzip(key: &'static str, data: &[u8]) -> Result<Vec<u8>, ReportError> {
    let mut out = Vec::new();
    // One byte more than allowed tells "too large" without reading all of a bomb.
    GzDecoder::new(data)
        .take(MAX_FILE_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| ReportError::Corrupt {
            key,
            reason: e.to_string(),
        })?;
    if out.len() > MAX_FILE_BYTES {
        return Err(ReportError::TooLarge { key });
    }
    Ok(out)
}
