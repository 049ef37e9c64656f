//! The integration tests, as one test binary: the crate and the AWS SDK are linked once, not
//! once per file. Each module is what was a file of its own; `sim` is the simulated AWS,
//! `synth` the synthetic organisation generator, `support` shared helpers.

mod cli;
mod crawl_moto;
mod crawl_sim;
mod deploy;
mod evaluation;
mod graph;
mod html;
mod iam_policy;
mod pipelines;
mod sim;
mod snapshots;
mod support;
mod synth;
mod tables;
