//! Reading inventory files: version check first, then a strict parse, then consistency checks.
//! Every error names the file, and the line and column where serde can tell.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hasher};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{Account, Inventory, Region, SCHEMA_VERSION};

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
        return Err(too_large(path, cap));
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
    check_version(probe.schema_version, path)?;
    let inv: Inventory = serde_json::from_str(text).map_err(parse_err)?;
    validate(&inv).map_err(|message| InventoryError::Invalid {
        path: path.to_path_buf(),
        message,
    })?;
    Ok(inv)
}

/// An inventory file, as [`stream_file`] read it: its length and a hash of its bytes, so that
/// the history can keep a copy and tell if the file changed in between.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    pub path: PathBuf,
    pub len: u64,
    pub digest: u64,
}

/// An inventory read by [`stream_file`].
#[derive(Debug)]
pub struct Streamed {
    /// The inventory without its resources: every account with its region names only, the
    /// organisation, membership and ledger whole — what reports, waivers and the history
    /// need besides the database.
    pub outline: Inventory,
    pub source: SourceFile,
}

/// Reads and validates an inventory file one account at a time, handing each to `each` (which
/// loads it into the database): memory holds one account, not the organisation. The same
/// checks and messages as [`load_file`]. `None` for what cannot be read twice (a pipe): use
/// [`load_file`].
pub fn stream_file(
    path: &Path,
    each: &mut dyn FnMut(&Account) -> anyhow::Result<()>,
) -> anyhow::Result<Option<Streamed>> {
    let read_err = |source| InventoryError::Read {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    if !meta.is_file() {
        return Ok(None);
    }
    let cap = max_inventory_bytes();
    if meta.len() > cap {
        return Err(too_large(path, cap).into());
    }
    let parse_err = |e: serde_json::Error| InventoryError::Parse {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        message: strip_position(&e.to_string()),
    };
    // The version first (a pass that allocates nothing): an inventory of another version is
    // named as such, not by the first field this one does not know.
    let open = || -> Result<_, InventoryError> {
        let file = std::fs::File::open(path).map_err(read_err)?;
        Ok(std::io::BufReader::with_capacity(
            1 << 20,
            Hashing::new(std::io::Read::take(file, cap + 1)),
        ))
    };
    #[derive(Deserialize)]
    struct Probe {
        schema_version: Option<u32>,
    }
    let probe: Probe = serde_json::from_reader(open()?).map_err(parse_err)?;
    check_version(probe.schema_version, path)?;
    let mut failure = None;
    let mut reader = open()?;
    let read = {
        let mut de = serde_json::Deserializer::from_reader(&mut reader);
        serde::de::DeserializeSeed::deserialize(
            Top {
                each,
                failure: &mut failure,
            },
            &mut de,
        )
        .and_then(|inv| de.end().map(|()| inv))
    };
    let outline = match (read, failure) {
        (_, Some(Failure::Invalid(message))) => {
            return Err(InventoryError::Invalid {
                path: path.to_path_buf(),
                message,
            }
            .into());
        }
        (_, Some(Failure::Each(e))) => return Err(e),
        (Err(e), None) => return Err(parse_err(e).into()),
        (Ok(inv), None) => inv,
    };
    let hashing = reader.into_inner();
    if hashing.bytes_read() > cap {
        return Err(too_large(path, cap).into());
    }
    Ok(Some(Streamed {
        outline,
        source: SourceFile {
            path: path.to_path_buf(),
            len: hashing.bytes_read(),
            digest: hashing.digest(),
        },
    }))
}

/// A reader that hashes and counts what passes through it: [`SourceFile::digest`] is the
/// hash of a file's bytes, however they are read in chunks.
pub struct Hashing<R> {
    inner: R,
    hasher: DefaultHasher,
    len: u64,
}

impl<R> Hashing<R> {
    pub fn new(inner: R) -> Hashing<R> {
        Hashing {
            inner,
            hasher: DefaultHasher::new(),
            len: 0,
        }
    }

    /// How many bytes were read so far.
    pub fn bytes_read(&self) -> u64 {
        self.len
    }

    /// The hash of the bytes read so far.
    pub fn digest(&self) -> u64 {
        self.hasher.finish()
    }
}

impl<R: std::io::Read> std::io::Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.write(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

/// Why [`stream_file`] stopped before serde did.
enum Failure {
    Invalid(String),
    Each(anyhow::Error),
}

/// The top-level object, its accounts streamed through [`Accounts`].
struct Top<'a> {
    each: &'a mut dyn FnMut(&Account) -> anyhow::Result<()>,
    failure: &'a mut Option<Failure>,
}

/// The inventory's fields, in the order it is written.
const FIELDS: &[&str] = &[
    "schema_version",
    "collected_at",
    "organization",
    "partition",
    "accounts",
    "membership",
    "coverage",
];

impl<'de> serde::de::DeserializeSeed<'de> for Top<'_> {
    type Value = Inventory;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Inventory, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Top<'_> {
    type Value = Inventory;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("struct Inventory")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Inventory, A::Error> {
        use serde::de::Error;
        let Top { each, failure } = self;
        let mut inv = Inventory::default();
        let mut seen: HashSet<&str> = HashSet::new();
        let mut validator = Validator::default();
        while let Some(field) = map.next_key_seed(Field)? {
            if !seen.insert(field) {
                return Err(A::Error::duplicate_field(field));
            }
            match field {
                "schema_version" => inv.schema_version = map.next_value()?,
                "collected_at" => inv.collected_at = map.next_value()?,
                "organization" => inv.organization = map.next_value()?,
                "partition" => inv.partition = map.next_value()?,
                "membership" => inv.membership = map.next_value()?,
                "coverage" => inv.coverage = map.next_value()?,
                _ => {
                    inv.accounts = map.next_value_seed(Accounts {
                        each: &mut *each,
                        failure: &mut *failure,
                        validator: &mut validator,
                    })?;
                }
            }
        }
        Ok(inv)
    }
}

