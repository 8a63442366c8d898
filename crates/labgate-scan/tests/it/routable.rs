//! Routable GitLab tokens generated here, independently of the library, from the algorithm in
//! GitLab's `routable_token.rb`: prefix ‖ base64url(random ‖ payload ‖ len) ‖ ".01." ‖ len36 ‖ crc36.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use labgate_scan::validate::{RoutableError, validate_routable};
use proptest::prelude::*;

use crate::common::{rule_ids, secrets};

fn base36(mut v: u64, width: usize) -> String {
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(digits[(v % 36) as usize]);
        v /= 36;
        if v == 0 {
            break;
        }
    }
    while out.len() < width {
        out.push(b'0');
    }
    out.reverse();
    String::from_utf8(out).unwrap()
}

/// Token with the given random bytes and fields (sorted by key as GitLab does).
pub fn generate_with(prefix: &str, random: [u8; 16], fields: &[(char, &str)]) -> String {
    let mut fields = fields.to_vec();
    fields.sort_by_key(|(k, _)| *k);
    let payload = fields
        .iter()
        .map(|(k, v)| format!("{k}:{v}"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut raw = random.to_vec();
    raw.extend_from_slice(payload.as_bytes());
    raw.push(u8::try_from(payload.len()).unwrap());
    let b64 = URL_SAFE_NO_PAD.encode(raw);
    let head = format!("{prefix}{b64}.01.{}", base36(b64.len() as u64, 2));
    let crc = crc32fast::hash(head.as_bytes());
    format!("{head}{}", base36(u64::from(crc), 7))
}

/// Token with pseudo-random bytes derived from the fields (deterministic).
pub fn generate(prefix: &str, fields: &[(char, &str)]) -> String {
    let seed = crc32fast::hash(format!("{prefix}{fields:?}").as_bytes());
    let mut random = [0u8; 16];
    for (i, b) in random.iter_mut().enumerate() {
        *b = (seed.rotate_left(u32::try_from(i).unwrap() * 5) as u8) ^ (i as u8).wrapping_mul(37);
    }
    generate_with(prefix, random, fields)
}

/// Same token with its last CRC character changed.
pub fn break_checksum(token: &str) -> String {
    let mut t = token.to_owned();
    let last = t.pop().unwrap();
    t.push(if last == '0' { '1' } else { '0' });
    t
}

#[test]
fn reference_worked_example() {
    let mut random = [0u8; 16];
    for (i, b) in random.iter_mut().enumerate() {
        *b = i as u8;
    }
    let token = generate_with("glpat-", random, &[('c', "1"), ('o', "1"), ('u', "2n9c")]);
    assert_eq!(
        token,
        "glpat-AAECAwQFBgcICQoLDA0OD2M6MQpvOjEKdToybjljDg.01.160nlwcj6"
    );
    let payload = validate_routable(&token, "glpat-").unwrap();
    assert_eq!(payload.fields.get(&'u').map(String::as_str), Some("2n9c"));
}

#[test]
fn valid_tokens_are_found_whole_with_routing_metadata() {
    let scanner = crate::common::scanner_default();
    let token = generate("glpat-", &[('c', "1"), ('o', "1f"), ('u', "9kx")]);
    let text = format!("variables:\n  GITLAB_TOKEN: \"{token}\"\n");
    let found = secrets(&scanner, &text);
    assert_eq!(found, [("gitlab-pat-routable".to_owned(), token.clone())]);
    let labgate_scan::BlobScan::Scanned(m) = scanner.scan_blob(text.as_bytes()) else {
        panic!("binary")
    };
    assert_eq!(
        m[0].metadata.get("routing.organization").map(String::as_str),
        Some("1f")
    );
    assert_eq!(m[0].metadata.get("routing.user").map(String::as_str), Some("9kx"));
    assert_eq!(m[0].metadata.get("checksum").map(String::as_str), Some("valid"));
}

#[test]
fn broken_checksums_are_not_reported_by_any_rule() {
    let scanner = crate::common::scanner_all();
    for prefix in ["glpat-", "gldt-", "glrt-", "glcbt-", "glft-"] {
        let token = break_checksum(&generate(prefix, &[('o', "2"), ('u', "k1")]));
        let ids = rule_ids(&scanner, &format!("TOKEN={token}\n"));
        assert!(ids.is_empty(), "{prefix}: {ids:?}");
    }
}

#[test]
fn legacy_rule_never_reports_a_truncated_routable_token() {
    let scanner = crate::common::scanner_all();
    let token = generate("glpat-", &[('o', "1")]);
    let found = secrets(&scanner, &format!("a {token} b"));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].1, token);
}

#[test]
fn runner_tokens_with_a_type_marker_validate() {
    let scanner = crate::common::scanner_default();
    let token = generate("glrt-t3_", &[('c', "1"), ('o', "4"), ('u', "z")]);
    assert_eq!(
        rule_ids(&scanner, &format!("token = \"{token}\"")),
        ["gitlab-routable-token"]
    );
}

#[test]
fn validator_rejects_each_broken_layer() {
    let good = generate("glpat-", &[('o', "1")]);
    assert!(validate_routable(&good, "glpat-").is_ok());
    assert_eq!(
        validate_routable(&break_checksum(&good), "glpat-"),
        Err(RoutableError::Checksum)
    );
    assert_eq!(validate_routable(&good, "gldt-"), Err(RoutableError::Prefix));
    // A payload without the required `o` key, with a correct checksum over it.
    let no_org = generate("glpat-", &[('u', "1")]);
    assert_eq!(validate_routable(&no_org, "glpat-"), Err(RoutableError::Payload));
    let bad_key = generate("glpat-", &[('o', "1"), ('x', "1")]);
    assert_eq!(validate_routable(&bad_key, "glpat-"), Err(RoutableError::Payload));
}

proptest! {
    #[test]
    fn any_generated_token_validates_and_any_crc_change_fails(
        random in proptest::array::uniform16(any::<u8>()),
        org in 0u64..1_000_000,
        user in proptest::option::of(0u64..100_000_000),
        pos in 0usize..7,
        replacement in proptest::sample::select(b"0123456789abcdefghijklmnopqrstuvwxyz".to_vec()),
    ) {
        let org = base36(org, 1);
        let user = user.map(|u| base36(u, 1));
        let mut fields = vec![('o', org.as_str())];
        if let Some(u) = &user {
            fields.push(('u', u.as_str()));
        }
        let token = generate_with("glpat-", random, &fields);
        let payload = validate_routable(&token, "glpat-").unwrap();
        prop_assert_eq!(payload.fields.get(&'o'), Some(&org));
        let mut bytes = token.clone().into_bytes();
        let i = bytes.len() - 7 + pos;
        prop_assume!(bytes[i] != replacement);
        bytes[i] = replacement;
        let broken = String::from_utf8(bytes).unwrap();
        prop_assert_eq!(validate_routable(&broken, "glpat-"), Err(RoutableError::Checksum));
    }
}
