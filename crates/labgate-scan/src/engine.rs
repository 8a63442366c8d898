//! The matcher: one Aho-Corasick pass over all rule keywords decides which rule regexes run on a
//! blob at all, then each triggered rule's regex runs over the whole blob (so multi-line secrets
//! and merge-only content are seen), and offline filters drop placeholders and invalid tokens.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use serde::Serialize;

use crate::rules::{Rule, RuleSet, Validator};
use crate::validate;

/// Bytes inspected for a NUL when deciding whether a blob is binary (git uses the same window).
const BINARY_SNIFF_LEN: usize = 8000;

/// Default cap on the size of one blob or file; larger ones are skipped with a note.
pub const DEFAULT_MAX_BLOB_SIZE: u64 = 64 * 1024 * 1024;

/// Scanner settings that do not depend on the input kind.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Larger blobs are skipped and listed in the report notes.
    pub max_blob_size: u64,
    /// Also decode base64 runs (Kubernetes secrets, CI variables, config dumps) and scan the
    /// decoded text once (no nested decoding).
    pub decode_base64: bool,
}

impl Default for ScanOptions {
    fn default() -> Self {
        Self {
            max_blob_size: DEFAULT_MAX_BLOB_SIZE,
            decode_base64: false,
        }
    }
}

/// Shortest base64 run worth decoding: 24 bytes of text, enough for the shortest tokens.
const MIN_BASE64_RUN: usize = 32;
/// Longest run decoded; longer ones are embedded files, not credentials.
const MAX_BASE64_RUN: usize = 64 * 1024;

/// Spans of base64 text (standard or URL-safe alphabet, optional padding) long enough to hide a
/// secret.
fn base64_runs(data: &[u8]) -> Vec<Range<usize>> {
    let is_b64 = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_');
    let mut runs = Vec::new();
    let mut i = 0;
    while i < data.len() {
        if !is_b64(data[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < data.len() && is_b64(data[i]) {
            i += 1;
        }
        let mut end = i;
        while end < data.len() && end < i + 2 && data[end] == b'=' {
            end += 1;
        }
        if (MIN_BASE64_RUN..=MAX_BASE64_RUN).contains(&(i - start)) {
            runs.push(start..end);
        }
        i = end.max(i);
    }
    runs
}

/// Decodes a run when it is base64 of printable text (binary payloads such as images or
/// compressed data are not scanned).
fn decode_text(run: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let body = run
        .strip_suffix(b"==")
        .or_else(|| run.strip_suffix(b"="))
        .unwrap_or(run);
    let engine = if body.iter().any(|&b| b == b'-' || b == b'_') {
        &URL_SAFE_NO_PAD
    } else {
        &STANDARD_NO_PAD
    };
    let decoded = engine.decode(body).ok()?;
    let printable = decoded
        .iter()
        .filter(|&&b| b.is_ascii_graphic() || b.is_ascii_whitespace())
        .count();
    (decoded.len() >= 16 && printable * 100 >= decoded.len() * 95).then_some(decoded)
}

/// Declared-base64 values nest once in practice (`.dockerconfigjson` in a Kubernetes secret
/// holds Docker `auth` values); one level more is allowed, never unbounded recursion.
const MAX_DECLARED_DEPTH: usize = 3;

/// Decodes a value its format declares to be base64 (standard alphabet, padding optional) when
/// the result is text. Short values are allowed: the format, not the length, says it is base64.
fn decode_declared(value: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD_NO_PAD;
    let body = value
        .strip_suffix(b"==")
        .or_else(|| value.strip_suffix(b"="))
        .unwrap_or(value);
    let decoded = STANDARD_NO_PAD.decode(body).ok()?;
    let printable = decoded
        .iter()
        .filter(|&&b| b.is_ascii_graphic() || b.is_ascii_whitespace())
        .count();
    (decoded.len() >= 8 && printable * 100 >= decoded.len() * 95).then_some(decoded)
}

/// Moves a match found in decoded text onto the encoded `span` of `data` it came from.
fn relocate(m: &mut BlobMatch, data: &[u8], lines: &LineIndex, span: &Range<usize>) {
    (m.start_line, m.start_column) = lines.position(data, span.start);
    (m.end_line, m.end_column) = lines.position(data, span.end.saturating_sub(1));
    m.secret_span = span.clone();
    m.metadata.insert("encoding".to_owned(), "base64".to_owned());
}

/// A secret found in one blob, before it is tied to paths and commits.
#[derive(Clone)]
pub struct BlobMatch {
    /// Index into the scanner's rule set.
    pub rule: usize,
    pub secret: Vec<u8>,
    /// The whole text the pattern matched (e.g. the connection URL around a password).
    pub matched: Vec<u8>,
    pub secret_span: Range<usize>,
    pub start_line: usize,
    pub start_column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub entropy: f64,
    /// Facts decoded offline, e.g. the routing fields of a routable GitLab token.
    pub metadata: BTreeMap<String, String>,
}

impl std::fmt::Debug for BlobMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret itself never goes into debug output.
        f.debug_struct("BlobMatch")
            .field("rule", &self.rule)
            .field("secret_span", &self.secret_span)
            .field("start_line", &self.start_line)
            .finish_non_exhaustive()
    }
}