/// A key of the top-level object, refused as it is read when it is not a field (where serde's
/// derived parser refuses it, so the error's position is the same).
struct Field;

impl<'de> serde::de::DeserializeSeed<'de> for Field {
    type Value = &'static str;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<&'static str, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Field {
    type Value = &'static str;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("field identifier")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<&'static str, E> {
        FIELDS
            .iter()
            .find(|f| **f == v)
            .copied()
            .ok_or_else(|| E::unknown_field(v, FIELDS))
    }
}

/// The `accounts` array: each account validated, handed over, and kept without its resources.
struct Accounts<'a> {
    each: &'a mut dyn FnMut(&Account) -> anyhow::Result<()>,
    failure: &'a mut Option<Failure>,
    validator: &'a mut Validator,
}

impl<'de> serde::de::DeserializeSeed<'de> for Accounts<'_> {
    type Value = Vec<Account>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Vec<Account>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Accounts<'_> {
    type Value = Vec<Account>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a sequence of accounts")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Account>, A::Error> {
        use serde::de::Error;
        let mut outline = Vec::new();
        while let Some(mut acct) = seq.next_element::<Account>()? {
            if let Err(m) = self.validator.check(&acct) {
                *self.failure = Some(Failure::Invalid(m));
                return Err(A::Error::custom("invalid account"));
            }
            if let Err(e) = (self.each)(&acct) {
                *self.failure = Some(Failure::Each(e));
                return Err(A::Error::custom("the account could not be loaded"));
            }
            for r in &mut acct.regions {
                *r = Region {
                    name: std::mem::take(&mut r.name),
                    ..Region::default()
                };
            }
            outline.push(acct);
        }
        Ok(outline)
    }
}

fn too_large(path: &Path, cap: u64) -> InventoryError {
    InventoryError::Invalid {
        path: path.to_path_buf(),
        message: format!(
            "larger than {} MB, the most plaudit reads (PLAUDIT_MAX_INVENTORY_MB raises it); \
             is it an inventory?",
            cap >> 20
        ),
    }
}

fn check_version(found: Option<u32>, path: &Path) -> Result<(), InventoryError> {
    match found {
        None => Err(InventoryError::NoVersion {
            path: path.to_path_buf(),
        }),
        Some(v) if v != SCHEMA_VERSION => Err(InventoryError::Version {
            path: path.to_path_buf(),
            found: v,
        }),
        Some(_) => Ok(()),
    }
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
    let mut v = Validator::default();
    inv.accounts.iter().try_for_each(|a| v.check(a))
}

/// The checks of [`validate`], one account at a time: what must be unique across the
/// inventory is remembered between accounts.
#[derive(Default)]
pub(crate) struct Validator {
    accounts: HashSet<String>,
    /// (kind, id) → (account, region) of ids unique in AWS (an ARN, a `vpce-…` id).
    global: HashMap<(&'static str, String), (String, String)>,
}

impl Validator {
    pub(crate) fn check(&mut self, acct: &Account) -> Result<(), String> {
        if !self.accounts.insert(acct.id.clone()) {
            return Err(format!("account `{}` appears twice", acct.id));
        }
        self.check_regions(acct)
    }

