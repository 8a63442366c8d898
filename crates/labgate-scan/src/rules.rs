//! Detection rules: data files in `rules/`, compiled once into byte regexes.

use std::collections::HashSet;
use std::fmt;

use regex_automata::meta::Regex;
use regex_automata::util::syntax;
use serde::{Deserialize, Serialize};

/// The rule files shipped with the crate, in priority order: when two rules report the same
/// span, the one listed first wins.
const BUILTIN: &[(&str, &str)] = &[
    ("gitlab.toml", include_str!("../rules/gitlab.toml")),
    ("cloud.toml", include_str!("../rules/cloud.toml")),
    ("vcs.toml", include_str!("../rules/vcs.toml")),
    ("saas.toml", include_str!("../rules/saas.toml")),
    ("keys.toml", include_str!("../rules/keys.toml")),
    ("generic.toml", include_str!("../rules/generic.toml")),
];

/// How sure a match of this rule is to be a real secret.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    Low,
    Medium,
    High,
}

/// Impact if the secret is real; the names follow GitLab's vulnerability severities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// GitLab's capitalised form.
    #[must_use]
    pub fn gitlab(self) -> &'static str {
        match self {
            Self::Info => "Info",
            Self::Low => "Low",
            Self::Medium => "Medium",
            Self::High => "High",
            Self::Critical => "Critical",
        }
    }
}

/// Structural checks a rule can ask for after its pattern matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Validator {
    /// GitLab routable token: CRC-32 and payload (the prefix is the rule's first keyword).
    GitlabRoutable,
    /// JWT header decodes to JSON with `alg`.
    Jwt,
    /// Docker `auth` decodes to `user:password`.
    DockerAuth,
    /// PEM body is real base64 of plausible length.
    PemBody,
    /// Password part of a URL is not a stock placeholder.
    DbPassword,
    /// A `.netrc` password that is neither a stock placeholder nor a format-string field.
    NetrcPassword,
}

/// How a live check may confirm the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VerifyKind {
    /// `GET /api/v4/personal_access_tokens/self`, fallback `GET /api/v4/user`.
    GitlabToken,
}

/// A rule as written in a rule file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub id: String,
    pub name: String,
    pub description: String,
    /// Byte regex; group `secret` (or else group 1, or else the whole match) is the secret.
    pub pattern: String,
    /// Literals (matched ASCII case-insensitively) of which one must occur for the pattern to run.
    pub keywords: Vec<String>,
    /// Minimum Shannon entropy (bits per byte) of the secret without its fixed prefix.
    #[serde(default)]
    pub entropy: Option<f64>,
    #[serde(default)]
    pub validator: Option<Validator>,
    pub confidence: Confidence,
    pub severity: Severity,
    #[serde(default)]
    pub tags: Vec<String>,
    /// GitLab secret-detection rule id, so findings line up with GitLab's own.
    #[serde(default)]
    pub gitlab_id: Option<String>,
    #[serde(default)]
    pub verify: Option<VerifyKind>,
    /// Bytes before and after each keyword hit to search, for hot rules whose keyword is
    /// common (e.g. `http`); without it the pattern runs over the whole blob.
    #[serde(default)]
    pub window: Option<[usize; 2]>,
    /// Skips the shared placeholder filters, for rules whose secret is a fixed-shape identifier.
    #[serde(default)]
    pub skip_placeholder_filter: bool,
    #[serde(default)]
    pub examples: Vec<String>,
    #[serde(default)]
    pub negative_examples: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    /// Rule ids (built-in or earlier) to switch off.
    #[serde(default)]
    disable: Vec<String>,
    #[serde(default, rename = "rule")]
    rules: Vec<RuleSpec>,
}

/// A compiled rule.
pub struct Rule {
    pub spec: RuleSpec,
    pub(crate) regex: Regex,
    pub(crate) secret_group: usize,
}

impl fmt::Debug for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rule")
            .field("id", &self.spec.id)
            .finish_non_exhaustive()
    }
}

impl Rule {
    /// Compiles one rule.
    ///
    /// # Errors
    /// Returns an error naming the rule if its pattern does not compile or it has no keywords.
    pub fn compile(spec: RuleSpec) -> Result<Self, RuleError> {
        if spec.keywords.iter().all(String::is_empty) {
            return Err(RuleError::NoKeywords(spec.id));
        }
        // Haystacks are arbitrary bytes, and the rules are ASCII: Unicode classes would only
        // grow the automata.
        let regex = Regex::builder()
            .syntax(syntax::Config::new().unicode(false).utf8(false))
            .configure(Regex::config().utf8_empty(false))
            .build(&spec.pattern)
            .map_err(|e| RuleError::Pattern {
                id: spec.id.clone(),
                message: e.to_string(),
            })?;
        let info = regex.group_info();
        let secret_group = info
            .to_index(regex_automata::PatternID::ZERO, "secret")
            .unwrap_or(usize::from(info.group_len(regex_automata::PatternID::ZERO) > 1));
        Ok(Self {
            spec,
            regex,
            secret_group,
        })
    }

