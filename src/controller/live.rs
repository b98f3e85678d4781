//! Reading the Locust masters of running tests, off the reconcile path.
//!
//! A reconcile of a running test asks [`Live::poll`] to read its master when a read is due;
//! the read runs in a task of its own (bounded in time, size and number at once by
//! [`Masters`]), stores what it found, and triggers a reconcile of the test, which writes the
//! status from [`Live::view`] — only when the read changed something the status shows. A
//! reconcile therefore never waits for a master, and a test's master is read at most once per
//! interval: its numbers, and so its status writes, change at most that often. A master that
//! has never answered is reported unreachable from its second failed read on (its web UI
//! comes up about a second after it starts).
//!
//! Once Locust reports `stopped`, the numbers still move for a few seconds (the workers' last
//! reports): the next read comes [`STOPPED_RECHECK`] later, and from then on every read of a
//! stopped run replaces the final numbers until the master exits. That second read also keeps
//! the full report (Locust's HTML report and CSVs) in the ConfigMap `<test>-report`, owned by
//! the test ([`report::config_map`]); a failed attempt is retried with the next read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::channel::mpsc;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::jiff::Timestamp;
use kube::api::PostParams;
use kube::core::DynamicObject;
use kube::discovery::ApiResource;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Client};
use tokio::time::Instant;

use super::plan::{self, Ownership};
use crate::api::v2::LocustTest;
use crate::locust::client::Masters;
use crate::locust::report;
use crate::locust::stats::{State, Stats};
use crate::names::FIELD_MANAGER;
use crate::status::live::LocustView;

/// Default of `--locust-poll-interval`.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(10);
/// The next read after the first `stopped` one: Locust's numbers settle about 2–3 s after the
/// stop (its answer is cached 2 s, workers report every 3 s).
pub const STOPPED_RECHECK: Duration = Duration::from_secs(3);
/// A test not polled for this long is forgotten (it was deleted: no reconcile says so).
const FORGET_AFTER: Duration = Duration::from_secs(30 * 60);

/// One test whose master is read.
#[derive(Clone, Debug)]
pub struct Target {
    /// The test's namespace.
    pub namespace: String,
    /// The test's name.
    pub name: String,
    /// The test's uid (a recreated test of the same name starts afresh).
    pub uid: String,
    /// The test (the owner of its report).
    pub test: Arc<LocustTest>,
}

impl Target {
    /// The target of `test`.
    pub fn of(test: &LocustTest) -> Self {
        Self {
            namespace: test.metadata.namespace.clone().unwrap_or_default(),
            name: test.metadata.name.clone().unwrap_or_default(),
            uid: test.metadata.uid.clone().unwrap_or_default(),
            test: Arc::new(test.clone()),
        }
    }
}

#[derive(Debug)]
struct Entry {
    view: LocustView,
    reading: bool,
    keeping_report: bool,
    next_read: Instant,
    touched: Instant,
    stopped_reads: u32,
    /// Reads that failed in a row.
    failures: u32,
}

/// The latest reads of every running test's master.
pub struct Live {
    client: Client,
    masters: Masters,
    interval: Duration,
    resource: ApiResource,
    entries: Mutex<HashMap<String, Entry>>,
    /// When forgotten tests were last looked for.
    swept: Mutex<Instant>,
    trigger: mpsc::UnboundedSender<ObjectRef<DynamicObject>>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live")
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

impl Live {
    /// Reads through `masters` every `interval` per test; each read triggers a reconcile of
    /// its test through the returned stream (give it to the controller's `reconcile_on`).
    pub fn new(
        client: Client,
        masters: Masters,
        interval: Duration,
        resource: ApiResource,
    ) -> (Arc<Self>, mpsc::UnboundedReceiver<ObjectRef<DynamicObject>>) {
        let (trigger, triggers) = mpsc::unbounded();
        let live = Arc::new(Self {
            client,
            masters,
            interval: interval.max(Duration::from_secs(1)),
            resource,
            entries: Mutex::default(),
            swept: Mutex::new(Instant::now()),
            trigger,
        });
        (live, triggers)
    }

    /// What is known of the master of the test with `uid`.
    pub fn view(&self, uid: &str) -> LocustView {
        self.entries
            .lock()
            .ok()
            .and_then(|entries| entries.get(uid).map(|e| e.view.clone()))
            .unwrap_or_default()
    }

    /// Starts a read of `test`'s master unless one runs or the last was less than an
    /// interval ago. Returns when the test should be reconciled again for its next read.
    pub fn poll(self: &Arc<Self>, test: &LocustTest) -> Duration {
        let uid = test.metadata.uid.as_deref().unwrap_or_default();
        let now = Instant::now();
        let sweep = self.swept.lock().is_ok_and(|mut swept| {
            let due = now.duration_since(*swept) >= FORGET_AFTER;
            if due {
                *swept = now;
            }
            due
        });
        let Ok(mut entries) = self.entries.lock() else {
            return self.interval;
        };
        if sweep {
            entries.retain(|_, e| now.duration_since(e.touched) < FORGET_AFTER);
        }
        let entry = entries.entry(uid.to_owned()).or_insert_with(|| Entry {
            view: LocustView::default(),
            reading: false,
            keeping_report: false,
            next_read: now,
            touched: now,
            stopped_reads: 0,
            failures: 0,
        });
        entry.touched = now;
        if entry.reading {
            // A read waits for its turn (at most `concurrency` at once) or for its master: the
            // next one is due an interval after it ends, and a read that changed something
            // triggers a reconcile of its own. Looking again sooner would only spin.
            return self.interval;
        }
        if entry.next_read > now {
            return entry
                .next_read
                .saturating_duration_since(now)
                .max(Duration::from_millis(100));
        }
        entry.reading = true;
        let live = Arc::clone(self);
        // Copied only for a read (a report needs its owner), not on every reconcile.
        let target = Target::of(test);
        tokio::spawn(async move { live.read(target).await });
        self.interval
    }

