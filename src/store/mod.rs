//! The SQLite store: an inventory loaded into an in-memory database, one table per resource
//! kind, with views for the PrivateLink relationships and helper SQL functions.
//!
//! Rules (see [`crate::rules`]) and `plaudit query` read it. The schema is [`SCHEMA_SQL`]
//! and [`DERIVED_SQL`] (`plaudit schema` prints both). Here AZ names are resolved to AZ IDs through the AZ map of the
//! account that reported them, so that rules only ever compare IDs.
//!
//! Helper functions registered on every connection:
//! - `cidr_contains(cidr, ip_or_cidr)` → 1 when the second (an address or a network) lies
//!   inside the first, 0 when not, NULL when either is NULL or not an address;
//! - `port_in_range(port, from, to)` → 1 when `from <= port <= to`; a NULL range (protocol
//!   `-1`) covers every port;
//! - `age_days(ts)` → whole days from `ts` to the inventory's `collected_at`;
//! - `covered(account_id, region, api)` → 0 when the coverage ledger has a gap for that API
//!   there (or for the whole account), else 1;
//! - `az_label(az_name, az_id)` → `us-east-1a (use1-az4)`;
//! - `arn_account(arn)` → the account id field of an ARN, or NULL;
//! - `arn_partition()` → the inventory's AWS partition (`aws`, `aws-cn`, `aws-us-gov`), for
//!   building ARNs.
//!
//! Read-only once loaded: rules and `plaudit query` are untrusted SQL. A statement must be a
//! single read ([`Store::check_read_only`]), the connection runs with `query_only` and an
//! authorizer that denies ATTACH, DETACH and every pragma but a few read-only ones, and each
//! statement runs under a time budget ([`Store::set_budget`]) and stops on Ctrl-C.
//!
//! Not in here: rule semantics (see [`crate::rules`]).

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, params};

use crate::inventory::{ALL_REGIONS, Account, Inventory, Region};

/// The documented tables, one per resource kind.
/// (Each `CREATE INDEX` in it stays on one line: [`Store::load`] builds the indexes after the
/// rows, by picking those lines out.)
pub const SCHEMA_SQL: &str = include_str!("schema.sql");
/// The derived relationships, computed once after loading (tables and views).
pub const DERIVED_SQL: &str = include_str!("derived.sql");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// An inventory loaded into SQLite.
pub struct Store {
    conn: Connection,
    collected_at: DateTime<Utc>,
    gaps: Arc<GapIndex>,
    partition: Arc<str>,
    budget: Arc<Budget>,
    /// The database file (removed when the last connection to it is dropped); `None` for a
    /// database in memory.
    file: Option<Arc<DbFile>>,
}

/// A temporary database file: removed when dropped, and by the signal handler if the
/// process is interrupted first (it is a copy of the inventory).
#[derive(Debug)]
struct DbFile(tempfile::TempPath);

impl std::ops::Deref for DbFile {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for DbFile {
    fn drop(&mut self) {
        crate::interrupt::forget_temp(&self.0);
    }
}

/// When the statement running on a connection must stop: a deadline in milliseconds since
/// the process started (`u64::MAX`: none). Checked by SQLite's progress handler.
#[derive(Debug)]
pub struct Budget(AtomicU64);

static EPOCH: std::sync::LazyLock<Instant> = std::sync::LazyLock::new(Instant::now);

impl Budget {
    fn new() -> Budget {
        Budget(AtomicU64::new(u64::MAX))
    }

    fn set(&self, limit: Option<Duration>) {
        let deadline = limit
            .map(|l| (EPOCH.elapsed() + l).as_millis() as u64)
            .unwrap_or(u64::MAX);
        self.0.store(deadline, Ordering::Relaxed);
    }

    fn expired(&self) -> bool {
        let d = self.0.load(Ordering::Relaxed);
        d != u64::MAX && EPOCH.elapsed().as_millis() as u64 >= d
    }
}

/// Pragmas a read-only statement may use (introspection); every other one is denied,
/// `query_only` included, so that no statement can turn the protection off.
const READ_PRAGMAS: &[&str] = &[
    "table_info",
    "table_xinfo",
    "table_list",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
    "function_list",
    "pragma_list",
    "collation_list",
];

/// Makes a loaded database read-only for the statements that follow, and bounds each one.
fn lock_down(conn: &mut Connection, budget: Arc<Budget>) -> rusqlite::Result<()> {
    use rusqlite::hooks::{AuthAction, Authorization};
    conn.execute_batch("PRAGMA query_only = ON;")?;
    conn.authorizer(Some(|ctx: rusqlite::hooks::AuthContext<'_>| {
        match ctx.action {
            AuthAction::Select
            | AuthAction::Read { .. }
            | AuthAction::Function { .. }
            | AuthAction::Recursive => Authorization::Allow,
            AuthAction::Pragma { pragma_name, .. }
                if READ_PRAGMAS
                    .iter()
                    .any(|p| p.eq_ignore_ascii_case(pragma_name)) =>
            {
                Authorization::Allow
            }
            _ => Authorization::Deny,
        }
    }))?;
    // Every ~100k virtual-machine steps: cheap, and a runaway statement stops within
    // milliseconds of its deadline or of Ctrl-C / SIGTERM.
    conn.progress_handler(
        100_000,
        Some(move || budget.expired() || crate::interrupt::requested()),
    )?;
    Ok(())
}