/// What happened to one blob.
#[derive(Debug)]
pub enum BlobScan {
    /// Content sniffing found a NUL byte near the start.
    Binary,
    /// Text; possibly no matches.
    Scanned(Vec<BlobMatch>),
}

/// Counters shared by the scanning threads.
#[derive(Debug, Default)]
pub struct Counters {
    pub blobs_scanned: AtomicU64,
    pub bytes_scanned: AtomicU64,
    pub binary_skipped: AtomicU64,
    pub too_large_skipped: AtomicU64,
    pub unreadable: AtomicU64,
}

/// A snapshot of [`Counters`] for reports.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ScanStats {
    pub blobs_scanned: u64,
    pub bytes_scanned: u64,
    pub binary_skipped: u64,
    pub too_large_skipped: u64,
    pub unreadable: u64,
    pub commits: u64,
    pub refs: u64,
}

impl Counters {
    #[must_use]
    pub fn snapshot(&self) -> ScanStats {
        ScanStats {
            blobs_scanned: self.blobs_scanned.load(Ordering::Relaxed),
            bytes_scanned: self.bytes_scanned.load(Ordering::Relaxed),
            binary_skipped: self.binary_skipped.load(Ordering::Relaxed),
            too_large_skipped: self.too_large_skipped.load(Ordering::Relaxed),
            unreadable: self.unreadable.load(Ordering::Relaxed),
            commits: 0,
            refs: 0,
        }
    }
}

/// Receives progress from scanning threads; must be cheap.
pub trait Progress: Sync {
    fn set_total(&self, _blobs: u64) {}
    fn blob_done(&self, _bytes: u64) {}
}

/// Progress sink that discards everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;
impl Progress for NoProgress {}

/// Errors from the engine and its inputs.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Rules(#[from] crate::rules::RuleError),
    #[error("keyword automaton: {0}")]
    Automaton(String),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{0}")]
    Git(String),
    #[error("{0}")]
    Clone(String),
}

/// The secret scanner. Cheap to share between threads; holds no per-scan state.
pub struct Scanner {
    rules: RuleSet,
    keywords: AhoCorasick,
    /// For each keyword pattern, the rules it triggers.
    keyword_rules: Vec<Vec<usize>>,
    options: ScanOptions,
}

impl std::fmt::Debug for Scanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scanner")
            .field("rules", &self.rules.len())
            .finish_non_exhaustive()
    }
}

impl Scanner {
    /// Builds the keyword automaton over the rules.
    ///
    /// # Errors
    /// If the automaton cannot be built (e.g. absurdly many keywords).
    pub fn new(rules: RuleSet) -> Result<Self, ScanError> {
        Self::with_options(rules, ScanOptions::default())
    }

    /// As [`Scanner::new`], with options.
    ///
    /// # Errors
    /// If the automaton cannot be built.
    pub fn with_options(rules: RuleSet, options: ScanOptions) -> Result<Self, ScanError> {
        let mut patterns: Vec<String> = Vec::new();
        let mut keyword_rules: Vec<Vec<usize>> = Vec::new();
        for (idx, rule) in rules.rules().iter().enumerate() {
            for kw in rule.spec.keywords.iter().filter(|k| !k.is_empty()) {
                let lower = kw.to_ascii_lowercase();
                if let Some(pos) = patterns.iter().position(|p| *p == lower) {
                    if !keyword_rules[pos].contains(&idx) {
                        keyword_rules[pos].push(idx);
                    }
                } else {
                    patterns.push(lower);
                    keyword_rules.push(vec![idx]);
                }
            }
        }
        // Leftmost-longest search reports `_authtoken` rather than `_auth` inside it, so each
        // keyword also triggers the rules of every keyword it contains. Non-overlapping search
        // costs a fraction of overlapping search, which reports every nested hit.
        let keyword_rules: Vec<Vec<usize>> = patterns
            .iter()
            .map(|p| {
                let mut rules: Vec<usize> = patterns
                    .iter()
                    .zip(&keyword_rules)
                    .filter(|(q, _)| p.contains(q.as_str()))
                    .flat_map(|(_, r)| r.iter().copied())
                    .collect();
                rules.sort_unstable();
                rules.dedup();
                rules
            })
            .collect();
        let keywords = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .kind(Some(AhoCorasickKind::DFA))
            // Several keywords share common three-letter starts ("pos", "red", "ser"), which
            // makes the SIMD prefilter report a candidate every few bytes in source code; the
            // DFA alone is faster on such input.
            .prefilter(false)
            .build(&patterns)
            .map_err(|e| ScanError::Automaton(e.to_string()))?;
        Ok(Self {
            rules,
            keywords,
            keyword_rules,
            options,
        })
    }

