use labgate_scan::engine::ScanOptions;
use labgate_scan::{BlobScan, Confidence, RuleSet, Scanner};

use crate::common::{rule_ids, scanner_all, scanner_default, secrets};

#[test]
fn binary_blobs_are_skipped_by_sniffing() {
    let scanner = scanner_all();
    let mut data = b"\x7fELF\x02\x01\x01\0\0\0".to_vec();
    data.extend_from_slice(b"GITLAB_TOKEN=glpat-Qm3k9ZxT2bLw8RfN5yHc");
    assert!(matches!(scanner.scan_blob(&data), BlobScan::Binary));
}

#[test]
fn invalid_utf8_around_a_secret_is_fine() {
    let scanner = scanner_all();
    let mut data = vec![0xff, 0xfe, b'\n', 0xc3, 0x28];
    data.extend_from_slice(b" glpat-Qm3k9ZxT2bLw8RfN5yHc \xe2\x82\n");
    let BlobScan::Scanned(m) = scanner.scan_blob(&data) else {
        panic!("treated as binary")
    };
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].secret, b"glpat-Qm3k9ZxT2bLw8RfN5yHc");
    assert_eq!((m[0].start_line, m[0].start_column), (2, 4));
}

#[test]
fn multi_line_secrets_need_the_whole_blob() {
    let scanner = scanner_default();
    let key = include_str!("../../rules/keys.toml");
    let start = key.find("-----BEGIN RSA PRIVATE KEY-----").unwrap();
    let end = key[start..].find("-----END RSA PRIVATE KEY-----").unwrap() + start + 29;
    let pem = &key[start..end];
    let text = format!("config:\n  tls_key: |\n{pem}\n");
    let found = secrets(&scanner, &text);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0, "private-key");
    assert!(found[0].1.starts_with("-----BEGIN RSA PRIVATE KEY-----") && found[0].1.ends_with("-----"));
}

#[test]
fn finding_carries_secret_and_full_match() {
    let scanner = scanner_default();
    let text = "url: mysql://svc:Vt9q2LmX8kR4pZs7@db.internal:3306/prod?ssl=true\n";
    let BlobScan::Scanned(m) = scanner.scan_blob(text.as_bytes()) else {
        panic!()
    };
    assert_eq!(m[0].secret, b"Vt9q2LmX8kR4pZs7");
    assert_eq!(
        m[0].matched,
        b"mysql://svc:Vt9q2LmX8kR4pZs7@db.internal:3306/prod?ssl=true"
    );
}

#[test]
fn keywords_match_case_insensitively_but_patterns_stay_exact() {
    let scanner = scanner_default();
    // An upper-case keyword hit must not make a case-sensitive pattern match.
    assert!(rule_ids(&scanner, "GLPAT-Qm3k9ZxT2bLw8RfN5yHc").is_empty());
}

#[test]
fn generic_rules_are_off_at_the_default_confidence() {
    let text = "password = \"h7Gq!2mZ@x9LrT4#vB8k\"";
    assert!(rule_ids(&scanner_default(), text).is_empty());
    assert_eq!(rule_ids(&scanner_all(), text), ["generic-secret-assignment"]);
    let mut high = RuleSet::builtin().unwrap();
    high.retain_confidence(Confidence::High);
    assert!(high.rules().iter().all(|r| r.spec.confidence == Confidence::High));
}

#[test]
fn overlapping_rules_report_the_specific_one_once() {
    let scanner = scanner_all();
    let text = "gitlab_token = \"glpat-Qm3k9ZxT2bLw8RfN5yHc\"";
    assert_eq!(rule_ids(&scanner, text), ["gitlab-pat"]);
}

#[test]
fn many_secrets_in_one_blob_are_all_found_in_order() {
    let scanner = scanner_default();
    let mut text = String::new();
    for i in 0..50 {
        text.push_str(&format!("line {i}\nTOKEN_{i}=glpat-Qm3k9ZxT2bLw8Rf{i:05}\n"));
    }
    let found = secrets(&scanner, &text);
    assert_eq!(found.len(), 50);
    assert!(found.windows(2).all(|w| w[0].1 < w[1].1));
}

#[test]
fn start_up_is_fast() {
    let t = std::time::Instant::now();
    let scanner = scanner_all();
    let elapsed = t.elapsed();
    assert!(scanner.rules().len() >= 60);
    // Generous for a debug build on a loaded machine; release is a few milliseconds.
    assert!(elapsed.as_secs() < 10, "rule compilation took {elapsed:?}");
}

#[test]
fn options_are_kept() {
    let scanner = Scanner::with_options(
        RuleSet::builtin().unwrap(),
        ScanOptions {
            max_blob_size: 10,
            decode_base64: false,
        },
    )
    .unwrap();
    assert_eq!(scanner.options().max_blob_size, 10);
}

#[test]
fn nested_keywords_trigger_every_rule_that_contains_them() {
    let mut rules = RuleSet::default();
    rules
        .load_str(
            "nested.toml",
            r#"
[[rule]]
id = "short"
name = "s"
description = "d"
pattern = '''(?i)(?P<secret>auth)orization: '''
keywords = ["auth"]
confidence = "high"
severity = "low"

[[rule]]
id = "long"
name = "l"
description = "d"
pattern = '''Authorization: (?P<secret>[A-Z]{8})'''
keywords = ["authorization"]
confidence = "high"
severity = "low"
"#,
        )
        .unwrap();
    let scanner = Scanner::new(rules).unwrap();
    // Only "authorization" occurs as a keyword hit, yet the "auth" rule must still run.
    let mut ids = rule_ids(&scanner, "Authorization: QWERTZUI");
    ids.sort();
    assert_eq!(ids, ["long", "short"]);
}

