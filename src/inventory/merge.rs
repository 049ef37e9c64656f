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
        match (&out.partition, &inv.partition) {
            (Some(a), Some(b)) if a != b => {
                return Err(format!(
                    "`{name}` is from partition {b}, the others from {a}"
                ));
            }
            (None, Some(b)) => out.partition = Some(b.clone()),
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

/// What [`merge_files`] wrote.
#[derive(Debug)]
pub struct Merged {
    pub accounts: usize,
    pub account_regions: usize,
    pub gaps: usize,
}

/// [`merge`] of inventory files, written to `out` without holding any of them whole: a first
/// pass reads each file's outline (accounts and their region names, membership, ledger) and
/// merges those — every check of [`merge`] —, a second streams each account from its file to
/// `out` (an account split over several files, which a merge of `--regions` scans makes, is
/// held until its last part). Accounts are written in the order of the files. `None` when an
/// input cannot be read twice (a pipe): use [`merge`].
pub fn merge_files(
    paths: &[std::path::PathBuf],
    names: &[String],
    out: &mut dyn std::io::Write,
) -> anyhow::Result<Option<Merged>> {
    use std::collections::{BTreeSet, HashMap};
    let mut outlines = Vec::new();
    let mut sources = Vec::new();
    // Every check before anything is written: each file's own (by reading it), and resource
    // ids unique across the files.
    let mut validator = super::load::Validator::default();
    let mut places: HashMap<(String, String), usize> = HashMap::new();
    for (i, p) in paths.iter().enumerate() {
        let mut check = |a: &Account| {
            for r in &a.regions {
                if let Some(j) = places.insert((a.id.clone(), r.name.clone()), i) {
                    anyhow::bail!(
                        "cannot merge: account {} region {} is in both `{}` and `{}`; shards \
                         must not overlap",
                        a.id,
                        r.name,
                        names.get(j).map_or("an input", String::as_str),
                        names.get(i).map_or("an input", String::as_str),
                    );
                }
            }
            validator
                .check_regions(a)
                .map_err(|e| anyhow::anyhow!("cannot merge: {e}"))
        };
        match super::load::stream_file(p, &mut check)? {
            Some(s) => {
                outlines.push(s.outline);
                sources.push(s.source);
            }
            None => return Ok(None),
        }
    }
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let split: BTreeSet<String> = outlines
        .iter()
        .flat_map(|o| o.accounts.iter().map(|a| a.id.as_str()))
        .filter(|id| !seen.insert(id))
        .map(str::to_string)
        .collect();
    let outline = merge(outlines, names).map_err(|e| anyhow::anyhow!("cannot merge: {e}"))?;

    fn json<T: serde::Serialize>(v: &T) -> serde_json::Result<String> {
        serde_json::to_string_pretty(v)
    }
    writeln!(out, "{{\n  \"schema_version\": {SCHEMA_VERSION},")?;
    writeln!(out, "  \"collected_at\": {},", json(&outline.collected_at)?)?;
    writeln!(out, "  \"organization\": {},", json(&outline.organization)?)?;
    if let Some(p) = &outline.partition {
        writeln!(out, "  \"partition\": {},", json(p)?)?;
    }
    write!(out, "  \"accounts\": [")?;
    let mut first = true;
    let mut write_account = |out: &mut dyn std::io::Write, a: &Account| -> anyhow::Result<()> {
        writeln!(out, "{}", if first { "" } else { "," })?;
        first = false;
        serde_json::to_writer_pretty(&mut *out, a)?;
        Ok(())
    };
    let mut held: HashMap<String, Account> = HashMap::new();
    for (path, want) in paths.iter().zip(&sources) {
        let streamed = super::load::stream_file(path, &mut |a| {
            if split.contains(&a.id) {
                match held.get_mut(&a.id) {
                    Some(have) => have.regions.extend(a.regions.iter().cloned()),
                    None => {
                        held.insert(a.id.clone(), a.clone());
                    }
                }
                return Ok(());
            }
            write_account(&mut *out, a)
        })?
        .ok_or_else(|| anyhow::anyhow!("`{}` can no longer be read", path.display()))?;
        if &streamed.source != want {
            anyhow::bail!(
                "`{}` changed while it was merged; merge again",
                path.display()
            );
        }
    }
    let mut held: Vec<Account> = held.into_values().collect();
    held.sort_by(|a, b| a.id.cmp(&b.id));
    for mut a in held {
        a.regions.sort_by(|x, y| x.name.cmp(&y.name));
        write_account(&mut *out, &a)?;
    }
    writeln!(out, "\n  ],")?;
    if let Some(m) = &outline.membership {
        writeln!(out, "  \"membership\": {},", json(m)?)?;
    }
    writeln!(out, "  \"coverage\": {}\n}}", json(&outline.coverage)?)?;
    Ok(Some(Merged {
        accounts: outline.accounts.len(),
        account_regions: outline.account_regions(),
        gaps: outline.gaps().count(),
    }))
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
    use std::path::Path;

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

    /// Files are merged streaming to what [`merge`] gives, an account split over two files
    /// included; a resource in two files is refused before anything is written.
    #[test]
    fn files_merge_streaming_to_what_merge_gives() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = inv(&[("1", &["r1"]), ("2", &["r1"])], None);
        let mut b = inv(&[("3", &["r1", "r2"]), ("2", &["r2"])], Some("throttled"));
        for x in [&mut a, &mut b] {
            x.schema_version = SCHEMA_VERSION;
        }
        a.accounts[0].regions[0]
            .endpoint_services
            .push(crate::inventory::EndpointService {
                id: "vpce-svc-1".into(),
                name: "one".into(),
                ..Default::default()
            });
        let write = |name: &str, inv: &Inventory| {
            let p = dir.path().join(name);
            std::fs::write(&p, serde_json::to_string_pretty(inv).unwrap()).unwrap();
            p
        };
        let paths = vec![write("a.json", &a), write("b.json", &b)];
        let names = vec!["a.json".to_string(), "b.json".to_string()];
        let mut out = Vec::new();
        let m = merge_files(&paths, &names, &mut out).unwrap().unwrap();
        assert_eq!((m.accounts, m.account_regions, m.gaps), (3, 5, 1));
        let text = String::from_utf8(out).unwrap();
        let mut got = crate::inventory::parse_json(&text, Path::new("m.json")).unwrap();
        got.accounts.sort_by(|x, y| x.id.cmp(&y.id));
        assert_eq!(got, merge(vec![a.clone(), b.clone()], &names).unwrap());

        b.accounts[0].regions[0]
            .endpoint_services
            .push(crate::inventory::EndpointService {
                id: "vpce-svc-1".into(),
                name: "one again".into(),
                ..Default::default()
            });
        let paths = vec![write("a.json", &a), write("b.json", &b)];
        let mut out = Vec::new();
        let err = merge_files(&paths, &names, &mut out).unwrap_err();
        assert!(
            format!("{err:#}").contains("`vpce-svc-1` appears twice"),
            "{err:#}"
        );
        assert!(out.is_empty(), "nothing written");
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
