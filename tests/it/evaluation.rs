//! Rule evaluation on a synthetic organisation: the parallel path gives what the sequential
//! one gives.

use plaudit::findings::Status;
use std::collections::HashSet;

use plaudit::inventory::Inventory;
use plaudit::rules::RuleSet;
use plaudit::rules::eval::{KeepPassing, evaluate_with_threads};
use plaudit::store::Store;

use crate::synth::{Shape, generate};

/// A synthetic organisation of 30 accounts × 3 regions, loaded, and the built-in rules.
fn organisation() -> (Inventory, Store, RuleSet) {
    let inv = generate(Shape {
        accounts: 30,
        regions: 3,
        ..Default::default()
    });
    let store = Store::load(&inv).unwrap();
    let set = plaudit::rules::load_all(&[], true).unwrap();
    (inv, store, set)
}

#[test]
fn parallel_evaluation_equals_sequential() {
    let (inv, store, set) = organisation();
    let one = evaluate_with_threads(&set, &store, &inv, 1, KeepPassing::All);
    let three = evaluate_with_threads(&set, &store, &inv, 3, KeepPassing::All);
    assert!(one.errors.is_empty() && three.errors.is_empty());
    assert!(one.findings.len() > 100);
    assert_eq!(one.findings, three.findings);
    assert!(one.findings.iter().any(|f| f.status == Status::Fail));
}

/// Passing findings not kept are counted, not listed; everything else is unchanged, on one
/// thread and on several.
#[test]
fn passing_findings_not_kept_are_counted_and_the_rest_is_unchanged() {
    let (inv, store, set) = organisation();
    let all = evaluate_with_threads(&set, &store, &inv, 1, KeepPassing::All);
    let passes: Vec<_> = all
        .findings
        .iter()
        .filter(|f| f.status == Status::Pass)
        .collect();
    assert!(passes.len() > 100 && all.passing_not_listed == 0);
    // Two passes are news (say, they resolve open findings); the others are counted.
    let news: HashSet<String> = [
        passes[0].fingerprint(),
        passes[passes.len() / 2].fingerprint(),
    ]
    .into_iter()
    .collect();
    for threads in [1, 3] {
        let some = evaluate_with_threads(&set, &store, &inv, threads, KeepPassing::Only(&news));
        let none = evaluate_with_threads(
            &set,
            &store,
            &inv,
            threads,
            KeepPassing::Only(&HashSet::new()),
        );
        let not_passing: Vec<_> = all
            .findings
            .iter()
            .filter(|f| f.status != Status::Pass)
            .cloned()
            .collect();
        assert_eq!(none.findings, not_passing);
        assert_eq!(none.passing_not_listed, passes.len());
        let listed: HashSet<String> = some
            .findings
            .iter()
            .filter(|f| f.status == Status::Pass)
            .map(|f| f.fingerprint())
            .collect();
        assert_eq!(listed, news);
        assert_eq!(some.passing_not_listed, passes.len() - 2);
        assert_eq!(some.findings.len(), not_passing.len() + 2);
    }
}

#[test]
fn generation_is_deterministic_and_valid() {
    let shape = Shape {
        accounts: 20,
        regions: 3,
        ..Default::default()
    };
    let a = generate(shape);
    let b = generate(shape);
    assert_eq!(a, b);
    plaudit::inventory::load::validate(&a).unwrap();
    assert_eq!(a.account_regions(), 60);
    let services: usize = a
        .accounts
        .iter()
        .flat_map(|x| &x.regions)
        .map(|r| r.endpoint_services.len())
        .sum();
    assert!(services > 0);
}