    #[must_use]
    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    #[must_use]
    pub fn options(&self) -> &ScanOptions {
        &self.options
    }

    /// True when `data` looks binary (a NUL byte in its first 8000 bytes, as git decides).
    #[must_use]
    pub fn is_binary(data: &[u8]) -> bool {
        memchr::memchr(0, &data[..data.len().min(BINARY_SNIFF_LEN)]).is_some()
    }

    /// Scans one whole blob. UTF-16 text (Windows editors and PowerShell write it) has NUL
    /// bytes everywhere, so it is recognised before the binary test and scanned transcoded.
    #[must_use]
    pub fn scan_blob(&self, data: &[u8]) -> BlobScan {
        if Self::is_binary(data) {
            return match crate::utf16::detect(data) {
                Some(encoding) => BlobScan::Scanned(self.scan_utf16(data, encoding)),
                None => BlobScan::Binary,
            };
        }
        BlobScan::Scanned(self.scan_text(data))
    }

    /// Scans UTF-16 text as UTF-8. Lines and columns carry over unchanged (line breaks map one
    /// to one and columns count characters); secret spans are mapped back to byte offsets in
    /// the UTF-16 original.
    fn scan_utf16(&self, data: &[u8], encoding: crate::utf16::Utf16) -> Vec<BlobMatch> {
        let text = crate::utf16::transcode(data, encoding);
        let mut found = self.scan_text(text.as_bytes());
        for m in &mut found {
            let start = crate::utf16::original_offset(&text, m.secret_span.start, encoding);
            let end = crate::utf16::original_offset(&text, m.secret_span.end, encoding);
            m.secret_span = start..end;
            m.metadata
                .insert("text_encoding".to_owned(), encoding.name().to_owned());
        }
        found
    }

    /// Scans one blob and returns findings with fingerprints; `path` is where the blob lives
    /// (for the fingerprint and report), `None` for content without a name. Binary blobs yield
    /// nothing.
    #[must_use]
    pub fn scan_blob_findings(&self, path: Option<&str>, data: &[u8]) -> Vec<crate::finding::Finding> {
        let BlobScan::Scanned(matches) = self.scan_blob(data) else {
            return Vec::new();
        };
        let blob = path.is_none().then(|| crate::finding::sha256_hex(data));
        matches
            .iter()
            .map(|m| {
                crate::finding::Finding::from_match(
                    &self.rules.rules()[m.rule],
                    m,
                    path.map(str::to_owned),
                    blob.clone(),
                    None,
                )
            })
            .collect()
    }

    /// Scans `data` as text, without binary sniffing. Values that their format declares to be
    /// base64 (Kubernetes `Secret` data, Docker `auth`) are decoded and scanned too; with
    /// general base64 decoding on, so is every other base64 run. Secrets found in decoded text
    /// carry `encoding = base64` in their metadata, and their `secret_span` and position are
    /// those of the encoded value in `data`.
    #[must_use]
    pub fn scan_text(&self, data: &[u8]) -> Vec<BlobMatch> {
        self.scan_text_nested(data, 0)
    }