/// Settings every connection gets.
fn tune(conn: &Connection, cache_kib: i64) -> rusqlite::Result<()> {
    // One cached statement per insert kind and per rule: the default of 16 would thrash.
    conn.set_prepared_statement_cache_capacity(128);
    // Temp b-trees (DISTINCT, ORDER BY, materialised CTEs) stay in memory, not temp files.
    conn.execute_batch(&format!(
        "PRAGMA temp_store = MEMORY; PRAGMA cache_size = -{cache_kib}; PRAGMA journal_mode = OFF; \
         PRAGMA synchronous = OFF;"
    ))
}

fn open_memory() -> rusqlite::Result<Connection> {
    let conn = Connection::open_in_memory()?;
    tune(&conn, 262_144)?;
    Ok(conn)
}

/// The database in a temporary file: its pages live in the operating system's cache, not in
/// the process, and every evaluating thread reads the one file (an in-memory database needs
/// a copy per thread: at 10,000 accounts two copies were 2.2 GB of the scan's memory). Each
/// connection keeps 64 MiB of pages of its own.
fn open_file() -> Option<(Connection, DbFile)> {
    let path = crate::interrupt::create_temp(
        crate::interrupt::Temp::Database,
        || {
            tempfile::Builder::new()
                .prefix("plaudit-store-")
                .suffix(".sqlite")
                .tempfile()
                .map(|f| f.into_temp_path())
        },
        |p| p,
    )
    .map_err(|e| tracing::debug!("no temporary file for the database ({e}): in memory"))
    .ok()?;
    // Owned at once: on any failure below, dropping it removes and forgets the file.
    let path = DbFile(path);
    let conn = Connection::open(&*path)
        .map_err(|e| tracing::debug!("cannot open {} ({e}): in memory", path.display()))
        .ok()?;
    // Larger pages: fewer reads from the file per query.
    conn.execute_batch("PRAGMA page_size = 16384;").ok()?;
    tune(&conn, 65_536).ok()?;
    Some((conn, path))
}

/// A database being filled one account at a time (an inventory read from a file, account by
/// account, is never held whole): [`Loader::add_account`] for each, then [`Loader::finish`]
/// with the rest of the inventory. Dropped unfinished, its temporary file goes with it.
pub struct Loader {
    conn: Connection,
    file: Option<Arc<DbFile>>,
    started: Instant,
}

impl Loader {
    /// Creates the database (a temporary file; in memory where no temporary file can be
    /// made) and its tables, and opens the transaction the rows go in.
    pub fn new() -> Result<Loader, StoreError> {
        let (conn, file) = match open_file() {
            Some((c, f)) => (c, Some(Arc::new(f))),
            None => (open_memory()?, None),
        };
        // Indexes are built once the rows are in: faster than keeping them up to date row by
        // row (a third of the load at 1,000 accounts).
        let tables: Vec<&str> = SCHEMA_SQL
            .lines()
            .filter(|l| !l.starts_with("CREATE INDEX"))
            .collect();
        conn.execute_batch(&tables.join("\n"))?;
        conn.execute_batch("BEGIN")?;
        Ok(Loader {
            conn,
            file,
            started: Instant::now(),
        })
    }

    /// Inserts one account, its regions and their resources.
    pub fn add_account(&mut self, acct: &Account) -> Result<(), StoreError> {
        insert_account(&self.conn, acct)?;
        Ok(())
    }

    /// Inserts what belongs to the whole inventory (its organisation, membership and
    /// ledger; `inv.accounts` are not inserted again), then builds the indexes and derived
    /// tables and locks the database for the rules.
    pub fn finish(self, inv: &Inventory) -> Result<Store, StoreError> {
        let Loader {
            mut conn,
            file,
            started: t,
        } = self;
        let collected_at = inv.collected_at.unwrap_or_else(Utc::now);
        insert_header(&conn, inv, collected_at)?;
        conn.execute_batch("COMMIT")?;
        let gaps = Arc::new(GapIndex::new(inv));
        let partition: Arc<str> = Arc::from(inv.partition());
        register_functions(&conn, gaps.clone(), collected_at, partition.clone())?;
        let indexes: Vec<&str> = SCHEMA_SQL
            .lines()
            .filter(|l| l.starts_with("CREATE INDEX"))
            .collect();
        conn.execute_batch(&indexes.join("\n"))?;
        let inserted = t.elapsed().as_secs_f64();
        conn.execute_batch(DERIVED_SQL)?;
        let derived = t.elapsed().as_secs_f64();
        conn.execute_batch("ANALYZE")?;
        let budget = Arc::new(Budget::new());
        lock_down(&mut conn, budget.clone())?;
        tracing::debug!(
            inserted,
            derived,
            analyzed = t.elapsed().as_secs_f64(),
            "inventory loaded into SQLite"
        );
        Ok(Store {
            conn,
            collected_at,
            gaps,
            partition,
            budget,
            file,
        })
    }
}

