//! A Job's pods and status in the e2e suites, whoever runs the Job controller. There is no
//! kubelet anywhere, so pod status is always the test's to write (`memory_apiserver::sim`);
//! the pods themselves and the Job's status depend on [`JobControl`]:
//!
//! - [`JobControl::Controller`]: a Job controller runs (the harness's own, the default; or
//!   kube-controller-manager on a real cluster). It makes the pods and owns Job status: the
//!   test waits for its pods ([`Jobs::pods`], never creating one) and for its status to follow
//!   the pods ([`Jobs::settle`], never writing it).
//! - [`JobControl::Manual`]: none runs (the harness with its Job controller off, or an API
//!   server without kube-controller-manager, as envtest): the test creates the pods and
//!   writes the Job status the Job controller would write from them.
//!
//! [`JOB_CONTROLLER_ENV`] chooses: `on`, `off`, or `auto` (the default: the harness runs its
//! Job controller; on a real cluster the suite probes once whether one runs).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // shared by several test crates; tests fail loudly

use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, Client, ResourceExt};
use memory_apiserver::sim;
use serde_json::json;

/// `on`, `off` or `auto` (default): whether a Job controller runs.
pub const JOB_CONTROLLER_ENV: &str = "LOCUST_E2E_JOB_CONTROLLER";
/// Upper bound of one wait for the Job controller (pods, status).
pub const WAIT: Duration = Duration::from_secs(30);
/// Pause between two polls.
const POLL: Duration = Duration::from_millis(100);

/// What [`JOB_CONTROLLER_ENV`] says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setting {
    /// A Job controller runs (the harness starts its own).
    On,
    /// None runs (the harness starts without its own).
    Off,
    /// The harness starts its own; on a real cluster, probe.
    Auto,
}

/// The setting of [`JOB_CONTROLLER_ENV`]; panics on a value other than `on`, `off`, `auto`.
pub fn setting() -> Setting {
    let value = std::env::var(JOB_CONTROLLER_ENV).unwrap_or_default();
    match value.trim() {
        "" | "auto" => Setting::Auto,
        "on" => Setting::On,
        "off" => Setting::Off,
        other => panic!("{JOB_CONTROLLER_ENV}={other:?}: expected on, off or auto"),
    }
}

/// The harness's options for this run: its Job controller unless the setting is `off`.
pub fn harness_options() -> memory_apiserver::Options {
    memory_apiserver::Options {
        job_controller: setting() != Setting::Off,
        ..memory_apiserver::Options::default()
    }
}

/// Who makes a Job's pods and writes its status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobControl {
    /// A Job controller: the test waits for its pods and status.
    Controller,
    /// None: the test creates the pods and writes the status.
    Manual,
}

impl JobControl {
    /// For a harness started with `options`.
    pub fn of_harness(options: &memory_apiserver::Options) -> Self {
        if options.job_controller {
            Self::Controller
        } else {
            Self::Manual
        }
    }
}

/// What the Job controller makes of a Job's pods (the counts it reports, and whether the Job
/// is done), computed from the pods alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expected {
    /// Pods neither finished nor being deleted.
    pub active: i32,
    /// Of those, the ones with `Ready=True`.
    pub ready: i32,
    /// Pods in phase `Succeeded`.
    pub succeeded: i32,
    /// Pods in phase `Failed`.
    pub failed: i32,
    /// More failures than `backoffLimit`: the Job fails.
    pub fails: bool,
    /// Enough successes (without `completions`: one, and nothing active): the Job completes.
    pub completes: bool,
}

fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default()
}

fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn count(n: usize) -> i32 {
    i32::try_from(n).expect("a pod count fits an i32")
}

impl Expected {
    /// From `job`'s spec and its `pods`.
    pub fn of(job: &Job, pods: &[Pod]) -> Self {
        let active: Vec<&Pod> = pods
            .iter()
            .filter(|p| {
                p.metadata.deletion_timestamp.is_none()
                    && !matches!(phase(p), "Succeeded" | "Failed")
            })
            .collect();
        let succeeded = count(pods.iter().filter(|p| phase(p) == "Succeeded").count());
        let failed = count(pods.iter().filter(|p| phase(p) == "Failed").count());
        let spec = job.spec.as_ref();
        let backoff_limit = spec.and_then(|s| s.backoff_limit).unwrap_or(6);
        let fails = failed > backoff_limit;
        let completes = !fails
            && match spec.and_then(|s| s.completions) {
                None => succeeded > 0 && active.is_empty(),
                Some(completions) => succeeded >= completions,
            };
        Self {
            active: count(active.len()),
            ready: count(active.iter().filter(|p| is_ready(p)).count()),
            succeeded,
            failed,
            fails,
            completes,
        }
    }

    /// Whether `job`'s status says so (a Job controller counts deleted pods as failed too, so
    /// the counts of finished pods are lower bounds).
    fn shown_by(&self, job: &Job) -> bool {
        let status = job.status.clone().unwrap_or_default();
        let uncounted = status.uncounted_terminated_pods.as_ref().is_some_and(|u| {
            u.succeeded.as_ref().is_some_and(|s| !s.is_empty())
                || u.failed.as_ref().is_some_and(|f| !f.is_empty())
        });
        status.active.unwrap_or_default() == self.active
            && status.ready.unwrap_or_default() == self.ready
            && status.succeeded.unwrap_or_default() >= self.succeeded
            && status.failed.unwrap_or_default() >= self.failed
            && !uncounted
            && (!self.fails || finished(job, "Failed"))
            && (!self.completes || finished(job, "Complete"))
    }
}

