//! Which objects belong to which test: tests of the same name in two namespaces each get
//! children owned by them alone; a test deleted and created again under the same name never
//! adopts the children of the one before.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Service;
use kube::api::DeleteParams;
use locust_operator::api::conditions::{reasons, types};
use locust_operator::status::event_reasons;

use crate::e2e::poll;
use crate::init_logs;
use crate::objects::{WAIT, occurrences, owner_uid};
use crate::operator::Options;
use crate::scenario::Scenario;
use crate::test_status::{has, phase};

#[tokio::test]
async fn same_name_in_two_namespaces() {
    init_logs();
    Scenario::run_without_operator(async |s| {
        let other = s.create_namespace().await;
        let mut options = Options::new();
        options.extra_namespaces = vec![other.namespace().to_owned()];
        s.start_operator(options);
        let name = "twin";
        let first = s.create(name, 1).await;
        let second = other.create(name, 2).await;
        assert_ne!(first, second);
        let here = s.children(name).await;
        let there = other.children(name).await;
        for (kids, uid) in [(&here, &first), (&there, &second)] {
            for meta in [
                &kids.service.metadata,
                &kids.master.metadata,
                &kids.worker.metadata,
            ] {
                assert_eq!(
                    owner_uid(meta),
                    std::slice::from_ref(uid),
                    "{:?}",
                    meta.namespace
                );
            }
        }
        assert_eq!(here.worker.spec.as_ref().unwrap().parallelism, Some(1));
        assert_eq!(there.worker.spec.as_ref().unwrap().parallelism, Some(2));
        // Only the first runs; the other stays Pending.
        let (master, _) = s.run_to_running(name, 1).await;
        s.finish_master(name, &master).await;
        s.wait_for(name, "Succeeded", |t| phase(t) == "Succeeded")
            .await;
        let twin = other
            .wait_for(name, "Pending, Ready", |t| {
                has(t, types::READY, "True", reasons::RESOURCES_CREATED)
            })
            .await;
        assert_eq!(phase(&twin), "Pending");
        assert_eq!(twin["status"]["expectedWorkers"], 2);
        let list = other.events(name).await;
        assert_eq!(occurrences(&list, event_reasons::TEST_SUCCEEDED), 0);
        assert_eq!(occurrences(&list, "Created"), 1);
    })
    .await;
}

#[tokio::test]
async fn rapid_create_delete_create_never_adopts() {
    init_logs();
    Scenario::run(Options::new(), async |s| {
        let name = "again";
        let old_uid = s.create(name, 1).await;
        let old = s.children(name).await;
        s.locust_tests("v2")
            .delete(name, &DeleteParams::background())
            .await
            .unwrap();
        let new_uid = s.create(name, 2).await;
        assert_ne!(old_uid, new_uid);
        // The garbage collector removes the old children (done here when the API server has
        // none, as envtest).
        for child in [format!("{name}-master"), format!("{name}-worker")] {
            if let Ok(Some(job)) = s.api::<Job>().get_opt(&child).await
                && owner_uid(&job.metadata) == [old_uid.clone()]
            {
                let _ = s
                    .api::<Job>()
                    .delete(&child, &DeleteParams::background())
                    .await;
            }
        }
        if let Ok(Some(service)) = s.api::<Service>().get_opt(&format!("{name}-master")).await
            && owner_uid(&service.metadata) == [old_uid.clone()]
        {
            let _ = s
                .api::<Service>()
                .delete(&format!("{name}-master"), &DeleteParams::background())
                .await;
        }
        // New children, owned by the new test only, never the old objects.
        let kids = poll("children of the new test", WAIT, || async {
            let kids = s.children(name).await;
            let owned = [
                &kids.service.metadata,
                &kids.master.metadata,
                &kids.worker.metadata,
            ]
            .iter()
            .all(|m| owner_uid(m) == [new_uid.clone()]);
            if owned {
                Ok(kids)
            } else {
                Err(kids.versions())
            }
        })
        .await;
        for (now, then) in kids.versions().iter().zip(old.versions()) {
            assert_ne!(now.1, then.1, "{} is a new object", now.0);
        }
        assert_eq!(kids.worker.spec.as_ref().unwrap().parallelism, Some(2));
        let test = s
            .wait_for(name, "Ready", |t| {
                has(t, types::READY, "True", reasons::RESOURCES_CREATED)
            })
            .await;
        assert_eq!(test["metadata"]["uid"], new_uid.as_str());
        assert_eq!(test["status"]["expectedWorkers"], 2);
    })
    .await;
}