impl Store {
    /// Creates a database (a temporary file; in memory where no temporary file can be made)
    /// and loads `inv` into it.
    pub fn load(inv: &Inventory) -> Result<Store, StoreError> {
        let mut loader = Loader::new()?;
        for acct in &inv.accounts {
            loader.add_account(acct)?;
        }
        loader.finish(inv)
    }

    /// A second connection to the database (for evaluating rules on another thread): the
    /// same file, read-only; for a database in memory, a copy.
    pub fn duplicate(&self) -> Result<Store, StoreError> {
        let mut conn = match &self.file {
            Some(path) => {
                use rusqlite::OpenFlags;
                let c = Connection::open_with_flags(
                    &***path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                tune(&c, 65_536)?;
                c
            }
            None => {
                let mut c = open_memory()?;
                let backup = rusqlite::backup::Backup::new(&self.conn, &mut c)?;
                backup.run_to_completion(i32::MAX, Duration::ZERO, None)?;
                drop(backup);
                c
            }
        };
        register_functions(
            &conn,
            self.gaps.clone(),
            self.collected_at,
            self.partition.clone(),
        )?;
        let budget = Arc::new(Budget::new());
        lock_down(&mut conn, budget.clone())?;
        Ok(Store {
            conn,
            collected_at: self.collected_at,
            gaps: self.gaps.clone(),
            partition: self.partition.clone(),
            budget,
            file: self.file.clone(),
        })
    }

    /// The coverage gaps of the loaded inventory.
    pub fn gaps(&self) -> &GapIndex {
        &self.gaps
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Bounds the statements run from now on (until the next call) to `limit` each; `None`:
    /// no bound. Past it, SQLite interrupts the statement, which fails with an error.
    pub fn set_budget(&self, limit: Option<Duration>) {
        self.budget.set(limit);
    }

    /// Refuses SQL that is not one read: anything but a single SELECT (or WITH … SELECT, or
    /// VALUES), or a statement SQLite reports as writing. Rules and `plaudit query` are
    /// checked with it before they run.
    pub fn check_read_only(&self, sql: &str) -> Result<(), String> {
        let keyword = first_keyword(sql);
        if !matches!(keyword.as_str(), "select" | "with" | "values") {
            return Err(format!(
                "only a SELECT (or WITH … SELECT) may run here, not `{}`: rules and queries are \
                 read-only",
                if keyword.is_empty() {
                    "nothing"
                } else {
                    &keyword
                }
            ));
        }
        let stmt = self.conn.prepare(sql).map_err(|e| {
            let m = e.to_string();
            if m.contains("not authorized") {
                "the statement writes, attaches a file or sets a pragma (denied); rules and \
                 queries are read-only"
                    .to_string()
            } else {
                m
            }
        })?;
        if !stmt.readonly() {
            return Err(
                "the statement writes to the database (INSERT, UPDATE or DELETE, perhaps \
                 inside a WITH); rules and queries are read-only"
                    .into(),
            );
        }
        Ok(())
    }

    /// The reference instant for ages.
    pub fn collected_at(&self) -> DateTime<Utc> {
        self.collected_at
    }
}

/// The first SQL keyword of `sql`, lower-cased, after white space and comments.
fn first_keyword(sql: &str) -> String {
    let mut rest = sql;
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix("--") {
            rest = r.split_once('\n').map(|x| x.1).unwrap_or("");
        } else if let Some(r) = rest.strip_prefix("/*") {
            rest = r.split_once("*/").map(|x| x.1).unwrap_or("");
        } else {
            break;
        }
    }
    rest.chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_lowercase()
}

fn lower(s: &str) -> String {
    s.to_ascii_lowercase()
}

/// Parses `a.b.c.d`, `a.b.c.d/n` or IPv6 equivalents into a network.
pub fn parse_net(s: &str) -> Option<IpNet> {
    let s = s.trim();
    if let Ok(n) = s.parse::<IpNet>() {
        return Some(n.trunc());
    }
    s.parse::<IpAddr>().ok().map(IpNet::from)
}

/// True when `inner` (address or network) lies within `outer`.
pub fn cidr_contains(outer: &str, inner: &str) -> Option<bool> {
    let o = parse_net(outer)?;
    let i = parse_net(inner)?;
    Some(o.contains(&i))
}

fn register_functions(
    conn: &Connection,
    gaps: Arc<GapIndex>,
    collected_at: DateTime<Utc>,
    partition: Arc<str>,
) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function(
        "arn_partition",
        0,
        flags,
        move |_| Ok(partition.to_string()),
    )?;
    conn.create_scalar_function("cidr_contains", 2, flags, |ctx| {
        let a: Option<String> = ctx.get(0)?;
        let b: Option<String> = ctx.get(1)?;
        Ok(match (a, b) {
            (Some(a), Some(b)) => cidr_contains(&a, &b).map(i64::from),
            _ => None,
        })
    })?;
    conn.create_scalar_function("port_in_range", 3, flags, |ctx| {
        let port: Option<i64> = ctx.get(0)?;
        let from: Option<i64> = ctx.get(1)?;
        let to: Option<i64> = ctx.get(2)?;
        Ok(match (port, from, to) {
            (None, _, _) => None,
            (Some(_), None, None) => Some(1i64),
            (Some(p), f, t) => {
                let f = f.unwrap_or(0);
                let t = t.unwrap_or(65535);
                // EC2 reports "all ports" as -1/-1 for some protocols.
                Some(i64::from((f == -1 && t == -1) || (f <= p && p <= t)))
            }
        })
    })?;
    conn.create_scalar_function("age_days", 1, flags, move |ctx| {
        let ts: Option<String> = ctx.get(0)?;
        Ok(ts
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| (collected_at - t.with_timezone(&Utc)).num_days()))
    })?;
    conn.create_scalar_function("az_label", 2, flags, |ctx| {
        let name: Option<String> = ctx.get(0)?;
        let id: Option<String> = ctx.get(1)?;
        Ok(match (name, id) {
            (Some(n), Some(i)) => format!("{n} ({i})"),
            (Some(n), None) => format!("{n} (unknown AZ ID)"),
            (None, Some(i)) => i,
            (None, None) => "unknown AZ".to_string(),
        })
    })?;
    conn.create_scalar_function("arn_account", 1, flags, |ctx| {
        let arn: Option<String> = ctx.get(0)?;
        Ok(arn.and_then(|a| arn_account(&a)))
    })?;
    conn.create_scalar_function("covered", 3, flags, move |ctx| {
        let account: Option<String> = ctx.get(0)?;
        let region: Option<String> = ctx.get(1)?;
        let api: Option<String> = ctx.get(2)?;
        let (Some(account), Some(api)) = (account, api) else {
            return Ok(0i64);
        };
        Ok(i64::from(!gaps.has_gap(
            &account,
            region.as_deref().unwrap_or(ALL_REGIONS),
            &api,
        )))
    })?;
    Ok(())
}

