//! The Locust "images" of the sandbox: `locustio/locust:<version>` runs Locust `<version>` from
//! a virtualenv made with pip on first use and reused afterwards, and the cluster DNS its
//! processes see (a `sitecustomize` module on their `PYTHONPATH`).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::Mutex;

/// `sitecustomize.py`: resolves cluster names (`<service>`, `<service>.<namespace>.svc`, …)
/// through the sandbox's hosts file for Python's resolver and ZeroMQ connects.
const SITECUSTOMIZE: &str = include_str!("python/sitecustomize.py");
/// gevent's resolver with the same names (Locust resolves through gevent).
const GEVENT_RESOLVER: &str = include_str!("python/locust_sandbox_resolver.py");
/// The value of `GEVENT_RESOLVER` that selects it.
pub const GEVENT_RESOLVER_CLASS: &str = "locust_sandbox_resolver.Resolver";

/// Why an image cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// Not an image the sandbox can run.
    #[error(
        "image {0:?} cannot be run by the sandbox: it runs locustio/locust:<version> (and the operator's metrics exporter)"
    )]
    Unknown(String),
    /// pip could not install that Locust version.
    #[error(
        "installing locust=={version} with pip failed (the first run of a version needs access to PyPI): {detail}"
    )]
    Install {
        /// The version.
        version: String,
        /// pip's last lines.
        detail: String,
    },
    /// The machine lacks what a virtualenv needs.
    #[error(
        "python3 with the venv module is needed to run Locust ({0}); install it (e.g. apt install python3-venv)"
    )]
    NoPython(String),
}

/// What an image runs as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Image {
    /// `locustio/locust:<version>`.
    Locust(String),
    /// `containersol/locust_exporter:<tag>`: the sandbox's own equivalent
    /// ([`super::exporter`]).
    Exporter,
}

impl Image {
    /// What `reference` (`[registry/]repository[:tag][@digest]`) runs as.
    pub fn parse(reference: &str) -> Result<Self, ImageError> {
        let without_digest = reference.split('@').next().unwrap_or_default();
        let (repository, tag) = match without_digest.rsplit_once(':') {
            Some((repository, tag)) if !tag.contains('/') => (repository, tag),
            _ => (without_digest, "latest"),
        };
        let repository = repository
            .strip_prefix("docker.io/")
            .or_else(|| repository.strip_prefix("index.docker.io/"))
            .unwrap_or(repository);
        let version_like = |tag: &str| {
            tag.split('.').count() >= 2
                && tag
                    .split('.')
                    .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_digit()))
        };
        match repository {
            "locustio/locust" if version_like(tag) => Ok(Self::Locust(tag.to_owned())),
            "containersol/locust_exporter" => Ok(Self::Exporter),
            _ => Err(ImageError::Unknown(reference.to_owned())),
        }
    }
}

/// The virtualenvs of the Locust versions, under one cache directory.
pub struct Pythons {
    cache: PathBuf,
    /// Where `sitecustomize.py` and the resolver are (a `PYTHONPATH` entry).
    site: PathBuf,
    /// One install at a time.
    installing: Mutex<()>,
    /// Progress lines for the terminal.
    progress: Box<dyn Fn(&str) + Send + Sync>,
}

impl Pythons {
    /// Virtualenvs under `cache`; the DNS modules written under `state`.
    pub fn new(
        cache: PathBuf,
        state: &Path,
        progress: Box<dyn Fn(&str) + Send + Sync>,
    ) -> std::io::Result<Self> {
        let site = state.join("python");
        std::fs::create_dir_all(&site)?;
        std::fs::write(site.join("sitecustomize.py"), SITECUSTOMIZE)?;
        std::fs::write(site.join("locust_sandbox_resolver.py"), GEVENT_RESOLVER)?;
        Ok(Self {
            cache,
            site,
            installing: Mutex::new(()),
            progress,
        })
    }

    /// The `PYTHONPATH` entry of the DNS modules.
    pub fn site(&self) -> &Path {
        &self.site
    }

    /// Checks that `python3 -m venv` can work here, with one sentence saying what is missing.
    pub async fn preflight() -> Result<(), ImageError> {
        let output = Command::new("python3")
            .args(["-c", "import venv, ensurepip"])
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| ImageError::NoPython(format!("python3 does not start: {e}")))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(ImageError::NoPython(
                String::from_utf8_lossy(&output.stderr)
                    .lines()
                    .last()
                    .unwrap_or("python3 -m venv is not available")
                    .to_owned(),
            ))
        }
    }

    /// The `bin` directory of a virtualenv with Locust `version`, made on first use.
    pub async fn locust(&self, version: &str) -> Result<PathBuf, ImageError> {
        let venv = self.cache.join(format!("locust-{version}"));
        let ready = venv.join(".ready");
        if ready.exists() {
            return Ok(venv.join("bin"));
        }
        let _one = self.installing.lock().await;
        if ready.exists() {
            return Ok(venv.join("bin"));
        }
        (self.progress)(&format!(
            "installing locust=={version} into {} (once; later runs reuse it)",
            venv.display()
        ));
        let install = |detail: String| ImageError::Install {
            version: version.to_owned(),
            detail,
        };
        let _ = std::fs::remove_dir_all(&venv);
        std::fs::create_dir_all(&self.cache).map_err(|e| install(e.to_string()))?;
        let made = Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&venv)
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| ImageError::NoPython(e.to_string()))?;
        if !made.status.success() {
            return Err(ImageError::NoPython(
                String::from_utf8_lossy(&made.stderr).trim().to_owned(),
            ));
        }
        let mut pip = Command::new(venv.join("bin").join("python"))
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--progress-bar",
                "off",
            ])
            .arg(format!("locust=={version}"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| install(e.to_string()))?;
        let mut last = Vec::new();
        let mut collected = 0;
        if let Some(stdout) = pip.stdout.take() {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if line.starts_with("Collecting") {
                    collected += 1;
                    if collected % 10 == 1 {
                        (self.progress)(&format!("  pip: {line} ({collected} packages so far)"));
                    }
                }
                last.push(line);
            }
        }
        if let Some(stderr) = pip.stderr.take() {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                last.push(line);
            }
        }
        let status = pip.wait().await.map_err(|e| install(e.to_string()))?;
        if !status.success() {
            let tail: Vec<String> = last.iter().rev().take(3).rev().cloned().collect();
            return Err(install(tail.join(" / ")));
        }
        std::fs::write(&ready, version).map_err(|e| install(e.to_string()))?;
        (self.progress)(&format!("installed locust=={version}"));
        Ok(venv.join("bin"))
    }
}

#[cfg(test)]
mod tests {
    use super::Image;

    #[test]
    fn images() {
        for (reference, expected) in [
            (
                "locustio/locust:2.43.3",
                Some(Image::Locust("2.43.3".into())),
            ),
            (
                "docker.io/locustio/locust:2.20.0",
                Some(Image::Locust("2.20.0".into())),
            ),
            (
                "locustio/locust:2.43.3@sha256:abc",
                Some(Image::Locust("2.43.3".into())),
            ),
            ("locustio/locust", None),
            ("locustio/locust:latest", None),
            ("nginx:1.27", None),
            ("containersol/locust_exporter:v0.5.0", Some(Image::Exporter)),
        ] {
            assert_eq!(Image::parse(reference).ok(), expected, "{reference}");
        }
    }
}
