//! Findings: a matched secret tied to where it was found, with a stable fingerprint.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::engine::{BlobMatch, ScanStats};
use crate::rules::{Confidence, Rule, Severity};

/// The commit that introduced a blob at a path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommitInfo {
    pub id: String,
    pub author: String,
    pub email: String,
    /// RFC 3339.
    pub date: String,
    /// First line of the message.
    pub summary: String,
}

/// The annotated tag whose message holds a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagInfo {
    /// Tag name as recorded in the tag object (e.g. `v1.2.0`).
    pub name: String,
    /// Id of the tag object.
    pub id: String,
    pub tagger: String,
    pub email: String,
    /// RFC 3339; empty when the tag has no tagger.
    pub date: String,
}

/// What kind of place a finding is in: a file (or blob), or a message stored in git history.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LocationKind {
    #[default]
    File,
    /// The message of `location.commit`; lines count from its first line.
    CommitMessage,
    /// The message of the annotated tag `location.tag`; lines count from its first line.
    TagMessage,
}

/// Where a finding is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    pub kind: LocationKind,
    /// Path relative to the scan root or repository; `None` for unreachable blobs.
    pub path: Option<String>,
    /// Git blob id, for repository scans.
    pub blob: Option<String>,
    pub start_line: usize,
    pub start_column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub commit: Option<CommitInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<TagInfo>,
}

impl Location {
    /// A short name for the place, for text reports and as the file of formats that need one:
    /// the path, or what holds the finding when there is no path.
    #[must_use]
    pub fn place(&self) -> String {
        match (self.kind, &self.path, &self.commit, &self.tag) {
            (LocationKind::CommitMessage, _, Some(c), _) => format!("commit-message:{}", c.id),
            (LocationKind::TagMessage, _, _, Some(t)) => format!("tag-message:{}:{}", t.name, t.id),
            (_, Some(p), _, _) => p.clone(),
            _ => self
                .blob
                .as_ref()
                .map_or_else(String::new, |b| format!("blob:{b}")),
        }
    }
}

/// Outcome of a live check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verification {
    VerifiedActive,
    Inactive,
    Unknown,
}

impl Verification {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifiedActive => "verified-active",
            Self::Inactive => "inactive",
            Self::Unknown => "unknown",
        }
    }
}

/// A secret found by a scan.
#[derive(Clone)]
pub struct Finding {
    pub rule_id: String,
    pub rule_name: String,
    pub description: String,
    pub severity: Severity,
    pub confidence: Confidence,
    pub tags: Vec<String>,
    pub gitlab_id: Option<String>,
    /// The secret as found (lossy UTF-8). Reports redact it unless asked not to.
    pub secret: String,
    /// The full text the rule matched around the secret.
    pub matched: String,
    /// Hex SHA-256 of the secret: dedupe and cache key that reveals nothing.
    pub secret_sha256: String,
    /// Hex SHA-256 of (rule, secret hash, path): stable across re-scans, commits and line moves.
    pub fingerprint: String,
    pub entropy: f64,
    pub location: Location,
    /// Other commits in which the same fingerprint was introduced again (e.g. reverts).
    pub other_commits: Vec<String>,
    /// How many blob occurrences were merged into this finding.
    pub occurrences: usize,
    pub metadata: BTreeMap<String, String>,
    pub verification: Option<Verification>,
    /// Why verification ended the way it did (scopes, HTTP status, reason it was not tried).
    pub verification_detail: Option<String>,
}

impl std::fmt::Debug for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Finding")
            .field("rule_id", &self.rule_id)
            .field("fingerprint", &self.fingerprint)
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

