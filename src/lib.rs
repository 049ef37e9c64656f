//! plaudit audits AWS PrivateLink across an AWS Organization.
//!
//! Data flows one way: an [`inventory`] (crawled or loaded from a file) is loaded into the
//! SQLite [`store`]; [`rules`] (YAML + SQL) run over it and give [`findings`], which a
//! [`report`] prints. [`config`] holds the user's settings, [`commands`] wires it all to the
//! command line defined in [`cli`], and [`exit`] says which exit code a result earns.
//! [`crawl`] fills an inventory from live AWS APIs (the only module that uses the AWS SDK).
//! [`synth`] generates large synthetic inventories for benchmarks and tests.

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
pub mod report;
pub mod rules;
pub mod store;
pub mod synth;
pub mod waivers;
