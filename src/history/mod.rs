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
//! A scan records its failing, waived and unknown findings and the passing ones that resolve
//! an open finding (every passing one with `scan --show-pass`); the others are counted in
//! the report, and the recorded inventory holds what they were evaluated on.
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

use crate::findings::{Finding, Severity, Status};
use crate::inventory::load::SourceFile;
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
    status         TEXT NOT NULL,           -- running | complete | incomplete | interrupted | failed
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
    pub status: ScanStatus,
    pub exit_code: Option<i64>,
    pub accounts: Option<i64>,
    pub account_regions: Option<i64>,
    pub gaps: Option<i64>,
    pub failing: Option<i64>,
    pub unknown: Option<i64>,
    pub waived: Option<i64>,
}

impl ScanRecord {
    /// Finished with a report, complete or not (not running, interrupted or failed).
    pub fn finished(&self) -> bool {
        matches!(self.status, ScanStatus::Complete | ScanStatus::Incomplete)
    }
}

/// How a recorded scan ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScanStatus {
    /// Still going, or killed without a chance to say so (SIGKILL, power loss).
    Running,
    /// Finished, every account-region read.
    Complete,
    /// Finished with coverage gaps.
    Incomplete,
    /// Stopped by Ctrl-C or SIGTERM.
    Interrupted,
    /// Stopped by an error (exit code 2).
    Failed,
}

impl ScanStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ScanStatus::Running => "running",
            ScanStatus::Complete => "complete",
            ScanStatus::Incomplete => "incomplete",
            ScanStatus::Interrupted => "interrupted",
            ScanStatus::Failed => "failed",
        }
    }

    /// As `plaudit history` shows it: a `running` scan that is not the last one was killed
    /// (a scan in progress is always the newest).
    pub fn shown(self, is_last: bool) -> &'static str {
        match self {
            ScanStatus::Running if is_last => "running (or killed)",
            ScanStatus::Running => "killed",
            s => s.as_str(),
        }
    }
}

impl std::fmt::Display for ScanStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ScanStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            ScanStatus::Running,
            ScanStatus::Complete,
            ScanStatus::Incomplete,
            ScanStatus::Interrupted,
            ScanStatus::Failed,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
        .ok_or_else(|| format!("scan status `{s}` is unknown to this version of plaudit"))
    }
}

impl History {
    /// Deletes finished scans beyond the `keep` most recent and older than `older_than_days`
    /// (both limits apply when both are given), with their findings, ledgers and
    /// inventories; a running scan is never deleted. Open findings keep their first-seen
    /// scan and date (held apart, in `open_findings`). Returns how many scans went.
    pub fn prune(&mut self, keep: Option<usize>, older_than_days: Option<u64>) -> Result<usize> {
        if keep.is_none() && older_than_days.is_none() {
            bail!(
                "say what to keep: --keep N and/or --older-than DAYS (or `history` in the config)"
            );
        }
        let cutoff = older_than_days.map(|d| {
            (Utc::now() - chrono::Duration::days(d as i64))
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        });
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let n = tx.execute(
            "DELETE FROM scans WHERE status <> 'running'
               AND (?1 IS NULL OR id NOT IN (SELECT id FROM scans ORDER BY id DESC LIMIT ?1))
               AND (?2 IS NULL OR started_at < ?2)",
            params![keep.map(|k| k as i64), cutoff],
        )?;
        tx.commit()?;
        if n > 0 {
            // Give the space back (a 1,000-account scan holds ~150 MB).
            self.conn.execute_batch("VACUUM")?;
        }
        Ok(n)
    }
}

