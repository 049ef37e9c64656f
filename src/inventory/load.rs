//! Reading inventory files: version check first, then a strict parse, then consistency checks.
//! Every error names the file, and the line and column where serde can tell.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{Inventory, SCHEMA_VERSION};

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("cannot read inventory `{path}`")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("inventory `{path}` line {line}, column {column}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "inventory `{path}` has schema_version {found}, this plaudit reads version {SCHEMA_VERSION}; \
         re-save it with a matching plaudit version"
    )]
    Version { path: PathBuf, found: u32 },
    #[error("inventory `{path}` has no `schema_version`; is it a plaudit inventory?")]
    NoVersion { path: PathBuf },
    #[error("inventory `{path}`: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// The largest inventory file read: 2 GiB. A 10,000-account organisation saves a few hundred
/// MB; anything near the cap is not an inventory (or is `/dev/zero`). `PLAUDIT_MAX_INVENTORY_MB`
/// changes it.
pub const MAX_INVENTORY_BYTES: u64 = 2 << 30;

fn max_inventory_bytes() -> u64 {
    std::env::var("PLAUDIT_MAX_INVENTORY_MB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(|mb| mb.saturating_mul(1 << 20))
        .unwrap_or(MAX_INVENTORY_BYTES)
}

/// Reads and validates an inventory file, refusing one larger than the cap
/// ([`MAX_INVENTORY_BYTES`]) before reading more than that.
pub fn load_file(path: &Path) -> Result<Inventory, InventoryError> {
    use std::io::Read;
    let read_err = |source| InventoryError::Read {
        path: path.to_path_buf(),
        source,
    };
    let cap = max_inventory_bytes();
    let file = std::fs::File::open(path).map_err(read_err)?;
    let mut text = String::new();
    file.take(cap + 1)
        .read_to_string(&mut text)
        .map_err(read_err)?;
    if text.len() as u64 > cap {
        return Err(InventoryError::Invalid {
            path: path.to_path_buf(),
            message: format!(
                "larger than {} MB, the most plaudit reads (PLAUDIT_MAX_INVENTORY_MB raises it); \
                 is it an inventory?",
                cap >> 20
            ),
        });
    }
    parse_json(&text, path)
}

/// Parses and validates inventory JSON; `path` is only used in messages.
pub fn parse_json(text: &str, path: &Path) -> Result<Inventory, InventoryError> {
    #[derive(Deserialize)]
    struct Probe {
        schema_version: Option<u32>,
    }
    let parse_err = |e: serde_json::Error| InventoryError::Parse {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        message: strip_position(&e.to_string()),
    };
    let probe: Probe = serde_json::from_str(text).map_err(parse_err)?;
    match probe.schema_version {
        None => {
            return Err(InventoryError::NoVersion {
                path: path.to_path_buf(),
            });
        }
        Some(v) if v != SCHEMA_VERSION => {
            return Err(InventoryError::Version {
                path: path.to_path_buf(),
                found: v,
            });
        }
        Some(_) => {}
    }
    let inv: Inventory = serde_json::from_str(text).map_err(parse_err)?;
    validate(&inv).map_err(|message| InventoryError::Invalid {
        path: path.to_path_buf(),
        message,
    })?;
    Ok(inv)
}

/// serde_json appends " at line X column Y"; we print the position ourselves.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// Consistency checks that serde cannot express. Returns the first problem found, naming the
/// account, region and resource.
pub fn validate(inv: &Inventory) -> Result<(), String> {
    unique_ids(inv)?;
    let mut accounts = HashSet::new();
    for acct in &inv.accounts {
        if !accounts.insert(acct.id.as_str()) {
            return Err(format!("account `{}` appears twice", acct.id));
        }
        let mut regions = HashSet::new();
        for region in &acct.regions {
            let at = format!("account `{}` region `{}`", acct.id, region.name);
            if !regions.insert(region.name.as_str()) {
                return Err(format!("{at} appears twice"));
            }
            let mut names = HashSet::new();
            for az in &region.availability_zones {
                if !names.insert(az.name.as_str()) {
                    return Err(format!("{at}: AZ name `{}` is mapped twice", az.name));
                }
            }
            // With a map present, every AZ name a resource uses must be in it; an empty map
            // means DescribeAvailabilityZones failed, which the coverage ledger records.
            let check_az = |what: &str, id: &str, name: &str| -> Result<(), String> {
                if !names.is_empty() && !names.contains(name) && name != "all" {
                    return Err(format!(
                        "{at}: {what} `{id}` uses AZ `{name}`, which is not in this account's AZ map"
                    ));
                }
                Ok(())
            };
            for s in &region.subnets {
                check_az("subnet", &s.id, &s.availability_zone)?;
            }
            for lb in &region.load_balancers {
                for z in &lb.availability_zones {
                    check_az("load balancer", &lb.name, &z.name)?;
                }
            }
            for svc in &region.endpoint_services {
                for z in &svc.availability_zones {
                    check_az("endpoint service", &svc.id, z)?;
                }
            }
            for lookup in &region.service_lookups {
                for z in &lookup.availability_zones {
                    check_az("service lookup", &lookup.service_name, z)?;
                }
            }
        }
    }
    Ok(())
}

/// Resource ids that are unique in AWS (an ARN, a `vpce-…` or `vpce-svc-…` id) appear once in
/// the whole inventory, and per account-region ids (VPCs, subnets, security groups) once
/// there: a crafted or badly merged inventory is refused with the id and both places, not
/// with a database constraint error.
fn unique_ids(inv: &Inventory) -> Result<(), String> {
    use std::collections::HashMap;
    let mut global: HashMap<(&str, &str), (&str, &str)> = HashMap::new();
    for a in &inv.accounts {
        for r in &a.regions {
            let place = (a.id.as_str(), r.name.as_str());
            let mut local: HashSet<(&str, &str)> = HashSet::new();
            let ids = r
                .endpoint_services
                .iter()
                .map(|x| ("endpoint service", x.id.as_str()))
                .chain(
                    r.vpc_endpoints
                        .iter()
                        .map(|x| ("VPC endpoint", x.id.as_str())),
                )
                .chain(
                    r.load_balancers
                        .iter()
                        .map(|x| ("load balancer", x.arn.as_str())),
                )
                .chain(
                    r.target_groups
                        .iter()
                        .map(|x| ("target group", x.arn.as_str())),
                );
            for (kind, id) in ids {
                if let Some((acct, region)) = global.insert((kind, id), place) {
                    return Err(format!(
                        "{kind} `{id}` appears twice: in account `{acct}` region `{region}` and \
                         in account `{}` region `{}`",
                        place.0, place.1
                    ));
                }
            }
            let here = r
                .vpcs
                .iter()
                .map(|x| ("VPC", x.id.as_str()))
                .chain(r.subnets.iter().map(|x| ("subnet", x.id.as_str())))
                .chain(
                    r.security_groups
                        .iter()
                        .map(|x| ("security group", x.id.as_str())),
                );
            for (kind, id) in here {
                if !local.insert((kind, id)) {
                    return Err(format!(
                        "{kind} `{id}` appears twice in account `{}` region `{}`",
                        place.0, place.1
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_resource_ids_are_named() {
        let err = parse(
            r#"{"schema_version": 1, "accounts": [
              {"id": "1", "regions": [{"name": "r", "endpoint_services": [{"id": "vpce-svc-x", "name": "a"}]}]},
              {"id": "2", "regions": [{"name": "r", "endpoint_services": [{"id": "vpce-svc-x", "name": "b"}]}]}]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("endpoint service `vpce-svc-x` appears twice"),
            "{err}"
        );
        assert!(
            err.contains("account `1`") && err.contains("account `2`"),
            "{err}"
        );
    }

    fn parse(s: &str) -> Result<Inventory, InventoryError> {
        parse_json(s, Path::new("inv.json"))
    }

    #[test]
    fn minimal_inventory_parses() {
        let inv = parse(r#"{"schema_version": 1, "accounts": []}"#).unwrap();
        assert!(inv.accounts.is_empty());
    }

    #[test]
    fn wrong_version_is_named() {
        let err = parse(r#"{"schema_version": 7}"#).unwrap_err().to_string();
        assert!(err.contains("schema_version 7"), "{err}");
        assert!(err.contains("inv.json"), "{err}");
    }

    #[test]
    fn missing_version_is_refused() {
        let err = parse(r#"{"accounts": []}"#).unwrap_err().to_string();
        assert!(err.contains("no `schema_version`"), "{err}");
    }

    #[test]
    fn unknown_key_names_line_and_column() {
        let err = parse("{\"schema_version\": 1,\n  \"acounts\": []}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2"), "{err}");
        assert!(err.contains("unknown field `acounts`"), "{err}");
        assert!(!err.contains(" at line "), "position printed twice: {err}");
    }

    #[test]
    fn malformed_json_names_position() {
        let err = parse("{\"schema_version\": 1,\n\n  \"accounts\": [}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn az_name_outside_map_is_an_error() {
        let err = parse(
            r#"{"schema_version": 1, "accounts": [{"id": "1", "regions": [{"name": "r",
              "availability_zones": [{"name": "r-a", "id": "az1"}],
              "subnets": [{"id": "subnet-1", "vpc_id": "vpc-1", "availability_zone": "r-b"}]}]}]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("subnet `subnet-1`"), "{err}");
        assert!(err.contains("account `1` region `r`"), "{err}");
    }

    #[test]
    fn duplicate_account_is_an_error() {
        let err = parse(r#"{"schema_version": 1, "accounts": [{"id": "1"}, {"id": "1"}]}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("account `1` appears twice"), "{err}");
    }
}