    /// [`Validator::check`] but for the account's id being new: the parts of an account
    /// split over several inventories are checked one after another.
    pub(crate) fn check_regions(&mut self, acct: &Account) -> Result<(), String> {
        let mut regions = HashSet::new();
        for region in &acct.regions {
            self.unique_ids(&acct.id, region)?;
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
        Ok(())
    }

    /// Resource ids that are unique in AWS (an ARN, a `vpce-…` or `vpce-svc-…` id) appear
    /// once in the whole inventory, and per account-region ids (VPCs, subnets, security
    /// groups) once there: a crafted or badly merged inventory is refused with the id and
    /// both places, not with a database constraint error.
    fn unique_ids(&mut self, account: &str, r: &Region) -> Result<(), String> {
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
            let place = (account.to_string(), r.name.clone());
            if let Some((acct, region)) = self.global.insert((kind, id.to_string()), place) {
                return Err(format!(
                    "{kind} `{id}` appears twice: in account `{acct}` region `{region}` and \
                     in account `{account}` region `{}`",
                    r.name
                ));
            }
        }
        let mut local: HashSet<(&str, &str)> = HashSet::new();
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
                    "{kind} `{id}` appears twice in account `{account}` region `{}`",
                    r.name
                ));
            }
        }
        Ok(())
    }
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

    /// Parses whole and streamed: both must agree, on the inventory (the streamed one in
    /// outline, each account handed over whole) and on every error, word for word.
    fn parse(s: &str) -> Result<Inventory, InventoryError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inv.json");
        std::fs::write(&path, s).unwrap();
        let whole = parse_json(s, &path);
        let mut handed = Vec::new();
        let streamed = stream_file(&path, &mut |a| {
            handed.push(a.clone());
            Ok(())
        });
        match (&whole, streamed) {
            (Ok(inv), Ok(Some(st))) => {
                assert_eq!(handed, inv.accounts);
                let mut outline = inv.clone();
                for r in outline.accounts.iter_mut().flat_map(|a| &mut a.regions) {
                    *r = Region {
                        name: r.name.clone(),
                        ..Region::default()
                    };
                }
                assert_eq!(st.outline, outline);
                assert_eq!(st.source.len, s.len() as u64);
                let (len, digest) = digest_of(&mut s.as_bytes()).unwrap();
                assert_eq!((st.source.len, st.source.digest), (len, digest));
            }
            // serde_json's reader of files counts a column past its reader of strings.
            (Err(InventoryError::Parse { column, .. }), Err(se)) => match se.downcast_ref() {
                Some(InventoryError::Parse { column: c, .. }) => {
                    assert!(c.abs_diff(*column) <= 1, "{se}");
                    let no_column = |e: &str| {
                        e.split(", column").next().unwrap().to_string()
                            + e.split_once(": ").unwrap().1
                    };
                    assert_eq!(
                        no_column(&whole.as_ref().unwrap_err().to_string()),
                        no_column(&se.to_string())
                    );
                }
                _ => panic!("whole: {whole:?}, streamed: {se:?}"),
            },
            (Err(e), Err(se)) => assert_eq!(e.to_string(), se.to_string()),
            (w, s) => panic!("whole: {w:?}, streamed: {s:?}"),
        }
        whole
    }

    fn digest_of(r: &mut dyn std::io::Read) -> std::io::Result<(u64, u64)> {
        let mut h = Hashing::new(r);
        std::io::copy(&mut h, &mut std::io::sink())?;
        Ok((h.bytes_read(), h.digest()))
    }

    #[test]
    fn the_digest_does_not_depend_on_how_the_bytes_are_read() {
        let bytes: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let whole = digest_of(&mut bytes.as_slice()).unwrap();
        // Seven bytes at a time.
        struct Small<'a>(&'a [u8]);
        impl std::io::Read for Small<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = buf.len().min(7).min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        assert_eq!(digest_of(&mut Small(&bytes)).unwrap(), whole);
        let mut other = bytes;
        other[50_000] ^= 1;
        assert_ne!(digest_of(&mut other.as_slice()).unwrap(), whole);
    }

    #[test]
    fn a_streamed_inventory_with_every_kind_of_resource_matches_the_whole_one() {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-org.json"),
        )
        .unwrap();
        let inv = parse(&text).unwrap();
        assert!(inv.accounts.len() > 5 && !inv.coverage.is_empty());
        // Fields in another order than plaudit writes them, and a duplicate field.
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut reordered = serde_json::Map::new();
        for k in [
            "coverage",
            "accounts",
            "membership",
            "organization",
            "schema_version",
        ] {
            if let Some(x) = v.get(k) {
                reordered.insert(k.to_string(), x.clone());
            }
        }
        let reordered = serde_json::Value::Object(reordered).to_string();
        assert_eq!(parse(&reordered).unwrap().accounts, inv.accounts);
        let dup = r#"{"schema_version": 1, "accounts": [], "accounts": []}"#;
        assert!(
            parse(dup)
                .unwrap_err()
                .to_string()
                .contains("duplicate field")
        );
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
