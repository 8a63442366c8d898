//! Mirrors of GitLab repositories on local disk, kept between scans.
//!
//! A repository is mirror-cloned once (`git clone --mirror`: every branch, tag and
//! `refs/merge-requests/*`) and fetched incrementally afterwards. The token reaches git only
//! through the environment of the git process, read back by a tiny `GIT_ASKPASS` script: never in
//! the URL, the process arguments, git's config or its error messages. The cache has a size cap;
//! the repositories used least recently go first.
//!
//! git reaches the instance the way labgate's HTTP client does ([`GitTransport`]): it trusts the
//! instance's own CA bundle, goes through the instance's proxy, and connects only to an address
//! the SSRF guard checked. git would resolve the host itself, and a name that rebinds between the
//! check and git's connection would escape the check, so git is pinned to the checked address
//! (`http.curloptResolve`) and follows no redirect (which would lead to a host nobody checked).

use std::collections::HashMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use labgate_gitlab::NetworkPolicy;
use labgate_gitlab::net::ResolveError;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// The default size cap of the cache (`LABGATE_SCAN_CACHE_MAX_MB`).
pub const DEFAULT_CACHE_MAX_BYTES: u64 = 10 * 1024 * 1024 * 1024;

const ASKPASS_SCRIPT: &str = "#!/bin/sh\n\
case \"$1\" in\n\
  Username*) printf '%s\\n' \"$LABGATE_GIT_USERNAME\" ;;\n\
  *) printf '%s\\n' \"$LABGATE_GIT_PASSWORD\" ;;\n\
esac\n";

/// Marks when a mirror was last used, for eviction.
const LAST_USE: &str = "labgate-last-use";

/// Why a repository could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("the scan cache directory {path} cannot be used: {source}")]
    Cache { path: String, source: std::io::Error },
    #[error("git could not be started: {0}")]
    Spawn(std::io::Error),
    /// git's own message (it never contains the token: the URL carries none).
    #[error("git {action} failed: {message}")]
    Git { action: &'static str, message: String },
    /// The SSRF guard refused the instance's address (or its name did not resolve).
    #[error("the repository was not fetched: {0}")]
    Refused(ResolveError),
    /// The repository URL cannot be fetched at all (no host, an unknown scheme).
    #[error("the repository URL {0} cannot be fetched")]
    Url(String),
}

/// What git needs to reach one repository.
pub struct Remote<'a> {
    /// `https://host[/prefix]/group/project.git`.
    pub url: String,
    pub username: &'a str,
    pub token: &'a SecretString,
    /// How git connects to the instance.
    pub transport: &'a GitTransport,
}

/// How git connects to one instance, prepared before each fetch: the CA bundle file lives as
/// long as this value.
#[derive(Default)]
pub struct GitTransport {
    /// The instance's own CA bundle (PEM), written to a file only this process's user can read.
    ca_file: Option<tempfile::NamedTempFile>,
    /// The instance's proxy. It may carry credentials, so it reaches git through the
    /// environment, never the process arguments.
    proxy: Option<SecretString>,
    /// `host:port:address` for `http.curloptResolve`: the one address git may connect to.
    pinned: Option<String>,
    /// Operator-only: certificate checks off for this instance, as for the HTTP client.
    accept_invalid_certs: bool,
}

impl std::fmt::Debug for GitTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitTransport")
            .field(
                "ca_file",
                &self.ca_file.as_ref().map(tempfile::NamedTempFile::path),
            )
            .field("proxy", &self.proxy.as_ref().map(|_| "[REDACTED]"))
            .field("pinned", &self.pinned)
            .field("accept_invalid_certs", &self.accept_invalid_certs)
            .finish()
    }
}

