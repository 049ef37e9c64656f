//! Scan history: every scan recorded in one SQLite file, so that `plaudit drift` can say what
//! changed and each finding knows when it was first seen.
//!
//! The file is opened in WAL mode with a busy timeout, so a scan can record while another
//! process reads (or records: writes wait for each other). Its schema is versioned
//! (`PRAGMA user_version`) and migrated forward on open; a file from a newer plaudit is
//! refused rather than damaged.
//!
//! A scan is recorded in two steps: [`History::begin`] inserts it as `running`; [`History::finish`]
//! stores the inventory, findings and ledger and updates the open-findings state in one
//! transaction. A scan killed in between stays `running` (listed as interrupted) and changes
//! nothing else.
//!
//! First seen: a failing finding keeps the scan it first failed in for as long as it stays
//! open. It is closed (resolved) only by a scan that saw its account-region and found it
//! passing or gone; `unknown`, or absent because its account-region was a coverage gap, keeps
//! it open. A finding that comes back after being resolved is new again.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::findings::{Finding, Status};
use crate::inventory::{CoverageStatus, Inventory};

/// Schema migrations, in order; `user_version` is how many have run.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE scans (
    id             INTEGER PRIMARY KEY,
    started_at     TEXT NOT NULL,
    finished_at    TEXT,
    tool_version   TEXT NOT NULL,
    ruleset_hash   TEXT NOT NULL,
    source         TEXT NOT NULL,           -- 'crawl' or the inventory file scanned
    status         TEXT NOT NULL,           -- running | complete | incomplete
    exit_code      INTEGER,
    accounts       INTEGER,
    account_regions INTEGER,
    gaps           INTEGER,
    failing        INTEGER,
    unknown        INTEGER,
    waived         INTEGER,
    inventory      TEXT                     -- the inventory snapshot, JSON
);
CREATE TABLE findings (
    scan_id        INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
    fingerprint    TEXT NOT NULL,
    rule_id        TEXT NOT NULL,
    account_id     TEXT NOT NULL,
    region         TEXT NOT NULL,
    resource_id    TEXT NOT NULL,
    resource_type  TEXT NOT NULL,
    title          TEXT NOT NULL,
    status         TEXT NOT NULL,
    severity       TEXT NOT NULL,
    reason         TEXT NOT NULL,
    path           TEXT,
    waiver_id      TEXT,
    first_seen_scan INTEGER,
    first_seen_at  TEXT,
    PRIMARY KEY (scan_id, fingerprint)
);
CREATE TABLE coverage (
    scan_id        INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
    account_id     TEXT NOT NULL,
    region         TEXT NOT NULL,           -- '*' for account-wide entries
    api            TEXT NOT NULL,
    status         TEXT NOT NULL,
    error          TEXT
);
CREATE INDEX coverage_scan ON coverage(scan_id);
-- Failing findings not yet resolved, with the scan they first failed in.
CREATE TABLE open_findings (
    fingerprint    TEXT PRIMARY KEY,
    account_id     TEXT NOT NULL,
    region         TEXT NOT NULL,
    first_seen_scan INTEGER NOT NULL,
    first_seen_at  TEXT NOT NULL
);
"#];

/// One recorded scan.
#[derive(Debug, Clone, Serialize)]
pub struct ScanRecord {
    pub id: i64,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub tool_version: String,
    pub ruleset_hash: String,
    pub source: String,
    /// `running` (still going, or killed: see `interrupted`), `complete`, `incomplete`.
    pub status: String,
    pub exit_code: Option<i64>,
    pub accounts: Option<i64>,
    pub account_regions: Option<i64>,
    pub gaps: Option<i64>,
    pub failing: Option<i64>,
    pub unknown: Option<i64>,
    pub waived: Option<i64>,
}

impl ScanRecord {
    /// Finished, complete or not.
    pub fn finished(&self) -> bool {
        self.status != "running"
    }
}

/// A finding as recorded, with when it was first seen failing.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Recorded {
    pub fingerprint: String,
    pub rule_id: String,
    pub account_id: String,
    pub region: String,
    pub resource_id: String,
    pub resource_type: String,
    pub title: String,
    pub status: String,
    pub severity: String,
    pub reason: String,
    pub path: Option<String>,
    pub waiver_id: Option<String>,
    pub first_seen_scan: Option<i64>,
    pub first_seen_at: Option<String>,
}

/// What a scan records about itself before it starts.
pub struct NewScan<'a> {
    pub source: &'a str,
    pub ruleset_hash: &'a str,
}

pub struct History {
    conn: Connection,
    path: PathBuf,
}

