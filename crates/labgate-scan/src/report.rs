//! Report formats: terminal text, JSON, SARIF 2.1.0 and GitLab's secret-detection report.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{Value, json};

use crate::engine::ScanStats;
use crate::finding::{Finding, ScanOutput};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Sarif,
    Gitlab,
}

const TOOL: &str = "labgate";
const VERSION: &str = env!("CARGO_PKG_VERSION");
const INFO_URI: &str = "https://gitlab.com/labgate/labgate";

/// Everything a report needs besides the findings.
#[derive(Debug, Clone)]
pub struct ReportContext {
    /// What was scanned, as the user named it (URLs never carry credentials here).
    pub target: String,
    /// RFC 3339 start and end times.
    pub started: time::OffsetDateTime,
    pub finished: time::OffsetDateTime,
    pub show_secrets: bool,
    /// Findings suppressed by the baseline.
    pub suppressed: usize,
}

/// The redacted form of a secret: first and last four characters for long secrets, nothing for
/// short ones, so a reader can recognise a token without being able to use it.
#[must_use]
pub fn redact(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() >= 16 {
        let head: String = chars[..4].iter().collect();
        let tail: String = chars[chars.len() - 4..].iter().collect();
        format!("{head}…{tail}")
    } else {
        "REDACTED".to_owned()
    }
}

fn shown_secret(f: &Finding, ctx: &ReportContext) -> String {
    if ctx.show_secrets {
        f.secret.clone()
    } else {
        redact(&f.secret)
    }
}

fn shown_match(f: &Finding, ctx: &ReportContext) -> String {
    if ctx.show_secrets || f.secret.is_empty() {
        f.matched.clone()
    } else {
        f.matched.replace(&f.secret, &redact(&f.secret))
    }
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Renders a report in `format`.
#[must_use]
pub fn render(format: Format, out: &ScanOutput, ctx: &ReportContext) -> String {
    match format {
        Format::Text => text(out, ctx),
        Format::Json => serde_json::to_string_pretty(&json_report(out, ctx)).unwrap_or_default() + "\n",
        Format::Sarif => serde_json::to_string_pretty(&sarif(out, ctx)).unwrap_or_default() + "\n",
        Format::Gitlab => serde_json::to_string_pretty(&gitlab(out, ctx)).unwrap_or_default() + "\n",
    }
}

fn place(f: &Finding) -> String {
    use crate::finding::LocationKind;
    let loc = &f.location;
    let path = match (loc.kind, &loc.commit, &loc.tag) {
        (LocationKind::CommitMessage, Some(c), _) => format!("<message of commit {}>", c.id),
        (LocationKind::TagMessage, _, Some(t)) => format!("<message of tag {} ({})>", t.name, t.id),
        _ => loc.path.clone().unwrap_or_else(|| {
            loc.blob
                .as_ref()
                .map_or_else(|| "<unknown>".to_owned(), |b| format!("<unreachable blob {b}>"))
        }),
    };
    format!("{path}:{}:{}", loc.start_line, loc.start_column)
}

fn text(out: &ScanOutput, ctx: &ReportContext) -> String {
    let mut s = String::new();
    for f in &out.findings {
        let _ = writeln!(s, "{} [{}] {}", place(f), f.rule_id, f.rule_name);
        let _ = writeln!(s, "    secret:      {}", shown_secret(f, ctx));
        let matched = shown_match(f, ctx);
        if matched != shown_secret(f, ctx) {
            let one_line: String = matched
                .chars()
                .take(200)
                .map(|c| if c == '\n' { '⏎' } else { c })
                .collect();
            let _ = writeln!(s, "    match:       {one_line}");
        }
        if let Some(c) = &f.location.commit {
            let _ = writeln!(
                s,
                "    commit:      {} {} <{}> {}",
                c.id, c.author, c.email, c.date
            );
            if !c.summary.is_empty() {
                let _ = writeln!(s, "    message:     {}", c.summary);
            }
        }
        if !f.other_commits.is_empty() {
            let _ = writeln!(s, "    also in:     {}", f.other_commits.join(", "));
        }
        for (k, v) in &f.metadata {
            let _ = writeln!(s, "    {k}: {v}");
        }
        if let Some(v) = f.verification {
            let detail = f
                .verification_detail
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default();
            let _ = writeln!(s, "    verified:    {}{detail}", v.as_str());
        }
        let _ = writeln!(
            s,
            "    severity:    {:?}, confidence {:?}",
            f.severity, f.confidence
        );
        let _ = writeln!(s, "    fingerprint: {}", f.fingerprint);
        s.push('\n');
    }
    for note in &out.notes {
        let _ = writeln!(s, "note: {note}");
    }
    let st = &out.stats;
    let secs = (ctx.finished - ctx.started).as_seconds_f64();
    let _ = writeln!(
        s,
        "{} finding(s){} in {}: {} blob(s), {} scanned in {secs:.2}s; {} binary and {} oversized skipped{}",
        out.findings.len(),
        if ctx.suppressed > 0 {
            format!(" ({} suppressed by the baseline)", ctx.suppressed)
        } else {
            String::new()
        },
        ctx.target,
        st.blobs_scanned,
        human_bytes(st.bytes_scanned),
        st.binary_skipped,
        st.too_large_skipped,
        if st.commits > 0 {
            format!(", {} commit(s) in {} ref(s)", st.commits, st.refs)
        } else {
            String::new()
        },
    );
    s
}

/// `1.5 MiB` style sizes.
#[must_use]
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    #[allow(clippy::cast_precision_loss, reason = "display only")]
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    rule_id: &'a str,
    rule_name: &'a str,
    description: &'a str,
    severity: crate::rules::Severity,
    confidence: crate::rules::Confidence,
    tags: &'a [String],
    secret: String,
    #[serde(rename = "match")]
    matched: String,
    secret_sha256: &'a str,
    fingerprint: &'a str,
    entropy: f64,
    location: &'a crate::finding::Location,
    other_commits: &'a [String],
    occurrences: usize,
    metadata: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    verification: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    verification_detail: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    tool: &'static str,
    version: &'static str,
    target: &'a str,
    started: String,
    finished: String,
    secrets_redacted: bool,
    findings: Vec<JsonFinding<'a>>,
    suppressed: usize,
    stats: &'a ScanStats,
    notes: &'a [String],
}