    fn scan_text_nested(&self, data: &[u8], depth: usize) -> Vec<BlobMatch> {
        let mut found = self.scan_plain(data);
        let mut lines: Option<LineIndex> = None;
        let mut decoded_spans: Vec<Range<usize>> = Vec::new();
        if depth < MAX_DECLARED_DEPTH {
            for value in crate::encoded::find(data) {
                let Some(decoded) = decode_declared(&data[value.span.clone()]) else {
                    continue;
                };
                let inner = self.scan_text_nested(&decoded, depth + 1);
                if inner.is_empty() {
                    continue;
                }
                // What the decoded text holds is more specific than a match on the encoded
                // value itself (the Docker `auth` rule reports the whole base64 string).
                found.retain(|m| {
                    m.secret_span.end <= value.span.start || m.secret_span.start >= value.span.end
                });
                let lines = lines.get_or_insert_with(|| LineIndex::new(data));
                for mut m in inner {
                    relocate(&mut m, data, lines, &value.span);
                    // Nested values read outside in: `kubernetes-secret-data/docker-config-auth`.
                    let from = match m.metadata.get("decoded_from") {
                        Some(inner) => format!("{}/{inner}", value.kind.name()),
                        None => value.kind.name().to_owned(),
                    };
                    m.metadata.insert("decoded_from".to_owned(), from);
                    found.push(m);
                }
                decoded_spans.push(value.span);
            }
        }
        if self.options.decode_base64 {
            for run in base64_runs(data) {
                if decoded_spans
                    .iter()
                    .any(|d| d.start < run.end && run.start < d.end)
                {
                    continue;
                }
                let Some(decoded) = decode_text(&data[run.clone()]) else {
                    continue;
                };
                for mut m in self.scan_plain(&decoded) {
                    let lines = lines.get_or_insert_with(|| LineIndex::new(data));
                    relocate(&mut m, data, lines, &run);
                    found.push(m);
                }
            }
        }
        found
    }

    fn scan_plain(&self, data: &[u8]) -> Vec<BlobMatch> {
        let rules = self.rules.rules();
        let mut triggered = vec![false; rules.len()];
        // Keyword hits of windowed rules: (rule, window start, window end).
        let mut windows: Vec<(usize, usize, usize)> = Vec::new();
        for m in self.keywords.find_iter(data) {
            for &r in &self.keyword_rules[m.pattern().as_usize()] {
                triggered[r] = true;
                if let Some([before, after]) = rules[r].spec.window {
                    windows.push((
                        r,
                        m.start().saturating_sub(before),
                        (m.end() + after).min(data.len()),
                    ));
                }
            }
        }
        windows.sort_unstable();
        let mut candidates: Vec<Candidate> = Vec::new();
        for (idx, rule) in rules.iter().enumerate().filter(|(i, _)| triggered[*i]) {
            if rule.spec.window.is_some() {
                // Merge overlapping windows so a match is never reported twice.
                let mine = windows.iter().filter(|w| w.0 == idx);
                let mut merged: Vec<Range<usize>> = Vec::new();
                for &(_, start, end) in mine {
                    match merged.last_mut() {
                        Some(last) if start <= last.end => last.end = last.end.max(end),
                        _ => merged.push(start..end),
                    }
                }
                for span in merged {
                    let input = regex_automata::Input::new(data).range(span);
                    collect(rule, idx, data, rule.regex.captures_iter(input), &mut candidates);
                }
            } else {
                collect(rule, idx, data, rule.regex.captures_iter(data), &mut candidates);
            }
        }
        if candidates.is_empty() {
            return Vec::new();
        }
        // When rules overlap on a span (the legacy and routable PAT rules, or a generic
        // assignment around a known token), the most confident and earliest-listed rule wins.
        candidates.sort_by(|a, b| {
            rules[b.0]
                .spec
                .confidence
                .cmp(&rules[a.0].spec.confidence)
                .then(a.0.cmp(&b.0))
        });
        // Kept secret spans never overlap, so only the kept span that starts last before a
        // candidate's end can overlap it: one ordered-map lookup per candidate.
        let mut taken: BTreeMap<usize, usize> = BTreeMap::new();
        let mut kept: Vec<Candidate> = Vec::new();
        for c in candidates {
            let clash = taken
                .range(..c.1.end)
                .next_back()
                .is_some_and(|(_, &end)| end > c.1.start);
            if !clash {
                taken.insert(c.1.start, c.1.end);
                kept.push(c);
            }
        }
        kept.sort_by_key(|k| (k.1.start, k.0));
        let lines = LineIndex::new(data);
        kept.into_iter()
            .map(|(rule, secret, whole, entropy, metadata)| {
                let (start_line, start_column) = lines.position(data, secret.start);
                let (end_line, end_column) = lines.position(data, secret.end.saturating_sub(1));
                BlobMatch {
                    rule,
                    secret: data[secret.clone()].to_vec(),
                    matched: data[whole].to_vec(),
                    secret_span: secret,
                    start_line,
                    start_column,
                    end_line,
                    end_column,
                    entropy,
                    metadata,
                }
            })
            .collect()
    }
}