    /// The fixed prefix of the token (the first keyword if the secret starts with it), which
    /// entropy and placeholder checks leave out.
    pub(crate) fn body<'a>(&self, secret: &'a [u8]) -> &'a [u8] {
        for kw in &self.spec.keywords {
            if secret.len() > kw.len() && secret[..kw.len()].eq_ignore_ascii_case(kw.as_bytes()) {
                return &secret[kw.len()..];
            }
        }
        secret
    }
}

/// Errors loading or compiling rules.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("rule file {file}: {message}")]
    Parse { file: String, message: String },
    #[error("rule {id}: pattern does not compile: {message}")]
    Pattern { id: String, message: String },
    #[error("rule {0} has no keywords")]
    NoKeywords(String),
    #[error("rule id {0} is defined twice")]
    Duplicate(String),
    #[error("custom token prefix {0:?} must be 2 to 32 characters of [A-Za-z0-9_-]")]
    Prefix(String),
}

/// An ordered set of compiled rules.
#[derive(Debug, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
}

impl RuleSet {
    /// The rules shipped with labgate.
    ///
    /// # Errors
    /// Only if a shipped rule file is broken, which the test suite rules out.
    pub fn builtin() -> Result<Self, RuleError> {
        let mut set = Self::default();
        for (name, text) in BUILTIN {
            set.load_str(name, text)?;
        }
        Ok(set)
    }

    /// Adds the rules of a rule file. A rule with the id of an existing one replaces it, and
    /// ids listed in `disable` are removed.
    ///
    /// # Errors
    /// On a syntax error, an invalid pattern, or a duplicate id within the file.
    pub fn load_str(&mut self, file: &str, text: &str) -> Result<(), RuleError> {
        let parsed: RuleFile = toml::from_str(text).map_err(|e| RuleError::Parse {
            file: file.to_owned(),
            message: e.to_string(),
        })?;
        let disabled: HashSet<&str> = parsed.disable.iter().map(String::as_str).collect();
        self.rules.retain(|r| !disabled.contains(r.spec.id.as_str()));
        let mut seen = HashSet::new();
        for spec in parsed.rules {
            if !seen.insert(spec.id.clone()) {
                return Err(RuleError::Duplicate(spec.id));
            }
            let rule = Rule::compile(spec)?;
            if let Some(existing) = self.rules.iter_mut().find(|r| r.spec.id == rule.spec.id) {
                *existing = rule;
            } else {
                self.rules.push(rule);
            }
        }
        Ok(())
    }

    /// Adds the personal-access-token rules for an instance that configured its own PAT prefix
    /// (`personal_access_token_prefix`), which GitLab's own push protection ignores.
    ///
    /// # Errors
    /// If the prefix is not a plausible token prefix.
    pub fn add_custom_pat_prefix(&mut self, prefix: &str) -> Result<(), RuleError> {
        if !(2..=32).contains(&prefix.len())
            || !prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(RuleError::Prefix(prefix.to_owned()));
        }
        let escaped = regex_syntax_escape(prefix);
        let templates: Vec<RuleSpec> = self
            .rules
            .iter()
            .filter(|r| r.spec.id == "gitlab-pat-routable" || r.spec.id == "gitlab-pat")
            .map(|r| r.spec.clone())
            .collect();
        for mut spec in templates {
            spec.id = format!("{}-custom-{prefix}", spec.id);
            spec.pattern = spec.pattern.replace("glpat-", &escaped);
            spec.keywords = vec![prefix.to_owned()];
            spec.examples.clear();
            spec.negative_examples.clear();
            let rule = Rule::compile(spec)?;
            self.rules.retain(|r| r.spec.id != rule.spec.id);
            self.rules.push(rule);
        }
        Ok(())
    }

    /// Keeps only rules at or above `min`.
    pub fn retain_confidence(&mut self, min: Confidence) {
        self.rules.retain(|r| r.spec.confidence >= min);
    }

    #[must_use]
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    #[must_use]
    pub fn get(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.spec.id == id)
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

fn regex_syntax_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if c == '-' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
