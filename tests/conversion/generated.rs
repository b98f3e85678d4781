//! Generated round trips: v1 and v2 specs from a small deterministic LCG (no extra dependencies)
//! round-trip losslessly.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Toleration,
};
use locust_operator::api::{v1, v2};
use locust_operator::conversion::{
    convert_object, v1_spec_to_v2, v1_to_v2, v2_spec_to_v1, v2_to_v1,
};
use serde_json::json;

use crate::{V1, V2, parse, stash_of, to_json, v1_object, v2_object};

/// Deterministic linear congruential generator (Knuth's MMIX constants).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }

    fn word(&mut self) -> String {
        const WORDS: &[&str] = &[
            "a",
            "app",
            "pool",
            "zone",
            "team",
            "tier",
            "kubernetes.io/arch",
            "example.com/owner",
            "x-y_z",
            "Z",
            "load",
            "perf",
            "",
            "eu-west-1a",
            "v1.2.3",
            "with space",
        ];
        self.pick(WORDS).to_owned()
    }

    fn maybe<T>(&mut self, percent: u64, make: impl FnOnce(&mut Self) -> T) -> Option<T> {
        if self.chance(percent) {
            Some(make(self))
        } else {
            None
        }
    }

    fn map(&mut self, max: usize) -> BTreeMap<String, String> {
        (0..self.below(max + 1))
            .map(|_| (self.word(), self.word()))
            .collect()
    }

    fn non_empty_map(&mut self, max: usize) -> BTreeMap<String, String> {
        let mut map = self.map(max);
        map.insert(self.word(), self.word());
        map
    }

    fn list<T>(&mut self, max: usize, mut make: impl FnMut(&mut Self) -> T) -> Vec<T> {
        (0..self.below(max + 1)).map(|_| make(self)).collect()
    }
}

fn gen_per_role(rng: &mut Lcg) -> v1::PodMetadataMaps {
    // At least one role is set (an empty `labels: {}` is a known, ignored, degenerate case).
    match rng.below(3) {
        0 => v1::PodMetadataMaps {
            master: Some(rng.map(3)),
            worker: None,
        },
        1 => v1::PodMetadataMaps {
            master: None,
            worker: Some(rng.map(3)),
        },
        _ => v1::PodMetadataMaps {
            master: Some(rng.map(3)),
            worker: Some(rng.map(3)),
        },
    }
}

fn gen_v1_toleration(rng: &mut Lcg) -> v1::Toleration {
    v1::Toleration {
        key: rng.word(),
        operator: rng.pick(&[
            v1::TolerationOperator::Equal,
            v1::TolerationOperator::Exists,
        ]),
        value: rng.maybe(60, Lcg::word),
        effect: rng.pick(&[
            v1::TaintEffect::NoSchedule,
            v1::TaintEffect::PreferNoSchedule,
            v1::TaintEffect::NoExecute,
        ]),
    }
}

fn gen_v1_spec(rng: &mut Lcg) -> v1::LocustTestSpec {
    let policies = [
        v2::ImagePullPolicy::Always,
        v2::ImagePullPolicy::IfNotPresent,
        v2::ImagePullPolicy::Never,
    ];
    v1::LocustTestSpec {
        master_command_seed: format!(
            "--locustfile /lotest/src/{}.py --users {}",
            rng.word(),
            rng.below(1000)
        ),
        worker_command_seed: rng
            .pick(&["--locustfile /lotest/src/t.py", "", "-f x.py  --tags a"])
            .to_owned(),
        worker_replicas: 1 + rng.below(500) as i32,
        image: format!("locustio/locust:2.{}.{}", rng.below(50), rng.below(10)),
        image_pull_policy: rng.maybe(50, |r| r.pick(&policies)),
        image_pull_secrets: rng.maybe(40, |r| r.list(3, Lcg::word)),
        config_map: rng.maybe(60, Lcg::word),
        lib_config_map: rng.maybe(30, Lcg::word),
        labels: rng.maybe(40, gen_per_role),
        annotations: rng.maybe(40, gen_per_role),
        affinity: rng.maybe(40, |r| v1::Affinity {
            node_affinity: Some(v1::NodeAffinity {
                required_during_scheduling_ignored_during_execution: Some(r.non_empty_map(4)),
            }),
        }),
        tolerations: rng.maybe(40, |r| r.list(4, gen_v1_toleration)),
    }
}

