//! Offline checks applied to a candidate secret after its pattern matched: checksums, entropy,
//! placeholder and interpolation filters, and light structural decoding.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

/// Shannon entropy of `data` in bits per byte.
#[must_use]
pub fn shannon_entropy(data: &[u8]) -> f64 {
    if data.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in data {
        counts[usize::from(b)] += 1;
    }
    #[allow(clippy::cast_precision_loss, reason = "lengths far below 2^52")]
    let len = data.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / len;
            -p * p.log2()
        })
        .sum()
}

const BASE36: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// Lower-case base 36, left-padded with `0` to `width`.
#[must_use]
pub fn base36(mut value: u64, width: usize) -> String {
    let mut digits = Vec::new();
    loop {
        digits.push(BASE36[usize::try_from(value % 36).unwrap_or(0)]);
        value /= 36;
        if value == 0 {
            break;
        }
    }
    while digits.len() < width {
        digits.push(b'0');
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

fn parse_base36(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 12 {
        return None;
    }
    s.bytes().try_fold(0u64, |acc, b| {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'z' => b - b'a' + 10,
            _ => return None,
        };
        Some(acc * 36 + u64::from(d))
    })
}

/// Why a candidate routable token was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RoutableError {
    #[error("token does not start with the expected prefix")]
    Prefix,
    #[error("token is too short to hold the routable layout")]
    TooShort,
    #[error("CRC-32 checksum does not match")]
    Checksum,
    #[error("version or length field is wrong")]
    Header,
    #[error("body is not unpadded base64url")]
    Encoding,
    #[error("payload length byte disagrees with the decoded length")]
    PayloadLength,
    #[error("payload is not a valid set of routing fields")]
    Payload,
}

/// Routing fields decoded from a valid routable token (keys `c`, `g`, `o`, `p`, `u`, `t`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoutingPayload {
    pub fields: BTreeMap<char, String>,
}

const ROUTING_KEYS: &[char] = &['c', 'g', 'o', 'p', 'u', 't'];
const MAX_ROUTING_PAYLOAD: usize = 159;
const RANDOM_LEN: usize = 16;

/// Validates a GitLab routable token offline, in the order GitLab's decoder implies: checksum
/// first (cheap and decisive), then layout, encoding and payload.
///
/// # Errors
/// Returns the first check that failed.
pub fn validate_routable(token: &str, prefix: &str) -> Result<RoutingPayload, RoutableError> {
    if !token.starts_with(prefix) {
        return Err(RoutableError::Prefix);
    }
    // prefix + 27 (shortest body) + ".01." + 2 + 7
    if token.len() < prefix.len() + 27 + 4 + 2 + 7 || !token.is_ascii() {
        return Err(RoutableError::TooShort);
    }
    let (head, crc_field) = token.split_at(token.len() - 7);
    let crc = crc32fast::hash(head.as_bytes());
    if base36(u64::from(crc), 7) != crc_field {
        return Err(RoutableError::Checksum);
    }
    let body = &head[prefix.len()..];
    let mut parts = body.rsplitn(3, '.');
    let (Some(len_field), Some(ver), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(RoutableError::Header);
    };
    if ver != "01" || len_field.len() != 2 {
        return Err(RoutableError::Header);
    }
    if parse_base36(len_field) != u64::try_from(b64.len()).ok() {
        return Err(RoutableError::Header);
    }
    let raw = URL_SAFE_NO_PAD.decode(b64).map_err(|_| RoutableError::Encoding)?;
    let Some(&n) = raw.last() else {
        return Err(RoutableError::PayloadLength);
    };
    let n = usize::from(n);
    if raw.len() != RANDOM_LEN + n + 1 || n > MAX_ROUTING_PAYLOAD {
        return Err(RoutableError::PayloadLength);
    }
    let payload =
        std::str::from_utf8(&raw[RANDOM_LEN..RANDOM_LEN + n]).map_err(|_| RoutableError::Payload)?;
    let mut fields = BTreeMap::new();
    for line in payload.split('\n') {
        let mut chars = line.chars();
        let (Some(key), Some(':')) = (chars.next(), chars.next()) else {
            return Err(RoutableError::Payload);
        };
        if !ROUTING_KEYS.contains(&key) || fields.insert(key, chars.as_str().to_owned()).is_some() {
            return Err(RoutableError::Payload);
        }
    }
    if !fields.contains_key(&'o') {
        return Err(RoutableError::Payload);
    }
    Ok(RoutingPayload { fields })
}

