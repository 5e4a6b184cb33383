//! Process pool benchmarks (being written).

use criterion::{criterion_group, criterion_main, Criterion};

fn process_trivial(_c: &mut Criterion) {}

criterion_group!(benches, process_trivial);
criterion_main!(benches);
