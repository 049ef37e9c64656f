//! The rules shipped inside the binary: every file of the repository's `rules/` directory,
//! with its test cases from `rules/tests/`. A unit test checks that this list and the
//! directory agree, so a new rule file cannot be forgotten here.

use super::{Rule, RuleError, parse_rule};

macro_rules! builtin {
    ($($id:literal),* $(,)?) => {
        /// (rule id, rule YAML, test-case YAML)
        pub const FILES: &[(&str, &str, &str)] = &[
            $(($id,
               include_str!(concat!("../../rules/", $id, ".yaml")),
               include_str!(concat!("../../rules/tests/", $id, ".yaml"))),)*
        ];
    };
}

builtin!(
    "alb-sg-blocks-nlb",
    "cross-region-unsupported",
    "endpoint-az-coverage",
    "endpoint-private-dns-disabled",
    "endpoint-sg-open-to-world",
    "nlb-sg-blocks-consumers",
    "nlb-target-group-empty",
    "orphaned-connection",
    "principal-outside-org",
    "private-dns-unverified",
    "service-abandoned",
    "service-az-coverage",
    "service-open-without-acceptance",
    "service-unhealthy-in-az",
    "vpc-dns-blocks-private-dns",
);

/// Parses the built-in rules.
pub fn rules() -> Result<Vec<Rule>, RuleError> {
    FILES
        .iter()
        .map(|(id, text, _)| {
            parse_rule(text, &format!("rules/{id}.yaml")).map(|r| Rule { builtin: true, ..r })
        })
        .collect()
}

/// The built-in test-case files: (source name, YAML).
pub fn tests() -> Vec<(String, &'static str)> {
    FILES
        .iter()
        .map(|(id, _, t)| (format!("rules/tests/{id}.yaml"), *t))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_file_is_built_in() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let listed: Vec<String> = FILES.iter().map(|(id, _, _)| id.to_string()).collect();
        assert_eq!(on_disk, listed, "rules/ and src/rules/builtin.rs disagree");
    }

    #[test]
    fn builtin_rules_validate() {
        super::super::RuleSet::new(rules().unwrap()).unwrap();
    }
}
