use labgate_scan::{Confidence, Finding, RuleSet, Scanner};

/// A scanner with every built-in rule, the generic ones included.
pub fn scanner_all() -> Scanner {
    Scanner::new(RuleSet::builtin().expect("built-in rules compile")).expect("scanner builds")
}

/// A scanner with the default confidence floor.
#[allow(dead_code)]
pub fn scanner_default() -> Scanner {
    let mut rules = RuleSet::builtin().expect("built-in rules compile");
    rules.retain_confidence(Confidence::Medium);
    Scanner::new(rules).expect("scanner builds")
}

/// Rule ids found in `text`.
pub fn rule_ids(scanner: &Scanner, text: &str) -> Vec<String> {
    match scanner.scan_blob(text.as_bytes()) {
        labgate_scan::BlobScan::Binary => Vec::new(),
        labgate_scan::BlobScan::Scanned(m) => m
            .iter()
            .map(|m| scanner.rules().rules()[m.rule].spec.id.clone())
            .collect(),
    }
}

/// Secrets found in `text`, as strings.
#[allow(dead_code)]
pub fn secrets(scanner: &Scanner, text: &str) -> Vec<(String, String)> {
    match scanner.scan_blob(text.as_bytes()) {
        labgate_scan::BlobScan::Binary => Vec::new(),
        labgate_scan::BlobScan::Scanned(m) => m
            .iter()
            .map(|m| {
                (
                    scanner.rules().rules()[m.rule].spec.id.clone(),
                    String::from_utf8_lossy(&m.secret).into_owned(),
                )
            })
            .collect(),
    }
}

#[allow(dead_code)]
pub fn ids(findings: &[Finding]) -> Vec<&str> {
    findings.iter().map(|f| f.rule_id.as_str()).collect()
}
