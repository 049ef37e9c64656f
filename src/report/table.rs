//! The terminal table: failing and unknown findings (passing ones with `--show-pass`), worst
//! first, then the summary line and the coverage gaps. Fits a 120-column terminal.

use std::collections::BTreeMap;
use std::io::Write;

use comfy_table::{Cell, ColumnConstraint, ContentArrangement, Table, Width, presets};

use super::{PrintOptions, Printer, ScanReport, summary_line};
use crate::findings::{Finding, Status};

pub struct TablePrinter {
    pub opts: PrintOptions,
}

/// How a table shows a resource id: ARNs by their resource part, a long trailing hex id cut
/// to its first four characters (`app/ledger-alb/7c9e…`). The full ARN stays in CSV, JSON,
/// OCSF and HTML.
pub fn short_resource(id: &str) -> std::borrow::Cow<'_, str> {
    if !id.starts_with("arn:") {
        return id.into();
    }
    let res = id.splitn(6, ':').nth(5).unwrap_or(id);
    let res = res.strip_prefix("loadbalancer/").unwrap_or(res);
    match res.rsplit_once('/') {
        Some((head, tail)) if tail.len() > 8 && tail.chars().all(|c| c.is_ascii_hexdigit()) => {
            format!("{head}/{}…", &tail[..4]).into()
        }
        _ => res.into(),
    }
}

fn width(opts: &PrintOptions) -> u16 {
    opts.width.unwrap_or_else(crate::output::rows::table_width)
}

/// The findings table. Identifiers (status, rule, account, region, resource) never break;
/// the reason takes the rest of the width. Where rule and resource side by side leave the
/// reason less than 40 columns, they share one column (rule above resource); where even that
/// does not fit, each finding is a record.
fn findings_table(
    shown: &[&Finding],
    width: u16,
    color: bool,
    names: Option<&BTreeMap<String, super::AccountInfo>>,
) -> String {
    use super::sanitize as clean;
    // On a wide terminal the account's name goes under its id and region, to route a
    // finding at a glance (CSV, JSON, OCSF and HTML always carry it).
    let name = |id: &str| {
        names
            .and_then(|n| n.get(id))
            .map(|a| format!("\n{}", clean(a.label())))
            .unwrap_or_default()
    };
    let rows: Vec<[String; 5]> = shown
        .iter()
        .map(|f| {
            [
                match f.new_since_baseline {
                    Some(true) => format!("{}\n{}\nnew", f.status, f.severity),
                    _ => format!("{}\n{}", f.status, f.severity),
                },
                clean(&f.rule_id).into_owned(),
                format!(
                    "{}\n{}{}",
                    clean(&f.account_id),
                    clean(&f.region),
                    name(&f.account_id)
                ),
                clean(&short_resource(&f.resource_id)).into_owned(),
                clean(&match &f.waiver_id {
                    Some(w) => format!("{} [waived: {w}]", f.reason),
                    None => f.reason.clone(),
                })
                .into_owned(),
            ]
        })
        .collect();
    let widest = |i: usize, header: &str| {
        rows.iter()
            .map(|r| r[i].lines().map(|l| l.chars().count()).max().unwrap_or(0))
            .chain([header.len()])
            .max()
            .unwrap_or(0)
    };
    let (st, rule, acct, res) = (
        widest(0, "STATUS"),
        widest(1, "RULE"),
        widest(2, "ACCOUNT/REGION"),
        widest(3, "RESOURCE"),
    );
    let w = usize::from(width);
    let pad = crate::output::rows::COLUMN_OVERHEAD;
    let longest_word = rows
        .iter()
        .map(|r| crate::output::rows::longest_word(&r[4]))
        .max()
        .unwrap_or(0);
    // Room left for the reason in each layout.
    let separate_room = w.saturating_sub(st + rule + acct + res + 5 * pad);
    let stacked_room = w.saturating_sub(st + rule.max(res) + acct + 4 * pad);
    let separate = separate_room >= 40;
    if !separate && stacked_room < 30 {
        return findings_records(shown, &rows, w, color);
    }
    let reason_min = longest_word.min(if separate {
        separate_room
    } else {
        stacked_room
    });
    let mut t = Table::new();
    t.load_style(presets::UTF8_HORIZONTAL_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(width);
    if separate {
        t.set_header(["STATUS", "RULE", "ACCOUNT/REGION", "RESOURCE", "REASON"]);
    } else {
        t.set_header(["STATUS", "RULE / RESOURCE", "ACCOUNT/REGION", "REASON"]);
    }
    if color {
        t.enforce_styling();
    }
    for (f, [status, rule, acct, res, reason]) in shown.iter().zip(rows) {
        let mut status = Cell::new(status);
        if color {
            use comfy_table::Color;
            status = status.fg(match f.status {
                Status::Fail => Color::Red,
                Status::Unknown => Color::Yellow,
                Status::Waived => Color::Cyan,
                Status::Pass => Color::Green,
            });
        }
        if separate {
            t.add_row(vec![
                status,
                Cell::new(rule),
                Cell::new(acct),
                Cell::new(res),
                Cell::new(reason),
            ]);
        } else {
            t.add_row(vec![
                status,
                Cell::new(format!("{rule}\n{res}")),
                Cell::new(acct),
                Cell::new(reason),
            ]);
        }
    }
    let ids = if separate { 4 } else { 3 };
    for i in 0..ids {
        if let Some(c) = t.column_mut(i) {
            c.set_constraint(ColumnConstraint::ContentWidth);
        }
    }
    if let Some(c) = t.column_mut(ids) {
        c.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(
            (reason_min + 2) as u16,
        )));
    }
    format!("{t}\n")
}

