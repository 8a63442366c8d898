//! Baselines and allowlists: suppress known findings by fingerprint, path glob or rule.
//!
//! Accepted files:
//! - TOML with `[[ignore]]` tables, each with `fingerprint`, `path` (glob), `rule`, or a
//!   combination (all given keys must match), plus an optional `reason`;
//! - a previous labgate JSON report (every fingerprint in it is suppressed);
//! - a `.gitleaksignore`-style list: one fingerprint per line, `#` comments.

use std::collections::HashSet;
use std::path::Path;

use globset::{Glob, GlobMatcher};
use serde::Deserialize;

use crate::finding::Finding;

/// Errors reading a baseline.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("baseline {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("baseline {path}: {message}")]
    Parse { path: String, message: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlBaseline {
    #[serde(default)]
    ignore: Vec<TomlEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlEntry {
    fingerprint: Option<String>,
    path: Option<String>,
    rule: Option<String>,
    #[serde(default)]
    #[allow(dead_code, reason = "documentation for humans, kept so the file validates")]
    reason: Option<String>,
}

struct Entry {
    fingerprint: Option<String>,
    path: Option<GlobMatcher>,
    rule: Option<String>,
}

/// A loaded baseline.
#[derive(Default)]
pub struct Baseline {
    fingerprints: HashSet<String>,
    entries: Vec<Entry>,
}

impl std::fmt::Debug for Baseline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Baseline")
            .field("fingerprints", &self.fingerprints.len())
            .field("entries", &self.entries.len())
            .finish()
    }
}

fn glob(pattern: &str, file: &str) -> Result<GlobMatcher, BaselineError> {
    Glob::new(pattern)
        .map(|g| g.compile_matcher())
        .map_err(|e| BaselineError::Parse {
            path: file.to_owned(),
            message: format!("bad glob {pattern:?}: {e}"),
        })
}

impl Baseline {
    /// Reads a baseline file in any of the accepted forms.
    ///
    /// # Errors
    /// If the file cannot be read or parsed.
    pub fn load(path: &Path) -> Result<Self, BaselineError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| BaselineError::Io {
            path: name.clone(),
            source,
        })?;
        Self::parse(&text, &name)
    }

    /// Parses baseline text; `name` is used in errors.
    ///
    /// # Errors
    /// If the text is none of the accepted forms.
    pub fn parse(text: &str, name: &str) -> Result<Self, BaselineError> {
        let trimmed = text.trim_start();
        if trimmed.starts_with('{') {
            let report: serde_json::Value = serde_json::from_str(text).map_err(|e| BaselineError::Parse {
                path: name.to_owned(),
                message: e.to_string(),
            })?;
            let findings =
                report
                    .get("findings")
                    .and_then(|f| f.as_array())
                    .ok_or_else(|| BaselineError::Parse {
                        path: name.to_owned(),
                        message: "JSON baseline must be a labgate JSON report with a findings array"
                            .to_owned(),
                    })?;
            let fingerprints = findings
                .iter()
                .filter_map(|f| f.get("fingerprint").and_then(|v| v.as_str()).map(str::to_owned))
                .collect();
            return Ok(Self {
                fingerprints,
                entries: Vec::new(),
            });
        }
        if trimmed.starts_with("[[") || trimmed.lines().any(|l| l.trim() == "[[ignore]]") {
            let parsed: TomlBaseline = toml::from_str(text).map_err(|e| BaselineError::Parse {
                path: name.to_owned(),
                message: e.to_string(),
            })?;
            let mut out = Self::default();
            for e in parsed.ignore {
                if e.fingerprint.is_none() && e.path.is_none() && e.rule.is_none() {
                    return Err(BaselineError::Parse {
                        path: name.to_owned(),
                        message: "an [[ignore]] entry needs fingerprint, path or rule".to_owned(),
                    });
                }
                match (&e.fingerprint, &e.path, &e.rule) {
                    (Some(fp), None, None) => {
                        out.fingerprints.insert(fp.clone());
                    }
                    _ => out.entries.push(Entry {
                        fingerprint: e.fingerprint,
                        path: e.path.as_deref().map(|p| glob(p, name)).transpose()?,
                        rule: e.rule,
                    }),
                }
            }
            return Ok(out);
        }
        let fingerprints = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
            .collect();
        Ok(Self {
            fingerprints,
            entries: Vec::new(),
        })
    }

    /// Adds a path glob that suppresses everything below it.
    ///
    /// # Errors
    /// If the glob is invalid.
    pub fn add_path_glob(&mut self, pattern: &str) -> Result<(), BaselineError> {
        self.entries.push(Entry {
            fingerprint: None,
            path: Some(glob(pattern, "built-in")?),
            rule: None,
        });
        Ok(())
    }

    /// True when `finding` is suppressed.
    #[must_use]
    pub fn suppresses(&self, finding: &Finding) -> bool {
        if self.fingerprints.contains(&finding.fingerprint) {
            return true;
        }
        self.entries.iter().any(|e| {
            e.fingerprint.as_ref().is_none_or(|fp| *fp == finding.fingerprint)
                && e.rule.as_ref().is_none_or(|r| *r == finding.rule_id)
                && e.path
                    .as_ref()
                    .is_none_or(|g| finding.location.path.as_ref().is_some_and(|p| g.is_match(p)))
        })
    }

    /// Removes suppressed findings; returns how many were removed.
    pub fn apply(&self, findings: &mut Vec<Finding>) -> usize {
        let before = findings.len();
        findings.retain(|f| !self.suppresses(f));
        before - findings.len()
    }
}

/// Path globs for test fixtures, suppressed only when the user opts in.
pub const TEST_FIXTURE_GLOBS: &[&str] = &[
    "**/testdata/**",
    "**/test-data/**",
    "**/fixtures/**",
    "**/__fixtures__/**",
    "**/test/resources/**",
    "**/spec/fixtures/**",
    "**/*.fixture.*",
];