#[test]
fn windowed_rules_find_what_a_whole_blob_search_finds() {
    let rule = |window: &str| {
        format!(
            "[[rule]]\nid = \"u\"\nname = \"u\"\ndescription = \"d\"\n{window}\npattern = '''\\bhttps?://[a-z]+:(?P<secret>[A-Za-z0-9]{{10,40}})@[a-z.]+'''\nkeywords = [\"http\"]\nconfidence = \"high\"\nseverity = \"low\"\n"
        )
    };
    let scanner = |text: String| {
        let mut rules = RuleSet::default();
        rules.load_str("w.toml", &text).unwrap();
        Scanner::new(rules).unwrap()
    };
    let windowed = scanner(rule("window = [16, 600]"));
    let whole = scanner(rule(""));
    let mut text = String::new();
    for i in 0..40 {
        // Adjacent hits (overlapping windows), distant hits, and keywords without a match.
        text.push_str(&format!(
            "http://a:Kq9Zr{i:05}xT7Lp@h.io https://b:Wm3Vn{i:05}yR8Jd@g.io see http://docs\n"
        ));
        text.push_str(&"filler ".repeat(i * 20));
    }
    let a = secrets(&windowed, &text);
    assert_eq!(a.len(), 80);
    assert_eq!(a, secrets(&whole, &text));
}

mod arbitrary_input {
    use std::sync::LazyLock;

    use proptest::prelude::*;

    /// Compiled once: building the scanner per case would dominate the run in debug builds.
    static SCANNER: LazyLock<labgate_scan::Scanner> = LazyLock::new(crate::common::scanner_all);

    use labgate_scan::BlobScan;

    const FRAGMENTS: &[&str] = &[
        "glpat-",
        "GR1348941",
        "AKIA",
        "-----BEGIN RSA PRIVATE KEY-----",
        "-----END RSA PRIVATE KEY-----",
        "postgres://",
        "http://",
        ":",
        "@",
        "\"auth\": \"",
        "_authToken=",
        "eyJ",
        ".01.",
        "\n",
        "Q~",
        "${",
    ];

    fn haystack() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..40),
                proptest::sample::select(FRAGMENTS).prop_map(|s| s.as_bytes().to_vec()),
                "[A-Za-z0-9_-]{0,60}".prop_map(String::into_bytes),
            ],
            0..40,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn never_panics_and_reports_consistent_spans(data in haystack()) {
            if let BlobScan::Scanned(found) = SCANNER.scan_blob(&data) {
                let mut last_end = 0;
                for m in &found {
                    prop_assert_eq!(&data[m.secret_span.clone()], m.secret.as_slice());
                    prop_assert!(m.start_line >= 1 && m.start_column >= 1 && m.end_line >= m.start_line);
                    prop_assert!(m.secret_span.start >= last_end, "secrets never overlap");
                    last_end = m.secret_span.end;
                }
            }
        }
    }
}

#[test]
fn blob_findings_carry_fingerprints_for_library_callers() {
    let scanner = scanner_default();
    let data = b"token: glpat-Qm3k9ZxT2bLw8RfN5yHc\n";
    let named = scanner.scan_blob_findings(Some("ci/.env"), data);
    assert_eq!(named.len(), 1);
    assert_eq!(named[0].location.path.as_deref(), Some("ci/.env"));
    assert_eq!(named[0].fingerprint.len(), 64);
    let anonymous = scanner.scan_blob_findings(None, data);
    assert_ne!(anonymous[0].fingerprint, named[0].fingerprint);
    assert_eq!(
        anonymous[0].fingerprint,
        scanner.scan_blob_findings(None, data)[0].fingerprint
    );
    assert!(
        scanner
            .scan_blob_findings(None, b"\0binary glpat-Qm3k9ZxT2bLw8RfN5yHc")
            .is_empty()
    );
}

#[test]
fn base64_encoded_secrets_are_found_only_with_decoding() {
    use base64::Engine as _;
    let token = "glpat-Qm3k9ZxT2bLw8RfN5yHc";
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("GITLAB_TOKEN={token}\n"));
    // A ConfigMap does not declare its values base64, so only the general search decodes them.
    let yaml = format!("apiVersion: v1\nkind: ConfigMap\ndata:\n  env: {encoded}\n");
    let mut rules = RuleSet::builtin().unwrap();
    rules.retain_confidence(Confidence::Medium);
    let decoding = Scanner::with_options(
        rules,
        ScanOptions {
            decode_base64: true,
            ..ScanOptions::default()
        },
    )
    .unwrap();
    assert!(secrets(&scanner_default(), &yaml).is_empty());
    let BlobScan::Scanned(found) = decoding.scan_blob(yaml.as_bytes()) else {
        panic!()
    };
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].secret, token.as_bytes());
    assert_eq!(
        found[0].metadata.get("encoding").map(String::as_str),
        Some("base64")
    );
    assert_eq!((found[0].start_line, found[0].start_column), (4, 8));
    assert_eq!(&yaml.as_bytes()[found[0].secret_span.clone()], encoded.as_bytes());
    // Base64 of binary data and long identifiers are left alone.
    let noise = format!(
        "let very_long_identifier_name_that_looks_like_base64_text = 1;\nimg: {}\n",
        base64::engine::general_purpose::STANDARD.encode([
            0u8, 159, 146, 150, 1, 2, 3, 250, 251, 252, 0, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
            20
        ])
    );
    let BlobScan::Scanned(found) = decoding.scan_blob(noise.as_bytes()) else {
        panic!()
    };
    assert!(found.is_empty());
}
