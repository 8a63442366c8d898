//! labgate's secret scanner: rules as data, a keyword-prefiltered regex engine, full git history
//! read with gix, offline token validation, reports (text, JSON, SARIF, GitLab) and optional
//! read-only verification of GitLab tokens.
//!
//! ```no_run
//! use labgate_scan::{NoProgress, RuleSet, Scanner};
//! let scanner = Scanner::new(RuleSet::builtin()?)?;
//! let out = scanner.scan_repository(std::path::Path::new("."), &Default::default(), &NoProgress)?;
//! for f in &out.findings {
//!     println!("{} {}", f.rule_id, f.fingerprint);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod baseline;
pub mod cli;
pub mod encoded;
pub mod engine;
pub mod finding;
pub mod report;
pub mod rules;
pub mod source;
pub mod utf16;
pub mod validate;
pub mod verify;

pub use engine::{BlobMatch, BlobScan, NoProgress, Progress, ScanError, ScanOptions, ScanStats, Scanner};
pub use finding::{CommitInfo, Finding, Location, LocationKind, ScanOutput, TagInfo, Verification};
pub use rules::{Confidence, Rule, RuleSet, Severity};
pub use source::dir::DirOptions;
pub use source::git::{GitOptions, is_ancestor, read_refs};
