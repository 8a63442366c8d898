//! Remote repositories: mirror-cloned (so `refs/merge-requests/*` and every other ref come along)
//! into a temporary directory with the system `git`.
//!
//! The token is handed to git as an `http.extraHeader` through `GIT_CONFIG_COUNT`/`KEY`/`VALUE`
//! environment variables: it never appears in the URL, in argv (visible in `ps`), or in logs.

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::engine::ScanError;

/// True when `target` names a remote repository rather than a local path.
#[must_use]
pub fn is_remote(target: &str) -> bool {
    ["https://", "http://", "ssh://", "git://", "file://"]
        .iter()
        .any(|s| target.starts_with(s))
        || (target.contains('@') && target.contains(':') && !Path::new(target).exists())
}

/// Rejects URLs that carry credentials, and returns a form safe to print.
///
/// # Errors
/// If the URL embeds a user name or password.
pub fn check_url(url: &str) -> Result<String, ScanError> {
    if let Some(rest) = url.split_once("://").map(|(_, r)| r) {
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.contains('@') {
            return Err(ScanError::Clone(
                "the repository URL contains credentials; pass the token through the environment \
                 (LABGATE_SCAN_TOKEN) instead"
                    .to_owned(),
            ));
        }
    }
    Ok(url.to_owned())
}

/// Builds the `git clone --mirror` command. With a token, adds an HTTP Basic `Authorization`
/// header via environment configuration, which GitLab accepts for any user name with a PAT.
#[must_use]
pub fn clone_command(url: &str, dest: &Path, token: Option<&str>) -> Command {
    let mut cmd = Command::new("git");
    cmd.arg("clone")
        .arg("--mirror")
        .arg("--quiet")
        .arg("--")
        .arg(url)
        .arg(dest);
    cmd.env("GIT_TERMINAL_PROMPT", "0");
    // Credential helpers could prompt or leak; git must use only what we hand it.
    cmd.env("GCM_INTERACTIVE", "never");
    if let Some(token) = token {
        let header = format!(
            "Authorization: Basic {}",
            STANDARD.encode(format!("oauth2:{token}"))
        );
        let base: usize = std::env::var("GIT_CONFIG_COUNT")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        cmd.env("GIT_CONFIG_COUNT", (base + 1).to_string());
        cmd.env(format!("GIT_CONFIG_KEY_{base}"), "http.extraHeader");
        cmd.env(format!("GIT_CONFIG_VALUE_{base}"), OsString::from(header));
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// Mirror-clones `url` into `dest`.
///
/// # Errors
/// If git cannot be started or the clone fails; the error carries git's message with any
/// occurrence of the token removed.
pub fn mirror_clone(url: &str, dest: &Path, token: Option<&str>) -> Result<(), ScanError> {
    let safe_url = check_url(url)?;
    let output = clone_command(url, dest, token)
        .output()
        .map_err(|e| ScanError::Clone(format!("cannot run git: {e}")))?;
    if output.status.success() {
        return Ok(());
    }
    let mut message = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    if let Some(t) = token.filter(|t| !t.is_empty()) {
        message = message.replace(t, "[REDACTED]");
    }
    Err(ScanError::Clone(format!(
        "git clone --mirror {safe_url} failed: {message}"
    )))
}
