//! Organisation discovery: the accounts to scan, with their OU paths and tags, found by a
//! walk of the OU tree (ListRoots, then per OU ListAccountsForParent and
//! ListOrganizationalUnitsForParent, OUs visited concurrently), or from the config's explicit
//! list when the caller has no Organizations access. Accounts are selected and handed to the
//! crawler page by page, so crawling starts while discovery goes on. When part of the walk
//! fails, ListAccounts finds the accounts it missed (without their OU path).

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use aws_sdk_organizations::Client;
use futures::StreamExt;
use futures::channel::mpsc::UnboundedSender;
use futures::stream::FuturesUnordered;

use super::api::{Gate, Outcome, classify, paginate};
use crate::config::AccountSelection;
use crate::inventory::{Account, CoverageStatus, Organization};

const GLOBAL: &str = "*";

/// What discovery found besides the accounts it sent.
#[derive(Debug, Default)]
pub struct Discovery {
    pub organization: Option<Organization>,
    /// Suspended and closing accounts: listed, not scanned.
    pub skipped: Vec<Account>,
}

/// Where selected accounts go, and what decides which are.
struct Sink<'a> {
    gate: &'a Gate,
    client: &'a Client,
    caller: &'a str,
    sel: &'a AccountSelection,
    shard: Option<(u32, u32)>,
    need_tags: bool,
    tx: UnboundedSender<Account>,
    /// OU id → OU path, for selections that name OUs by id (filled top-down by the walk).
    ous: Mutex<BTreeMap<String, String>>,
    seen: Mutex<HashSet<String>>,
    skipped: Mutex<Vec<Account>>,
}

impl Sink<'_> {
    /// Selects one account and sends it to the crawler, at most once per account.
    async fn offer(&self, mut a: Account) {
        if !self
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(a.id.clone())
        {
            return;
        }
        if let Some((index, count)) = self.shard {
            // Each account belongs to exactly one shard, suspended ones included, so the
            // merged ledger lists every account once.
            if crate::inventory::merge::shard_of(&a.id, count) != index {
                return;
            }
        }
        if self.need_tags {
            let id = a.id.clone();
            let api = "organizations:ListTagsForResource";
            match self
                .gate
                .call(self.caller, GLOBAL, api, || {
                    self.client.list_tags_for_resource().resource_id(id).send()
                })
                .await
            {
                Ok(t) => {
                    a.tags = t
                        .tags()
                        .iter()
                        .map(|t| (t.key().to_string(), t.value().to_string()))
                        .collect();
                }
                Err(e) => self.gate.record(self.caller, None, api, classify(&e)),
            }
        }
        let why = {
            let ous = self.ous.lock().unwrap_or_else(|e| e.into_inner());
            excluded(&a, self.sel, &ous)
        };
        if let Some(why) = why {
            tracing::info!("account {} left out: {why}", a.id);
            return;
        }
        match is_scannable(&a) {
            Ok(()) => {
                let _ = self.tx.unbounded_send(a);
            }
            Err(status) => {
                self.gate.record(
                    &a.id,
                    None,
                    "organizations:ListAccounts",
                    Outcome {
                        status,
                        error: Some(format!("account is {}; not scanned", a.status)),
                    },
                );
                self.skipped
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(a);
            }
        }
    }
}

fn account_of(a: &aws_sdk_organizations::types::Account, ou_path: &str) -> Account {
    Account {
        id: a.id().unwrap_or_default().to_string(),
        name: a.name().unwrap_or_default().to_string(),
        email: a.email().unwrap_or_default().to_string(),
        #[allow(deprecated)]
        status: a
            .status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_else(|| "ACTIVE".into()),
        ou_path: ou_path.to_string(),
        ..Default::default()
    }
}

