//! plaudit audits AWS PrivateLink across an AWS Organization.
//!
//! Data flows one way, and each step is one module:
//!
//! 1. [`settings`] — the command line's flags over the [`config`] file, resolved once;
//! 2. [`crawl`] — discover the organisation's accounts and read each account-region (the only
//!    module that uses the AWS SDK), giving an [`inventory`] (or one is loaded from a file);
//! 3. [`audit`] — the inventory loaded into the SQLite [`store`], the [`rules`] (YAML + SQL)
//!    evaluated into [`findings`], [`waivers`] applied, a baseline compared, the [`exit`]
//!    code decided;
//! 4. [`report`] — the findings and coverage ledger printed (table, CSV, JSON, OCSF, HTML)
//!    through [`output`], which writes files whole; [`history`] records the scan, and
//!    [`drift`] compares two recorded scans.
//!
//! [`cli`] is the command line's top level and [`commands`] has one file per command;
//! [`interrupt`] handles Ctrl-C and SIGTERM for all of them.

pub mod audit;
pub mod cli;
pub mod commands;
pub mod config;
pub mod crawl;
pub mod drift;
pub mod exit;
pub mod findings;
pub mod history;
pub mod interrupt;
pub mod inventory;
pub mod output;
pub mod progress;
pub mod report;
pub mod rules;
pub mod settings;
pub mod store;
pub mod topology;
pub mod waivers;
