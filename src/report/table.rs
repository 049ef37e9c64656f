//! The terminal table: failing and unknown findings (passing ones with `--show-pass`), worst
//! first, then the summary line and the coverage gaps. Fits a 120-column terminal.

use std::io::{IsTerminal, Write};

use comfy_table::{ColumnConstraint, ContentArrangement, Table, Width, presets};

use super::{PrintOptions, Printer, ScanReport, summary_line};
use crate::findings::Status;

pub struct TablePrinter {
    pub opts: PrintOptions,
}

/// ARNs are long; the table shows their resource part (`app/my-alb/50dc6c495c0c9188`).
fn short_resource(id: &str) -> &str {
    if !id.starts_with("arn:") {
        return id;
    }
    let res = id.splitn(6, ':').nth(5).unwrap_or(id);
    res.strip_prefix("loadbalancer/").unwrap_or(res)
}

fn width(opts: &PrintOptions) -> u16 {
    if let Some(w) = opts.width {
        return w;
    }
    if std::io::stdout().is_terminal()
        && let Some((w, _)) = terminal_width()
    {
        return w;
    }
    120
}

fn terminal_width() -> Option<(u16, u16)> {
    let t = Table::new();
    t.width().map(|w| (w, 0))
}

impl Printer for TablePrinter {
    fn print(&self, report: &ScanReport, out: &mut dyn Write) -> anyhow::Result<()> {
        // "Not evaluated here" findings (resource `*`) are summarised with the coverage gaps
        // below instead of one row per rule; machine formats carry each of them.
        let shown: Vec<_> = report
            .findings
            .iter()
            .filter(|f| self.opts.show_pass || f.status != Status::Pass)
            .filter(|f| f.resource_id != "*")
            .collect();
        if shown.is_empty() {
            writeln!(out, "No failing or unknown findings on any resource.")?;
        } else {
            let mut t = Table::new();
            t.load_style(presets::UTF8_HORIZONTAL_ONLY)
                .set_content_arrangement(ContentArrangement::Dynamic)
                .set_width(width(&self.opts))
                .set_header(["STATUS", "RULE", "ACCOUNT/REGION", "RESOURCE", "REASON"]);
            if self.opts.color {
                t.enforce_styling();
            }
            for f in shown {
                let mut status = comfy_table::Cell::new(format!("{}\n{}", f.status, f.severity));
                if self.opts.color {
                    use comfy_table::Color;
                    status = status.fg(match f.status {
                        Status::Fail => Color::Red,
                        Status::Unknown => Color::Yellow,
                        Status::Waived => Color::Cyan,
                        Status::Pass => Color::Green,
                    });
                }
                use super::sanitize as clean;
                t.add_row(vec![
                    status,
                    comfy_table::Cell::new(clean(&f.rule_id)),
                    comfy_table::Cell::new(format!(
                        "{}\n{}",
                        clean(&f.account_id),
                        clean(&f.region)
                    )),
                    comfy_table::Cell::new(clean(short_resource(&f.resource_id))),
                    comfy_table::Cell::new(clean(&match &f.waiver_id {
                        Some(w) => format!("{} [waived: {w}]", f.reason),
                        None => f.reason.clone(),
                    })),
                ]);
            }
            if let Some(c) = t.column_mut(3) {
                c.set_constraint(ColumnConstraint::UpperBoundary(Width::Fixed(24)));
            }
            writeln!(out, "{t}")?;
        }
        writeln!(out, "{}", summary_line(report))?;
        let skipped: Vec<&str> = report
            .coverage
            .iter()
            .filter(|c| c.status == crate::inventory::CoverageStatus::Suspended)
            .map(|c| c.account_id.as_str())
            .collect();
        if !skipped.is_empty() {
            writeln!(out, "Skipped (suspended): {}", skipped.join(", "))?;
        }
        let gaps: Vec<_> = report.gaps().collect();
        if !gaps.is_empty() {
            writeln!(
                out,
                "\nCoverage gaps (findings there are `unknown`, never `pass`):"
            )?;
            let mut t = Table::new();
            t.load_style(presets::UTF8_HORIZONTAL_ONLY)
                .set_content_arrangement(ContentArrangement::Dynamic)
                .set_width(width(&self.opts))
                .set_header([
                    "ACCOUNT/REGION",
                    "API",
                    "STATUS",
                    "RULES NOT EVALUATED",
                    "ERROR",
                ]);
            for g in gaps {
                let region = g.region_or_all();
                let not_evaluated = report
                    .findings
                    .iter()
                    .filter(|f| {
                        f.resource_id == "*" && f.account_id == g.account_id && f.region == region
                    })
                    .count();
                use super::sanitize as clean;
                t.add_row([
                    format!("{}\n{}", clean(&g.account_id), clean(region)),
                    clean(&g.api).into_owned(),
                    g.status.as_str().to_string(),
                    not_evaluated.to_string(),
                    clean(g.error.as_deref().unwrap_or_default()).into_owned(),
                ]);
            }
            writeln!(out, "{t}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::short_resource;

    #[test]
    fn arns_are_shortened() {
        assert_eq!(
            short_resource(
                "arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/app/web/50dc"
            ),
            "app/web/50dc"
        );
        assert_eq!(short_resource("vpce-123"), "vpce-123");
    }
}