impl GitTransport {
    /// Checks where `url` leads against `policy` and prepares git to go there only: the checked
    /// address pinned (unless a proxy, which resolves names itself, stands between), the
    /// instance's CA bundle in a 0600 file under `scratch`, the proxy for the environment.
    pub async fn prepare(
        url: &str,
        settings: &labgate_gitlab::InstanceSettings,
        policy: &NetworkPolicy,
        scratch: &Path,
    ) -> Result<GitTransport, FetchError> {
        let parsed = url::Url::parse(url).map_err(|_| FetchError::Url(url.to_owned()))?;
        labgate_gitlab::check_url(&parsed, policy)
            .map_err(|blocked| FetchError::Refused(ResolveError::Blocked(blocked)))?;
        let host = match parsed.host() {
            Some(url::Host::Domain(name)) => name.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => format!("[{ip}]"),
            None => return Err(FetchError::Url(url.to_owned())),
        };
        let port = parsed
            .port_or_known_default()
            .ok_or_else(|| FetchError::Url(url.to_owned()))?;
        let addresses = labgate_gitlab::net::resolve_checked(&host, port, policy)
            .await
            .map_err(FetchError::Refused)?;
        let pinned = match (&settings.proxy, addresses.first()) {
            (None, Some(address)) => Some(pin(&host, port, *address)),
            _ => None,
        };
        let ca_file = match settings.ca_bundle_pem.as_deref() {
            Some(pem) if !pem.trim().is_empty() => Some(write_ca_file(scratch, pem)?),
            _ => None,
        };
        Ok(GitTransport {
            ca_file,
            proxy: settings.proxy.as_deref().map(SecretString::from),
            pinned,
            accept_invalid_certs: settings.danger_accept_invalid_certs,
        })
    }

    /// The `-c` settings for git's command line (nothing secret), and the settings git reads from
    /// its environment (`GIT_CONFIG_COUNT`, …).
    fn config(&self) -> (Vec<String>, Vec<(String, SecretString)>) {
        let mut args = vec!["http.followRedirects=false".to_owned()];
        if let Some(file) = &self.ca_file {
            args.push(format!("http.sslCAInfo={}", file.path().display()));
        }
        if let Some(pinned) = &self.pinned {
            args.push(format!("http.curloptResolve={pinned}"));
        }
        if self.accept_invalid_certs {
            args.push("http.sslVerify=false".to_owned());
        }
        let mut environment = Vec::new();
        if let Some(proxy) = &self.proxy {
            environment.push(("http.proxy".to_owned(), proxy.clone()));
        }
        (args, environment)
    }
}

/// curl's `host:port:address` entry; IPv6 addresses in brackets.
fn pin(host: &str, port: u16, address: SocketAddr) -> String {
    match address {
        SocketAddr::V4(v4) => format!("{host}:{port}:{}", v4.ip()),
        SocketAddr::V6(v6) => format!("{host}:{port}:[{}]", v6.ip()),
    }
}

fn write_ca_file(scratch: &Path, pem: &str) -> Result<tempfile::NamedTempFile, FetchError> {
    let failed = |source: std::io::Error| FetchError::Cache {
        path: scratch.display().to_string(),
        source,
    };
    std::fs::create_dir_all(scratch).map_err(failed)?;
    // Created 0600 by tempfile: other users of the machine cannot swap the trusted roots.
    let mut file = tempfile::Builder::new()
        .prefix(".ca-")
        .suffix(".pem")
        .tempfile_in(scratch)
        .map_err(failed)?;
    file.write_all(pem.as_bytes()).map_err(failed)?;
    // git's `http.sslCAInfo` replaces its trusted roots, while the instance's bundle is trusted
    // on top of the public ones (as by labgate's HTTP client): the system's roots go in too.
    if let Some(system) = SYSTEM_CA_BUNDLES.iter().find_map(|path| std::fs::read(path).ok()) {
        file.write_all(b"\n").map_err(failed)?;
        file.write_all(&system).map_err(failed)?;
    }
    file.flush().map_err(failed)?;
    Ok(file)
}

/// Where systems keep their public CA roots (Debian and Alpine, Red Hat, macOS and the BSDs).
const SYSTEM_CA_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// The clone URL of a project from the instance URL as configured (path prefix and host kept).
pub fn clone_url(instance_url: &str, project_path: &str) -> String {
    format!(
        "{}/{}.git",
        instance_url.trim_end_matches('/'),
        project_path.trim_matches('/')
    )
}