#[test]
fn generated_v1_specs_round_trip_losslessly() {
    let mut rng = Lcg(0x5eed_1234_abcd_0001);
    for case in 0..500 {
        let spec = gen_v1_spec(&mut rng);
        let v2 = v1_spec_to_v2(&spec);
        assert_eq!(v2_spec_to_v1(&v2), spec, "case {case}: spec v1 -> v2 -> v1");

        let original = v1_object(
            json!({"name": format!("gen-{case}"), "namespace": "ns"}),
            to_json(&spec),
        );
        let v2_test = v1_to_v2(original.clone());
        assert_eq!(v2_test.spec, v2, "case {case}");
        let back = v2_to_v1(v2_test);
        assert_eq!(
            stash_of(&back),
            None,
            "case {case}: no stash for a v1-born object"
        );
        assert_same_object!(back, original, "case {case}: object v1 -> v2 -> v1");

        let wire = to_json(&original);
        let there = convert_object(wire.clone(), V2).expect("v1 -> v2");
        assert_eq!(
            convert_object(there, V1).expect("v2 -> v1"),
            wire,
            "case {case}: wire"
        );
    }
}

fn gen_requirement(rng: &mut Lcg) -> NodeSelectorRequirement {
    NodeSelectorRequirement {
        key: rng.word(),
        operator: rng
            .pick(&["In", "In", "NotIn", "Exists", "DoesNotExist", "Gt"])
            .to_owned(),
        values: rng.maybe(80, |r| r.list(3, Lcg::word)),
    }
}

fn gen_affinity(rng: &mut Lcg) -> Affinity {
    Affinity {
        node_affinity: Some(NodeAffinity {
            required_during_scheduling_ignored_during_execution: rng.maybe(90, |r| NodeSelector {
                node_selector_terms: r.list(3, |r| NodeSelectorTerm {
                    match_expressions: r.maybe(90, |r| r.list(4, gen_requirement)),
                    match_fields: None,
                }),
            }),
            preferred_during_scheduling_ignored_during_execution: None,
        }),
        pod_affinity: None,
        pod_anti_affinity: None,
    }
}

fn gen_v2_toleration(rng: &mut Lcg) -> Toleration {
    Toleration {
        key: rng.maybe(80, Lcg::word),
        operator: rng.maybe(80, |r| r.pick(&["Equal", "Exists", "", "Bogus"]).to_owned()),
        value: rng.maybe(50, Lcg::word),
        effect: rng.maybe(85, |r| {
            r.pick(&["NoSchedule", "PreferNoSchedule", "NoExecute", ""])
                .to_owned()
        }),
        toleration_seconds: rng.maybe(10, |r| r.below(600) as i64),
    }
}

