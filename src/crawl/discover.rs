//! Organisation discovery: the accounts to scan, with their OU paths and tags, from
//! Organizations (ListAccounts, and a walk of the OU tree for paths), or from the config's
//! explicit list when the caller has no Organizations access. Then the selection.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_organizations::Client;

use super::api::{Gate, classify, paginate};
use crate::config::AccountSelection;
use crate::inventory::{Account, CoverageStatus, Organization};

const GLOBAL: &str = "*";

/// What discovery found.
#[derive(Debug, Default)]
pub struct Discovery {
    pub organization: Option<Organization>,
    pub accounts: Vec<Account>,
    /// OU id → OU path, for selections that name OUs by id.
    pub ou_ids: BTreeMap<String, String>,
}

/// Lists the organisation's accounts. `caller_account` is the account whose credentials run
/// the scan; it records Organizations' outcome in the ledger.
pub async fn discover(
    client: &Client,
    gate: &Gate,
    caller_account: &str,
    sel: &AccountSelection,
) -> Discovery {
    if !sel.list.is_empty() {
        return Discovery {
            organization: None,
            accounts: sel
                .list
                .iter()
                .map(|a| Account {
                    id: a.id.clone(),
                    name: a.name.clone(),
                    status: "ACTIVE".into(),
                    ..Default::default()
                })
                .collect(),
            ou_ids: BTreeMap::new(),
        };
    }
    let mut out = Discovery::default();
    let org = gate
        .call(
            caller_account,
            GLOBAL,
            "organizations:DescribeOrganization",
            || client.describe_organization().send(),
        )
        .await;
    match org {
        Ok(o) => {
            gate.record(
                caller_account,
                None,
                "organizations:DescribeOrganization",
                super::api::Outcome::ok(),
            );
            if let Some(o) = o.organization() {
                out.organization = Some(Organization {
                    id: o.id().unwrap_or_default().to_string(),
                    management_account_id: o.master_account_id().map(str::to_string),
                });
            }
        }
        Err(e) => {
            // Without Organizations only the caller's own account can be scanned.
            gate.record(
                caller_account,
                None,
                "organizations:DescribeOrganization",
                classify(&e),
            );
            out.accounts.push(Account {
                id: caller_account.to_string(),
                status: "ACTIVE".into(),
                ..Default::default()
            });
            return out;
        }
    }

    // ListAccounts: at most 20 per page.
    let listed: Vec<Account> = paginate(
        gate,
        caller_account,
        None,
        "organizations:ListAccounts",
        |t| async move {
            let p = client.list_accounts().set_next_token(t).send().await?;
            Ok((p.accounts().to_vec(), p.next_token().map(str::to_string)))
        },
    )
    .await
    .unwrap_or_default()
    .iter()
    .map(|a| Account {
        id: a.id().unwrap_or_default().to_string(),
        name: a.name().unwrap_or_default().to_string(),
        email: a.email().unwrap_or_default().to_string(),
        #[allow(deprecated)]
        status: a
            .status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_else(|| "ACTIVE".into()),
        ..Default::default()
    })
    .collect();
    let mut listed = listed;

    let (paths, ou_ids) = ou_paths(client, gate, caller_account).await;
    out.ou_ids = ou_ids;
    for a in &mut listed {
        if let Some(p) = paths.get(&a.id) {
            a.ou_path = p.clone();
        }
    }
    let need_tags = sel.fetch_tags || !sel.include_tags.is_empty() || !sel.exclude_tags.is_empty();
    if need_tags {
        for a in &mut listed {
            let id = a.id.clone();
            let r = gate
                .call(
                    caller_account,
                    GLOBAL,
                    "organizations:ListTagsForResource",
                    || client.list_tags_for_resource().resource_id(id).send(),
                )
                .await;
            match r {
                Ok(t) => {
                    a.tags = t
                        .tags()
                        .iter()
                        .map(|t| (t.key().to_string(), t.value().to_string()))
                        .collect();
                }
                Err(e) => gate.record(
                    caller_account,
                    None,
                    "organizations:ListTagsForResource",
                    classify(&e),
                ),
            }
        }
    }
    out.accounts = listed;
    out
}

