//! Criterion benchmark: one simulated minute of a converged 100-node LAN cluster.
//! The headline speed figures (1k and 5k nodes) come from `rumor-sim speed`.

#![allow(missing_docs)] // criterion_group! generates an undocumented function

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use rumor_sim::{scenario, SimConfig};

fn steady_minute(c: &mut Criterion) {
    let mut g = c.benchmark_group("sim");
    g.sample_size(10);
    let mut cfg = SimConfig::new(100, 1);
    cfg.check_interval = None;
    g.bench_function("100 nodes, 60 simulated s", |b| {
        b.iter_batched(
            || scenario::form_cluster(cfg.clone(), "bench"),
            |mut sim| {
                sim.run_for(Duration::from_secs(60));
                sim
            },
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, steady_minute);
criterion_main!(benches);