/// Hex SHA-256.
#[must_use]
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Fingerprint of a finding: rule, secret hash and the place (path, or blob id when no path is
/// known). The line is left out on purpose so that edits above the secret keep it stable.
#[must_use]
pub fn fingerprint(rule_id: &str, secret_sha256: &str, place: &str) -> String {
    let mut h = Sha256::new();
    for part in [rule_id, secret_sha256, place] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

impl Finding {
    /// Ties a blob match to a location.
    #[must_use]
    pub fn from_match(
        rule: &Rule,
        m: &BlobMatch,
        path: Option<String>,
        blob: Option<String>,
        commit: Option<CommitInfo>,
    ) -> Self {
        let secret_sha256 = sha256_hex(&m.secret);
        let place = path
            .clone()
            .or_else(|| blob.as_ref().map(|b| format!("blob:{b}")))
            .unwrap_or_default();
        Self {
            rule_id: rule.spec.id.clone(),
            rule_name: rule.spec.name.clone(),
            description: rule.spec.description.clone(),
            severity: rule.spec.severity,
            confidence: rule.spec.confidence,
            tags: rule.spec.tags.clone(),
            gitlab_id: rule.spec.gitlab_id.clone(),
            secret: String::from_utf8_lossy(&m.secret).into_owned(),
            matched: String::from_utf8_lossy(&m.matched).into_owned(),
            fingerprint: fingerprint(&rule.spec.id, &secret_sha256, &place),
            secret_sha256,
            entropy: m.entropy,
            location: Location {
                kind: LocationKind::File,
                path,
                blob,
                start_line: m.start_line,
                start_column: m.start_column,
                end_line: m.end_line,
                end_column: m.end_column,
                commit,
                tag: None,
            },
            other_commits: Vec::new(),
            occurrences: 1,
            metadata: m.metadata.clone(),
            verification: None,
            verification_detail: None,
        }
    }
}

impl Finding {
    /// A match in a commit or tag message. The fingerprint names the commit or the tag, so the
    /// same token pasted into two messages is two findings.
    #[must_use]
    pub fn in_message(rule: &Rule, m: &BlobMatch, commit: Option<CommitInfo>, tag: Option<TagInfo>) -> Self {
        let mut f = Self::from_match(rule, m, None, None, None);
        f.location.kind = if tag.is_some() {
            LocationKind::TagMessage
        } else {
            LocationKind::CommitMessage
        };
        f.location.commit = commit;
        f.location.tag = tag;
        f.fingerprint = fingerprint(&rule.spec.id, &f.secret_sha256, &f.location.place());
        f
    }
}

/// Everything a scan produced.
#[derive(Debug, Default)]
pub struct ScanOutput {
    pub findings: Vec<Finding>,
    pub stats: ScanStats,
    /// Things the user should know: skipped huge blobs, unreadable files, empty repository.
    pub notes: Vec<String>,
}

impl ScanOutput {
    /// Merges findings with the same fingerprint, keeping the earliest commit's location, and
    /// sorts by path and line so output is deterministic.
    pub fn dedupe(&mut self) {
        let mut order: Vec<Finding> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut findings = std::mem::take(&mut self.findings);
        findings.sort_by(|a, b| {
            let da = a.location.commit.as_ref().map(|c| c.date.as_str());
            let db = b.location.commit.as_ref().map(|c| c.date.as_str());
            da.cmp(&db)
                .then_with(|| a.location.start_line.cmp(&b.location.start_line))
        });
        for f in findings {
            if let Some(&i) = index.get(&f.fingerprint) {
                let kept = &mut order[i];
                kept.occurrences += f.occurrences;
                if let Some(c) = f.location.commit {
                    let first = kept.location.commit.as_ref().map(|k| k.id.as_str());
                    if first != Some(c.id.as_str()) && !kept.other_commits.contains(&c.id) {
                        kept.other_commits.push(c.id);
                    }
                }
            } else {
                index.insert(f.fingerprint.clone(), order.len());
                order.push(f);
            }
        }
        order.sort_by(|a, b| {
            (
                &a.location.path,
                a.location.start_line,
                a.location.start_column,
                &a.rule_id,
            )
                .cmp(&(
                    &b.location.path,
                    b.location.start_line,
                    b.location.start_column,
                    &b.rule_id,
                ))
        });
        self.findings = order;
    }
}
