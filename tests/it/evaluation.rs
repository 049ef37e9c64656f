//! Rule evaluation on a synthetic organisation: the parallel path gives what the sequential
//! one gives.

use plaudit::findings::Status;
use plaudit::rules::eval::evaluate_with_threads;
use plaudit::store::Store;

use crate::synth::{Shape, generate};

#[test]
fn parallel_evaluation_equals_sequential() {
    let inv = generate(Shape {
        accounts: 30,
        regions: 3,
        ..Default::default()
    });
    let store = Store::load(&inv).unwrap();
    let set = plaudit::rules::load_all(&[], true).unwrap();
    let one = evaluate_with_threads(&set, &store, &inv, 1);
    let three = evaluate_with_threads(&set, &store, &inv, 3);
    assert!(one.errors.is_empty() && three.errors.is_empty());
    assert!(one.findings.len() > 100);
    assert_eq!(one.findings, three.findings);
    assert!(one.findings.iter().any(|f| f.status == Status::Fail));
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