/// Finds the organisation's accounts and sends the selected ones to `tx` as they are found.
/// `caller` is the account whose credentials run the scan; Organizations' outcomes are
/// recorded in the ledger under it.
pub async fn discover(
    client: &Client,
    gate: &Gate,
    caller: &str,
    sel: &AccountSelection,
    shard: Option<(u32, u32)>,
    tx: UnboundedSender<Account>,
) -> Discovery {
    let sink = Sink {
        gate,
        client,
        caller,
        sel,
        shard,
        need_tags: false,
        tx,
        ous: Mutex::default(),
        seen: Mutex::default(),
        skipped: Mutex::default(),
    };
    if !sel.list.is_empty() {
        for a in &sel.list {
            sink.offer(Account {
                id: a.id.clone(),
                name: a.name.clone(),
                status: "ACTIVE".into(),
                ..Default::default()
            })
            .await;
        }
        return Discovery::default();
    }
    let mut out = Discovery::default();
    let api = "organizations:DescribeOrganization";
    match gate
        .call(caller, GLOBAL, api, || {
            client.describe_organization().send()
        })
        .await
    {
        Ok(o) => {
            gate.record(caller, None, api, Outcome::ok());
            if let Some(o) = o.organization() {
                out.organization = Some(Organization {
                    id: o.id().unwrap_or_default().to_string(),
                    management_account_id: o.master_account_id().map(str::to_string),
                });
            }
        }
        Err(e) => {
            // Without Organizations only the caller's own account can be scanned.
            gate.record(caller, None, api, classify(&e));
            sink.offer(Account {
                id: caller.to_string(),
                status: "ACTIVE".into(),
                ..Default::default()
            })
            .await;
            return out;
        }
    }
    let sink = Sink {
        need_tags: sel.fetch_tags || !sel.include_tags.is_empty() || !sel.exclude_tags.is_empty(),
        ..sink
    };

    if !walk(&sink).await {
        // Part of the tree could not be read: ListAccounts finds whoever the walk missed.
        let listed = paginate(
            gate,
            caller,
            None,
            "organizations:ListAccounts",
            |t| async move {
                let p = client.list_accounts().set_next_token(t).send().await?;
                Ok((p.accounts().to_vec(), p.next_token().map(str::to_string)))
            },
        )
        .await
        .unwrap_or_default();
        for a in &listed {
            sink.offer(account_of(a, "")).await;
        }
    }
    out.skipped = sink.skipped.into_inner().unwrap_or_else(|e| e.into_inner());
    out
}

/// Walks the OU tree, offering every account with its OU path (`/Workloads/Prod`). False
/// when some part could not be read.
async fn walk(sink: &Sink<'_>) -> bool {
    let (gate, client, caller) = (sink.gate, sink.client, sink.caller);
    let roots = match gate
        .call(caller, GLOBAL, "organizations:ListRoots", || {
            client.list_roots().send()
        })
        .await
    {
        Ok(r) => {
            gate.record(caller, None, "organizations:ListRoots", Outcome::ok());
            r.roots()
                .iter()
                .filter_map(|r| r.id().map(str::to_string))
                .collect::<Vec<_>>()
        }
        Err(e) => {
            gate.record(caller, None, "organizations:ListRoots", classify(&e));
            return false;
        }
    };
    // One parent: its accounts (offered page by page) and its child OUs.
    let visit = |parent: String, path: String| async move {
        let here = if path.is_empty() {
            "/".to_string()
        } else {
            path.clone()
        };
        let p = parent.clone();
        let accounts = paginate(
            gate,
            caller,
            None,
            "organizations:ListAccountsForParent",
            |t| {
                let (p, here) = (p.clone(), here.clone());
                async move {
                    let page = client
                        .list_accounts_for_parent()
                        .parent_id(p)
                        .set_next_token(t)
                        .send()
                        .await?;
                    for a in page.accounts() {
                        sink.offer(account_of(a, &here)).await;
                    }
                    Ok((Vec::<()>::new(), page.next_token().map(str::to_string)))
                }
            },
        );
        let p = parent.clone();
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
        let complete = accounts.is_some() && children.is_some();
        let mut next = Vec::new();
        for ou in children.unwrap_or_default() {
            if let (Some(id), Some(name)) = (ou.id(), ou.name()) {
                let child = format!("{path}/{name}");
                sink.ous
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(id.to_string(), child.clone());
                next.push((id.to_string(), child));
            }
        }
        (complete, next)
    };
    let mut complete = true;
    let mut pending: FuturesUnordered<_> =
        roots.into_iter().map(|r| visit(r, String::new())).collect();
    while let Some((ok, children)) = pending.next().await {
        complete &= ok;
        for (id, path) in children {
            pending.push(visit(id, path));
        }
    }
    complete
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