#[derive(Clone)]
pub struct RepoCache {
    root: PathBuf,
    max_bytes: u64,
    /// One fetch per repository at a time.
    locks: Arc<parking_lot::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

impl std::fmt::Debug for RepoCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepoCache")
            .field("root", &self.root)
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

impl RepoCache {
    pub fn new(root: PathBuf, max_bytes: u64) -> RepoCache {
        RepoCache {
            root,
            max_bytes,
            locks: Arc::default(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of one repository's mirror: a hash of the instance and project id, so that
    /// paths (which change on rename) and hosts never name a directory.
    fn dir_of(&self, instance_url: &str, project_id: u64) -> (String, PathBuf) {
        let digest = Sha256::digest(format!("{}|{project_id}", instance_url.trim_end_matches('/')));
        let key: String = hex::encode(digest).chars().take(32).collect();
        let dir = self.root.join(format!("{key}.git"));
        (key, dir)
    }

    /// Where the mirror of a project is (or would be) kept.
    pub fn mirror_path(&self, instance_url: &str, project_id: u64) -> PathBuf {
        self.dir_of(instance_url, project_id).1
    }

    fn cache_error(&self, source: std::io::Error) -> FetchError {
        FetchError::Cache {
            path: self.root.display().to_string(),
            source,
        }
    }

    async fn askpass(&self) -> Result<PathBuf, FetchError> {
        let path = self.root.join("askpass.sh");
        tokio::fs::create_dir_all(&self.root)
            .await
            .map_err(|e| self.cache_error(e))?;
        let current = tokio::fs::read_to_string(&path).await.ok();
        if current.as_deref() != Some(ASKPASS_SCRIPT) {
            let staging = self.root.join(format!(".askpass-{}", uuid::Uuid::new_v4()));
            tokio::fs::write(&staging, ASKPASS_SCRIPT)
                .await
                .map_err(|e| self.cache_error(e))?;
            set_mode(&staging, 0o700).map_err(|e| self.cache_error(e))?;
            tokio::fs::rename(&staging, &path)
                .await
                .map_err(|e| self.cache_error(e))?;
        }
        Ok(path)
    }

    /// Brings the mirror of a project up to date (cloning it on first use) and answers its path.
    pub async fn fetch(
        &self,
        instance_url: &str,
        project_id: u64,
        remote: &Remote<'_>,
    ) -> Result<PathBuf, FetchError> {
        let (key, dir) = self.dir_of(instance_url, project_id);
        let lock = self.locks.lock().entry(key).or_default().clone();
        let _held = lock.lock().await;
        let askpass = self.askpass().await?;
        if dir.join("HEAD").is_file() {
            // The remote URL follows the project (renames, a moved instance).
            run_git(
                &askpass,
                remote,
                Some(&dir),
                "set-url",
                &["remote", "set-url", "origin", &remote.url],
            )
            .await?;
            run_git(
                &askpass,
                remote,
                Some(&dir),
                "fetch",
                &["fetch", "--prune", "--quiet", "origin"],
            )
            .await?;
        } else {
            let staging = self.root.join(format!(".clone-{}", uuid::Uuid::new_v4()));
            let staging_arg = staging.display().to_string();
            let cloned = run_git(
                &askpass,
                remote,
                Some(&self.root),
                "clone",
                &["clone", "--mirror", "--quiet", &remote.url, &staging_arg],
            )
            .await;
            if let Err(error) = cloned {
                let _ = tokio::fs::remove_dir_all(&staging).await;
                return Err(error);
            }
            let _ = tokio::fs::remove_dir_all(&dir).await;
            tokio::fs::rename(&staging, &dir)
                .await
                .map_err(|e| self.cache_error(e))?;
        }
        tokio::fs::write(dir.join(LAST_USE), b"")
            .await
            .map_err(|e| self.cache_error(e))?;
        self.evict(&dir).await;
        Ok(dir)
    }

    /// Removes the least recently used mirrors until the cache fits its cap; `keep` (the one just
    /// fetched) and mirrors being fetched stay.
    async fn evict(&self, keep: &Path) {
        let root = self.root.clone();
        let keep = keep.to_owned();
        let max = self.max_bytes;
        let busy: Vec<PathBuf> = {
            let locks = self.locks.lock();
            locks
                .iter()
                .filter(|(_, lock)| lock.try_lock().is_err())
                .map(|(key, _)| root.join(format!("{key}.git")))
                .collect()
        };
        let outcome = tokio::task::spawn_blocking(move || evict_blocking(&root, &keep, &busy, max)).await;
        match outcome {
            Ok(Ok(removed)) if removed > 0 => {
                tracing::info!(removed, "evicted repository mirrors from the scan cache")
            }
            Ok(Err(error)) => tracing::warn!(error = %error, "the scan cache could not be trimmed"),
            _ => {}
        }
    }
}

fn evict_blocking(root: &Path, keep: &Path, busy: &[PathBuf], max: u64) -> std::io::Result<usize> {
    let mut mirrors = Vec::new();
    for entry in std::fs::read_dir(root)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "git") && path.is_dir() {
            let used = std::fs::metadata(path.join(LAST_USE))
                .and_then(|m| m.modified())
                .unwrap_or(SystemTime::UNIX_EPOCH);
            mirrors.push((used, dir_size(&path), path));
        }
    }
    let mut total: u64 = mirrors.iter().map(|m| m.1).sum();
    mirrors.sort_by_key(|m| m.0);
    let mut removed = 0;
    for (_, size, path) in mirrors {
        if total <= max {
            break;
        }
        if path == keep || busy.contains(&path) {
            continue;
        }
        std::fs::remove_dir_all(&path)?;
        total = total.saturating_sub(size);
        removed += 1;
    }
    Ok(removed)
}

fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(_) => e.metadata().map(|m| m.len()).unwrap_or(0),
            Err(_) => 0,
        })
        .sum()
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

