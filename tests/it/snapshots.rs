//! Snapshot tests (insta) for rendered output and for the contracts users depend on:
//! the rule ids, each rule's documentation, and `--help` of every command.

use std::path::Path;

use assert_cmd::Command;

fn run(args: &[&str]) -> String {
    let out = Command::cargo_bin("plaudit")
        .unwrap()
        .env(
            "XDG_DATA_HOME",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/xdg-data"),
        )
        // Tables and help are laid out for COLUMNS when it is set: these snapshots are at
        // the defaults (tables 120 columns off a terminal); tables.rs tests other widths.
        .env_remove("COLUMNS")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn demo_table() {
    insta::assert_snapshot!(run(&["scan", "--inventory", "examples/demo-org.json"]));
}

#[test]
fn demo_csv() {
    insta::assert_snapshot!(run(&[
        "scan",
        "--no-history",
        "--format",
        "csv",
        "--inventory",
        "examples/demo-org.json"
    ]));
}

#[test]
fn rule_catalogue() {
    // Rule ids are a contract: renaming one shows up here in review.
    insta::assert_snapshot!(run(&["rules", "list", "--format", "csv"]));
}

#[test]
fn rule_docs() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let mut ids: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    ids.sort();
    for id in ids {
        insta::assert_snapshot!(format!("explain-{id}"), run(&["rules", "explain", &id]));
    }
}

#[test]
fn help_texts() {
    for (name, args) in [
        ("help", vec!["--help"]),
        ("help-scan", vec!["scan", "--help"]),
        ("help-rules", vec!["rules", "--help"]),
        ("help-query", vec!["query", "--help"]),
        ("help-rules-list", vec!["rules", "list", "--help"]),
        ("help-rules-explain", vec!["rules", "explain", "--help"]),
        ("help-rules-test", vec!["rules", "test", "--help"]),
        ("help-preflight", vec!["preflight", "--help"]),
        ("help-history", vec!["history", "--help"]),
        ("help-drift", vec!["drift", "--help"]),
        ("help-waivers-lint", vec!["waivers", "lint", "--help"]),
        ("help-merge", vec!["merge", "--help"]),
        ("help-export", vec!["export", "--help"]),
        ("help-graph", vec!["graph", "--help"]),
        ("help-waivers", vec!["waivers", "--help"]),
        ("help-schema", vec!["schema", "--help"]),
        ("help-completions", vec!["completions", "--help"]),
        ("help-man", vec!["man", "--help"]),
    ] {
        let text = run(&args);
        let sub = args.len() > 1;
        assert!(
            !sub || text.contains("Example"),
            "`{}` has no example",
            args.join(" ")
        );
        insta::assert_snapshot!(name, text);
    }
}

/// docs/rules.md is generated from the rule files; this fails when it is stale.
/// Regenerate with `UPDATE_DOCS=1 cargo test --test snapshots`.
#[test]
fn rules_doc_is_current() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let set = plaudit::rules::load_all(&[], true).unwrap();
    let mut doc = String::from(
        "# Rule catalogue\n\n<!-- Generated from rules/*.yaml by `UPDATE_DOCS=1 cargo test --test snapshots`; do not edit. -->\n\n",
    );
    doc.push_str("| id | severity | resource | title |\n|---|---|---|---|\n");
    for r in set.rules() {
        doc.push_str(&format!(
            "| [`{}`](#{}) | {} | {} | {} |\n",
            r.id, r.id, r.severity, r.resource, r.title
        ));
    }
    for r in set.rules() {
        doc.push('\n');
        doc.push_str(&plaudit::rules::explain_text(r));
    }
    let path = root.join("docs/rules.md");
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &doc).unwrap();
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == doc,
        "docs/rules.md is stale: run `UPDATE_DOCS=1 cargo test --test snapshots`"
    );
}

#[test]
fn the_readmes_scan_options_are_the_commands_options() {
    use clap::CommandFactory;
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme
        .find("The options of `plaudit scan`")
        .expect("the README's options table");
    let documented: std::collections::BTreeSet<String> = readme[start..]
        .lines()
        .skip_while(|l| !l.starts_with("| option"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .filter_map(|l| {
            let cell = l.split('|').nth(1)?;
            cell.split(['`', ',', ' '])
                .find(|t| t.starts_with("--"))
                .map(str::to_string)
        })
        .collect();
    let cli = plaudit::cli::Cli::command();
    let scan = cli.find_subcommand("scan").unwrap();
    let actual: std::collections::BTreeSet<String> = scan
        .get_arguments()
        .chain(cli.get_arguments().filter(|a| a.is_global_set()))
        .filter(|a| !a.is_hide_set())
        .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
        .filter(|l| l != "--help" && l != "--version")
        .collect();
    assert_eq!(
        documented,
        actual,
        "README's table vs `plaudit scan --help`: missing {:?}, stale {:?}",
        actual.difference(&documented).collect::<Vec<_>>(),
        documented.difference(&actual).collect::<Vec<_>>()
    );
}
