//! A container as a local process: its command line, environment and working directory as the
//! container would see them, with the paths of its volume mounts mapped into the pod's
//! directory (the process sees `/lotest/src/locustfile.py` as
//! `<pod dir>/fs/lotest/src/locustfile.py`), its own loopback address, and its output in a log
//! file. Stopped with SIGTERM, then SIGKILL after the grace period, to its whole process group.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// What a container runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Launch {
    /// The program (absolute, or looked up in `PATH` of [`Launch::env`]).
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Its whole environment.
    pub env: BTreeMap<String, String>,
    /// Its working directory.
    pub cwd: PathBuf,
    /// Its output (stdout and stderr, appended).
    pub log: PathBuf,
}

/// Where a container's paths are on this machine: mount path → local directory, longest first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Mounts(Vec<(String, PathBuf)>);

impl Mounts {
    /// From `(mount path, local directory)` pairs.
    pub fn new(mut pairs: Vec<(String, PathBuf)>) -> Self {
        for (path, _) in &mut pairs {
            while path.len() > 1 && path.ends_with('/') {
                path.pop();
            }
        }
        // The root is not mapped: a process sees this machine's files beside its mounts.
        pairs.retain(|(path, _)| path != "/");
        pairs.sort_by_key(|(path, _)| std::cmp::Reverse(path.len()));
        Self(pairs)
    }

    /// `text` with every mounted path in it (at its start, or after `=`, `:`, `,` or a space,
    /// followed by its end or `/`) pointing into the local directory.
    pub fn rewrite(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        let mut at_boundary = true;
        'scan: while !rest.is_empty() {
            if at_boundary {
                for (path, local) in &self.0 {
                    if let Some(after) = rest.strip_prefix(path.as_str())
                        && (after.is_empty() || after.starts_with('/'))
                    {
                        out.push_str(&local.to_string_lossy());
                        rest = after;
                        at_boundary = false;
                        continue 'scan;
                    }
                }
            }
            let Some(c) = rest.chars().next() else { break };
            out.push(c);
            at_boundary = matches!(c, '=' | ':' | ',' | ' ');
            rest = &rest[c.len_utf8()..];
        }
        out
    }
}

/// A started process (the leader of its own process group).
pub struct Process {
    child: Child,
    pid: Option<i32>,
}

impl Process {
    /// Starts `launch`.
    pub fn start(launch: &Launch) -> std::io::Result<Self> {
        if let Some(parent) = launch.log.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::create_dir_all(&launch.cwd)?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&launch.log)?;
        let program = resolve(&launch.program, launch.env.get("PATH").map(String::as_str))
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("executable file not found in $PATH: {:?}", launch.program),
                )
            })?;
        let child = Command::new(program)
            .args(&launch.args)
            .env_clear()
            .envs(&launch.env)
            .current_dir(&launch.cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .process_group(0)
            .kill_on_drop(true)
            .spawn()?;
        let pid = child.id().and_then(|id| i32::try_from(id).ok());
        Ok(Self { child, pid })
    }

    /// Waits for it to exit; its exit code (128 + signal when killed by one).
    pub async fn wait(&mut self) -> i32 {
        match self.child.wait().await {
            Ok(status) => exit_code(status),
            Err(_) => 128 + libc::SIGKILL,
        }
    }

    /// SIGTERM to its process group, SIGKILL after `grace`; waits until it has exited.
    pub async fn stop(&mut self, grace: Duration) -> i32 {
        self.signal(libc::SIGTERM);
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(Ok(status)) => {
                // Whatever it left in its group goes too.
                self.signal(libc::SIGKILL);
                exit_code(status)
            }
            _ => {
                self.signal(libc::SIGKILL);
                self.wait().await
            }
        }
    }

    fn signal(&self, signal: i32) {
        if let Some(pid) = self.pid {
            // SAFETY: kill(2) with a negative pid signals that process group; no memory is
            // touched. The group is the one this process leads (process_group(0)).
            unsafe {
                libc::kill(-pid, signal);
            }
        }
    }
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1)
}

/// `program` itself when it has a `/`, else the first executable of that name on `path`.
fn resolve(program: &str, path: Option<&str>) -> Option<PathBuf> {
    if program.contains('/') {
        return Some(PathBuf::from(program));
    }
    path.unwrap_or_default()
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The environment the node gives every process of a pod before the container's own: a
/// `PATH` with the image's programs first, a home, the pod's address for Locust's listeners
/// (`LOCUST_WEB_HOST`, `LOCUST_MASTER_BIND_HOST`: the pod's own network), and the cluster DNS.
pub struct NodeEnv<'a> {
    /// The image's `bin` directory.
    pub bin: Option<&'a Path>,
    /// The pod's name.
    pub pod: &'a str,
    /// The pod's namespace.
    pub namespace: &'a str,
    /// The pod's address.
    pub address: Ipv4Addr,
    /// The pod's home directory.
    pub home: &'a Path,
    /// The DNS modules ([`super::python::Pythons::site`]).
    pub site: &'a Path,
    /// The hosts file.
    pub hosts: &'a Path,
}

impl NodeEnv<'_> {
    /// As variables.
    pub fn variables(&self) -> BTreeMap<String, String> {
        let mut path = String::new();
        if let Some(bin) = self.bin {
            path.push_str(&bin.to_string_lossy());
            path.push(':');
        }
        path.push_str("/usr/local/bin:/usr/bin:/bin");
        let address = self.address.to_string();
        [
            ("PATH", path),
            ("HOME", self.home.to_string_lossy().into_owned()),
            ("HOSTNAME", self.pod.to_owned()),
            ("LANG", "C.UTF-8".to_owned()),
            ("PYTHONUNBUFFERED", "1".to_owned()),
            ("PYTHONPATH", self.site.to_string_lossy().into_owned()),
            (
                "GEVENT_RESOLVER",
                super::python::GEVENT_RESOLVER_CLASS.to_owned(),
            ),
            (
                "LOCUST_SANDBOX_HOSTS",
                self.hosts.to_string_lossy().into_owned(),
            ),
            ("LOCUST_SANDBOX_NAMESPACE", self.namespace.to_owned()),
            ("LOCUST_WEB_HOST", address.clone()),
            ("LOCUST_MASTER_BIND_HOST", address),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounted_paths_are_rewritten_where_they_start_a_path() {
        let mounts = Mounts::new(vec![
            ("/lotest/src/".into(), PathBuf::from("/tmp/p/fs/lotest/src")),
            (
                "/opt/locust/lib".into(),
                PathBuf::from("/tmp/p/fs/opt/locust/lib"),
            ),
        ]);
        for (input, expected) in [
            (
                "/lotest/src/locustfile.py",
                "/tmp/p/fs/lotest/src/locustfile.py",
            ),
            (
                "--locustfile=/lotest/src/a.py",
                "--locustfile=/tmp/p/fs/lotest/src/a.py",
            ),
            ("/lotest/src", "/tmp/p/fs/lotest/src"),
            ("/lotest/srcx/a.py", "/lotest/srcx/a.py"),
            ("x/lotest/src/a.py", "x/lotest/src/a.py"),
            ("a:/opt/locust/lib", "a:/tmp/p/fs/opt/locust/lib"),
            ("http://host:8080/", "http://host:8080/"),
        ] {
            assert_eq!(mounts.rewrite(input), expected, "{input}");
        }
    }
}