/// Refuses, without writing to it, a database that is not a plaudit history: one with tables
/// but no plaudit schema version, one without a `scans` table, or one from a newer plaudit.
fn check_is_history(conn: &Connection, path: &Path) -> Result<()> {
    let not_ours = || {
        anyhow::anyhow!(
            "`{}` is not a plaudit history (it was left untouched); name another file with \
             --state",
            path.display()
        )
    };
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|_| not_ours())?;
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
            [],
            |r| r.get(0),
        )
        .map_err(|_| not_ours())?;
    let has_scans: bool = conn
        .query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'scans'",
            [],
            |r| r.get(0),
        )
        .map_err(|_| not_ours())?;
    if version > MIGRATIONS.len() as i64 {
        bail!(
            "the history `{}` has schema version {version}, newer than this plaudit knows ({}); \
             use a newer plaudit or another --state file (it was left untouched)",
            path.display(),
            MIGRATIONS.len()
        );
    }
    if (version == 0 && tables > 0) || (version > 0 && !has_scans) {
        return Err(not_ours());
    }
    Ok(())
}

/// A scan's scope: the (account, region) pairs its inventory holds, the only ones where it can
/// tell that a finding is gone.
pub fn scope_of(inv: &Inventory) -> BTreeSet<(String, String)> {
    inv.accounts
        .iter()
        .flat_map(|a| {
            a.regions
                .iter()
                .map(move |r| (a.id.clone(), r.name.clone()))
        })
        .collect()
}

/// Marks a scan that is still `running` as `interrupted` or `failed`, with its exit code, on a
/// connection of its own (from a signal handler, or as an error unwinds). A scan that already
/// finished is left as it is.
pub fn mark_unfinished(path: &Path, id: i64, status: ScanStatus, exit_code: u8) -> Result<()> {
    let conn = Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute(
        "UPDATE scans SET status = ?2, finished_at = ?3, exit_code = ?4
         WHERE id = ?1 AND status = 'running'",
        params![id, status.as_str(), now(), i64::from(exit_code)],
    )?;
    Ok(())
}

/// A scan's findings and coverage ledger, as rows.
fn record_findings(
    tx: &Connection,
    id: i64,
    findings: &[Finding],
    inv: &Inventory,
) -> rusqlite::Result<()> {
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
            c.region_or_all(),
            c.api.as_str(),
            c.status.as_str(),
            c.error
        ])?;
    }
    Ok(())
}

/// What a scan records as its inventory.
#[derive(Debug, Clone, Copy)]
pub enum Snapshot<'a> {
    /// The inventory given to [`History::finish`], serialised.
    Inventory,
    /// The file it was read from, copied byte for byte (the scan held only an outline).
    File(&'a SourceFile),
}

/// Copies the inventory file a scan read into the scan's row, through blob I/O, and checks
/// that it is the file that was read: one that changed in between is not recorded as what
/// the findings came from.
fn copy_snapshot(tx: &Connection, id: i64, source: &SourceFile) -> Result<()> {
    let size = i64::try_from(source.len).context("the inventory is too large to record")?;
    tx.execute(
        "UPDATE scans SET inventory = zeroblob(?2) WHERE id = ?1",
        params![id, size],
    )
    .with_context(|| format!("the inventory snapshot ({size} bytes) does not fit the history"))?;
    let file = std::fs::File::open(&source.path)
        .with_context(|| format!("cannot read `{}` again", source.path.display()))?;
    let mut blob = tx.blob_open(rusqlite::MAIN_DB, "scans", "inventory", id, false)?;
    let changed = || {
        anyhow::anyhow!(
            "`{}` changed while it was scanned: the scan is not recorded",
            source.path.display()
        )
    };
    // Hashed as it is copied: the bytes recorded are the bytes checked.
    let mut read = crate::inventory::load::Hashing::new(std::io::Read::take(file, source.len + 1));
    let copied = std::io::copy(&mut read, &mut blob);
    if read.bytes_read() != source.len || read.digest() != source.digest {
        return Err(changed());
    }
    copied?;
    blob.close()?;
    Ok(())
}