/// Builds a routable token from explicit random bytes, the way GitLab's generator does. Used by
/// tests and by the benchmark corpus; real tokens must come from GitLab.
///
/// # Errors
/// Returns [`RoutableError::Payload`] when `o` is missing, a key is unknown, or the payload is
/// longer than GitLab allows.
pub fn generate_routable(
    prefix: &str,
    random: [u8; RANDOM_LEN],
    fields: &BTreeMap<char, String>,
) -> Result<String, RoutableError> {
    if !fields.contains_key(&'o') || fields.keys().any(|k| !ROUTING_KEYS.contains(k)) {
        return Err(RoutableError::Payload);
    }
    let payload = fields
        .iter()
        .map(|(k, v)| format!("{k}:{v}"))
        .collect::<Vec<_>>()
        .join("\n");
    let len = u8::try_from(payload.len()).map_err(|_| RoutableError::Payload)?;
    if payload.len() > MAX_ROUTING_PAYLOAD {
        return Err(RoutableError::Payload);
    }
    let mut raw = random.to_vec();
    raw.extend_from_slice(payload.as_bytes());
    raw.push(len);
    let b64 = URL_SAFE_NO_PAD.encode(raw);
    let head = format!("{prefix}{b64}.01.{}", base36(b64.len() as u64, 2));
    let crc = crc32fast::hash(head.as_bytes());
    Ok(format!("{head}{}", base36(u64::from(crc), 7)))
}

/// Words that mark a value as documentation or a stand-in rather than a credential.
const PLACEHOLDER_WORDS: &[&str] = &[
    "example",
    "placeholder",
    "changeme",
    "change_me",
    "change-me",
    "your_",
    "your-",
    "yourtoken",
    "yourpassword",
    "redacted",
    "dummy",
    "sample",
    "notreal",
    "not_real",
    "not-a-real",
    "insert",
    "replace_me",
    "replaceme",
    "fake",
    "<",
    ">",
];

/// Well-known documentation credentials that appear in thousands of repositories.
const DOCUMENTATION_SECRETS: &[&str] = &[
    "AKIAIOSFODNN7EXAMPLE",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "AKIAI44QH8DHBEXAMPLE",
    "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
];

/// Why a candidate was dropped as not being a real secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FalsePositive {
    Placeholder,
    DocumentationKey,
    Interpolation,
    LowEntropy,
    RepeatedCharacters,
}