fn collect(
    rule: &Rule,
    idx: usize,
    data: &[u8],
    matches: impl Iterator<Item = regex_automata::util::captures::Captures>,
    out: &mut Vec<Candidate>,
) {
    for caps in matches {
        let Some(whole) = caps.get_match() else { continue };
        let Some(secret) = caps.get_group(rule.secret_group) else {
            continue;
        };
        if secret.is_empty() {
            continue;
        }
        if let Some((entropy, metadata)) = accept(rule, &data[secret.range()]) {
            out.push((idx, secret.range(), whole.range(), entropy, metadata));
        }
    }
}

/// (rule index, secret span, whole-match span, entropy, metadata)
type Candidate = (usize, Range<usize>, Range<usize>, f64, BTreeMap<String, String>);

/// Applies the filters and validator of `rule`; on acceptance returns the entropy and metadata.
fn accept(rule: &Rule, secret: &[u8]) -> Option<(f64, BTreeMap<String, String>)> {
    let body = rule.body(secret);
    if !rule.spec.skip_placeholder_filter && validate::false_positive(secret, body).is_some() {
        return None;
    }
    let entropy = validate::shannon_entropy(body);
    if rule.spec.entropy.is_some_and(|min| entropy < min) {
        return None;
    }
    let mut metadata = BTreeMap::new();
    match rule.spec.validator {
        Some(Validator::GitlabRoutable) => {
            let token = std::str::from_utf8(secret).ok()?;
            let prefix = rule
                .spec
                .keywords
                .iter()
                .find(|k| token.starts_with(k.as_str()))?;
            let payload = routable_payload(token, prefix)?;
            metadata.insert("checksum".to_owned(), "valid".to_owned());
            for (k, v) in payload.fields {
                let name = match k {
                    'o' => "organization",
                    'u' => "user",
                    'c' => "cell",
                    't' => "type",
                    'g' => "group",
                    'p' => "project",
                    _ => continue,
                };
                metadata.insert(format!("routing.{name}"), v);
            }
        }
        Some(Validator::Jwt) if !validate::is_jwt(secret) => return None,
        Some(Validator::DockerAuth) if !validate::is_docker_auth(secret) => return None,
        Some(Validator::PemBody) if !validate::is_pem_body(secret) => return None,
        Some(Validator::DbPassword) if !validate::is_db_password(secret) => return None,
        Some(Validator::NetrcPassword) if !validate::is_netrc_password(secret) => {
            return None;
        }
        None
        | Some(
            Validator::Jwt
            | Validator::DockerAuth
            | Validator::PemBody
            | Validator::DbPassword
            | Validator::NetrcPassword,
        ) => {}
    }
    Some((entropy, metadata))
}

/// Runner tokens may carry a `t<digit>_` marker after `glrt-`; whether GitLab counts it as part
/// of the prefix is unconfirmed, so both readings are tried (the CRC covers the whole token
/// either way, so this cannot let an invalid checksum through).
fn routable_payload(token: &str, prefix: &str) -> Option<validate::RoutingPayload> {
    match validate::validate_routable(token, prefix) {
        Ok(p) => Some(p),
        Err(validate::RoutableError::Checksum) => None,
        Err(_) => {
            let rest = token.as_bytes().get(prefix.len()..prefix.len() + 3)?;
            if rest[0].is_ascii_lowercase() && rest[1].is_ascii_digit() && rest[2] == b'_' {
                validate::validate_routable(token, &token[..prefix.len() + 3]).ok()
            } else {
                None
            }
        }
    }
}

/// Byte offset to 1-based line and column, built only for blobs that have matches.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(data: &[u8]) -> Self {
        let mut starts = vec![0];
        starts.extend(memchr::memchr_iter(b'\n', data).map(|i| i + 1));
        Self { starts }
    }

    fn position(&self, data: &[u8], offset: usize) -> (usize, usize) {
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts[line - 1];
        // Columns count characters, not bytes, so editors land on the right spot.
        let column = String::from_utf8_lossy(&data[start..offset.min(data.len())])
            .chars()
            .count()
            + 1;
        (line, column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_index_positions() {
        let data = b"ab\ncd\n\nxyz";
        let idx = LineIndex::new(data);
        assert_eq!(idx.position(data, 0), (1, 1));
        assert_eq!(idx.position(data, 4), (2, 2));
        assert_eq!(idx.position(data, 7), (4, 1));
        assert_eq!(idx.position(data, 9), (4, 3));
    }

    #[test]
    fn binary_sniffing() {
        assert!(Scanner::is_binary(b"abc\0def"));
        assert!(!Scanner::is_binary(b"plain text"));
        let mut late = vec![b'a'; BINARY_SNIFF_LEN];
        late.push(0);
        assert!(!Scanner::is_binary(&late));
    }
}