/// The account id in an ARN (`arn:aws:iam::123456789012:root` → `123456789012`); a bare
/// 12-digit account id is returned as is.
pub fn arn_account(arn: &str) -> Option<String> {
    if arn.len() == 12 && arn.bytes().all(|b| b.is_ascii_digit()) {
        return Some(arn.to_string());
    }
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() >= 5 && parts[0] == "arn" && !parts[4].is_empty() {
        Some(parts[4].to_string())
    } else {
        None
    }
}

/// Answers "is there a coverage gap for this account / region / API?" quickly.
#[derive(Debug, Default)]
pub struct GapIndex {
    /// Accounts with an account-wide gap (AssumeRole failed, suspended).
    accounts: HashSet<String>,
    /// (account, region) pairs with a gap on every API (region disabled, SCP on everything).
    regions: HashSet<(String, String)>,
    apis: HashSet<(String, String, String)>,
}

impl GapIndex {
    pub fn new(inv: &Inventory) -> GapIndex {
        let mut idx = GapIndex::default();
        // Organisation-wide outcomes are no account's gap: the trust rules read the
        // membership's completeness instead.
        for g in inv
            .gaps()
            .filter(|g| g.account_id != crate::inventory::ORGANIZATION)
        {
            match g.region.as_deref().filter(|_| !g.is_account_wide()) {
                None => {
                    if g.api.blocks_every_input() {
                        idx.accounts.insert(g.account_id.clone());
                    } else {
                        // A global API failing for an account: every region lacks it.
                        idx.apis.insert((
                            g.account_id.clone(),
                            ALL_REGIONS.to_string(),
                            g.api.to_string(),
                        ));
                    }
                }
                Some(r) => {
                    if g.api.is_all() {
                        idx.regions.insert((g.account_id.clone(), r.to_string()));
                    } else {
                        idx.apis
                            .insert((g.account_id.clone(), r.to_string(), g.api.to_string()));
                    }
                }
            }
        }
        idx
    }

    pub fn has_gap(&self, account: &str, region: &str, api: &str) -> bool {
        if self.is_empty() {
            return false;
        }
        if self.accounts.contains(account) {
            return true;
        }
        let acct = account.to_string();
        if self.regions.contains(&(acct.clone(), region.to_string())) {
            return true;
        }
        self.apis
            .contains(&(acct.clone(), region.to_string(), api.to_string()))
            || self
                .apis
                .contains(&(acct, ALL_REGIONS.to_string(), api.to_string()))
    }

    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty() && self.regions.is_empty() && self.apis.is_empty()
    }
}

/// The rows of the whole inventory: scan metadata, the membership, the ledger.
fn insert_header(
    tx: &Connection,
    inv: &Inventory,
    collected_at: DateTime<Utc>,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO scan_meta VALUES ('collected_at', ?1)",
        params![collected_at.to_rfc3339()],
    )?;
    tx.execute(
        "INSERT INTO scan_meta VALUES ('partition', ?1)",
        params![inv.partition()],
    )?;
    if let Some(org) = &inv.organization {
        tx.execute(
            "INSERT INTO scan_meta VALUES ('organization_id', ?1)",
            params![org.id],
        )?;
        if let Some(m) = &org.management_account_id {
            tx.execute(
                "INSERT INTO scan_meta VALUES ('management_account_id', ?1)",
                params![m],
            )?;
        }
    }
    let members = inv.members();
    tx.execute(
        "INSERT INTO scan_meta VALUES ('membership_complete', ?1)",
        params![if members.complete { "1" } else { "0" }],
    )?;
    for m in &members.accounts {
        // A member listed twice (merged shards) is one member.
        tx.prepare_cached("INSERT OR IGNORE INTO org_members VALUES (?1,?2,?3,?4)")?
            .execute(params![m.id, m.name, m.state, m.ou_path])?;
    }
    for c in &inv.coverage {
        tx.prepare_cached("INSERT INTO coverage VALUES (?1,?2,?3,?4,?5)")?
            .execute(params![
                c.account_id,
                c.region_or_all(),
                c.api.as_str(),
                c.status.as_str(),
                c.error,
            ])?;
    }
    Ok(())
}