/// Template and variable interpolation: the value names where the secret comes from.
#[must_use]
pub fn is_interpolation(value: &[u8]) -> bool {
    let v = trim_quotes(value);
    v.starts_with(b"${")
        || v.starts_with(b"$(")
        || v.starts_with(b"{{")
        || v.starts_with(b"{%")
        || v.starts_with(b"%(")
        || v.starts_with(b"#{")
        || v.starts_with(b"<%")
        || v.starts_with(b"@{")
        || v.windows(2)
            .any(|w| w == b"${" || w == b"{{" || w == b"%(" || w == b"$(")
        || (v.first() == Some(&b'$') && v.get(1).is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_'))
        || (v.first() == Some(&b'%') && v.last() == Some(&b'%') && v.len() > 2)
        || v.starts_with(b"process.env")
        || v.starts_with(b"os.environ")
        || v.starts_with(b"env.")
}

fn trim_quotes(v: &[u8]) -> &[u8] {
    let v = v.trim_ascii();
    let v = v.strip_prefix(b"\"").unwrap_or(v);
    let v = v.strip_suffix(b"\"").unwrap_or(v);
    let v = v.strip_prefix(b"'").unwrap_or(v);
    v.strip_suffix(b"'").unwrap_or(v)
}

/// Longest run of one repeated byte, case-insensitively (`xXxX` counts as a run of four).
fn longest_run(data: &[u8]) -> usize {
    let mut best = 0;
    let mut run = 0;
    let mut prev = None;
    for &b in data {
        let b = b.to_ascii_lowercase();
        if Some(b) == prev {
            run += 1;
        } else {
            run = 1;
            prev = Some(b);
        }
        best = best.max(run);
    }
    best
}

/// Filters shared by every rule. `body` is the secret with any fixed token prefix removed.
#[must_use]
pub fn false_positive(secret: &[u8], body: &[u8]) -> Option<FalsePositive> {
    if DOCUMENTATION_SECRETS.iter().any(|d| secret == d.as_bytes()) {
        return Some(FalsePositive::DocumentationKey);
    }
    if is_interpolation(body) {
        return Some(FalsePositive::Interpolation);
    }
    let lower = body.to_ascii_lowercase();
    if PLACEHOLDER_WORDS
        .iter()
        .any(|w| memchr::memmem::find(&lower, w.as_bytes()).is_some())
        || memchr::memmem::find(&lower, b"xxxx").is_some()
        || memchr::memmem::find(&lower, b"****").is_some()
        || memchr::memmem::find(&lower, b"....").is_some()
    {
        return Some(FalsePositive::Placeholder);
    }
    // Twelve identical characters in a row essentially never occur in random tokens, yet they
    // are the commonest way to write a filler (`AAAAAAAAAAAAAAAA`, `000000000000`).
    if longest_run(body) >= 12 || (body.len() >= 8 && longest_run(body) * 2 > body.len()) {
        return Some(FalsePositive::RepeatedCharacters);
    }
    None
}

/// A JSON Web Token whose header decodes to JSON with an `alg` member.
#[must_use]
pub fn is_jwt(token: &[u8]) -> bool {
    let mut parts = token.split(|&b| b == b'.');
    let (Some(header), Some(payload)) = (parts.next(), parts.next()) else {
        return false;
    };
    let Ok(h) = URL_SAFE_NO_PAD.decode(header.trim_ascii_end()) else {
        return false;
    };
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(&h) else {
        return false;
    };
    json.get("alg").is_some() && URL_SAFE_NO_PAD.decode(payload).is_ok()
}

/// Docker `config.json` `auth` values are base64 of `user:password`.
#[must_use]
pub fn is_docker_auth(value: &[u8]) -> bool {
    let Ok(decoded) = STANDARD.decode(value) else {
        return false;
    };
    let Some(colon) = decoded.iter().position(|&b| b == b':') else {
        return false;
    };
    let (user, pass) = (&decoded[..colon], &decoded[colon + 1..]);
    !user.is_empty()
        && pass.len() >= 4
        && decoded.iter().all(|b| b.is_ascii_graphic())
        && false_positive(pass, pass).is_none()
        && is_db_password(pass)
}

/// A PEM private key whose body is real base64 of plausible length rather than `...` or a
/// shortened illustration.
#[must_use]
pub fn is_pem_body(block: &[u8]) -> bool {
    // Keys embedded in JSON or YAML strings carry `\n` escapes instead of line breaks.
    let unescaped: Vec<u8> = String::from_utf8_lossy(block).replace("\\n", "\n").into_bytes();
    let body: Vec<u8> = unescaped
        .split(|&b| b == b'\n')
        .map(<[u8]>::trim_ascii)
        .filter(|l| !l.starts_with(b"-----") && !l.contains(&b':'))
        .flat_map(|l| {
            l.iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace() && *b != b'"' && *b != b'\\')
        })
        .collect();
    // The smallest real keys (Ed25519 OpenSSH) carry well over 100 base64 characters.
    body.len() >= 100
        && body
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
        && shannon_entropy(&body) > 4.5
}

/// Database URLs and URL credentials: the password part must not be a stock placeholder
/// (`user:password@`, `p%40ss%3Aword`, a passphrase with spaces from the docs).
#[must_use]
pub fn is_db_password(password: &[u8]) -> bool {
    const WEAK_PARTS: &[&[u8]] = &[
        b"pass",
        b"p@ss",
        b"word",
        b"pwd",
        b"secret",
        b"changeme",
        b"example",
    ];
    let decoded = percent_decode(password);
    let lower = decoded.to_ascii_lowercase();
    decoded.len() >= 4
        && !WEAK_PASSWORDS.contains(&lower.as_slice())
        && !WEAK_PARTS
            .iter()
            .any(|w| memchr::memmem::find(&lower, w).is_some())
        && !decoded.iter().any(u8::is_ascii_whitespace)
}

/// A `.netrc` password: as [`is_db_password`] once the optional double quotes are removed, and
/// neither a format-string field, nor a string literal of code (`\xa1\xa2`), nor a stock word
/// with punctuation thrown in (`pa#ss`), which is what parser tests and templates contain.
#[must_use]
pub fn is_netrc_password(value: &[u8]) -> bool {
    let v = value.strip_prefix(b"\"").unwrap_or(value);
    let v = v.strip_suffix(b"\"").unwrap_or(v);
    let letters: Vec<u8> = v
        .iter()
        .filter(|b| b.is_ascii_alphanumeric())
        .map(u8::to_ascii_lowercase)
        .collect();
    is_db_password(v)
        && !is_format_field(v)
        && !is_escaped_literal(v)
        && !WEAK_PASSWORDS.contains(&letters.as_slice())
}

