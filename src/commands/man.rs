//! `plaudit man [COMMAND…] | --dir DIR`: man pages (roff), generated from the clap
//! definitions: plaudit(1) and one page per command (plaudit-scan(1), plaudit-rules-list(1)…),
//! the pages the main one refers to.

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};

use super::{Context, Run};
use crate::cli::Cli;
use crate::{exit, output};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The command whose page to print, e.g. `scan` or `rules list` [default: plaudit(1)]
    #[arg(value_name = "COMMAND")]
    command: Vec<String>,
    /// Write every page (plaudit.1, plaudit-scan.1, …) into DIR instead
    #[arg(long, value_name = "DIR", conflicts_with = "command")]
    dir: Option<PathBuf>,
}

/// Every page: `(name, command)`, the command renamed `plaudit-…` as its page is titled.
fn pages() -> Vec<(String, clap::Command)> {
    fn walk(cmd: &clap::Command, name: &str, out: &mut Vec<(String, clap::Command)>) {
        out.push((name.to_string(), cmd.clone().name(name.to_string())));
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            walk(sub, &format!("{name}-{}", sub.get_name()), out);
        }
    }
    // Built, so that each command's page lists the global flags too; without the `help`
    // command, which has no page.
    let mut cmd = <Cli as clap::CommandFactory>::command().disable_help_subcommand(true);
    cmd.build();
    let mut out = Vec::new();
    walk(&cmd, "plaudit", &mut out);
    out
}

fn render(cmd: clap::Command) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut out)
        .context("rendering the man page")?;
    Ok(out)
}

impl Run for Args {
    fn run(&self, _: &Context) -> Result<u8> {
        let all = pages();
        if let Some(dir) = &self.dir {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create `{}`", dir.display()))?;
            for (name, cmd) in all {
                let page = render(cmd)?;
                output::emit(Some(&dir.join(format!("{name}.1"))), |w| {
                    w.write_all(&page)?;
                    Ok(())
                })?;
            }
            return Ok(exit::OK);
        }
        let wanted = std::iter::once("plaudit")
            .chain(self.command.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join("-");
        let Some((_, cmd)) = all.into_iter().find(|(n, _)| *n == wanted) else {
            bail!(
                "no command `{}`; `plaudit --help` lists them",
                self.command.join(" ")
            );
        };
        output::write_stdout(&render(cmd)?)?;
        Ok(exit::OK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_a_page_refers_to_exists() {
        let all = pages();
        let names: std::collections::BTreeSet<String> =
            all.iter().map(|(n, _)| n.clone()).collect();
        assert!(names.contains("plaudit-scan") && names.contains("plaudit-rules-list"));
        for (name, cmd) in all {
            let text = String::from_utf8(render(cmd).unwrap()).unwrap();
            for part in text.split("plaudit\\-").skip(1) {
                let end = part
                    .find(|c: char| !(c.is_ascii_lowercase() || c == '\\' || c == '-'))
                    .unwrap_or(part.len());
                if !part[end..].starts_with("(1)") {
                    continue;
                }
                let page = format!("plaudit-{}", part[..end].replace("\\-", "-"));
                assert!(
                    names.contains(&page),
                    "{name} refers to {page}(1), which is not generated"
                );
            }
        }
    }
}
