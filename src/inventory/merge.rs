//! Joining inventories crawled separately (shards of one organisation, `scan --shard K/N`)
//! into one, so that cross-account rules see everything, as if one process had crawled it all.

use std::collections::BTreeMap;

use super::{Account, CoverageEntry, Inventory, Member, Membership, SCHEMA_VERSION};

/// Merges inventories. Accounts are joined by id (an account-region present twice is an
/// error: shards are disjoint); the coverage ledgers are joined, and where two disagree on
/// the same (account, region, API) the gap wins. `collected_at` is the latest of the inputs.
/// `names` label the inputs in error messages.
pub fn merge(inputs: Vec<Inventory>, names: &[String]) -> Result<Inventory, String> {
    let mut out = Inventory {
        schema_version: SCHEMA_VERSION,
        ..Default::default()
    };
    let mut accounts: BTreeMap<String, (Account, String)> = BTreeMap::new();
    // Every shard lists the whole organisation: the members are joined, and the list is
    // complete only when every shard's was. An input without a recorded membership (written
    // before plaudit kept one) leaves the merged inventory without one too.
    let mut members: Option<(bool, BTreeMap<String, Member>)> = Some((true, BTreeMap::new()));
    let mut ledger: BTreeMap<(String, Option<String>, super::Api), CoverageEntry> = BTreeMap::new();
    for (i, inv) in inputs.into_iter().enumerate() {
        let name = names
            .get(i)
            .cloned()
            .unwrap_or_else(|| format!("input {}", i + 1));
        match (&out.organization, &inv.organization) {
            (Some(a), Some(b)) if a.id != b.id => {
                return Err(format!(
                    "`{name}` is from organisation {}, the others from {}",
                    b.id, a.id
                ));
            }
            (None, Some(b)) => out.organization = Some(b.clone()),
            _ => {}
        }
        out.collected_at = match (out.collected_at, inv.collected_at) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        match (&mut members, inv.membership) {
            (Some((complete, all)), Some(m)) => {
                *complete &= m.complete;
                for a in m.accounts {
                    all.entry(a.id.clone()).or_insert(a);
                }
            }
            (m, None) => *m = None,
            (None, Some(_)) => {}
        }
        for acct in inv.accounts {
            match accounts.get_mut(&acct.id) {
                None => {
                    accounts.insert(acct.id.clone(), (acct, name.clone()));
                }
                Some((have, from)) => {
                    for r in acct.regions {
                        if have.regions.iter().any(|h| h.name == r.name) {
                            return Err(format!(
                                "account {} region {} is in both `{from}` and `{name}`; shards must not overlap",
                                acct.id, r.name
                            ));
                        }
                        have.regions.push(r);
                    }
                }
            }
        }
        for c in inv.coverage {
            let key = (c.account_id.clone(), c.region.clone(), c.api.clone());
            match ledger.get(&key) {
                Some(old) if old.status.is_gap() || !c.status.is_gap() => {}
                _ => {
                    ledger.insert(key, c);
                }
            }
        }
    }
    out.accounts = accounts.into_values().map(|(a, _)| a).collect();
    for a in &mut out.accounts {
        a.regions.sort_by(|x, y| x.name.cmp(&y.name));
    }
    out.coverage = ledger.into_values().collect();
    out.membership = members.map(|(complete, all)| Membership {
        complete,
        accounts: all.into_values().collect(),
    });
    super::load::validate(&out)?;
    Ok(out)
}

/// Which of `count` shards an account belongs to (0-based): a stable hash of its id, the
/// same on every machine and every run.
pub fn shard_of(account_id: &str, count: u32) -> u32 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in account_id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    (h % u64::from(count.max(1))) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{CoverageStatus, Region};

    fn inv(accounts: &[(&str, &[&str])], gap: Option<&str>) -> Inventory {
        Inventory {
            accounts: accounts
                .iter()
                .map(|(id, regions)| Account {
                    id: id.to_string(),
                    regions: regions
                        .iter()
                        .map(|r| Region {
                            name: r.to_string(),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            coverage: vec![CoverageEntry {
                account_id: "1".into(),
                region: None,
                api: crate::inventory::Api::parse("organizations:ListAccounts").unwrap(),
                status: if gap.is_some() {
                    CoverageStatus::Throttled
                } else {
                    CoverageStatus::Ok
                },
                error: gap.map(str::to_string),
            }],
            ..Default::default()
        }
    }

    #[test]
    fn shards_join_and_a_gap_wins() {
        let a = inv(&[("1", &["r1"]), ("2", &["r1"])], None);
        let b = inv(&[("3", &["r1", "r2"])], Some("throttled"));
        let m = merge(vec![a, b], &["a".into(), "b".into()]).unwrap();
        assert_eq!(m.accounts.len(), 3);
        assert_eq!(m.coverage.len(), 1);
        assert_eq!(m.coverage[0].status, CoverageStatus::Throttled);
    }

    #[test]
    fn overlapping_shards_are_refused() {
        let a = inv(&[("1", &["r1"])], None);
        let b = inv(&[("1", &["r1"])], None);
        let err = merge(vec![a, b], &["a.json".into(), "b.json".into()]).unwrap_err();
        assert!(err.contains("a.json") && err.contains("b.json"), "{err}");
    }

    #[test]
    fn shards_partition_accounts_stably() {
        let ids: Vec<String> = (0..1000)
            .map(|i| format!("{:012}", 100_000_000_000u64 + i))
            .collect();
        let mut sizes = [0usize; 4];
        for id in &ids {
            let s = shard_of(id, 4);
            assert_eq!(s, shard_of(id, 4));
            sizes[s as usize] += 1;
        }
        assert_eq!(sizes.iter().sum::<usize>(), 1000);
        assert!(sizes.iter().all(|&n| n > 150), "unbalanced: {sizes:?}");
    }
}
