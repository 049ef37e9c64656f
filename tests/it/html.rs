//! The HTML report renders in a real browser (headless Chromium, Debian's `chromium` package,
//! installed with apt-get on first use when missing) and the numbers on the rendered page —
//! including those the page's own script computes — match the JSON report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::Command as Cmd;
use serde_json::Value;

pub(crate) fn chromium() -> PathBuf {
    crate::support::debian_tool("chromium", "chromium", "the HTML test (headless Chromium)")
}

/// The DOM after the page's scripts ran.
pub(crate) fn render(file: &Path) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--virtual-time-budget=2000", "--dump-dom"])
        .arg(format!("file://{}", file.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The text of the element with this id (`<td … id="x">TEXT</td>`).
fn by_id(dom: &str, id: &str) -> String {
    let at = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id}"));
    let start = at + dom[at..].find('>').unwrap() + 1;
    let end = start + dom[start..].find('<').unwrap();
    dom[start..end].to_string()
}

#[test]
fn the_html_report_renders_and_its_numbers_match_the_json() {
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("report.html");
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-org.json");
    let run = |format: &str, out: &Path| {
        Cmd::cargo_bin("plaudit")
            .unwrap()
            .args([
                "scan",
                "--no-history",
                "--exit-zero",
                "--format",
                format,
                "--inventory",
            ])
            .arg(&demo)
            .arg("-o")
            .arg(out)
            .assert()
            .success();
    };
    run("html", &html);
    let json_path = dir.path().join("report.json");
    run("json", &json_path);
    let report: Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();

    let source = std::fs::read_to_string(&html).unwrap();
    assert!(
        !source.contains("src=\"http") && !source.contains("href=\"http"),
        "no network"
    );
    assert!(source.contains("Content-Security-Policy"));

    let dom = render(&html);
    assert!(
        dom.contains("data-rendered=\"yes\""),
        "the page's script ran"
    );
    let counts = &report["scan"]["counts"];
    for st in ["fail", "unknown", "waived", "pass"] {
        assert_eq!(
            by_id(&dom, &format!("count-{st}")),
            counts[st].to_string(),
            "{st}"
        );
    }
    for (sev, n) in report["scan"]["failing_by_severity"].as_object().unwrap() {
        assert_eq!(
            by_id(&dom, &format!("severity-{sev}")),
            n.to_string(),
            "{sev}"
        );
    }
    assert_eq!(
        by_id(&dom, "count-gaps"),
        report["scan"]["coverage_gaps"].to_string()
    );

    // Failing findings per account: computed by the page, from its own findings table.
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    let findings = report["findings"].as_array().unwrap();
    for f in findings.iter().filter(|f| f["status"] == "fail") {
        *want
            .entry(f["account_id"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    let section = &dom[dom.find("id=\"by-account\"").unwrap()..];
    let section = &section[..section.find("</table>").unwrap()];
    let mut got: BTreeMap<String, u64> = BTreeMap::new();
    for row in section.split("<tr data-account=\"").skip(1) {
        let account = row[..row.find('"').unwrap()].to_string();
        let n = row.rsplit("<td class=\"n\">").next().unwrap();
        got.insert(account, n[..n.find('<').unwrap()].parse().unwrap());
    }
    assert_eq!(got, want);
    // Every finding that is not a pass is listed, with its reason.
    let rows = dom.matches("<tr class=\"").count();
    let not_pass = findings.iter().filter(|f| f["status"] != "pass").count();
    assert_eq!(rows, not_pass);
    assert!(dom.contains("How to fix"));
}