/// An account's row, its regions and their resources.
fn insert_account(tx: &Connection, acct: &Account) -> rusqlite::Result<()> {
    tx.prepare_cached("INSERT INTO accounts VALUES (?1,?2,?3,?4,?5,?6)")?
        .execute(params![
            acct.id,
            acct.name,
            acct.email,
            acct.status,
            acct.ou_path,
            serde_json::to_string(&acct.tags).unwrap_or_else(|_| "{}".into()),
        ])?;
    for region in &acct.regions {
        insert_region(tx, &acct.id, region)?;
    }
    Ok(())
}

fn insert_region(tx: &Connection, account: &str, r: &Region) -> rusqlite::Result<()> {
    let rows = RegionRows {
        tx,
        account,
        region: r.name.as_str(),
        r,
        az: r
            .availability_zones
            .iter()
            .map(|z| (z.name.as_str(), z.id.as_str()))
            .collect(),
    };
    rows.zones_and_vpcs()?;
    rows.subnets()?;
    rows.security_groups()?;
    rows.load_balancers()?;
    rows.target_groups()?;
    rows.endpoint_services()?;
    rows.vpc_endpoints()?;
    rows.service_lookups()
}

/// The rows of one account-region, with its own AZ map (name → ID) to put AZ IDs beside
/// AZ names.
struct RegionRows<'a> {
    tx: &'a Connection,
    account: &'a str,
    region: &'a str,
    r: &'a Region,
    az: HashMap<&'a str, &'a str>,
}