    /// Forgets the test with `uid` (it finished).
    pub fn forget(&self, uid: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(uid);
        }
    }

    /// Tests with an entry (for the benchmarks and tests).
    pub fn len(&self) -> usize {
        self.entries.lock().map_or(0, |e| e.len())
    }

    /// No test has an entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    async fn read(self: Arc<Self>, target: Target) {
        let result = self.masters.stats(&target.namespace, &target.name).await;
        let at = Timestamp::now();
        let now = Instant::now();
        let (keep_report, mut changed) = {
            let Ok(mut entries) = self.entries.lock() else {
                return;
            };
            // Forgotten meanwhile (the test finished): nothing to store.
            let Some(entry) = entries.get_mut(&target.uid) else {
                return;
            };
            entry.reading = false;
            entry.next_read = now + self.interval;
            let before = Significant::of(&entry.view);
            match result {
                Ok(stats) => {
                    if stats.state == State::Stopped {
                        entry.stopped_reads += 1;
                        if entry.stopped_reads == 1 {
                            entry.next_read = now + STOPPED_RECHECK.min(self.interval);
                        }
                        entry.view.stopped = Some((at, stats.clone()));
                    }
                    entry.view.latest = Some((at, stats));
                    entry.view.error = None;
                    entry.failures = 0;
                }
                Err(error) => {
                    tracing::debug!(namespace = %target.namespace, name = %target.name, %error, "cannot read the Locust master");
                    entry.failures += 1;
                    // A master's web UI answers about 1 s after it starts: a first read that
                    // fails before any number was read is not worth a status write.
                    if entry.view.latest.is_some() || entry.failures >= 2 {
                        entry.view.error = Some(error.to_string());
                    }
                }
            }
            let changed = Significant::of(&entry.view) != before;
            let due = entry.stopped_reads >= 2
                && entry.view.report.is_none()
                && !entry.keeping_report
                && entry.view.error.is_none();
            entry.keeping_report |= due;
            (due, changed)
        };
        if keep_report {
            let kept = self.keep_report(&target).await;
            if let Ok(mut entries) = self.entries.lock()
                && let Some(entry) = entries.get_mut(&target.uid)
            {
                entry.keeping_report = false;
                changed = true;
                match kept {
                    Ok(name) => {
                        entry.view.report = Some(name);
                        entry.view.report_error = None;
                    }
                    Err(why) => {
                        tracing::warn!(namespace = %target.namespace, name = %target.name, %why, "cannot keep the report");
                        entry.view.report_error = Some(why);
                    }
                }
            }
        }
        // A read that changed nothing the status shows needs no reconcile: the test's next
        // one (at the interval) starts the next read.
        if changed {
            let reference =
                ObjectRef::new_with(&target.name, self.resource.clone()).within(&target.namespace);
            // The controller stopped: nobody to tell.
            let _ = self.trigger.unbounded_send(reference);
        }
    }

    /// Reads the full report from the master and keeps it in the ConfigMap `<test>-report`;
    /// returns its name, or why not.
    async fn keep_report(&self, target: &Target) -> Result<String, String> {
        let artifacts = self
            .masters
            .artifacts(&target.namespace, &target.name)
            .await
            .map_err(|e| e.to_string())?;
        let config_map = report::config_map(&target.test, &artifacts, Timestamp::now())
            .map_err(|e| e.to_string())?;
        let name = config_map.metadata.name.clone().unwrap_or_default();
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), &target.namespace);
        let params = PostParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PostParams::default()
        };
        match api.create(&params, &config_map).await {
            Ok(_) => Ok(name),
            Err(kube::Error::Api(status)) if status.code == 409 => {
                // Ours from an earlier attempt (or replica), or someone else's: never replaced.
                let existing = api.get(&name).await.map_err(|e| e.to_string())?;
                match plan::ownership(&existing.metadata, &target.uid) {
                    Ownership::Ours => Ok(name),
                    _ => Err(format!(
                        "ConfigMap {name} exists and is not owned by this LocustTest"
                    )),
                }
            }
            Err(error) => Err(format!("cannot create ConfigMap {name}: {error}")),
        }
    }
}

/// What of a [`LocustView`] the status shows, times of reading left out.
#[derive(PartialEq)]
struct Significant {
    latest: Option<Stats>,
    error: Option<String>,
    stopped: Option<Stats>,
    report: Option<String>,
    report_error: Option<String>,
}

impl Significant {
    fn of(view: &LocustView) -> Self {
        Self {
            latest: view.latest.as_ref().map(|(_, stats)| stats.clone()),
            error: view.error.clone(),
            stopped: view.stopped.as_ref().map(|(_, stats)| stats.clone()),
            report: view.report.clone(),
            report_error: view.report_error.clone(),
        }
    }
}