fn json_report<'a>(out: &'a ScanOutput, ctx: &'a ReportContext) -> JsonReport<'a> {
    JsonReport {
        tool: TOOL,
        version: VERSION,
        target: &ctx.target,
        started: rfc3339(ctx.started),
        finished: rfc3339(ctx.finished),
        secrets_redacted: !ctx.show_secrets,
        findings: out
            .findings
            .iter()
            .map(|f| JsonFinding {
                rule_id: &f.rule_id,
                rule_name: &f.rule_name,
                description: &f.description,
                severity: f.severity,
                confidence: f.confidence,
                tags: &f.tags,
                secret: shown_secret(f, ctx),
                matched: shown_match(f, ctx),
                secret_sha256: &f.secret_sha256,
                fingerprint: &f.fingerprint,
                entropy: (f.entropy * 1000.0).round() / 1000.0,
                location: &f.location,
                other_commits: &f.other_commits,
                occurrences: f.occurrences,
                metadata: &f.metadata,
                verification: f.verification.map(crate::finding::Verification::as_str),
                verification_detail: f.verification_detail.as_deref(),
            })
            .collect(),
        suppressed: ctx.suppressed,
        stats: &out.stats,
        notes: &out.notes,
    }
}

fn sarif_level(f: &Finding) -> &'static str {
    use crate::rules::Severity;
    match f.severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

