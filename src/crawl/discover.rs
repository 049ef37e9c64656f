//! Organisation discovery: the accounts to scan, with their OU paths and tags, found by a
//! walk of the OU tree (ListRoots, then per OU ListAccountsForParent and
//! ListOrganizationalUnitsForParent, OUs visited concurrently), or from the config's explicit
//! list when the caller has no Organizations access. Accounts are selected and handed to the
//! crawler page by page, so crawling starts while discovery goes on. When part of the walk
//! fails, ListAccounts finds the accounts it missed (without their OU path).
//!
//! Membership is not selection: every account the organisation lists is kept in the
//! [`Membership`] (with its state and OU path), whatever `--accounts`, the selectors, the shard
//! or the deadline leave to be crawled; the trust rules judge principals against it.
//! Organizations' outcomes are recorded in the ledger under [`ORGANIZATION`], not under the
//! caller's account, whose own verdicts they do not concern.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use aws_sdk_organizations::Client;
use futures::StreamExt;
use futures::channel::mpsc::UnboundedSender;
use futures::stream::FuturesUnordered;

use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::api::{Gate, Outcome, classify, paginate};
use crate::config::AccountSelection;
use crate::inventory::{
    Account, CoverageStatus, Inventory, Member, Membership, ORGANIZATION, Organization,
};

const GLOBAL: &str = "*";

/// What discovery found besides the accounts it sent.
#[derive(Debug, Default)]
pub struct Discovery {
    pub organization: Option<Organization>,
    /// Accounts that are not active (suspended, closing, pending activation): listed, not
    /// scanned.
    pub skipped: Vec<Account>,
    /// Every account the organisation listed; `complete` when nothing of the listing failed.
    pub membership: Membership,
}

/// Where selected accounts go, and what decides which are.
struct Sink<'a> {
    gate: &'a Gate,
    client: &'a Client,
    sel: &'a AccountSelection,
    shard: Option<(u32, u32)>,
    need_tags: bool,
    tx: UnboundedSender<Account>,
    /// OU id → OU path, for selections that name OUs by id (filled top-down by the walk).
    ous: Mutex<BTreeMap<String, String>>,
    seen: Mutex<HashSet<String>>,
    skipped: Mutex<Vec<Account>>,
    members: Mutex<Vec<Member>>,
    /// Accounts whose tags could not be read, and why.
    untagged: Mutex<Vec<(String, Outcome)>>,
}