fn gen_v2_spec(rng: &mut Lcg) -> v2::LocustTestSpec {
    // Start from a v1-born spec, then (mostly) perturb it with v2-only and v1-inexpressible
    // values.
    let mut spec = v1_spec_to_v2(&gen_v1_spec(rng));
    if rng.chance(35) {
        return spec;
    }
    if rng.chance(30) {
        spec.master.autostart = rng.pick(&[None, Some(false), Some(true)]);
    }
    if rng.chance(30) {
        spec.master.autoquit = rng.maybe(70, |r| v2::AutoquitSpec {
            enabled: r.chance(50),
            timeout: r.maybe(70, |r| r.below(300) as i32),
        });
    }
    if rng.chance(20) {
        spec.master.extra_args = Some(rng.list(3, Lcg::word));
    }
    if rng.chance(20) {
        spec.worker.extra_args = Some(rng.list(3, Lcg::word));
    }
    if rng.chance(20) {
        let files = spec.test_files.get_or_insert_with(Default::default);
        files.src_mount_path = rng.maybe(70, |r| format!("/src/{}", r.word()));
        files.lib_mount_path = rng.maybe(70, |r| format!("/lib/{}", r.word()));
    }
    if rng.chance(35) {
        let scheduling = spec.scheduling.get_or_insert_with(Default::default);
        if rng.chance(60) {
            scheduling.affinity = Some(gen_affinity(rng));
        }
        if rng.chance(60) {
            scheduling.tolerations = Some(rng.list(4, gen_v2_toleration));
        }
        scheduling.node_selector = rng.maybe(30, |r| r.map(2));
        scheduling.runtime_class_name =
            rng.maybe(30, |r| r.pick(&["", "gvisor", "kata"]).to_owned());
    }
    if rng.chance(20) {
        spec.env = Some(v2::EnvSpec {
            config_map_refs: rng.maybe(50, |r| {
                r.list(2, |r| v2::EnvFromRef {
                    name: r.word(),
                    prefix: r.maybe(50, Lcg::word),
                })
            }),
            secret_refs: rng.maybe(50, |r| {
                r.list(2, |r| v2::EnvFromRef {
                    name: r.word(),
                    prefix: None,
                })
            }),
            variables: None,
            secret_mounts: rng.maybe(50, |r| {
                r.list(2, |r| v2::SecretMount {
                    name: r.word(),
                    mount_path: format!("/etc/{}", r.word()),
                    read_only: r.pick(&[None, Some(true), Some(false)]),
                })
            }),
        });
    }
    if rng.chance(15) {
        spec.observability = Some(v2::ObservabilitySpec {
            open_telemetry: Some(v2::OpenTelemetrySpec {
                enabled: rng.chance(50),
                endpoint: rng.maybe(50, |_| "otel:4317".to_owned()),
                protocol: rng.maybe(50, |r| {
                    r.pick(&[v2::OtelProtocol::Grpc, v2::OtelProtocol::HttpProtobuf])
                }),
                insecure: rng.maybe(50, |r| r.chance(50)),
                extra_env_vars: rng.maybe(50, |r| r.map(2)),
            }),
        });
    }
    spec
}

#[test]
fn generated_v2_specs_round_trip_losslessly() {
    let mut rng = Lcg(0x0dd_ba11_cafe_f00d);
    let mut stashed = 0;
    for case in 0..500 {
        let spec = gen_v2_spec(&mut rng);
        let original = v2_object(
            json!({"name": format!("gen-{case}"), "namespace": "ns"}),
            to_json(&spec),
        );
        let v1_test = v2_to_v1(original.clone());
        assert_eq!(v1_test.spec, v2_spec_to_v1(&spec), "case {case}");
        let needs_stash = v1_spec_to_v2(&v1_test.spec) != spec;
        assert_eq!(
            stash_of(&v1_test).is_some(),
            needs_stash,
            "case {case}: stash exactly when needed"
        );
        stashed += usize::from(needs_stash);
        // The v1 view is a valid v1 object on the wire.
        let v1_wire = to_json(&v1_test);
        assert_same_object!(
            parse::<v1::LocustTest>("v1 view", v1_wire.clone()),
            v1_test,
            "case {case}"
        );

        assert_same_object!(v1_to_v2(v1_test), original, "case {case}: v2 -> v1 -> v2");
        let wire = to_json(&original);
        assert_eq!(
            convert_object(v1_wire, V2).expect("v1 -> v2"),
            wire,
            "case {case}: wire"
        );
    }
    // The generator exercises both paths.
    assert!((50..450).contains(&stashed), "stashed {stashed} of 500");
}