fn sarif(out: &ScanOutput, ctx: &ReportContext) -> Value {
    let mut rules: BTreeMap<&str, Value> = BTreeMap::new();
    for f in &out.findings {
        rules.entry(f.rule_id.as_str()).or_insert_with(|| {
            json!({
                "id": f.rule_id,
                "name": f.rule_name,
                "shortDescription": {"text": f.rule_name},
                "fullDescription": {"text": f.description},
                "properties": {"tags": f.tags, "confidence": f.confidence},
            })
        });
    }
    let results: Vec<Value> = out
        .findings
        .iter()
        .map(|f| {
            let mut message = format!("{}: {}", f.rule_name, shown_secret(f, ctx));
            if f.metadata.get("checksum").is_some_and(|c| c == "valid") {
                message.push_str(" (checksum valid)");
            }
            let uri = f.location.place();
            let mut partial = serde_json::Map::new();
            partial.insert("secretHash".into(), json!(format!("sha256:{}", f.secret_sha256)));
            partial.insert("labgateFingerprint/v1".into(), json!(f.fingerprint));
            let mut props = serde_json::Map::new();
            if let Some(c) = &f.location.commit {
                partial.insert("commitSha".into(), json!(c.id));
                props.insert("commit".into(), json!(c.id));
                props.insert("author".into(), json!(c.author));
                props.insert("email".into(), json!(c.email));
                props.insert("date".into(), json!(c.date));
                props.insert("commitMessage".into(), json!(c.summary));
            }
            if let Some(b) = &f.location.blob {
                props.insert("blob".into(), json!(b));
            }
            if let Some(v) = f.verification {
                props.insert("validity".into(), json!(v.as_str()));
            }
            for (k, v) in &f.metadata {
                props.insert(k.clone(), json!(v));
            }
            json!({
                "ruleId": f.rule_id,
                "level": sarif_level(f),
                "message": {"text": message},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": uri},
                    "region": {
                        "startLine": f.location.start_line,
                        "startColumn": f.location.start_column,
                        "endLine": f.location.end_line,
                        "endColumn": f.location.end_column + 1,
                        "snippet": {"text": shown_match(f, ctx)},
                    },
                }}],
                "partialFingerprints": partial,
                "properties": props,
            })
        })
        .collect();
    json!({
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{
            "tool": {"driver": {
                "name": TOOL,
                "version": VERSION,
                "informationUri": INFO_URI,
                "rules": rules.into_values().collect::<Vec<_>>(),
            }},
            "results": results,
        }],
    })
}

/// GitLab wants times without a zone suffix.
fn gitlab_time(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A deterministic UUID-shaped id from the fingerprint, so re-running a pipeline does not
/// create new vulnerabilities in GitLab for the same finding.
fn uuid_from(fingerprint: &str) -> String {
    let h = crate::finding::sha256_hex(fingerprint.as_bytes());
    format!(
        "{}-{}-5{}-8{}-{}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

fn gitlab(out: &ScanOutput, ctx: &ReportContext) -> Value {
    let vulns: Vec<Value> = out
        .findings
        .iter()
        .map(|f| {
            let rule_value = f.gitlab_id.clone().unwrap_or_else(|| f.rule_id.clone());
            let mut location = json!({
                "file": f.location.place(),
                "start_line": f.location.start_line,
                "end_line": f.location.end_line,
            });
            let commit = f.location.commit.as_ref().map_or_else(
                || json!({"sha": "0000000"}),
                |c| json!({"sha": c.id, "author": c.author, "date": c.date, "message": c.summary}),
            );
            location["commit"] = commit;
            let mut v = json!({
                "id": uuid_from(&f.fingerprint),
                "name": f.rule_name,
                "description": f.description,
                "severity": f.severity.gitlab(),
                "location": location,
                "identifiers": [{
                    "type": "gitleaks_rule_id",
                    "name": format!("Gitleaks rule ID {rule_value}"),
                    "value": rule_value,
                }],
                "raw_source_code_extract": shown_match(f, ctx),
            });
            if let Some(status) = f.verification {
                v["details"] =
                    json!({"validity": {"type": "text", "name": "Validity", "value": status.as_str()}});
            }
            v
        })
        .collect();
    let analyzer =
        json!({"id": TOOL, "name": TOOL, "version": VERSION, "vendor": {"name": TOOL}, "url": INFO_URI});
    json!({
        "version": "15.0.0",
        "vulnerabilities": vulns,
        "scan": {
            "type": "secret_detection",
            "status": "success",
            "start_time": gitlab_time(ctx.started),
            "end_time": gitlab_time(ctx.finished),
            "analyzer": analyzer,
            "scanner": analyzer,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_keeps_ends_only() {
        assert_eq!(redact("glpat-abcdefghijklmnopqrst"), "glpa…qrst");
        assert_eq!(redact("short"), "REDACTED");
    }

    #[test]
    fn uuid_shape() {
        let u = uuid_from("abc");
        assert_eq!(u.len(), 36);
        assert_eq!(u.matches('-').count(), 4);
    }
}
