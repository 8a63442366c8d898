//! `labgate scan`: argument parsing and the synchronous driver behind it.

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context as _, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::baseline::{Baseline, TEST_FIXTURE_GLOBS};
use crate::engine::{DEFAULT_MAX_BLOB_SIZE, Progress, ScanOptions, Scanner};
use crate::finding::ScanOutput;
use crate::report::{Format, ReportContext, human_bytes, render};
use crate::rules::{Confidence, RuleSet};
use crate::source::dir::DirOptions;
use crate::source::git::{GitOptions, is_repository};
use crate::source::remote::{check_url, is_remote, mirror_clone};
use crate::verify::{GitLabUrl, Verifier};

/// Environment variables read, in order, for the token used to clone a remote repository.
pub const TOKEN_ENV: &[&str] = &["LABGATE_SCAN_TOKEN", "GITLAB_TOKEN"];

/// Scan a directory, a git repository's full history, or a remote repository for secrets.
#[derive(Debug, Clone, clap::Args)]
#[allow(clippy::struct_excessive_bools, reason = "independent command-line switches")]
pub struct ScanArgs {
    /// Directory, file, git repository, or repository URL (cloned as a mirror; the token comes
    /// from LABGATE_SCAN_TOKEN or GITLAB_TOKEN, never from the URL).
    #[arg(value_name = "PATH|URL", default_value = ".")]
    pub target: String,

    /// Scan every blob reachable from any ref (the default for git repositories).
    #[arg(long, conflicts_with = "no_history")]
    pub history: bool,

    /// Scan only the files in the working tree.
    #[arg(long)]
    pub no_history: bool,

    /// With history: also scan unreachable objects in the object database.
    #[arg(long, conflicts_with = "no_history")]
    pub all_objects: bool,

    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Write the report to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Extra rule file (TOML); its rules add to or replace built-in ones with the same id.
    #[arg(long, value_name = "FILE")]
    pub rules: Vec<PathBuf>,

    /// Suppress known findings: TOML allowlist, previous JSON report, or fingerprint list.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,

    /// Worker threads (default: all cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,

    /// Print secrets in full instead of redacted.
    #[arg(long)]
    pub show_secrets: bool,

    /// Exit code when findings remain after the baseline.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub exit_code: u8,

    /// Check found GitLab tokens live (read-only) against --gitlab-url.
    #[arg(long, requires = "gitlab_url")]
    pub verify: bool,

    /// The GitLab instance that found tokens may be sent to for --verify; no other is contacted.
    #[arg(long, value_name = "URL")]
    pub gitlab_url: Option<String>,

    /// Lowest rule confidence to report (low enables generic password and JWT rules).
    #[arg(long, value_enum, default_value_t = Confidence::Medium)]
    pub min_confidence: Confidence,

    /// Custom personal-access-token prefix configured on your instance (repeatable).
    #[arg(long, value_name = "PREFIX")]
    pub pat_prefix: Vec<String>,

    /// Skip files under test-fixture paths (testdata/, fixtures/, __fixtures__/, …).
    #[arg(long)]
    pub ignore_test_fixtures: bool,

    /// Skip blobs and files larger than this many bytes (listed in the report notes).
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_BLOB_SIZE)]
    pub max_blob_size: u64,

    /// Also decode base64 runs (e.g. Kubernetes secrets) and scan the decoded text.
    #[arg(long)]
    pub decode: bool,

    /// Follow symbolic links when scanning directories (loops are detected).
    #[arg(long)]
    pub follow_symlinks: bool,

    /// Never draw a progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

struct Bar {
    bar: ProgressBar,
    bytes: AtomicU64,
    blobs: AtomicU64,
}

impl Progress for Bar {
    fn set_total(&self, blobs: u64) {
        self.bar.set_length(blobs);
    }

    fn blob_done(&self, bytes: u64) {
        let total = self.bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        let n = self.blobs.fetch_add(1, Ordering::Relaxed) + 1;
        self.bar.set_position(n);
        if n % 128 == 0 {
            let secs = self.bar.elapsed().as_secs_f64().max(0.001);
            #[allow(clippy::cast_precision_loss, reason = "display only")]
            let rate = total as f64 / secs / 1_048_576.0;
            self.bar
                .set_message(format!("{} at {rate:.1} MiB/s", human_bytes(total)));
        }
    }
}

fn progress_bar(args: &ScanArgs) -> Option<Bar> {
    if args.no_progress || std::env::var_os("CI").is_some() || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    let style =
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} blobs {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    Some(Bar {
        bar,
        bytes: AtomicU64::new(0),
        blobs: AtomicU64::new(0),
    })
}

