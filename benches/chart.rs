//! Criterion benchmark of the rollback chart: one 800x400 PNG of a 40-minute watch window
//! sampled every 15 seconds (161 samples, a gap and a spike), with baseline and threshold.
//!
//! `cargo bench --bench chart`

use chrono::{Duration, TimeZone, Utc};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use shipgate::chart::{render_png, ChartSpec, Unit};

fn spec() -> ChartSpec {
    let deploy = Utc.with_ymd_and_hms(2026, 3, 2, 13, 0, 0).single().expect("a valid time");
    let points = (-40..=120)
        .map(|i: i64| {
            let value = match i {
                30..=33 => None,
                50..=70 => Some(0.031 + 0.001 * (i % 3) as f64),
                _ => Some(0.004 + 0.0005 * (i % 4) as f64),
            };
            (deploy + Duration::seconds(15 * i), value)
        })
        .collect();
    ChartSpec {
        title: "api 1.4.2 — error rate".into(),
        unit: Unit::Percent,
        points,
        baseline: Some(0.004),
        threshold: Some(0.008),
        threshold_label: "threshold (2x baseline)".into(),
        deploy_at: deploy,
        tripped_at: Some(deploy + Duration::seconds(15 * 52)),
        window_end: deploy + Duration::minutes(30),
        time_zone: chrono_tz::Europe::Berlin,
    }
}

fn bench(c: &mut Criterion) {
    let spec = spec();
    c.bench_function("render_png 800x400, 161 samples", |b| b.iter(|| render_png(black_box(&spec))));
}

criterion_group!(benches, bench);
criterion_main!(benches);