/// Writes the inventory snapshot (JSON) into the scan's row as it is serialised, through
/// SQLite's incremental blob I/O: at 10,000 accounts it is a few hundred megabytes, and
/// holding it as a string (which SQLite then copied) was the history's largest cost in
/// memory. Serialised twice: once to count its bytes (a blob's size is fixed when it is
/// made), once into the blob. Readers accept the text form older histories hold.
fn write_snapshot(tx: &Connection, id: i64, inv: &Inventory) -> Result<()> {
    struct Count(u64);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut size = Count(0);
    serde_json::to_writer(&mut size, inv)?;
    let size = i64::try_from(size.0).context("the inventory is too large to record")?;
    tx.execute(
        "UPDATE scans SET inventory = zeroblob(?2) WHERE id = ?1",
        params![id, size],
    )
    .with_context(|| format!("the inventory snapshot ({size} bytes) does not fit the history"))?;
    let mut blob = tx.blob_open(rusqlite::MAIN_DB, "scans", "inventory", id, false)?;
    {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, &mut blob);
        serde_json::to_writer(&mut w, inv)?;
        std::io::Write::flush(&mut w)?;
    }
    blob.close()?;
    Ok(())
}

/// The open findings after a scan (a waived finding still fails: it stays open): failing
/// now and not yet open → first seen now; open and now passing, or gone from an
/// account-region this scan had in scope and read completely → resolved. Anything else
/// stays open. Then the scan's findings get their first-seen dates.
fn update_open_findings(
    tx: &Connection,
    id: i64,
    started_at: &str,
    inv: &Inventory,
) -> rusqlite::Result<()> {
    // This scan's scope: the account-regions its inventory holds. A partial scan (one
    // account, --regions, a shard, a subset inventory) closes nothing outside it.
    tx.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS scope_now (account_id TEXT NOT NULL, region TEXT NOT NULL);
         DELETE FROM temp.scope_now;",
    )?;
    {
        let mut ins = tx.prepare("INSERT INTO temp.scope_now VALUES (?1, ?2)")?;
        for (a, r) in scope_of(inv) {
            ins.execute(params![a, r])?;
        }
    }
    // Open findings (a waived finding still fails: it stays open): failing now and not yet
    // open → first seen now; open and now passing, or gone from an account-region this
    // scan had in scope and read completely → resolved. Anything else stays open.
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
           AND EXISTS (SELECT 1 FROM temp.scope_now s
                 WHERE s.account_id = o.account_id AND s.region = o.region)
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
    Ok(())
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
    pub status: Status,
    pub severity: Severity,
    pub reason: String,
    pub path: Option<String>,
    pub waiver_id: Option<String>,
    pub first_seen_scan: Option<i64>,
    pub first_seen_at: Option<String>,
}

impl Recorded {
    /// The finding as the scan reported it (without the resource ARN, which is not recorded).
    pub fn into_finding(self) -> Finding {
        Finding {
            rule_id: self.rule_id,
            title: self.title,
            severity: self.severity,
            status: self.status,
            account_id: self.account_id,
            region: self.region,
            resource_type: self.resource_type,
            resource_id: self.resource_id,
            resource_arn: String::new(),
            reason: self.reason,
            path: self.path,
            waiver_id: self.waiver_id,
            new_since_baseline: None,
        }
    }
}

