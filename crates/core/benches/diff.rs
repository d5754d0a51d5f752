//! Word and character diffs of two 8 KB outputs, the size of a long model answer.
//! Target: < 2 ms per word diff (issue: desktop app).

use criterion::{Criterion, criterion_group, criterion_main};
use tradeoff_core::diff::{Granularity, diff};

/// Two 8 KB texts that share most words, like two configs' answers to the same case.
fn outputs() -> (String, String) {
    let words = [
        "the", "model", "answers", "with", "a", "short", "summary", "of", "Berlin", "in", "1989",
    ];
    let mut a = String::new();
    let mut b = String::new();
    let mut i = 0usize;
    while a.len() < 8192 {
        let w = words[(i * 7 + i / 3) % words.len()];
        a.push_str(w);
        a.push(' ');
        b.push_str(if i.is_multiple_of(13) { "changed" } else { w });
        b.push(if i.is_multiple_of(29) { '\n' } else { ' ' });
        i += 1;
    }
    (a, b)
}

fn bench(c: &mut Criterion) {
    let (a, b) = outputs();
    c.bench_function("diff words 8KB", |bench| {
        bench.iter(|| diff(&a, &b, Granularity::Word))
    });
    c.bench_function("diff chars 8KB", |bench| {
        bench.iter(|| diff(&a, &b, Granularity::Char))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