impl Sink<'_> {
    /// Records one member of the organisation, selects it and sends it to the crawler, at
    /// most once per account.
    async fn offer(&self, mut a: Account) {
        if !self
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(a.id.clone())
        {
            return;
        }
        self.members
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Member {
                id: a.id.clone(),
                name: a.name.clone(),
                state: a.status.clone(),
                ou_path: a.ou_path.clone(),
            });
        if let Some((index, count)) = self.shard {
            // Each account belongs to exactly one shard, suspended ones included, so the
            // merged ledger lists every account once.
            if crate::inventory::merge::shard_of(&a.id, count) != index {
                return;
            }
        }
        let mut tags_known = true;
        if self.need_tags {
            let id = a.id.clone();
            let api = "organizations:ListTagsForResource";
            match self
                .gate
                .call(ORGANIZATION, GLOBAL, api, || {
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
                Err(e) => {
                    // The account is scanned, visibly: its tags could not be checked against
                    // the tag selectors; the ledger names it (see `discover`).
                    tags_known = false;
                    tracing::warn!(
                        "tags of account {} could not be read; it is scanned although the tag \
                         selectors could not be checked",
                        a.id
                    );
                    self.untagged
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((a.id.clone(), classify(&e)));
                }
            }
        }
        let why = {
            let ous = self.ous.lock().unwrap_or_else(|e| e.into_inner());
            excluded(&a, self.sel, &ous, tags_known)
        };
        match why {
            Some(Exclusion::Selected(why)) => {
                tracing::info!("account {} left out: {why}", a.id);
                return;
            }
            Some(Exclusion::OuUnknown(why)) => {
                // Not silently: an account the OU selectors cannot place is a named gap.
                self.gate.record(
                    &a.id,
                    None,
                    "organizations:ListAccountsForParent",
                    Outcome {
                        status: CoverageStatus::Error,
                        error: Some(why),
                    },
                );
                return;
            }
            None => {}
        }
        match is_scannable(&a) {
            Ok(()) => {
                let _ = self.tx.unbounded_send(a);
            }
            Err(status) => {
                let error = if status.is_gap() {
                    "Organizations reported no state for the account; not scanned".to_string()
                } else {
                    format!("account is {}; not scanned", a.status)
                };
                self.gate.record(
                    &a.id,
                    None,
                    "organizations:ListAccounts",
                    Outcome {
                        status,
                        error: Some(error),
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

/// An account list for `scan --accounts-from`: what `plaudit accounts --save` wrote (an
/// inventory without regions). Refused when it cannot say who belongs to the organisation.
pub fn read_list(path: &std::path::Path) -> anyhow::Result<Inventory> {
    let list = crate::inventory::load::load_file(path)?;
    if list.membership.is_none() {
        anyhow::bail!(
            "`{}` holds no organisation membership: write the list with `plaudit accounts --save FILE`",
            path.display()
        );
    }
    if let Some(at) = list.collected_at {
        let age = chrono::Utc::now() - at;
        if age > chrono::Duration::hours(24) {
            tracing::warn!(
                "the account list `{}` was made {} hours ago: accounts created or moved since \
                 are not as the organisation has them now",
                path.display(),
                age.num_hours()
            );
        }
    }
    Ok(list)
}

/// Discovery from a list made earlier by one walk (`plaudit accounts`): the shard's accounts
/// are sent to the crawler, the inactive ones kept as skipped, and the outcomes recorded when
/// the list was made — the organisation's, and the shard's accounts' — go into this scan's
/// ledger, so a shard's inventory says what a walk of its own would have said.
pub fn from_list(
    list: &Inventory,
    gate: &Gate,
    shard: Option<(u32, u32)>,
    tx: &UnboundedSender<Account>,
) -> Discovery {
    let mine = |account: &str| {
        shard
            .is_none_or(|(index, count)| crate::inventory::merge::shard_of(account, count) == index)
    };
    for c in &list.coverage {
        if c.account_id == ORGANIZATION || mine(&c.account_id) {
            gate.record(
                &c.account_id,
                c.region.as_deref(),
                &c.api,
                Outcome {
                    status: c.status,
                    error: c.error.clone(),
                },
            );
        }
    }
    let mut skipped = Vec::new();
    for a in list.accounts.iter().filter(|a| mine(&a.id)) {
        let mut a = a.clone();
        a.regions.clear();
        match is_scannable(&a) {
            Ok(()) => {
                let _ = tx.unbounded_send(a);
            }
            Err(_) => skipped.push(a),
        }
    }
    Discovery {
        organization: list.organization.clone(),
        skipped,
        membership: list.membership.clone().unwrap_or_default(),
    }
}

/// An account as Organizations listed it. Its state is `State`; the retired `Status` only
/// where `State` is absent (its model text: "will be retired on September 9, 2026 … use the
/// State parameter"); `UNKNOWN` when neither was sent — never assumed active.
fn account_of(a: &aws_sdk_organizations::types::Account, ou_path: &str) -> Account {
    #[allow(deprecated)]
    let status = a.status().map(|s| s.as_str().to_string());
    Account {
        id: a.id().unwrap_or_default().to_string(),
        name: a.name().unwrap_or_default().to_string(),
        email: a.email().unwrap_or_default().to_string(),
        status: a
            .state()
            .map(|s| s.as_str().to_string())
            .or(status)
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "UNKNOWN".into()),
        ou_path: ou_path.to_string(),
        ..Default::default()
    }
}

/// Finds the organisation's accounts and sends the selected ones to `tx` as they are found.
/// `caller` is the account whose credentials run the scan (the one account scanned when
/// Organizations cannot be read); Organizations' outcomes are recorded under [`ORGANIZATION`].
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
        sel,
        shard,
        need_tags: false,
        tx,
        ous: Mutex::default(),
        seen: Mutex::default(),
        skipped: Mutex::default(),
        members: Mutex::default(),
        untagged: Mutex::default(),
    };
    let mut out = Discovery::default();
    if !sel.list.is_empty() {
        // The config names the accounts: the organisation itself is not known, so accounts
        // outside the list may still be members.
        for a in &sel.list {
            sink.offer(Account {
                id: a.id.clone(),
                name: a.name.clone(),
                status: "ACTIVE".into(),
                ..Default::default()
            })
            .await;
        }
        out.membership = sink.finish(false);
        return out;
    }
    let api = "organizations:DescribeOrganization";
    match gate
        .call(ORGANIZATION, GLOBAL, api, || {
            client.describe_organization().send()
        })
        .await
    {
        Ok(o) => {
            gate.record(ORGANIZATION, None, api, Outcome::ok());
            if let Some(o) = o.organization() {
                out.organization = Some(Organization {
                    id: o.id().unwrap_or_default().to_string(),
                    management_account_id: o.master_account_id().map(str::to_string),
                });
            }
        }
        Err(e) => {
            // Without Organizations only the caller's own account can be scanned, and the
            // organisation's membership is unknown.
            let o = classify(&e);
            let not_in_use = e.code() == Some("AWSOrganizationsNotInUseException");
            gate.record(
                ORGANIZATION,
                None,
                api,
                Outcome {
                    status: o.status,
                    error: o.error.map(|m| {
                        if not_in_use {
                            format!(
                                "{m} (the caller's account is in no organisation: list the \
                                 accounts to scan under accounts.list in the config)"
                            )
                        } else {
                            m
                        }
                    }),
                },
            );
            sink.offer(Account {
                id: caller.to_string(),
                status: "ACTIVE".into(),
                ..Default::default()
            })
            .await;
            out.membership = sink.finish(false);
            return out;
        }
    }
    let sink = Sink {
        need_tags: sel.fetch_tags || !sel.include_tags.is_empty() || !sel.exclude_tags.is_empty(),
        ..sink
    };

    let mut complete = walk(&sink).await;
    if !complete {
        // Part of the tree could not be read: ListAccounts finds whoever the walk missed.
        let listed = paginate(
            gate,
            ORGANIZATION,
            None,
            "organizations:ListAccounts",
            |t| async move {
                let p = client.list_accounts().set_next_token(t).send().await?;
                Ok((p.accounts().to_vec(), p.next_token().map(str::to_string)))
            },
        )
        .await;
        complete = listed.is_some();
        for a in listed.iter().flatten() {
            sink.offer(account_of(a, "")).await;
        }
    }
    out.skipped = std::mem::take(&mut *sink.skipped.lock().unwrap_or_else(|e| e.into_inner()));
    out.membership = sink.finish(complete);
    out
}

impl Sink<'_> {
    /// The membership found, and one ledger entry naming the accounts whose tags could not
    /// be read.
    fn finish(&self, complete: bool) -> Membership {
        let untagged =
            std::mem::take(&mut *self.untagged.lock().unwrap_or_else(|e| e.into_inner()));
        if let Some((_, first)) = untagged.first() {
            let mut ids: Vec<&str> = untagged.iter().map(|(id, _)| id.as_str()).collect();
            let more = ids.len().saturating_sub(20);
            ids.truncate(20);
            let error = format!(
                "tags of {} account(s) could not be read ({}): {}{}; they are scanned although \
                 the tag selectors could not be checked",
                untagged.len(),
                first.error.as_deref().unwrap_or(first.status.as_str()),
                ids.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            );
            let status = first.status;
            self.gate.record(
                ORGANIZATION,
                None,
                "organizations:ListTagsForResource",
                Outcome {
                    status,
                    error: Some(error),
                },
            );
        }
        let mut accounts =
            std::mem::take(&mut *self.members.lock().unwrap_or_else(|e| e.into_inner()));
        accounts.sort_by(|a, b| a.id.cmp(&b.id));
        Membership { complete, accounts }
    }
}

/// Walks the OU tree, offering every account with its OU path (`/Workloads/Prod`). False
/// when some part could not be read.
async fn walk(sink: &Sink<'_>) -> bool {
    let (gate, client, caller) = (sink.gate, sink.client, ORGANIZATION);
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

/// Why an account is left out of a scan.
#[derive(Debug, PartialEq)]
pub enum Exclusion {
    /// The selection leaves it out.
    Selected(String),
    /// OU selectors are set and the account's OU path is unknown (the OU walk failed and
    /// `ListAccounts` found it): it cannot be placed, so it is not scanned and the ledger
    /// names it — never dropped silently.
    OuUnknown(String),
}

/// Why an account is left out of a scan, or `None` when it is scanned. Tag selectors are not
/// applied when the account's tags could not be read (`tags_known` false): it is scanned, and
/// the ledger says its tags were not checked.
pub fn excluded(
    a: &Account,
    sel: &AccountSelection,
    ou_ids: &BTreeMap<String, String>,
    tags_known: bool,
) -> Option<Exclusion> {
    let in_ou = |spec: &str| {
        // An OU id is resolved to its path; a path matches itself and everything below it.
        let path = ou_ids.get(spec).map(String::as_str).unwrap_or(spec);
        let p = path.trim_end_matches('/');
        a.ou_path == p || a.ou_path.starts_with(&format!("{p}/")) || p.is_empty()
    };
    let tag_match =
        |k: &String, v: &String| a.tags.get(k).is_some_and(|have| v == "*" || have == v);
    let out = |why: String| Some(Exclusion::Selected(why));
    if !sel.include.is_empty() && !sel.include.contains(&a.id) {
        return out("not in accounts.include".into());
    }
    if sel.exclude.contains(&a.id) {
        return out("in accounts.exclude".into());
    }
    let ou_selectors = !sel.include_ous.is_empty() || !sel.exclude_ous.is_empty();
    if ou_selectors && a.ou_path.is_empty() {
        return Some(Exclusion::OuUnknown(
            "the account's OU path is unknown (the OU walk failed; ListAccounts found it), so \
             accounts.include_ous / exclude_ous cannot place it: not scanned"
                .into(),
        ));
    }
    if !sel.include_ous.is_empty() && !sel.include_ous.iter().any(|o| in_ou(o)) {
        return out(format!("OU `{}` not in accounts.include_ous", a.ou_path));
    }
    if sel.exclude_ous.iter().any(|o| in_ou(o)) {
        return out(format!("OU `{}` is in accounts.exclude_ous", a.ou_path));
    }
    if tags_known && !sel.include_tags.iter().all(|(k, v)| tag_match(k, v)) {
        return out("tags do not match accounts.include_tags".into());
    }
    if tags_known && sel.exclude_tags.iter().any(|(k, v)| tag_match(k, v)) {
        return out("a tag matches accounts.exclude_tags".into());
    }
    None
}

/// Only `ACTIVE` accounts are crawled. Suspended and closing ones, and ones pending
/// activation, are listed but not scanned (not a gap: they hold nothing to read); an account
/// whose state Organizations did not report is a gap, never assumed active.
pub fn is_scannable(a: &Account) -> Result<(), CoverageStatus> {
    match a.status.to_ascii_uppercase().as_str() {
        "ACTIVE" => Ok(()),
        "SUSPENDED" | "PENDING_CLOSURE" | "CLOSED" => Err(CoverageStatus::Suspended),
        "PENDING_ACTIVATION" => Err(CoverageStatus::NotActive),
        _ => Err(CoverageStatus::Error),
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
        assert!(excluded(&prod, &sel, &none, true).is_none());
        sel.include_ous = vec!["/Workloads".into()];
        assert!(
            excluded(&prod, &sel, &none, true).is_none(),
            "OUs are recursive"
        );
        sel.exclude_ous = vec!["/Workloads/Dev".into()];
        assert!(excluded(&dev, &sel, &none, true).is_some());
        sel.include_tags.insert("env".into(), "*".into());
        assert!(excluded(&prod, &sel, &none, true).is_none());
        sel.exclude.push("1".into());
        assert!(excluded(&prod, &sel, &none, true).is_some());
        let mut ids = BTreeMap::new();
        ids.insert("ou-abcd-1234".to_string(), "/Workloads/Prod".to_string());
        let sel = AccountSelection {
            include_ous: vec!["ou-abcd-1234".into()],
            ..Default::default()
        };
        assert!(excluded(&prod, &sel, &ids, true).is_none());
        assert!(excluded(&dev, &sel, &ids, true).is_some());
    }

    #[test]
    fn only_active_accounts_are_scanned() {
        let mut a = acct("1", "/", &[]);
        for (state, want) in [
            ("ACTIVE", Ok(())),
            ("SUSPENDED", Err(CoverageStatus::Suspended)),
            ("PENDING_CLOSURE", Err(CoverageStatus::Suspended)),
            ("CLOSED", Err(CoverageStatus::Suspended)),
            ("PENDING_ACTIVATION", Err(CoverageStatus::NotActive)),
            ("UNKNOWN", Err(CoverageStatus::Error)),
            ("", Err(CoverageStatus::Error)),
        ] {
            a.status = state.into();
            assert_eq!(is_scannable(&a), want, "{state}");
        }
    }

    #[test]
    fn state_is_read_before_the_retired_status_and_never_defaults_to_active() {
        use aws_sdk_organizations::types::{Account as A, AccountState, AccountStatus};
        #[allow(deprecated)]
        let both = A::builder()
            .id("1")
            .status(AccountStatus::Active)
            .state(AccountState::Suspended)
            .build();
        assert_eq!(account_of(&both, "/").status, "SUSPENDED");
        let state_only = A::builder()
            .id("1")
            .state(AccountState::PendingActivation)
            .build();
        assert_eq!(account_of(&state_only, "/").status, "PENDING_ACTIVATION");
        #[allow(deprecated)]
        let status_only = A::builder()
            .id("1")
            .status(AccountStatus::Suspended)
            .build();
        assert_eq!(account_of(&status_only, "/").status, "SUSPENDED");
        assert_eq!(
            account_of(&A::builder().id("1").build(), "/").status,
            "UNKNOWN"
        );
    }

    #[test]
    fn unknown_tags_and_unknown_ou_paths_are_handled_visibly() {
        let mut sel = AccountSelection::default();
        sel.include_tags.insert("env".into(), "prod".into());
        let untagged = acct("1", "/Workloads", &[]);
        assert!(excluded(&untagged, &sel, &BTreeMap::new(), true).is_some());
        assert_eq!(
            excluded(&untagged, &sel, &BTreeMap::new(), false),
            None,
            "tags that could not be read do not exclude"
        );
        let sel = AccountSelection {
            exclude_ous: vec!["/Sandbox".into()],
            ..Default::default()
        };
        let lost = acct("2", "", &[]);
        assert!(matches!(
            excluded(&lost, &sel, &BTreeMap::new(), true),
            Some(Exclusion::OuUnknown(_))
        ));
    }
}