/// What a scan records about itself before it starts.
#[derive(Debug, Clone, Copy)]
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
    /// Opens (creating it and its directory if needed) and migrates the history file. A
    /// file that is not a plaudit history (another application's SQLite database, or a
    /// history from a newer plaudit) is refused before anything in it is touched.
    pub fn open(path: &Path) -> Result<History> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create `{}`", dir.display()))?;
        }
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open the history `{}`", path.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .context("setting the history's busy timeout")?;
        check_is_history(&conn, path)?;
        let setup = || -> rusqlite::Result<()> {
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

    /// Opens an existing history for reading only (`history`, `drift`, `export`): a
    /// read-only copy works, nothing is created, migrated or switched to WAL.
    pub fn open_read_only(path: &Path) -> Result<History> {
        if !path.exists() {
            bail!(
                "no history at `{}`: record scans first (`plaudit scan`), or name the file \
                 with --state",
                path.display()
            );
        }
        let conn = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("cannot open the history `{}`", path.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .context("setting the history's busy timeout")?;
        check_is_history(&conn, path)?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap_or(0);
        if version < MIGRATIONS.len() as i64 {
            bail!(
                "the history `{}` is from an older plaudit (schema version {version}); record \
                 a scan with this plaudit to upgrade it",
                path.display()
            );
        }
        Ok(History {
            conn,
            path: path.to_path_buf(),
        })
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
    /// seen. One transaction: a reader sees the scan whole or not at all. `inv` may be an
    /// outline (accounts with their region names) when `snapshot` is the file it was read
    /// from.
    pub fn finish(
        &mut self,
        id: i64,
        inv: &Inventory,
        snapshot: Snapshot<'_>,
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
        record_findings(&tx, id, findings, inv)?;
        update_open_findings(&tx, id, &started_at, inv)?;
        let count = |s: Status| findings.iter().filter(|f| f.status == s).count() as i64;
        let gaps = inv.coverage.iter().filter(|c| c.status.is_gap()).count() as i64;
        tx.execute(
            "UPDATE scans SET finished_at = ?2, status = ?3, exit_code = ?4, accounts = ?5,
               account_regions = ?6, gaps = ?7, failing = ?8, unknown = ?9, waived = ?10
             WHERE id = ?1",
            params![
                id,
                now(),
                if gaps == 0 {
                    ScanStatus::Complete
                } else {
                    ScanStatus::Incomplete
                }
                .as_str(),
                i64::from(exit_code),
                inv.accounts.len() as i64,
                inv.account_regions() as i64,
                gaps,
                count(Status::Fail),
                count(Status::Unknown),
                count(Status::Waived),
            ],
        )?;
        match snapshot {
            Snapshot::Inventory => write_snapshot(&tx, id, inv),
            Snapshot::File(source) => copy_snapshot(&tx, id, source),
        }
        .with_context(|| format!("recording scan {id}'s inventory in `{path}`"))?;
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
                status: parsed(r, 6)?,
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

    /// Scan `id`, or without one the last finished scan (for commands that read a scan of the
    /// history instead of an `--inventory`).
    pub fn scan_or_last_finished(&self, id: Option<i64>) -> Result<ScanRecord> {
        match id {
            Some(id) => self.scan(id),
            None => self
                .scans()?
                .into_iter()
                .rfind(|s| s.finished())
                .context("no finished scan in the history: give --inventory FILE"),
        }
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

    /// The fingerprints of the findings open now (failing or waived in the scan that saw
    /// them last): a scan lists the passing findings among them, which resolve them.
    pub fn open_fingerprints(&self) -> Result<std::collections::HashSet<String>> {
        let mut st = self.conn.prepare("SELECT fingerprint FROM open_findings")?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
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
                status: parsed(r, 7)?,
                severity: parsed(r, 8)?,
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
        // A blob (written as serialised) or, in older histories, text.
        let bytes: Option<Vec<u8>> = self
            .conn
            .query_row("SELECT inventory FROM scans WHERE id = ?1", [id], |r| {
                Ok(match r.get_ref(0)? {
                    rusqlite::types::ValueRef::Text(b) | rusqlite::types::ValueRef::Blob(b) => {
                        Some(b.to_vec())
                    }
                    _ => None,
                })
            })
            .optional()?
            .flatten();
        let bytes =
            bytes.with_context(|| format!("scan {id} has no inventory (it did not finish)"))?;
        let name = format!("{}#scan-{id}", self.path.display());
        let text = String::from_utf8(bytes)
            .with_context(|| format!("`{name}`: the recorded inventory is not UTF-8"))?;
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

/// A column read as a type that parses from text (a status, a severity): a value this
/// version does not know is an error naming it, never a silent default.
fn parsed<T: std::str::FromStr<Err = String>>(
    r: &rusqlite::Row<'_>,
    i: usize,
) -> rusqlite::Result<T> {
    let text: String = r.get(i)?;
    text.parse::<T>().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e.into())
    })
}