/// Loads built-in rules plus the user's, as the arguments ask.
///
/// # Errors
/// If a rule file cannot be read or compiled, or a PAT prefix is invalid.
pub fn load_rules(args: &ScanArgs) -> anyhow::Result<RuleSet> {
    let mut rules = RuleSet::builtin().context("built-in rules")?;
    for file in &args.rules {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading rule file {}", file.display()))?;
        rules.load_str(&file.display().to_string(), &text)?;
    }
    for prefix in &args.pat_prefix {
        rules.add_custom_pat_prefix(prefix)?;
    }
    rules.retain_confidence(args.min_confidence);
    if rules.is_empty() {
        bail!("no rules left to run");
    }
    Ok(rules)
}

fn token_from_env() -> Option<String> {
    TOKEN_ENV
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
}

fn scan_target(
    scanner: &Scanner,
    args: &ScanArgs,
    progress: &dyn Progress,
) -> anyhow::Result<(ScanOutput, String)> {
    let git_opts = GitOptions {
        all_objects: args.all_objects,
    };
    if is_remote(&args.target) {
        if args.no_history {
            bail!("--no-history needs a local path; a URL is always scanned with its full history");
        }
        let shown = check_url(&args.target)?;
        let dir = tempfile::Builder::new()
            .prefix("labgate-scan-")
            .tempdir()
            .context("creating a clone directory")?;
        let dest = dir.path().join("repo.git");
        tracing::info!(url = %shown, "mirror-cloning");
        mirror_clone(&args.target, &dest, token_from_env().as_deref())?;
        let out = scanner.scan_repository(&dest, &git_opts, progress)?;
        return Ok((out, shown));
    }
    let path = Path::new(&args.target);
    if !path.exists() {
        bail!("{} does not exist", path.display());
    }
    let shown = path.display().to_string();
    let repo = path.is_dir() && is_repository(path);
    if repo && !args.no_history {
        return Ok((scanner.scan_repository(path, &git_opts, progress)?, shown));
    }
    if args.history || args.all_objects {
        bail!(
            "{} is not a git repository; --history and --all-objects need one",
            path.display()
        );
    }
    let dir_opts = DirOptions {
        follow_symlinks: args.follow_symlinks,
        include_git_dir: false,
    };
    Ok((scanner.scan_directory(path, &dir_opts, progress)?, shown))
}

/// Runs `labgate scan`.
///
/// # Errors
/// On bad arguments, unreadable or corrupt input, or when the report cannot be written; findings
/// are not errors but set the exit code.
pub fn run(args: ScanArgs) -> anyhow::Result<ExitCode> {
    let threads = args.threads.unwrap_or(0);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("labgate-scan-{i}"))
        .build()
        .context("starting worker threads")?;
    let verifier = match (&args.verify, &args.gitlab_url) {
        (true, Some(url)) => Some(Verifier::new(GitLabUrl::parse(url)?)?),
        (true, None) => bail!("--verify needs --gitlab-url"),
        _ => None,
    };
    let mut baseline = match &args.baseline {
        Some(p) => Baseline::load(p)?,
        None => Baseline::default(),
    };
    if args.ignore_test_fixtures {
        for g in TEST_FIXTURE_GLOBS {
            baseline.add_path_glob(g)?;
        }
    }
    let rules = load_rules(&args)?;
    let scanner = Scanner::with_options(
        rules,
        ScanOptions {
            max_blob_size: args.max_blob_size,
            decode_base64: args.decode,
        },
    )?;

    let started = time::OffsetDateTime::now_utc();
    let bar = progress_bar(&args);
    let progress: &dyn Progress = bar
        .as_ref()
        .map_or(&crate::engine::NoProgress, |b| b as &dyn Progress);
    let (mut out, target) = pool.install(|| scan_target(&scanner, &args, progress))?;
    if let Some(b) = &bar {
        b.bar.finish_and_clear();
    }
    let suppressed = baseline.apply(&mut out.findings);
    if let Some(v) = &verifier {
        v.verify_findings(scanner.rules(), &mut out.findings);
    }
    let finished = time::OffsetDateTime::now_utc();
    let ctx = ReportContext {
        target,
        started,
        finished,
        show_secrets: args.show_secrets,
        suppressed,
    };
    let rendered = render(args.format, &out, &ctx);
    match &args.output {
        Some(file) => {
            std::fs::write(file, rendered).with_context(|| format!("writing {}", file.display()))?
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(rendered.as_bytes())
                .context("writing the report")?;
            stdout.flush().context("writing the report")?;
        }
    }
    tracing::info!(
        findings = out.findings.len(),
        suppressed,
        blobs = out.stats.blobs_scanned,
        "scan finished"
    );
    Ok(if out.findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(args.exit_code)
    })
}