/// Account id → OU path (`/Workloads/Prod`) and OU id → OU path, from a walk of the OU tree.
async fn ou_paths(
    client: &Client,
    gate: &Gate,
    caller: &str,
) -> (HashMap<String, String>, BTreeMap<String, String>) {
    let mut paths = HashMap::new();
    let mut ous = BTreeMap::new();
    let roots = match gate
        .call(caller, GLOBAL, "organizations:ListRoots", || {
            client.list_roots().send()
        })
        .await
    {
        Ok(r) => r
            .roots()
            .iter()
            .filter_map(|r| r.id().map(str::to_string))
            .collect::<Vec<_>>(),
        Err(e) => {
            gate.record(caller, None, "organizations:ListRoots", classify(&e));
            return (paths, ous);
        }
    };
    // (parent id, its path)
    let mut stack: Vec<(String, String)> = roots.into_iter().map(|r| (r, String::new())).collect();
    while let Some((parent, path)) = stack.pop() {
        let p = parent.clone();
        let accounts = paginate(
            gate,
            caller,
            None,
            "organizations:ListAccountsForParent",
            |t| {
                let p = p.clone();
                async move {
                    let page = client
                        .list_accounts_for_parent()
                        .parent_id(p)
                        .set_next_token(t)
                        .send()
                        .await?;
                    Ok((
                        page.accounts().to_vec(),
                        page.next_token().map(str::to_string),
                    ))
                }
            },
        );
        let children = paginate(
            gate,
            caller,
            None,
            "organizations:ListOrganizationalUnitsForParent",
            |t| {
                let p = p.clone();
                async move {
                    let page = client
                        .list_organizational_units_for_parent()
                        .parent_id(p)
                        .set_next_token(t)
                        .send()
                        .await?;
                    Ok((
                        page.organizational_units().to_vec(),
                        page.next_token().map(str::to_string),
                    ))
                }
            },
        );
        let (accounts, children) = futures::join!(accounts, children);
        let here = if path.is_empty() {
            "/".to_string()
        } else {
            path.clone()
        };
        for a in accounts.unwrap_or_default() {
            if let Some(id) = a.id() {
                paths.insert(id.to_string(), here.clone());
            }
        }
        for ou in children.unwrap_or_default() {
            if let (Some(id), Some(name)) = (ou.id(), ou.name()) {
                stack.push((id.to_string(), format!("{path}/{name}")));
                ous.insert(id.to_string(), format!("{path}/{name}"));
            }
        }
    }
    (paths, ous)
}

/// Why an account is left out of a scan, or `None` when it is scanned.
pub fn excluded(
    a: &Account,
    sel: &AccountSelection,
    ou_ids: &BTreeMap<String, String>,
) -> Option<String> {
    let in_ou = |spec: &str| {
        // An OU id is resolved to its path; a path matches itself and everything below it.
        let path = ou_ids.get(spec).map(String::as_str).unwrap_or(spec);
        let p = path.trim_end_matches('/');
        a.ou_path == p || a.ou_path.starts_with(&format!("{p}/")) || p.is_empty()
    };
    let tag_match =
        |k: &String, v: &String| a.tags.get(k).is_some_and(|have| v == "*" || have == v);
    if !sel.include.is_empty() && !sel.include.contains(&a.id) {
        return Some("not in accounts.include".into());
    }
    if sel.exclude.contains(&a.id) {
        return Some("in accounts.exclude".into());
    }
    if !sel.include_ous.is_empty() && !sel.include_ous.iter().any(|o| in_ou(o)) {
        return Some(format!("OU `{}` not in accounts.include_ous", a.ou_path));
    }
    if sel.exclude_ous.iter().any(|o| in_ou(o)) {
        return Some(format!("OU `{}` is in accounts.exclude_ous", a.ou_path));
    }
    if !sel.include_tags.iter().all(|(k, v)| tag_match(k, v)) {
        return Some("tags do not match accounts.include_tags".into());
    }
    if sel.exclude_tags.iter().any(|(k, v)| tag_match(k, v)) {
        return Some("a tag matches accounts.exclude_tags".into());
    }
    None
}

/// Suspended and closing accounts are listed but not scanned.
pub fn is_scannable(a: &Account) -> Result<(), CoverageStatus> {
    match a.status.to_ascii_uppercase().as_str() {
        "SUSPENDED" | "PENDING_CLOSURE" | "CLOSED" => Err(CoverageStatus::Suspended),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acct(id: &str, ou: &str, tags: &[(&str, &str)]) -> Account {
        Account {
            id: id.into(),
            ou_path: ou.into(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn selection_by_id_ou_and_tag() {
        let mut sel = AccountSelection::default();
        let none = BTreeMap::new();
        let prod = acct("1", "/Workloads/Prod", &[("env", "prod")]);
        let dev = acct("2", "/Workloads/Dev", &[("env", "dev")]);
        assert!(excluded(&prod, &sel, &none).is_none());
        sel.include_ous = vec!["/Workloads".into()];
        assert!(excluded(&prod, &sel, &none).is_none(), "OUs are recursive");
        sel.exclude_ous = vec!["/Workloads/Dev".into()];
        assert!(excluded(&dev, &sel, &none).is_some());
        sel.include_tags.insert("env".into(), "*".into());
        assert!(excluded(&prod, &sel, &none).is_none());
        sel.exclude.push("1".into());
        assert!(excluded(&prod, &sel, &none).is_some());
        let mut ids = BTreeMap::new();
        ids.insert("ou-abcd-1234".to_string(), "/Workloads/Prod".to_string());
        let sel = AccountSelection {
            include_ous: vec!["ou-abcd-1234".into()],
            ..Default::default()
        };
        assert!(excluded(&prod, &sel, &ids).is_none());
        assert!(excluded(&dev, &sel, &ids).is_some());
    }

    #[test]
    fn suspended_accounts_are_not_scanned() {
        let mut a = acct("1", "/", &[]);
        a.status = "SUSPENDED".into();
        assert_eq!(is_scannable(&a), Err(CoverageStatus::Suspended));
    }
}