/// Whether the Job has this terminal condition (`Complete`, `Failed`) with status `True`.
pub fn finished(job: &Job, type_: &str) -> bool {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == type_ && c.status == "True"))
}

/// The Jobs of one namespace, as [`JobControl`] says.
#[derive(Clone)]
pub struct Jobs {
    client: Client,
    namespace: String,
    control: JobControl,
}

impl Jobs {
    /// The Jobs of `namespace`.
    pub fn new(client: Client, namespace: &str, control: JobControl) -> Self {
        Self {
            client,
            namespace: namespace.to_owned(),
            control,
        }
    }

    /// Who makes the pods and writes the status.
    pub fn control(&self) -> JobControl {
        self.control
    }

    /// Whether a Job controller runs.
    pub fn has_controller(&self) -> bool {
        self.control == JobControl::Controller
    }

    fn jobs(&self) -> Api<Job> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn pods_api(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// The Job, which must exist.
    pub async fn get(&self, job: &str) -> Job {
        self.jobs()
            .get(job)
            .await
            .unwrap_or_else(|e| panic!("Job {}/{job}: {e}", self.namespace))
    }

    /// Every pod of this Job (by its uid: not those of an earlier Job of the same name),
    /// oldest first.
    pub async fn all_pods(&self, job: &Job) -> Vec<Pod> {
        let uid = job.uid().expect("a stored Job has a uid");
        let selector = format!("batch.kubernetes.io/controller-uid={uid}");
        let mut pods = self
            .pods_api()
            .list(&ListParams::default().labels(&selector))
            .await
            .unwrap_or_else(|e| panic!("pods of {}: {e}", job.name_any()))
            .items;
        pods.sort_by_key(|p| (p.creation_timestamp(), p.name_any()));
        pods
    }

    /// The pods of this Job that neither finished nor are being deleted, oldest first.
    pub async fn active_pods(&self, job: &Job) -> Vec<Pod> {
        self.all_pods(job)
            .await
            .into_iter()
            .filter(|p| {
                p.metadata.deletion_timestamp.is_none()
                    && !matches!(phase(p), "Succeeded" | "Failed")
            })
            .collect()
    }

    /// `count` active pods of `job`, oldest first: those the Job controller made (waited for,
    /// bounded; never one created), or, without a Job controller, those there are plus new
    /// ones created as it would.
    pub async fn pods(&self, job: &str, count: usize) -> Vec<Pod> {
        match self.control {
            JobControl::Controller => {
                let deadline = tokio::time::Instant::now() + WAIT;
                loop {
                    let current = self.get(job).await;
                    let mut active = self.active_pods(&current).await;
                    if active.len() >= count {
                        active.truncate(count);
                        return active;
                    }
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "the Job controller made {} of {count} pods for Job {}/{job} within \
                         {WAIT:?}; if the API server has no Job controller, set \
                         {JOB_CONTROLLER_ENV}=off",
                        active.len(),
                        self.namespace
                    );
                    tokio::time::sleep(POLL).await;
                }
            }
            JobControl::Manual => {
                let current = self.get(job).await;
                let mut active = self.active_pods(&current).await;
                if active.len() < count {
                    let made = sim::create_job_pods(
                        &self.client,
                        &self.namespace,
                        job,
                        count - active.len(),
                    )
                    .await
                    .unwrap_or_else(|e| panic!("pods of {job}: {e}"));
                    active.extend(made);
                }
                active.truncate(count);
                active
            }
        }
    }

    /// After the kubelet's writes: the Job's status shows its pods as the Job controller
    /// counts them ([`Expected`]), written by the Job controller (waited for, bounded) or,
    /// without one, by the test as it would. A finished Job is left as it is, as the Job
    /// controller does. Returns the Job.
    pub async fn settle(&self, job: &str) -> Job {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let current = self.get(job).await;
            if finished(&current, "Complete") || finished(&current, "Failed") {
                return current;
            }
            let pods = self.all_pods(&current).await;
            let expected = Expected::of(&current, &pods);
            match self.control {
                JobControl::Controller => {
                    if expected.shown_by(&current) {
                        return current;
                    }
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "Job {}/{job} does not show {expected:?} within {WAIT:?}: {:?}",
                        self.namespace,
                        current.status
                    );
                    tokio::time::sleep(POLL).await;
                }
                JobControl::Manual => return self.write(job, expected).await,
            }
        }
    }

    /// Without a Job controller: the status it would write.
    async fn write(&self, job: &str, expected: Expected) -> Job {
        let (client, ns) = (&self.client, self.namespace.as_str());
        let written = if expected.fails {
            sim::fail_job(client, ns, job).await
        } else if expected.completes {
            sim::complete_job(client, ns, job, expected.succeeded).await
        } else {
            sim::set_job_counts(
                client,
                ns,
                job,
                expected.active,
                expected.ready,
                expected.succeeded,
                expected.failed,
            )
            .await
        };
        written.unwrap_or_else(|e| panic!("status of Job {ns}/{job}: {e}"))
    }

    /// `kubectl patch job <job> -p '{"spec":{"parallelism":N}}'` (parallelism is one of the
    /// few mutable fields of a Job's spec).
    pub async fn scale(&self, job: &str, parallelism: i32) -> Job {
        self.jobs()
            .patch(
                job,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"parallelism": parallelism}})),
            )
            .await
            .unwrap_or_else(|e| panic!("scale Job {}/{job}: {e}", self.namespace))
    }
}