/// `$XDG_DATA_HOME/plaudit/history.db`, else `~/.local/share/plaudit/history.db`.
pub fn default_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    Some(base.join("plaudit").join("history.db"))
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl History {
    /// Opens (creating it and its directory if needed) and migrates the history file.
    pub fn open(path: &Path) -> Result<History> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create `{}`", dir.display()))?;
        }
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open the history `{}`", path.display()))?;
        let setup = || -> rusqlite::Result<()> {
            conn.busy_timeout(std::time::Duration::from_secs(30))?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "foreign_keys", "ON")?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            Ok(())
        };
        setup().with_context(|| {
            format!(
                "`{}` is not a plaudit history (SQLite) file",
                path.display()
            )
        })?;
        let mut h = History {
            conn,
            path: path.to_path_buf(),
        };
        h.migrate()?;
        Ok(h)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn migrate(&mut self) -> Result<()> {
        let what = || format!("migrating the history `{}`", self.path.display());
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .with_context(what)?;
        let version: usize = tx
            .query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
            .with_context(what)? as usize;
        if version > MIGRATIONS.len() {
            bail!(
                "the history `{}` has schema version {version}, newer than this plaudit knows \
                 ({}); use a newer plaudit or another --state file",
                self.path.display(),
                MIGRATIONS.len()
            );
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
            tx.execute_batch(sql).with_context(what)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)
                .with_context(what)?;
        }
        tx.commit().with_context(what)
    }

    /// Records the start of a scan; returns its id.
    pub fn begin(&self, scan: NewScan<'_>) -> Result<i64> {
        self.conn
            .execute(
                "INSERT INTO scans (started_at, tool_version, ruleset_hash, source, status)
                 VALUES (?1, ?2, ?3, ?4, 'running')",
                params![
                    now(),
                    env!("CARGO_PKG_VERSION"),
                    scan.ruleset_hash,
                    scan.source
                ],
            )
            .with_context(|| format!("recording the scan in `{}`", self.path.display()))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Records the end of a scan: its inventory, findings and ledger, and the findings' first
    /// seen. One transaction: a reader sees the scan whole or not at all.
    pub fn finish(
        &mut self,
        id: i64,
        inv: &Inventory,
        findings: &[Finding],
        exit_code: u8,
    ) -> Result<()> {
        let path = self.path.display().to_string();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .with_context(|| format!("recording the scan in `{path}`"))?;
        let started_at: String = tx
            .query_row("SELECT started_at FROM scans WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .with_context(|| format!("scan {id} is not in `{path}`"))?;
        {
            let mut ins = tx.prepare(
                "INSERT OR REPLACE INTO findings (scan_id, fingerprint, rule_id, account_id, region,
                   resource_id, resource_type, title, status, severity, reason, path, waiver_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?;
            for f in findings {
                ins.execute(params![
                    id,
                    f.fingerprint(),
                    f.rule_id,
                    f.account_id,
                    f.region,
                    f.resource_id,
                    f.resource_type,
                    f.title,
                    f.status.as_str(),
                    f.severity.as_str(),
                    f.reason,
                    f.path,
                    f.waiver_id,
                ])?;
            }
            let mut cov = tx.prepare(
                "INSERT INTO coverage (scan_id, account_id, region, api, status, error)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for c in &inv.coverage {
                cov.execute(params![
                    id,
                    c.account_id,
                    c.region.as_deref().unwrap_or("*"),
                    c.api,
                    c.status.as_str(),
                    c.error
                ])?;
            }
        }
        // Open findings (a waived finding still fails: it stays open): failing now and not yet
        // open → first seen now; open and now passing,
        // or gone from an account-region this scan did read → resolved.
        tx.execute(
            "INSERT INTO open_findings (fingerprint, account_id, region, first_seen_scan, first_seen_at)
             SELECT fingerprint, account_id, region, ?1, ?2 FROM findings
             WHERE scan_id = ?1 AND status IN ('fail', 'waived')
             ON CONFLICT (fingerprint) DO NOTHING",
            params![id, started_at],
        )?;
        tx.execute(
            "DELETE FROM open_findings WHERE fingerprint IN
               (SELECT fingerprint FROM findings WHERE scan_id = ?1 AND status = 'pass')",
            [id],
        )?;
        tx.execute(
            &format!(
                "DELETE FROM open_findings AS o
             WHERE NOT EXISTS (SELECT 1 FROM findings f WHERE f.scan_id = ?1 AND f.fingerprint = o.fingerprint)
               AND NOT EXISTS (SELECT 1 FROM coverage c WHERE c.scan_id = ?1
                     AND c.status NOT IN ({not_gaps})
                     AND c.account_id = o.account_id AND (c.region = o.region OR c.region = '*'))",
                not_gaps = CoverageStatus::NOT_GAPS_SQL
            ),
            [id],
        )?;
        tx.execute(
            "UPDATE findings SET
               first_seen_scan = (SELECT first_seen_scan FROM open_findings o WHERE o.fingerprint = findings.fingerprint),
               first_seen_at = (SELECT first_seen_at FROM open_findings o WHERE o.fingerprint = findings.fingerprint)
             WHERE scan_id = ?1",
            [id],
        )?;
        let count = |s: Status| findings.iter().filter(|f| f.status == s).count() as i64;
        let gaps = inv.coverage.iter().filter(|c| c.status.is_gap()).count() as i64;
        let snapshot = serde_json::to_string(inv)?;
        tx.execute(
            "UPDATE scans SET finished_at = ?2, status = ?3, exit_code = ?4, accounts = ?5,
               account_regions = ?6, gaps = ?7, failing = ?8, unknown = ?9, waived = ?10,
               inventory = ?11
             WHERE id = ?1",
            params![
                id,
                now(),
                if gaps == 0 { "complete" } else { "incomplete" },
                i64::from(exit_code),
                inv.accounts.len() as i64,
                inv.account_regions() as i64,
                gaps,
                count(Status::Fail),
                count(Status::Unknown),
                count(Status::Waived),
                snapshot
            ],
        )?;
        tx.commit()
            .with_context(|| format!("recording the scan in `{path}`"))
    }

    /// Every scan, oldest first.
    pub fn scans(&self) -> Result<Vec<ScanRecord>> {
        let mut st = self.conn.prepare(
            "SELECT id, started_at, finished_at, tool_version, ruleset_hash, source, status,
                    exit_code, accounts, account_regions, gaps, failing, unknown, waived
             FROM scans ORDER BY id",
        )?;
        let rows = st.query_map([], |r| {
            Ok(ScanRecord {
                id: r.get(0)?,
                started_at: r.get(1)?,
                finished_at: r.get(2)?,
                tool_version: r.get(3)?,
                ruleset_hash: r.get(4)?,
                source: r.get(5)?,
                status: r.get(6)?,
                exit_code: r.get(7)?,
                accounts: r.get(8)?,
                account_regions: r.get(9)?,
                gaps: r.get(10)?,
                failing: r.get(11)?,
                unknown: r.get(12)?,
                waived: r.get(13)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    pub fn scan(&self, id: i64) -> Result<ScanRecord> {
        self.scans()?
            .into_iter()
            .find(|s| s.id == id)
            .with_context(|| {
                format!(
                    "no scan {id} in `{}` (`plaudit history` lists them)",
                    self.path.display()
                )
            })
    }

    /// The findings a scan recorded.
    pub fn findings(&self, id: i64) -> Result<Vec<Recorded>> {
        let mut st = self.conn.prepare(
            "SELECT fingerprint, rule_id, account_id, region, resource_id, resource_type, title,
                    status, severity, reason, path, waiver_id, first_seen_scan, first_seen_at
             FROM findings WHERE scan_id = ?1 ORDER BY fingerprint",
        )?;
        let rows = st.query_map([id], |r| {
            Ok(Recorded {
                fingerprint: r.get(0)?,
                rule_id: r.get(1)?,
                account_id: r.get(2)?,
                region: r.get(3)?,
                resource_id: r.get(4)?,
                resource_type: r.get(5)?,
                title: r.get(6)?,
                status: r.get(7)?,
                severity: r.get(8)?,
                reason: r.get(9)?,
                path: r.get(10)?,
                waiver_id: r.get(11)?,
                first_seen_scan: r.get(12)?,
                first_seen_at: r.get(13)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The inventory a scan recorded.
    pub fn inventory(&self, id: i64) -> Result<Inventory> {
        let text: Option<String> = self
            .conn
            .query_row("SELECT inventory FROM scans WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?
            .flatten();
        let text =
            text.with_context(|| format!("scan {id} has no inventory (it did not finish)"))?;
        let name = format!("{}#scan-{id}", self.path.display());
        crate::inventory::parse_json(&text, Path::new(&name)).map_err(anyhow::Error::from)
    }

    /// (account, region) pairs a scan could not fully read (`*` region: the whole account).
    pub fn gaps(&self, id: i64) -> Result<BTreeSet<(String, String)>> {
        let mut st = self.conn.prepare(&format!(
            "SELECT DISTINCT account_id, region FROM coverage
             WHERE scan_id = ?1 AND status NOT IN ({not_gaps})",
            not_gaps = CoverageStatus::NOT_GAPS_SQL
        ))?;
        let rows = st.query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<BTreeSet<_>>>()?)
    }
}

/// When a finding has been failing since, as days before `at`.
pub fn age_days(first_seen_at: Option<&str>, at: Option<&str>) -> Option<f64> {
    let parse = |s: &str| {
        DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    };
    let (a, b) = (parse(first_seen_at?)?, parse(at?)?);
    Some((b - a).num_seconds() as f64 / 86_400.0)
}

#[cfg(test)]
mod tests;