/// The findings table with account names where the width allows them side by side with
/// every other column (the separate layout), else without.
fn wide_findings_table(shown: &[&Finding], width: u16, color: bool, report: &ScanReport) -> String {
    if width >= 160 {
        let t = findings_table(shown, width, color, Some(&report.accounts));
        if t.lines()
            .next()
            .is_some_and(|l| l.chars().count() <= usize::from(width))
            && t.contains(" RESOURCE ")
        {
            return t;
        }
    }
    findings_table(shown, width, color, None)
}

/// Findings as records, for terminals too narrow for the table: status, severity and rule;
/// where (account, region, resource); the reason wrapped to the width.
fn findings_records(shown: &[&Finding], rows: &[[String; 5]], width: usize, color: bool) -> String {
    shown
        .iter()
        .zip(rows)
        .map(|(f, [status, rule, acct, res, reason])| {
            let status = status.replace('\n', " ");
            let status = if color {
                let code = match f.status {
                    Status::Fail => 31,
                    Status::Unknown => 33,
                    Status::Waived => 36,
                    Status::Pass => 32,
                };
                format!("\x1b[{code}m{status}\x1b[0m")
            } else {
                status
            };
            crate::output::rows::record(
                &format!("{status}  {rule}"),
                &format!("{}  {res}", acct.replace('\n', " ")),
                reason,
                width,
            )
        })
        .collect()
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
            write!(
                out,
                "{}",
                wide_findings_table(&shown, width(&self.opts), self.opts.color, report)
            )?;
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
            let columns = [
                "account",
                "region",
                "api",
                "status",
                "not evaluated",
                "error",
            ]
            .map(String::from);
            let rows: Vec<Vec<String>> = gaps
                .iter()
                .map(|g| {
                    let region = g.region_or_all();
                    let not_evaluated = report
                        .findings
                        .iter()
                        .filter(|f| {
                            f.resource_id == "*"
                                && f.account_id == g.account_id
                                && f.region == region
                        })
                        .count();
                    vec![
                        g.account_id.clone(),
                        region.to_string(),
                        g.api.to_string(),
                        g.status.as_str().to_string(),
                        format!("{not_evaluated} rules"),
                        g.error.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            let t = crate::output::rows::render_table(&columns, &rows, width(&self.opts));
            write!(out, "{t}")?;
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
        assert_eq!(
            short_resource(
                "arn:aws:elasticloadbalancing:eu-west-1:333333333333:loadbalancer/app/ledger-alb/7c9e1a3b5d2f4a86"
            ),
            "app/ledger-alb/7c9e…"
        );
    }
}
