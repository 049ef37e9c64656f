//! A self-contained HTML report (`--format html`): one file, no network (a Content Security
//! Policy forbids any fetch), readable offline and attachable to a ticket. Summary counts by
//! status and severity, failing findings by account (computed in the page from the findings
//! table) and by rule, every finding that is not a pass with its reason, its cross-account path
//! and how to fix it, and the coverage gaps.

use std::collections::BTreeMap;
use std::io::Write;

use super::{Printer, ScanReport};
use crate::findings::{Severity, Status};

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const STYLE: &str = "
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem;color:#1b1f24}
h1{margin:0 0 .2rem}h2{margin-top:2rem;border-bottom:1px solid #d0d7de;padding-bottom:.2rem}
.meta{color:#57606a}table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{border-bottom:1px solid #eaeef2;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.fail td.status{color:#cf222e;font-weight:600}tr.unknown td.status{color:#9a6700;font-weight:600}
tr.waived td.status{color:#0969da}pre{white-space:pre-wrap;margin:.3rem 0;font-size:12px}
.path{color:#57606a;font-size:12px}input{padding:.3rem;width:20rem;margin:.3rem 0}
.incomplete{color:#9a6700;font-weight:600}.complete{color:#1a7f37;font-weight:600}
.picture .svg{overflow-x:auto;border:1px solid #eaeef2;border-radius:6px;margin:.3rem 0}
.picture li.fail b{color:#cf222e}.picture li.unknown b{color:#9a6700}
";

const SCRIPT: &str = "
(function(){
  var rows=document.querySelectorAll('#findings tbody tr');
  var byAccount={};
  rows.forEach(function(r){ if(r.dataset.status==='fail'){ byAccount[r.dataset.account]=(byAccount[r.dataset.account]||0)+1; } });
  var body=document.querySelector('#by-account tbody');
  Object.keys(byAccount).sort().forEach(function(a){
    var tr=document.createElement('tr');
    tr.dataset.account=a;
    var td1=document.createElement('td');td1.textContent=a;
    var td2=document.createElement('td');td2.className='n';td2.textContent=byAccount[a];
    tr.appendChild(td1);tr.appendChild(td2);body.appendChild(tr);
  });
  var f=document.getElementById('filter');
  f.addEventListener('input',function(){
    var q=f.value.toLowerCase();
    rows.forEach(function(r){ r.style.display = r.textContent.toLowerCase().indexOf(q)<0 ? 'none' : ''; });
  });
  document.body.dataset.rendered='yes';
})();
";

pub struct HtmlPrinter;

impl Printer for HtmlPrinter {
    fn print(&self, report: &ScanReport, out: &mut dyn Write) -> anyhow::Result<()> {
        let mut h = String::new();
        header(&mut h, report);
        summary(&mut h, report);
        by_rule(&mut h, report);
        pictures(&mut h, report);
        findings(&mut h, report);
        gaps(&mut h, report);
        h.push_str("<script>");
        h.push_str(SCRIPT);
        h.push_str("</script>\n</body></html>\n");
        out.write_all(h.as_bytes())?;
        Ok(())
    }
}

/// The document's head, style and the scan's one-line description.
fn header(h: &mut String, report: &ScanReport) {
    let s = &report.scan;
    h.push_str("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
    h.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    h.push_str("<title>plaudit — PrivateLink audit</title>\n<style>");
    h.push_str(STYLE);
    h.push_str("</style></head>\n<body>\n<h1>PrivateLink audit</h1>\n");
    h.push_str(&format!(
        "<p class=\"meta\">Organisation {} · collected {} · plaudit {} · {} rules (set {}) · {} accounts, {} account-regions · <span class=\"{}\">{}</span></p>\n",
        esc(s.organization_id.as_deref().unwrap_or("—")),
        esc(&s.collected_at.map(|t| t.to_rfc3339()).unwrap_or_else(|| "—".into())),
        esc(&s.tool_version),
        s.rules,
        esc(&s.rule_set_hash.chars().take(12).collect::<String>()),
        s.accounts,
        s.account_regions,
        if s.complete { "complete" } else { "incomplete" },
        if s.complete {
            "coverage complete".to_string()
        } else {
            format!("incomplete: {} coverage gaps", s.coverage_gaps)
        }
    ));
}

/// Counts by status and failing counts by severity.
fn summary(h: &mut String, report: &ScanReport) {
    let s = &report.scan;
    let count = |st: Status| s.counts.get(&st).copied().unwrap_or(0);
    // Summary.
    h.push_str("<h2>Summary</h2>\n<table id=\"summary\"><tr>");
    for st in [Status::Fail, Status::Unknown, Status::Waived, Status::Pass] {
        h.push_str(&format!("<th>{}</th>", st.as_str()));
    }
    for sv in Severity::ALL {
        h.push_str(&format!("<th>failing {sv}</th>"));
    }
    h.push_str("<th>coverage gaps</th></tr>\n<tr>");
    for st in [Status::Fail, Status::Unknown, Status::Waived, Status::Pass] {
        h.push_str(&format!(
            "<td class=\"n\" id=\"count-{}\">{}</td>",
            st.as_str(),
            count(st)
        ));
    }
    for sv in Severity::ALL {
        h.push_str(&format!(
            "<td class=\"n\" id=\"severity-{sv}\">{}</td>",
            s.failing_by_severity.get(&sv).copied().unwrap_or(0)
        ));
    }
    h.push_str(&format!(
        "<td class=\"n\" id=\"count-gaps\">{}</td></tr></table>\n",
        s.coverage_gaps
    ));
}

/// Failing findings by account (filled in by the page's script) and counts by rule.
fn by_rule(h: &mut String, report: &ScanReport) {
    // By account (filled in by the page's script from the findings table) and by rule.
    h.push_str("<h2>Failing findings by account</h2>\n<table id=\"by-account\"><thead><tr><th>account</th><th>failing</th></tr></thead><tbody></tbody></table>\n");
    let mut by_rule: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    for f in &report.findings {
        let e = by_rule.entry(&f.rule_id).or_default();
        match f.status {
            Status::Fail => e.0 += 1,
            Status::Unknown => e.1 += 1,
            Status::Waived => e.2 += 1,
            Status::Pass => {}
        }
    }
    h.push_str("<h2>By rule</h2>\n<table id=\"by-rule\"><thead><tr><th>rule</th><th>failing</th><th>unknown</th><th>waived</th></tr></thead><tbody>\n");
    for (rule, (f, u, w)) in &by_rule {
        h.push_str(&format!(
            "<tr data-rule=\"{0}\"><td>{0}</td><td class=\"n\">{f}</td><td class=\"n\">{u}</td><td class=\"n\">{w}</td></tr>\n",
            esc(rule)
        ));
    }
    h.push_str("</tbody></table>\n");
}

/// Every finding that is not a pass, with its reason, path and how to fix it.
fn findings(h: &mut String, report: &ScanReport) {
    // Findings.
    h.push_str("<h2>Findings</h2>\n<input id=\"filter\" placeholder=\"Filter: account, rule, resource, text…\" aria-label=\"filter findings\">\n");
    h.push_str("<table id=\"findings\"><thead><tr><th>status</th><th>severity</th><th>rule</th><th>account / region</th><th>resource</th><th>reason, path and fix</th></tr></thead><tbody>\n");
    for f in report.findings.iter().filter(|f| f.status != Status::Pass) {
        let fix = report
            .rules
            .get(&f.rule_id)
            .map(|r| r.fix.as_str())
            .unwrap_or("");
        h.push_str(&format!(
            "<tr class=\"{st}\" data-status=\"{st}\" data-account=\"{acct}\" data-rule=\"{rule}\"><td class=\"status\">{st}{waiver}</td><td>{sev}</td><td>{rule}</td><td>{acct}<br><small>{name}</small><br>{region}</td><td>{res}</td><td>{reason}{path}{fix}</td></tr>\n",
            st = f.status.as_str(),
            waiver = f
                .waiver_id
                .as_deref()
                .map(|w| format!("<br><small>waiver {}</small>", esc(w)))
                .or_else(|| {
                    (f.new_since_baseline == Some(true))
                        .then(|| "<br><small>new since the baseline</small>".to_string())
                })
                .unwrap_or_default(),
            sev = f.severity,
            rule = esc(&f.rule_id),
            acct = esc(&f.account_id),
            name = esc(report.account(&f.account_id).map_or("", |a| a.label())),
            region = esc(&f.region),
            res = esc(&f.resource_id),
            reason = esc(&f.reason),
            path = f
                .path
                .as_deref()
                .map(|p| format!("<div class=\"path\">{}</div>", esc(p)))
                .unwrap_or_default(),
            fix = if fix.is_empty() {
                String::new()
            } else {
                format!(
                    "<details><summary>How to fix</summary><pre>{}</pre></details>",
                    esc(fix)
                )
            },
        ));
    }
    h.push_str("</tbody></table>\n");
}

/// Each failing chain drawn (an inline SVG: nothing is loaded), beside its failing findings.
fn pictures(h: &mut String, report: &ScanReport) {
    if report.pictures.is_empty() {
        return;
    }
    h.push_str("<h2>Failing services</h2>\n<p class=\"meta\">Each service whose chain has a failing resource or hop, with its load balancers, target groups and consumers; red is failing, hover for the rules.</p>\n");
    for (i, p) in report.pictures.iter().enumerate() {
        h.push_str(&format!(
            "<section class=\"picture\" id=\"picture-{i}\" data-services=\"{}\"><h3>{}</h3>\n<div class=\"svg\">{}</div>\n<ul>",
            esc(&p.services.join(" ")),
            esc(&p.services.join(", ")),
            p.svg
        ));
        for f in report.findings.iter().filter(|f| {
            matches!(f.status, Status::Fail | Status::Unknown)
                && (p.resources.contains(&f.resource_id) || p.resources.contains(&f.resource_arn))
        }) {
            h.push_str(&format!(
                "<li class=\"{st}\"><b>{st}</b> {rule} · {res}: {reason}</li>",
                st = f.status.as_str(),
                rule = esc(&f.rule_id),
                res = esc(&f.resource_id),
                reason = esc(&f.reason)
            ));
        }
        h.push_str("</ul></section>\n");
    }
    if report.pictures_left_out > 0 {
        h.push_str(&format!(
            "<p class=\"meta\">{} more failing services are not drawn here: <code>plaudit graph --failing-only</code> draws them all.</p>\n",
            report.pictures_left_out
        ));
    }
}

/// The coverage gaps: what could not be read.
fn gaps(h: &mut String, report: &ScanReport) {
    // Coverage gaps.
    h.push_str("<h2>Coverage gaps</h2>\n");
    let gaps: Vec<_> = report.gaps().collect();
    if gaps.is_empty() {
        h.push_str("<p>None: every account, region and API was read.</p>\n");
    } else {
        h.push_str("<table id=\"gaps\"><thead><tr><th>account</th><th>region</th><th>API</th><th>status</th><th>error</th></tr></thead><tbody>\n");
        for g in gaps {
            h.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                esc(&g.account_id),
                esc(g.region_or_all()),
                esc(&g.api),
                g.status.as_str(),
                esc(g.error.as_deref().unwrap_or(""))
            ));
        }
        h.push_str("</tbody></table>\n");
    }
}