/// Text made only of backslash escapes (`\xa1\xa2`, `\u00e9`): source code spelling bytes.
fn is_escaped_literal(v: &[u8]) -> bool {
    let mut i = 0;
    while i < v.len() {
        let width = match (v[i], v.get(i + 1)) {
            (b'\\', Some(b'x')) => 4,
            (b'\\', Some(b'u')) => 6,
            _ => return false,
        };
        if v.get(i + 2..i + width)
            .is_none_or(|h| !h.iter().all(u8::is_ascii_hexdigit))
        {
            return false;
        }
        i += width;
    }
    !v.is_empty()
}

/// Passwords that only documentation and tests use.
const WEAK_PASSWORDS: &[&[u8]] = &[
    b"password",
    b"pass",
    b"passwd",
    b"secret",
    b"pwd",
    b"root",
    b"admin",
    b"test",
    b"postgres",
    b"mysql",
    b"guest",
    b"user",
    b"username",
    b"default",
    b"pass123",
    b"123456",
    b"qwerty",
    b"letmein",
    b"toor",
];

/// A format-string field standing where a value will be substituted: `{}`, `{0}`,
/// `{auth_token}`, `{self.password}` (Python `str.format` and f-strings, Rust `format!`), or a
/// printf conversion such as `%s`. Code that writes credential files is full of them.
#[must_use]
pub fn is_format_field(value: &[u8]) -> bool {
    let brace_field = value.iter().enumerate().any(|(i, &b)| {
        b == b'{'
            && value[i + 1..].iter().position(|&c| c == b'}').is_some_and(|end| {
                value[i + 1..i + 1 + end].iter().all(|&c| {
                    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'[' | b']' | b':' | b'!')
                })
            })
    });
    let printf = value.windows(2).enumerate().any(|(i, w)| {
        w[0] == b'%'
            && matches!(w[1], b's' | b'd' | b'r' | b'x')
            && value.get(i + 2).is_none_or(|c| !c.is_ascii_alphanumeric())
    });
    brace_field || printf
}

fn percent_decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%'
            && let Some(byte) = s
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base36_pads_and_encodes() {
        assert_eq!(base36(0, 2), "00");
        assert_eq!(base36(42, 2), "16");
        assert_eq!(base36(u64::from(u32::MAX), 7), "1z141z3");
        assert_eq!(parse_base36("1z141z3"), Some(u64::from(u32::MAX)));
    }

    #[test]
    fn worked_example_round_trips() {
        let mut random = [0u8; 16];
        for (i, b) in random.iter_mut().enumerate() {
            *b = u8::try_from(i).unwrap();
        }
        let fields = BTreeMap::from([
            ('c', "1".to_owned()),
            ('o', "1".to_owned()),
            ('u', base36(123_456, 1)),
        ]);
        let token = generate_routable("glpat-", random, &fields).unwrap();
        assert_eq!(
            token,
            "glpat-AAECAwQFBgcICQoLDA0OD2M6MQpvOjEKdToybjljDg.01.160nlwcj6"
        );
        let decoded = validate_routable(&token, "glpat-").unwrap();
        assert_eq!(decoded.fields, fields);
    }

    #[test]
    fn public_fake_example_fails_checksum() {
        let token = "glpat-3fZ1p5y4XWcCvMGVlfakeW86MQp1Oml3Ymg0Cw.01.1203afake";
        assert_eq!(validate_routable(token, "glpat-"), Err(RoutableError::Checksum));
    }

    #[test]
    fn format_fields() {
        for v in [
            "{}",
            "{0}",
            "{auth_token}'",
            "{self.password}\")",
            "%s",
            "%s\"",
            "pre{tok}post",
        ] {
            assert!(is_format_field(v.as_bytes()), "{v}");
        }
        for v in ["q7{Lm2%Vz9!T", "zvzxfgU0Gsn1duyPRUPO", "a%sb", "x{y z}"] {
            assert!(!is_format_field(v.as_bytes()), "{v}");
        }
    }

    #[test]
    fn entropy_bounds() {
        assert!(shannon_entropy(b"aaaaaaaa") < 0.01);
        assert!((shannon_entropy(b"abcd") - 2.0).abs() < 1e-9);
    }
}
