//! The test as its Locust master reports it, read by the operator from the master's web API
//! (here a master answering what a real Locust 2.43.3 master answered, switched as the run
//! goes on): live numbers in `.status.stats`, `connectedWorkers` from Locust, the
//! `LoadStarted` and `WorkerMissing` events, no numbers but why before the master answers,
//! stale numbers when it answers garbage
//! (the phase never flaps), the results and the report kept once the run stops, and the
//! per-test gauges on `/metrics`, gone with the test.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::DeleteParams;
use locust_operator::locust::client::{MasterAddresses, Resolve};
use locust_operator::status::event_reasons;

use crate::e2e::poll;
use crate::init_logs;
use crate::locust_master::{self, Scripted};
use crate::objects::{WAIT, metric, notes, series};
use crate::operator::Options;
use crate::scenario::Scenario;
use crate::test_status::phase;

/// Every master at one address.
struct At(String);

impl Resolve for At {
    fn master(&self, _: &str, _: &str) -> String {
        self.0.clone()
    }
}

#[tokio::test]
async fn the_run_as_locust_reports_it() {
    init_logs();
    // Not answering yet (a 404, as from something that is not Locust's web UI).
    let master = Scripted::default();
    let address = master.serve().await;
    let mut options = Options::new();
    options.masters = Some(MasterAddresses(Arc::new(At(address))));
    options.poll_interval = Some(Duration::from_secs(1));
    Scenario::run(options, async |s| {
        let name = "live";
        s.create(name, 2).await;
        s.run_to_running(name, 2).await;

        // Running, the master not answering: no numbers, and why.
        let test = s
            .wait_for(name, "the numbers unavailable", |t| {
                t["status"]["stats"]["readError"].is_string()
            })
            .await;
        assert_eq!(
            test["status"]["stats"],
            serde_json::json!({"readError": "the master's web API answered HTTP 404"})
        );
        master.set(
            "/stats/requests",
            locust_master::stats("03-running-steady-stats-requests.json"),
        );

        // Running: Locust's numbers (recording 03: 10 users, 544 requests, 2 workers).
        let test = s
            .wait_for(name, "live numbers", |t| {
                t["status"]["stats"]["requests"] == 544
            })
            .await;
        let stats = &test["status"]["stats"];
        assert_eq!(stats["state"], "running");
        assert_eq!(stats["users"], 10);
        assert_eq!(stats["workers"], 2);
        assert_eq!(stats["failRatio"], 0.488971);
        assert_eq!(stats["requestsPerSecond"], 57.429);
        assert!(stats.get("readError").is_none(), "{stats:#}");
        assert_eq!(test["status"]["connectedWorkers"], 2);
        let started = s.wait_event(name, event_reasons::LOAD_STARTED).await;
        assert_eq!(
            notes(&started, event_reasons::LOAD_STARTED),
            [(
                "Normal".to_owned(),
                "Locust started generating load: 10 users, 2 of 2 workers connected".to_owned()
            )]
        );
        let labels = format!("namespace=\"{}\",name=\"{name}\"", s.namespace());
        let users = series("locust_operator_test_users", &labels);
        poll("the users gauge", WAIT, || async {
            match metric(&s.metrics_text(), &users) {
                Some(10.0) => Ok(()),
                other => Err(other),
            }
        })
        .await;
        let running = series(
            "locust_operator_test_phase",
            &format!("{labels},phase=\"Running\""),
        );
        assert_eq!(metric(&s.metrics_text(), &running), Some(1.0));

        // A worker lost (recording 36): reported missing, by its Locust id.
        master.set(
            "/stats/requests",
            locust_master::stats("36-workers-after-sigkill-missing-stats-requests.json"),
        );
        let test = s
            .wait_for(name, "a missing worker", |t| {
                t["status"]["stats"]["missingWorkers"].is_array()
            })
            .await;
        assert_eq!(
            test["status"]["stats"]["missingWorkers"],
            serde_json::json!(["vm_c64f31e2ce1e47c8a47ed3124b6d6f51"])
        );
        assert_eq!(test["status"]["connectedWorkers"], 1);
        let missing = s.wait_event(name, event_reasons::WORKER_MISSING).await;
        assert_eq!(
            notes(&missing, event_reasons::WORKER_MISSING),
            [(
                "Warning".to_owned(),
                "The Locust master lost worker vm_c64f31e2ce1e47c8a47ed3124b6d6f51 (no heartbeat): it reports it missing".to_owned()
            )]
        );

        // Garbage (an HTML page): the numbers kept, said to be stale; still Running.
        master.set(
            "/stats/requests",
            locust_master::ok("text/html", "", b"<html><body>proxy error</body></html>"),
        );
        let test = s
            .wait_for(name, "stale numbers", |t| {
                t["status"]["stats"]["readError"].is_string()
            })
            .await;
        assert_eq!(phase(&test), "Running");
        assert_eq!(test["status"]["stats"]["requests"], 679);
        let stale = test["status"]["stats"]["readError"].as_str().unwrap();
        assert!(stale.starts_with("the answer is not JSON"), "{stale}");
        // Without Locust's count, the worker Job's ready pods are the connected workers.
        assert_eq!(test["status"]["connectedWorkers"], 2);

        // Stopped (recording 27, the final numbers): results and the report kept.
        master.set_all(locust_master::stopped_master_with_stats());
        let test = s
            .wait_for(name, "the report kept", |t| {
                t["status"]["results"]["report"] == format!("{name}-report")
            })
            .await;
        let results = &test["status"]["results"];
        assert_eq!(results["available"], true);
        assert_eq!(results["requests"], 1262);
        assert_eq!(results["failures"], 634);
        assert_eq!(results["p95ResponseTimeMs"], 5.0);
        assert_eq!(results["errors"][0]["occurrences"], 634);
        let report = s
            .api::<ConfigMap>()
            .get(&format!("{name}-report"))
            .await
            .unwrap();
        let owner = &report.metadata.owner_references.unwrap()[0];
        assert_eq!((owner.kind.as_str(), owner.name.as_str()), ("LocustTest", name));

        // The test goes, and its series with it.
        s.locust_tests("v2")
            .delete(name, &DeleteParams::default())
            .await
            .unwrap();
        poll("the series gone", WAIT, || async {
            let text = s.metrics_text();
            match (metric(&text, &users), metric(&text, &running)) {
                (None, None) => Ok(()),
                other => Err(other),
            }
        })
        .await;
    })
    .await;
}
