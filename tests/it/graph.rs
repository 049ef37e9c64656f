//! `plaudit graph`: every format from the demo, the filters, and the SVG and the HTML report's
//! pictures rendered in headless Chromium, their nodes and failing hops checked against the
//! JSON report's findings. Screenshots stay under `target/tmp/graph/` for a person to look at.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::Command as Cmd;
use serde_json::Value;

fn demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-org.json")
}

fn out_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("graph");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn graph(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Cmd::cargo_bin("plaudit")
        .unwrap()
        .env(
            "XDG_DATA_HOME",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/xdg-data"),
        )
        .arg("graph")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn demo_graph(format: &str, extra: &[&str]) -> String {
    let demo = demo();
    let mut args = vec!["--inventory", demo.to_str().unwrap(), "--format", format];
    args.extend_from_slice(extra);
    let (code, out, err) = graph(&args);
    assert_eq!(code, Some(0), "{err}");
    out
}

fn json_findings() -> Vec<Value> {
    let out = Cmd::cargo_bin("plaudit")
        .unwrap()
        .args(["scan", "--no-history", "--format", "json", "--inventory"])
        .arg(demo())
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["findings"].as_array().unwrap().clone()
}

/// `key="value"` attributes of each `<g class="node …">` or `<g class="edge …">`.
fn groups(svg: &str, class: &str) -> Vec<BTreeMap<String, String>> {
    let mut out = Vec::new();
    for part in svg.split(&format!("<g class=\"{class} ")).skip(1) {
        let head = &part[..part.find('>').unwrap()];
        let mut attrs = BTreeMap::new();
        for a in head.split("\" ") {
            if let Some((k, v)) = a.split_once("=\"") {
                attrs.insert(k.trim().to_string(), v.trim_end_matches('"').to_string());
            }
        }
        out.push(attrs);
    }
    out
}

fn screenshot(url: &str, size: (u32, u32), png: &Path) {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(crate::html::chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .args([
            "--disable-background-networking",
            "--disable-component-update",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--window-size={},{}", size.0, size.1))
        .arg(format!("--screenshot={}", png.display()))
        .arg(url)
        .output()
        .unwrap();
    assert!(
        out.status.success() && png.metadata().is_ok_and(|m| m.len() > 10_000),
        "no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_format_draws_the_demo_with_accounts_and_failing_rules() {
    let dot = demo_graph("dot", &[]);
    assert!(dot.starts_with("digraph plaudit {"));
    assert!(dot.contains("subgraph cluster_"));
    assert!(
        dot.contains("ledger-prod (333333333333)\\n/Workloads/Prod"),
        "{dot}"
    );
    assert!(dot.contains("✗ alb-sg-blocks-nlb"));
    assert!(dot.contains("999988887777 (outside the organisation)"));
    let mermaid = demo_graph("mermaid", &[]);
    assert!(mermaid.starts_with("flowchart LR\n"));
    assert_eq!(
        mermaid.matches("  subgraph ").count(),
        dot.matches("subgraph cluster_").count(),
        "the same accounts"
    );
    // `n12 [label=…` in dot, `n12["…` in Mermaid (not the edges, `n1 -> n2 [label=…`).
    let nodes = |text: &str, after: &str| {
        text.lines()
            .filter(|l| {
                l.trim_start()
                    .strip_prefix('n')
                    .map(|r| r.trim_start_matches(|c: char| c.is_ascii_digit()))
                    .is_some_and(|r| r.starts_with(after))
            })
            .count()
    };
    assert_eq!(
        nodes(&dot, " [label="),
        nodes(&mermaid, "[\""),
        "the same nodes"
    );
    let svg = demo_graph("svg", &[]);
    assert_eq!(groups(&svg, "node").len(), nodes(&dot, " [label="));
    assert_eq!(
        groups(&svg, "edge")
            .iter()
            .map(|e| (e["data-from"].clone(), e["data-to"].clone()))
            .collect::<BTreeSet<_>>()
            .len(),
        dot.lines().filter(|l| l.contains(" -> ")).count()
    );
}

#[test]
fn filters_keep_chains_and_a_name_that_matches_nothing_is_an_error() {
    let all = groups(&demo_graph("svg", &[]), "node").len();
    let ledger = groups(
        &demo_graph("svg", &["--service", "vpce-svc-0f9e8d7c6b5a43210"]),
        "node",
    );
    assert!(ledger.len() < all);
    let keys: BTreeSet<&str> = ledger.iter().map(|n| n["data-key"].as_str()).collect();
    assert!(keys.contains("vpce-svc-0f9e8d7c6b5a43210"));
    assert!(
        keys.iter()
            .any(|k| k.contains("loadbalancer/app/ledger-alb")),
        "{keys:?}"
    );
    assert!(
        keys.contains("vpce-0ext0led000000001"),
        "consumers outside the org too"
    );
    let account = groups(&demo_graph("svg", &["--account", "555555555555"]), "node");
    assert!(account.iter().any(|n| n["data-account"] == "555555555555"));
    let ou = groups(&demo_graph("svg", &["--ou", "/Nowhere"]), "node");
    assert!(ou.is_empty());
    let near = groups(
        &demo_graph("svg", &["--around", "ledger-nlb", "--depth", "1"]),
        "node",
    );
    assert!(near.len() >= 3 && near.len() < ledger.len(), "{near:?}");
    let demo = demo();
    let (code, _, err) = graph(&[
        "--inventory",
        demo.to_str().unwrap(),
        "--around",
        "no-such-thing",
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("no-such-thing"), "{err}");
}

#[test]
fn the_svg_renders_in_chromium_and_its_colours_are_the_findings() {
    let dir = out_dir();
    let svg_path = dir.join("demo-graph.svg");
    let svg = demo_graph("svg", &[]);
    std::fs::write(&svg_path, &svg).unwrap();
    let findings = json_findings();
    let nodes = groups(&svg, "node");
    let edges = groups(&svg, "edge");
    // Nodes: failing exactly where a failing finding names the resource, with its rule.
    for n in &nodes {
        let key = &n["data-key"];
        let failing: BTreeSet<&str> = findings
            .iter()
            .filter(|f| {
                f["status"] == "fail" && (f["resource_id"] == **key || f["resource_arn"] == **key)
            })
            .map(|f| f["rule_id"].as_str().unwrap())
            .collect();
        assert_eq!(
            n["data-health"] == "fail",
            !failing.is_empty(),
            "{key}: {failing:?}"
        );
        for r in &failing {
            assert!(
                n["data-rules"].split(' ').any(|x| x == *r),
                "{key} lacks {r}"
            );
        }
    }
    // Hops: the ALB's security-group finding runs NLB -> target group -> ALB.
    let alb = findings
        .iter()
        .find(|f| f["rule_id"] == "alb-sg-blocks-nlb" && f["status"] == "fail")
        .unwrap();
    assert_eq!(alb["path"], "ledger-nlb -> ledger-to-alb -> ledger-alb");
    let failing_hops: Vec<(&str, &str)> = edges
        .iter()
        .filter(|e| e["data-health"] == "fail" && e["data-rules"].contains("alb-sg-blocks-nlb"))
        .map(|e| (e["data-from"].as_str(), e["data-to"].as_str()))
        .collect();
    assert!(
        failing_hops.iter().any(
            |(a, b)| a.contains("/net/ledger-nlb/") && b.contains("targetgroup/ledger-to-alb/")
        ),
        "{failing_hops:?}"
    );
    assert!(
        failing_hops.iter().any(
            |(a, b)| a.contains("targetgroup/ledger-to-alb/") && b.contains("/app/ledger-alb/")
        ),
        "{failing_hops:?}"
    );
    // Every failing hop stands for failing findings with a path.
    let path_rules: BTreeSet<&str> = findings
        .iter()
        .filter(|f| f["status"] == "fail" && f["path"].is_string())
        .map(|f| f["rule_id"].as_str().unwrap())
        .collect();
    for e in edges.iter().filter(|e| e["data-health"] == "fail") {
        assert!(
            e["data-rules"].split(' ').all(|r| path_rules.contains(r)),
            "{e:?}"
        );
    }

    // In the browser: every node is drawn (a box with a size) and names its resource.
    let page = dir.join("demo-graph.html");
    std::fs::write(
        &page,
        format!(
            "<!doctype html><html><body>{svg}<pre id=\"result\"></pre><script>\
             var out=[];document.querySelectorAll('g.node').forEach(function(g){{\
             var b=g.querySelector('rect').getBBox();\
             out.push([g.dataset.key,g.dataset.health,Math.round(b.width),Math.round(b.height),g.textContent.length]);}});\
             document.getElementById('result').textContent=JSON.stringify(out);</script></body></html>"
        ),
    )
    .unwrap();
    let dom = crate::html::render(&page);
    let start = dom.find("<pre id=\"result\">").unwrap() + "<pre id=\"result\">".len();
    let end = start + dom[start..].find("</pre>").unwrap();
    let drawn: Vec<Value> = serde_json::from_str(&dom[start..end].replace("&amp;", "&")).unwrap();
    assert_eq!(drawn.len(), nodes.len());
    for (d, n) in drawn.iter().zip(&nodes) {
        assert_eq!(d[0], n["data-key"].as_str());
        assert_eq!(d[1], n["data-health"].as_str());
        assert!(
            d[2].as_u64().unwrap() > 40 && d[3].as_u64().unwrap() > 20,
            "{d}"
        );
        assert!(d[4].as_u64().unwrap() > 10, "a label: {d}");
    }
    let w: u32 = attr_number(&svg, "width");
    let h: u32 = attr_number(&svg, "height");
    screenshot(
        &format!("file://{}", svg_path.display()),
        (w, h),
        &dir.join("demo-graph.png"),
    );
}

fn attr_number(svg: &str, name: &str) -> u32 {
    let at = svg.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
    svg[at..at + svg[at..].find('"').unwrap()]
        .parse::<f64>()
        .unwrap()
        .ceil() as u32
}

#[test]
fn the_html_report_draws_each_failing_chain_beside_its_findings() {
    let dir = out_dir();
    let html = dir.join("demo-report.html");
    Cmd::cargo_bin("plaudit")
        .unwrap()
        .args([
            "scan",
            "--no-history",
            "--exit-zero",
            "--format",
            "html",
            "--inventory",
        ])
        .arg(demo())
        .arg("-o")
        .arg(&html)
        .assert()
        .success();
    let source = std::fs::read_to_string(&html).unwrap();
    assert!(
        !source.contains("href=\"http") && !source.contains("src=\"http"),
        "no network"
    );
    let dom = crate::html::render(&html);
    let sections: Vec<&str> = dom.split("<section class=\"picture\"").skip(1).collect();
    let failing_graph = demo_graph("svg", &["--failing-only"]);
    let services = groups(&failing_graph, "node")
        .into_iter()
        .filter(|n| n["data-key"].starts_with("vpce-svc-"))
        .count();
    assert!(!sections.is_empty());
    let drawn: usize = sections
        .iter()
        .map(|s| {
            groups(s, "node")
                .iter()
                .filter(|n| n["data-key"].starts_with("vpce-svc-"))
                .count()
        })
        .sum();
    assert_eq!(drawn, services, "every failing chain's services, once");
    for s in &sections {
        let s = &s[..s.find("</section>").unwrap()];
        // Each failing node is listed below its picture with its rule.
        for n in groups(s, "node")
            .iter()
            .filter(|n| n["data-health"] == "fail")
        {
            for rule in n["data-rules"].split(' ') {
                assert!(
                    s.contains(&format!("<b>fail</b> {rule} · "))
                        || s.contains(&format!("<b>unknown</b> {rule} · ")),
                    "{rule} not listed"
                );
            }
        }
    }
    screenshot(
        &format!("file://{}", html.display()),
        (1400, 3000),
        &dir.join("demo-report.png"),
    );
}

#[test]
fn a_large_organisation_draws_whole_and_filtered() {
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("synth.json");
    let inv = crate::synth::generate(crate::synth::Shape {
        accounts: 300,
        regions: 3,
        seed: 7,
        ..Default::default()
    });
    std::fs::write(&inventory, serde_json::to_vec(&inv).unwrap()).unwrap();
    let inv_arg = inventory.to_str().unwrap();
    let (code, dot, err) = graph(&["--inventory", inv_arg]);
    assert_eq!(code, Some(0), "{err}");
    let clusters = dot.matches("subgraph cluster_").count();
    assert!(clusters > 100, "{clusters} accounts drawn");
    // Too many for one SVG: a clear error that names the filters.
    let (code, _, err) = graph(&["--inventory", inv_arg, "--format", "svg"]);
    if code != Some(0) {
        assert_eq!(code, Some(2));
        assert!(
            err.contains("--service") && err.contains("--format dot"),
            "{err}"
        );
    }
    let first = dot
        .lines()
        .find_map(|l| {
            l.split("label=\"")
                .nth(1)
                .filter(|x| x.starts_with("vpce-svc-"))
        })
        .map(|l| l[..l.find("\\n").unwrap_or(l.find('"').unwrap())].to_string())
        .expect("a service");
    let (code, svg, err) = graph(&[
        "--inventory",
        inv_arg,
        "--format",
        "svg",
        "--service",
        &first,
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(groups(&svg, "node").iter().any(|n| n["data-key"] == first));
}

/// `docs/demo-graph.svg`, the picture README and docs/outputs.md show, is the demo drawn by the
/// current code. Regenerate with `UPDATE_DOCS=1 cargo test --test it -- graph::`.
#[test]
fn the_documented_picture_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/demo-graph.svg");
    let svg = demo_graph("svg", &[]);
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &svg).unwrap();
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == svg,
        "docs/demo-graph.svg is stale: run `UPDATE_DOCS=1 cargo test --test it -- graph::`"
    );
}

/// Without --inventory the last recorded scan is drawn with the findings it recorded; an
/// empty history says what to give instead.
#[test]
fn the_last_recorded_scan_is_drawn_from_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("history.db");
    let state_arg = state.to_str().unwrap();
    let (code, _, err) = graph(&["--state", state_arg]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--inventory"), "{err}");
    Cmd::cargo_bin("plaudit")
        .unwrap()
        .args([
            "scan",
            "--exit-zero",
            "--format",
            "json",
            "--state",
            state_arg,
            "--inventory",
        ])
        .arg(demo())
        .assert()
        .success();
    let (code, recorded, err) = graph(&["--state", state_arg, "--format", "svg"]);
    assert_eq!(code, Some(0), "{err}");
    let from_history: BTreeMap<String, String> = groups(&recorded, "node")
        .into_iter()
        .map(|n| (n["data-key"].clone(), n["data-health"].clone()))
        .collect();
    // The history records passes only where they resolve an open finding: a resource whose
    // findings all passed is drawn without a colour; every other colour is the same.
    let evaluated: BTreeMap<String, String> = groups(&demo_graph("svg", &[]), "node")
        .into_iter()
        .map(|n| {
            let health = n["data-health"].replace("pass", "none");
            (n["data-key"].clone(), health)
        })
        .collect();
    assert!(from_history.values().any(|h| h == "fail"));
    assert_eq!(from_history, evaluated);
    let (code, _, err) = graph(&["--state", state_arg, "--scan", "99"]);
    assert_eq!(code, Some(2), "{err}");
}