impl RegionRows<'_> {
    fn az_id(&self, name: &str) -> Option<String> {
        self.az.get(name).map(|s| s.to_string())
    }

    /// The AZ map, and the VPCs with every associated CIDR.
    fn zones_and_vpcs(&self) -> rusqlite::Result<()> {
        let (tx, account, region) = (self.tx, self.account, self.region);
        for z in &self.r.availability_zones {
            tx.prepare_cached("INSERT INTO availability_zones VALUES (?1,?2,?3,?4,?5)")?
                .execute(params![account, region, z.name, z.id, z.zone_type])?;
        }
        for v in &self.r.vpcs {
            tx.prepare_cached("INSERT INTO vpcs VALUES (?1,?2,?3,?4,?5,?6,?7)")?
                .execute(params![
                    account,
                    region,
                    v.id,
                    v.cidr,
                    v.enable_dns_support,
                    v.enable_dns_hostnames,
                    v.is_default
                ])?;
            // Every associated CIDR; inventories that hold only the primary one give that.
            let v4 = if v.cidrs.is_empty() {
                v.cidr.iter().collect::<Vec<_>>()
            } else {
                v.cidrs.iter().collect()
            };
            for (family, cidr) in v4
                .into_iter()
                .map(|c| ("ipv4", c))
                .chain(v.ipv6_cidrs.iter().map(|c| ("ipv6", c)))
            {
                tx.prepare_cached("INSERT INTO vpc_cidrs VALUES (?1,?2,?3,?4,?5)")?
                    .execute(params![account, region, v.id, cidr, family])?;
            }
        }
        Ok(())
    }

    /// Subnets, with their AZ IDs (from the subnet, else the AZ map).
    fn subnets(&self) -> rusqlite::Result<()> {
        let (tx, account, region) = (self.tx, self.account, self.region);
        let az_id = |name: &str| self.az_id(name);
        for s in &self.r.subnets {
            let id = s
                .availability_zone_id
                .clone()
                .or_else(|| az_id(&s.availability_zone));
            tx.prepare_cached("INSERT INTO subnets VALUES (?1,?2,?3,?4,?5,?6,?7,?8)")?
                .execute(params![
                    account,
                    region,
                    s.id,
                    s.vpc_id,
                    s.cidr,
                    s.ipv6_cidr,
                    s.availability_zone,
                    id
                ])?;
        }
        Ok(())
    }

    /// Security groups and their rules.
    fn security_groups(&self) -> rusqlite::Result<()> {
        let (tx, account, region) = (self.tx, self.account, self.region);
        for g in &self.r.security_groups {
            tx.prepare_cached("INSERT INTO security_groups VALUES (?1,?2,?3,?4,?5)")?
                .execute(params![account, region, g.id, g.name, g.vpc_id])?;
            for rule in &g.rules {
                tx.prepare_cached(
                    "INSERT INTO security_group_rules VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14)",
                )?
                .execute(params![
                    account,
                    region,
                    g.id,
                    rule.id,
                    lower(&rule.direction),
                    lower(&rule.protocol),
                    rule.from_port,
                    rule.to_port,
                    rule.cidr_ipv4,
                    rule.cidr_ipv6,
                    rule.referenced_group_id,
                    rule.referenced_group_owner,
                    rule.prefix_list_id,
                    rule.description
                ])?;
            }
        }
        Ok(())
    }

    /// Load balancers: zones (with AZ IDs), addresses, security groups, listeners.
    fn load_balancers(&self) -> rusqlite::Result<()> {
        let (tx, account, region) = (self.tx, self.account, self.region);
        let az_id = |name: &str| self.az_id(name);
        for lb in &self.r.load_balancers {
            tx.prepare_cached(
                "INSERT INTO load_balancers VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)",
            )?
            .execute(params![
                account,
                region,
                lb.arn,
                lb.name,
                lower(&lb.lb_type),
                lb.scheme,
                lb.vpc_id,
                lower(&lb.state),
                lb.dns_name,
                lb.enforce_sg_inbound_on_privatelink,
                lb.cross_zone
            ])?;
            for z in &lb.availability_zones {
                let id = z.id.clone().or_else(|| az_id(&z.name));
                tx.prepare_cached("INSERT INTO load_balancer_zones VALUES (?1,?2,?3,?4,?5,?6)")?
                    .execute(params![account, region, lb.arn, z.name, id, z.subnet_id])?;
                for ip in &z.private_ips {
                    tx.prepare_cached(
                        "INSERT INTO load_balancer_addresses VALUES (?1,?2,?3,?4,?5)",
                    )?
                    .execute(params![account, region, lb.arn, id, ip])?;
                }
            }
            for g in &lb.security_groups {
                tx.prepare_cached(
                    "INSERT INTO load_balancer_security_groups VALUES (?1,?2,?3,?4)",
                )?
                .execute(params![account, region, lb.arn, g])?;
            }
            for l in &lb.listeners {
                tx.prepare_cached("INSERT INTO listeners VALUES (?1,?2,?3,?4,?5,?6)")?
                    .execute(params![account, region, lb.arn, l.arn, l.protocol, l.port])?;
            }
        }
        Ok(())
    }

    /// Target groups, the load balancers they serve, their targets (with AZ IDs).
    fn target_groups(&self) -> rusqlite::Result<()> {
        let (tx, account, region) = (self.tx, self.account, self.region);
        for tg in &self.r.target_groups {
            let hc_port = match tg.health_check_port.as_deref() {
                None | Some("traffic-port") => tg.port,
                Some(p) => p.parse::<i64>().ok().or(tg.port),
            };
            tx.prepare_cached("INSERT INTO target_groups VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)")?
                .execute(params![
                    account,
                    region,
                    tg.arn,
                    tg.name,
                    lower(&tg.target_type),
                    tg.protocol,
                    tg.port,
                    tg.vpc_id,
                    hc_port,
                    tg.cross_zone.as_deref().map(lower)
                ])?;
            for lb in &tg.load_balancer_arns {
                tx.prepare_cached("INSERT INTO target_group_load_balancers VALUES (?1,?2,?3,?4)")?
                    .execute(params![account, region, tg.arn, lb])?;
            }
            for t in &tg.targets {
                let id = t.availability_zone.as_deref().and_then(|n| self.az_id(n));
                tx.prepare_cached("INSERT INTO targets VALUES (?1,?2,?3,?4,?5,?6,?7,?8)")?
                    .execute(params![
                        account,
                        region,
                        tg.arn,
                        t.id,
                        t.port.or(tg.port),
                        t.availability_zone,
                        id,
                        t.health.as_deref().map(lower)
                    ])?;
            }
        }
        Ok(())
    }

    /// Endpoint services: load balancers, zones, principals, regions, connections.
    fn endpoint_services(&self) -> rusqlite::Result<()> {
        let (tx, account, region) = (self.tx, self.account, self.region);
        let az_id = |name: &str| self.az_id(name);
        for s in &self.r.endpoint_services {
            tx.prepare_cached(
                "INSERT INTO endpoint_services VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)",
            )?
            .execute(params![
                account,
                region,
                s.id,
                s.name,
                s.service_type,
                s.state,
                s.acceptance_required,
                s.private_dns_name,
                s.private_dns_state,
                s.private_dns_txt_name,
                s.private_dns_txt_value,
                s.created_at.map(|t| t.to_rfc3339()),
            ])?;
            for (kind, arns) in [
                ("network", &s.network_load_balancer_arns),
                ("gateway", &s.gateway_load_balancer_arns),
            ] {
                for arn in arns {
                    tx.prepare_cached(
                        "INSERT INTO endpoint_service_load_balancers VALUES (?1,?2,?3,?4,?5)",
                    )?
                    .execute(params![account, region, s.id, arn, kind])?;
                }
            }
            for z in &s.availability_zones {
                tx.prepare_cached("INSERT INTO endpoint_service_zones VALUES (?1,?2,?3,?4,?5)")?
                    .execute(params![account, region, s.id, z, az_id(z)])?;
            }
            for p in &s.allowed_principals {
                let pa = if p == "*" { None } else { arn_account(p) };
                tx.prepare_cached(
                    "INSERT INTO endpoint_service_principals VALUES (?1,?2,?3,?4,?5)",
                )?
                .execute(params![account, region, s.id, p, pa])?;
            }
            for sr in &s.supported_regions {
                tx.prepare_cached("INSERT INTO endpoint_service_regions VALUES (?1,?2,?3,?4)")?
                    .execute(params![account, region, s.id, sr])?;
            }
            for c in &s.connections {
                tx.prepare_cached(
                    "INSERT INTO endpoint_connections VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
                )?
                .execute(params![
                    account,
                    region,
                    s.id,
                    c.endpoint_id,
                    c.endpoint_owner,
                    lower(&c.state),
                    c.created_at.map(|t| t.to_rfc3339()),
                    c.endpoint_region
                ])?;
            }
        }
        Ok(())
    }

    /// VPC endpoints, their subnets and security groups.
    fn vpc_endpoints(&self) -> rusqlite::Result<()> {
        let (tx, account, region) = (self.tx, self.account, self.region);
        for e in &self.r.vpc_endpoints {
            tx.prepare_cached(
                "INSERT INTO vpc_endpoints VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)",
            )?
            .execute(params![
                account,
                region,
                e.id,
                e.endpoint_type,
                e.vpc_id,
                e.service_name,
                e.service_region.as_deref().unwrap_or(region),
                lower(&e.state),
                e.private_dns_enabled,
                e.created_at.map(|t| t.to_rfc3339()),
                e.service_network_arn,
                e.resource_configuration_arn,
            ])?;
            for s in &e.subnet_ids {
                tx.prepare_cached("INSERT INTO vpc_endpoint_subnets VALUES (?1,?2,?3,?4)")?
                    .execute(params![account, region, e.id, s])?;
            }
            for g in &e.security_group_ids {
                tx.prepare_cached("INSERT INTO vpc_endpoint_security_groups VALUES (?1,?2,?3,?4)")?
                    .execute(params![account, region, e.id, g])?;
            }
        }
        Ok(())
    }

    /// Consumer-side lookups of services the organisation does not provide, with zones.
    fn service_lookups(&self) -> rusqlite::Result<()> {
        let (tx, account, region) = (self.tx, self.account, self.region);
        let az_id = |name: &str| self.az_id(name);
        for l in &self.r.service_lookups {
            tx.prepare_cached("INSERT INTO service_lookups VALUES (?1,?2,?3,?4,?5,?6,?7,?8)")?
                .execute(params![
                    account,
                    region,
                    l.service_name,
                    l.found,
                    l.service_id,
                    l.owner,
                    l.private_dns_name,
                    l.service_region
                ])?;
            for z in &l.availability_zones {
                tx.prepare_cached("INSERT INTO service_lookup_zones VALUES (?1,?2,?3,?4,?5)")?
                    .execute(params![account, region, l.service_name, z, az_id(z)])?;
            }
            // IDs reported directly need no map; their names come from the consumer's map.
            for id in &l.availability_zone_ids {
                let name = self
                    .r
                    .availability_zones
                    .iter()
                    .find(|z| &z.id == id)
                    .map(|z| z.name.clone());
                let already = l
                    .availability_zones
                    .iter()
                    .any(|n| az_id(n).as_deref() == Some(id.as_str()));
                if !already {
                    tx.prepare_cached("INSERT INTO service_lookup_zones VALUES (?1,?2,?3,?4,?5)")?
                        .execute(params![
                            account,
                            region,
                            l.service_name,
                            name.unwrap_or_else(|| id.clone()),
                            id
                        ])?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_contains_addresses_and_networks() {
        assert_eq!(cidr_contains("10.0.0.0/16", "10.0.3.7"), Some(true));
        assert_eq!(cidr_contains("10.0.0.0/16", "10.0.3.0/24"), Some(true));
        assert_eq!(cidr_contains("10.0.0.0/24", "10.0.0.0/16"), Some(false));
        assert_eq!(cidr_contains("0.0.0.0/0", "192.168.1.1"), Some(true));
        assert_eq!(cidr_contains("10.0.0.0/8", "fd00::1"), Some(false));
        assert_eq!(cidr_contains("::/0", "fd00::1"), Some(true));
        assert_eq!(cidr_contains("nonsense", "10.0.0.1"), None);
        // A host-bits-set CIDR is treated as its network.
        assert_eq!(cidr_contains("10.0.0.5/24", "10.0.0.200"), Some(true));
    }

    #[test]
    fn arn_account_parses() {
        assert_eq!(
            arn_account("arn:aws:iam::123456789012:root").as_deref(),
            Some("123456789012")
        );
        assert_eq!(arn_account("123456789012").as_deref(), Some("123456789012"));
        assert_eq!(arn_account("*"), None);
        assert_eq!(arn_account("arn:aws:iam:::root"), None);
    }

    fn store(json: &str) -> Store {
        let inv = crate::inventory::parse_json(json, std::path::Path::new("t.json")).unwrap();
        Store::load(&inv).unwrap()
    }

    #[test]
    fn resource_arns_are_built_in_the_inventorys_partition() {
        let s = store(
            r#"{"schema_version":1,"partition":"aws-cn","accounts":[{"id":"1","regions":[
                {"name":"cn-north-1","endpoint_services":[{"id":"vpce-svc-1","name":"n"}]}]}]}"#,
        );
        let set = crate::rules::load_all(&[], true).unwrap();
        let rule = set.get("private-dns-unverified").unwrap();
        let f = crate::rules::eval::run_rule(
            &s,
            rule,
            crate::rules::DEFAULT_RULE_BUDGET,
            s.gaps(),
            &[],
        )
        .unwrap();
        assert!(
            f[0].resource_arn
                .starts_with("arn:aws-cn:ec2:cn-north-1:1:vpc-endpoint-service/"),
            "{}",
            f[0].resource_arn
        );
    }

    #[test]
    fn threads_share_one_database_file_removed_with_the_last_connection() {
        let s = store(r#"{"schema_version":1,"accounts":[{"id":"1"},{"id":"2"}]}"#);
        let path = s.file.as_deref().expect("a database file").to_path_buf();
        assert!(
            crate::interrupt::is_registered(crate::interrupt::Temp::Database, &path),
            "registered for removal on Ctrl-C"
        );
        assert!(path.exists());
        let other = s.duplicate().unwrap();
        assert_eq!(
            other.file.as_deref().map(|p| p.to_path_buf()),
            Some(path.clone())
        );
        drop(s);
        let n: i64 = other
            .conn()
            .query_row("SELECT count(*) FROM accounts", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 2);
        assert!(other.conn().execute_batch("DELETE FROM accounts").is_err());
        drop(other);
        assert!(!path.exists(), "the temporary database is removed");
        assert!(!crate::interrupt::is_registered(
            crate::interrupt::Temp::Database,
            &path
        ));
    }

    #[test]
    fn the_loaded_store_refuses_writes_and_escapes() {
        let s = store(r#"{"schema_version":1,"accounts":[{"id":"1"}]}"#);
        for sql in [
            "DELETE FROM accounts",
            "ATTACH DATABASE '/tmp/x.db' AS x",
            "PRAGMA query_only = OFF",
            "VACUUM INTO '/tmp/x.db'",
        ] {
            assert!(s.check_read_only(sql).is_err(), "{sql}");
            assert!(
                s.conn().execute_batch(sql).is_err(),
                "{sql} ran on the store"
            );
        }
        assert!(s.check_read_only("SELECT count(*) FROM accounts").is_ok());
        assert!(s.check_read_only("PRAGMA table_info(accounts)").is_err());
    }

    #[test]
    fn az_names_resolve_through_each_accounts_own_map() {
        let s = store(
            r#"{"schema_version":1,"accounts":[
              {"id":"111111111111","regions":[{"name":"us-east-1",
                "availability_zones":[{"name":"us-east-1a","id":"use1-az1"}],
                "subnets":[{"id":"subnet-a","vpc_id":"vpc-1","availability_zone":"us-east-1a"}]}]},
              {"id":"222222222222","regions":[{"name":"us-east-1",
                "availability_zones":[{"name":"us-east-1a","id":"use1-az4"}],
                "subnets":[{"id":"subnet-b","vpc_id":"vpc-2","availability_zone":"us-east-1a"}]}]}]}"#,
        );
        let ids: Vec<(String, String)> = s
            .conn()
            .prepare("SELECT subnet_id, az_id FROM subnets ORDER BY subnet_id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            ids,
            vec![
                ("subnet-a".to_string(), "use1-az1".to_string()),
                ("subnet-b".to_string(), "use1-az4".to_string())
            ]
        );
    }

    #[test]
    fn helper_functions_behave() {
        let s = store(
            r#"{"schema_version":1,"collected_at":"2026-01-10T00:00:00Z","accounts":[{"id":"111111111111"}],
               "coverage":[{"account_id":"111111111111","region":"eu-west-1","api":"ec2:DescribeVpcEndpoints","status":"access_denied"},
                           {"account_id":"222222222222","api":"sts:AssumeRole","status":"assume_role_failed"}]}"#,
        );
        let q = |sql: &str| -> Option<i64> { s.conn().query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(q("SELECT age_days('2026-01-01T00:00:00Z')"), Some(9));
        assert_eq!(q("SELECT port_in_range(443, 400, 500)"), Some(1));
        assert_eq!(q("SELECT port_in_range(443, 80, 80)"), Some(0));
        assert_eq!(q("SELECT port_in_range(443, NULL, NULL)"), Some(1));
        assert_eq!(q("SELECT port_in_range(443, -1, -1)"), Some(1));
        assert_eq!(
            q("SELECT covered('111111111111','eu-west-1','ec2:DescribeVpcEndpoints')"),
            Some(0)
        );
        assert_eq!(
            q("SELECT covered('111111111111','us-east-1','ec2:DescribeVpcEndpoints')"),
            Some(1)
        );
        assert_eq!(
            q("SELECT covered('222222222222','us-east-1','ec2:DescribeSubnets')"),
            Some(0)
        );
    }
}
