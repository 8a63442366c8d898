use std::collections::HashSet;

use labgate_scan::RuleSet;

use crate::common::{rule_ids, scanner_all};

#[test]
fn every_rule_has_examples_that_match_and_negatives_that_do_not() {
    let scanner = scanner_all();
    let mut failures = Vec::new();
    for rule in scanner.rules().rules() {
        let id = &rule.spec.id;
        if rule.spec.examples.is_empty() || rule.spec.negative_examples.is_empty() {
            failures.push(format!("{id}: needs examples and negative_examples"));
        }
        for ex in &rule.spec.examples {
            if !rule_ids(&scanner, ex).contains(id) {
                failures.push(format!("{id}: example not detected: {ex:?}"));
            }
        }
        for ex in &rule.spec.negative_examples {
            if rule_ids(&scanner, ex).contains(id) {
                failures.push(format!("{id}: negative example detected: {ex:?}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} problem(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn at_least_sixty_rules_with_unique_ids() {
    let rules = RuleSet::builtin().unwrap();
    assert!(rules.len() >= 60, "only {} rules", rules.len());
    let ids: HashSet<_> = rules.rules().iter().map(|r| r.spec.id.as_str()).collect();
    assert_eq!(ids.len(), rules.len());
}

#[test]
fn whole_gitlab_token_family_is_covered() {
    let rules = RuleSet::builtin().unwrap();
    let keywords: HashSet<String> = rules
        .rules()
        .iter()
        .flat_map(|r| r.spec.keywords.iter().map(|k| k.to_ascii_lowercase()))
        .collect();
    for prefix in [
        "glpat-",
        "gloas-",
        "gldt-",
        "glrt-",
        "glrtr-",
        "gr1348941",
        "glcbt-",
        "glptt-",
        "glft-",
        "glimt-",
        "glagent-",
        "glwt-",
        "glsoat-",
        "glffct-",
        "_gitlab_session=",
    ] {
        assert!(keywords.contains(prefix), "no rule for {prefix}");
    }
}

#[test]
fn rule_files_reject_bad_input() {
    let mut rules = RuleSet::default();
    let bad_regex = "[[rule]]\nid='x'\nname='x'\ndescription='x'\npattern='(unclosed'\nkeywords=['x']\nconfidence='high'\nseverity='high'\n";
    assert!(
        rules
            .load_str("bad.toml", bad_regex)
            .unwrap_err()
            .to_string()
            .contains("rule x")
    );
    let no_kw = "[[rule]]\nid='y'\nname='y'\ndescription='y'\npattern='y+'\nkeywords=[]\nconfidence='high'\nseverity='high'\n";
    assert!(rules.load_str("bad.toml", no_kw).is_err());
    let unknown_field = "[[rule]]\nid='z'\nname='z'\ndescription='z'\npattern='z'\nkeywords=['z']\nconfidence='high'\nseverity='high'\ncolour='red'\n";
    assert!(rules.load_str("bad.toml", unknown_field).is_err());
}

#[test]
fn user_rule_files_add_replace_and_disable() {
    let mut rules = RuleSet::builtin().unwrap();
    let before = rules.len();
    let file = r#"
disable = ["jwt"]

[[rule]]
id = "acme-internal-token"
name = "ACME token"
description = "ACME's internal API token."
pattern = '''\b(?P<secret>acme_[0-9a-f]{32})\b'''
keywords = ["acme_"]
confidence = "high"
severity = "high"
"#;
    rules.load_str("acme.toml", file).unwrap();
    assert_eq!(rules.len(), before);
    assert!(rules.get("jwt").is_none());
    let scanner = labgate_scan::Scanner::new(rules).unwrap();
    assert_eq!(
        rule_ids(&scanner, "ACME=acme_0123456789abcdef0123456789abcdef"),
        ["acme-internal-token"]
    );
}

#[test]
fn custom_pat_prefix_gets_legacy_and_routable_rules() {
    let mut rules = RuleSet::builtin().unwrap();
    rules.add_custom_pat_prefix("mycorp-").unwrap();
    assert!(rules.add_custom_pat_prefix("bad prefix").is_err());
    let scanner = labgate_scan::Scanner::new(rules).unwrap();
    let ids = rule_ids(&scanner, "TOKEN=mycorp-a8Kd92jfQ0pLm3nB7xZc");
    assert_eq!(ids, ["gitlab-pat-custom-mycorp-"]);
    let token = crate::routable::generate("mycorp-", &[('o', "1"), ('u', "42")]);
    assert_eq!(
        rule_ids(&scanner, &format!("TOKEN={token}")),
        ["gitlab-pat-routable-custom-mycorp-"]
    );
}
