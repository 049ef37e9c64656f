//! A rule's documentation, from its file: what `plaudit rules explain` prints and what
//! `docs/rules.md` is generated from (never written twice).

use super::Rule;

/// The documentation of a rule, from its file (also used to generate docs/rules.md).
pub fn explain_text(r: &Rule) -> String {
    let mut s = format!(
        "# {}\n\n{}\n\nSeverity: {} · Resource: {}\n",
        r.id, r.title, r.severity, r.resource
    );
    if !r.inputs.is_empty() {
        s.push_str(&format!(
            "Inputs (a gap in any makes it `unknown`): {}\n",
            r.inputs.join(", ")
        ));
    }
    if !r.compliance.is_empty() {
        let c: Vec<String> = r
            .compliance
            .iter()
            .map(|c| format!("{} {}", c.framework, c.control))
            .collect();
        s.push_str(&format!("Compliance: {}\n", c.join("; ")));
    }
    s.push_str(&format!(
        "\n## What it checks\n\n{}\n",
        r.description.what.trim()
    ));
    s.push_str(&format!(
        "\n## Why it matters\n\n{}\n",
        r.description.why.trim()
    ));
    s.push_str(&format!(
        "\n## How to fix\n\n{}\n",
        r.description.fix.trim_end()
    ));
    if !r.params.is_empty() {
        s.push_str("\n## Parameters\n\n");
        for (k, v) in &r.params {
            s.push_str(&format!("- `{k}`: default `{v}`\n"));
        }
    }
    if !r.references.is_empty() {
        s.push_str("\n## References\n\n");
        for u in &r.references {
            s.push_str(&format!("- {u}\n"));
        }
    }
    s
}