/// Runs git with a clean environment: no user or system config, no terminal prompt, no
/// credential helper; the token only in this child's environment for the askpass script.
async fn run_git(
    askpass: &Path,
    remote: &Remote<'_>,
    dir: Option<&Path>,
    action: &'static str,
    args: &[&str],
) -> Result<(), FetchError> {
    let mut command = tokio::process::Command::new("git");
    command
        .env_clear()
        .env(
            "PATH",
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
        )
        .env("GIT_ASKPASS", askpass)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("LABGATE_GIT_USERNAME", remote.username)
        .env("LABGATE_GIT_PASSWORD", remote.token.expose_secret())
        .arg("-c")
        .arg("credential.helper=")
        .kill_on_drop(true)
        .stdin(std::process::Stdio::null());
    if let Some(home) = askpass.parent() {
        command.env("HOME", home);
    }
    let (settings, environment) = remote.transport.config();
    for setting in settings {
        command.arg("-c").arg(setting);
    }
    command.env("GIT_CONFIG_COUNT", environment.len().to_string());
    for (index, (key, value)) in environment.iter().enumerate() {
        command
            .env(format!("GIT_CONFIG_KEY_{index}"), key)
            .env(format!("GIT_CONFIG_VALUE_{index}"), value.expose_secret());
    }
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    command.args(args);
    let output = command.output().await.map_err(FetchError::Spawn)?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    // git never prints the token it was given, but the message is scrubbed anyway before it is
    // stored or logged.
    let mut message = stderr.trim().to_owned();
    let proxy = remote.transport.proxy.as_ref().map(ExposeSecret::expose_secret);
    for secret in std::iter::once(remote.token.expose_secret()).chain(proxy) {
        if !secret.is_empty() {
            message = message.replace(secret, "[REDACTED]");
        }
    }
    let message: String = message.chars().take(1_000).collect();
    Err(FetchError::Git { action, message })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mirror(root: &Path, name: &str, bytes: usize, used: u64) -> PathBuf {
        let dir = root.join(format!("{name}.git"));
        std::fs::create_dir_all(dir.join("objects")).unwrap();
        std::fs::write(dir.join("objects").join("pack"), vec![0u8; bytes]).unwrap();
        let marker = dir.join(LAST_USE);
        std::fs::write(&marker, b"").unwrap();
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(used);
        std::fs::File::options()
            .write(true)
            .open(&marker)
            .unwrap()
            .set_modified(at)
            .unwrap();
        dir
    }

    #[test]
    fn the_least_recently_used_mirrors_go_first_until_the_cache_fits() {
        let root = tempfile::tempdir().unwrap();
        let oldest = mirror(root.path(), "a", 4_000, 100);
        let busy = mirror(root.path(), "b", 4_000, 200);
        let newer = mirror(root.path(), "c", 4_000, 300);
        let current = mirror(root.path(), "d", 4_000, 50);
        // 16 kB held, 9 kB allowed: the oldest goes, the busy one is skipped, then the next.
        let removed = evict_blocking(root.path(), &current, std::slice::from_ref(&busy), 9_000).unwrap();
        assert_eq!(removed, 2);
        assert!(!oldest.exists() && !newer.exists());
        assert!(busy.exists() && current.exists());
        assert_eq!(evict_blocking(root.path(), &current, &[], 1_000_000).unwrap(), 0);
    }

    fn policy(host: &str, address: &str) -> NetworkPolicy {
        let table = labgate_testkit::HostTable::default().with(host, address);
        NetworkPolicy::deny_internal().with_resolver(table.resolver())
    }

    fn settings(url: &str) -> labgate_gitlab::InstanceSettings {
        labgate_gitlab::InstanceSettings::new(labgate_gitlab::GitLabBaseUrl::parse(url).unwrap())
    }

    #[tokio::test]
    async fn git_is_pinned_to_the_checked_address_and_trusts_the_instance_ca_from_a_private_file() {
        let scratch = tempfile::tempdir().unwrap();
        let mut instance = settings("https://gitlab.example");
        instance.ca_bundle_pem =
            Some("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".to_owned());
        let transport = GitTransport::prepare(
            "https://gitlab.example/acme/api.git",
            &instance,
            &policy("gitlab.example", "93.184.216.34"),
            scratch.path(),
        )
        .await
        .unwrap();
        let (args, environment) = transport.config();
        assert!(
            args.contains(&"http.curloptResolve=gitlab.example:443:93.184.216.34".to_owned()),
            "{args:?}"
        );
        assert!(
            args.contains(&"http.followRedirects=false".to_owned()),
            "{args:?}"
        );
        assert!(environment.is_empty());
        let ca = args
            .iter()
            .find_map(|arg| arg.strip_prefix("http.sslCAInfo="))
            .map(PathBuf::from)
            .expect("the CA bundle is given to git");
        assert!(std::fs::read_to_string(&ca).unwrap().contains("MIIB"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&ca).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        drop(transport);
        assert!(!ca.exists(), "the bundle file lives as long as the fetch");
    }

    #[tokio::test]
    async fn a_proxy_reaches_git_through_the_environment_and_the_address_is_still_checked() {
        let scratch = tempfile::tempdir().unwrap();
        let mut instance = settings("https://gitlab.example");
        instance.proxy = Some("http://user:proxy-pass@proxy.example:3128".to_owned());
        let transport = GitTransport::prepare(
            "https://gitlab.example/acme/api.git",
            &instance,
            &policy("gitlab.example", "93.184.216.34"),
            scratch.path(),
        )
        .await
        .unwrap();
        let (args, environment) = transport.config();
        assert!(!args.iter().any(|arg| arg.contains("proxy")), "{args:?}");
        assert!(
            !args.iter().any(|arg| arg.contains("curloptResolve")),
            "the proxy resolves: {args:?}"
        );
        assert_eq!(environment.len(), 1);
        assert_eq!(environment[0].0, "http.proxy");
        assert_eq!(
            environment[0].1.expose_secret(),
            "http://user:proxy-pass@proxy.example:3128"
        );
        assert!(!format!("{transport:?}").contains("proxy-pass"));

        instance.proxy = Some("http://proxy.example:3128".to_owned());
        let refused = GitTransport::prepare(
            "https://gitlab.example/acme/api.git",
            &instance,
            &policy("gitlab.example", "10.1.2.3"),
            scratch.path(),
        )
        .await
        .unwrap_err();
        assert!(matches!(refused, FetchError::Refused(_)), "{refused:?}");
    }

    #[tokio::test]
    async fn an_instance_name_resolving_to_an_internal_address_is_refused_without_naming_it() {
        let scratch = tempfile::tempdir().unwrap();
        let refused = GitTransport::prepare(
            "https://gitlab.internal/acme/api.git",
            &settings("https://gitlab.internal"),
            &policy("gitlab.internal", "10.44.0.9"),
            scratch.path(),
        )
        .await
        .unwrap_err();
        let message = refused.to_string();
        assert!(
            message.contains("refused to connect to gitlab.internal")
                && message.contains("LABGATE_ALLOW_INTERNAL_HOSTS"),
            "{message}"
        );
        assert!(!message.contains("10.44.0.9"), "{message}");
        // Allow-listed, it is pinned to the address that was checked.
        let allowed = NetworkPolicy::parse("10.44.0.0/16").unwrap().with_resolver(
            labgate_testkit::HostTable::default()
                .with("gitlab.internal", "10.44.0.9")
                .resolver(),
        );
        let transport = GitTransport::prepare(
            "https://gitlab.internal:8443/acme/api.git",
            &settings("https://gitlab.internal:8443"),
            &allowed,
            scratch.path(),
        )
        .await
        .unwrap();
        assert!(
            transport
                .config()
                .0
                .contains(&"http.curloptResolve=gitlab.internal:8443:10.44.0.9".to_owned())
        );
    }

    #[test]
    fn clone_urls_keep_the_instance_path_prefix_and_carry_no_credentials() {
        assert_eq!(
            clone_url("https://git.example.com/gitlab/", "/acme/sub/api/"),
            "https://git.example.com/gitlab/acme/sub/api.git"
        );
    }
}
