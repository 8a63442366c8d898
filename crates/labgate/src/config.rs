//! Configuration: defaults < `labgate.toml` (or `--config FILE`) < `LABGATE_*` environment <
//! command-line flags. Every secret setting also accepts `*_FILE` naming a file that holds it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use figment::error::{Actual, Kind};
use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Map};
use figment::{Figment, Metadata, Profile, Provider, Source};
use ipnet::IpNet;
use labgate_core::vault::{KeySettings, SettingValue};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

pub const DEFAULT_CONFIG_FILE: &str = "labgate.toml";
/// Where connections go when they name no instance.
pub const DEFAULT_GITLAB_URL: &str = "https://gitlab.com";
/// Longest OAuth client id (and secret) accepted, as for registered instances.
const MAX_OAUTH_FIELD_LEN: usize = 255;

/// Every setting, as a file key and as `LABGATE_<KEY>`. Secret values are `SecretString`, so
/// Debug never shows them; they have no defaults and are never serialised.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub listen: String,
    pub data_dir: PathBuf,
    #[serde(skip_serializing)]
    pub database_url: Option<SecretString>,
    pub database_url_file: Option<PathBuf>,
    pub database_max_connections: u32,
    #[serde(skip_serializing)]
    pub root_keys: Option<SecretString>,
    pub root_keys_file: Option<PathBuf>,
    #[serde(skip_serializing)]
    pub root_key: Option<SecretString>,
    pub root_key_file: Option<PathBuf>,
    #[serde(skip_serializing)]
    pub bootstrap_admin_key: Option<SecretString>,
    pub bootstrap_admin_key_file: Option<PathBuf>,
    pub site_url: Option<String>,
    /// The GitLab instance connections go to when they name none; may carry a path prefix.
    pub gitlab_url: String,
    /// The OAuth application registered at that instance, for OAuth connections.
    pub gitlab_oauth_client_id: Option<String>,
    #[serde(skip_serializing)]
    pub gitlab_oauth_client_secret: Option<SecretString>,
    pub gitlab_oauth_client_secret_file: Option<PathBuf>,
    pub log_format: String,
    pub log_level: String,
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    /// Comma-separated CIDRs (or a list in the file).
    pub trusted_proxies: StringList,
    /// Internal hosts and CIDRs GitLab instances may be reached at (comma-separated or a list).
    pub allow_internal_hosts: StringList,
    /// Internal hosts and CIDRs webhook subscribers may be reached at.
    pub webhook_allow_internal_hosts: StringList,
    /// The proxy webhook deliveries go through (environment proxies never apply to them). A
    /// secret: its URL may carry the proxy's credentials.
    #[serde(skip_serializing)]
    pub webhook_proxy: Option<SecretString>,
    pub webhook_proxy_file: Option<PathBuf>,
    #[serde(skip_serializing)]
    pub metrics_token: Option<SecretString>,
    pub metrics_token_file: Option<PathBuf>,
    pub request_timeout_secs: u64,
    /// How long a token-changing request waits for GitLab before answering 202 with a job.
    pub token_change_wait_secs: u64,
    pub shutdown_timeout_secs: u64,
    pub auth_failures_per_minute: u32,
    pub worker_concurrency: usize,
    pub job_lease_secs: u64,
    pub job_retention_days: u64,
    pub audit_retention_days: u64,
    pub webhook_delivery_retention_days: u64,
    pub connection_event_retention_days: u64,
    /// Minutes between connection health sweeps (jittered ±10%).
    pub connection_check_interval_mins: u64,
    /// OAuth connections used within this many days are refreshed ahead of expiry.
    pub proactive_refresh_days: u32,
    /// How long a web UI login lasts.
    pub ui_session_hours: u32,
    /// Where secret scanning keeps repository mirrors (default: `scan-cache` in the data dir).
    pub scan_cache_dir: Option<PathBuf>,
    /// Size cap of the mirrors; the least recently used go first.
    pub scan_cache_max_mb: u64,
    /// Repositories of one full scan fetched and scanned at the same time.
    pub scan_parallelism: u32,
    /// Time between full scans of data sources with automatic scans on: a number with a unit
    /// (`90m`, `24h`, `7d`).
    pub scan_interval: String,
    /// Time between full syncs of an access source: a number with a unit (`90m`, `24h`, `7d`).
    pub access_sync_interval: String,
    /// Requests per minute one access sync run makes at most to its GitLab instance.
    pub access_sync_max_rpm: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: "127.0.0.1:8080".to_owned(),
            data_dir: PathBuf::from("labgate-data"),
            database_url: None,
            database_url_file: None,
            database_max_connections: 8,
            root_keys: None,
            root_keys_file: None,
            root_key: None,
            root_key_file: None,
            bootstrap_admin_key: None,
            bootstrap_admin_key_file: None,
            site_url: None,
            gitlab_url: DEFAULT_GITLAB_URL.to_owned(),
            gitlab_oauth_client_id: None,
            gitlab_oauth_client_secret: None,
            gitlab_oauth_client_secret_file: None,
            log_format: "text".to_owned(),
            log_level: "info".to_owned(),
            tls_cert_file: None,
            tls_key_file: None,
            trusted_proxies: StringList::default(),
            allow_internal_hosts: StringList::default(),
            webhook_allow_internal_hosts: StringList::default(),
            webhook_proxy: None,
            webhook_proxy_file: None,
            metrics_token: None,
            metrics_token_file: None,
            request_timeout_secs: 30,
            token_change_wait_secs: 10,
            shutdown_timeout_secs: 30,
            auth_failures_per_minute: 20,
            worker_concurrency: 4,
            job_lease_secs: 60,
            job_retention_days: 7,
            audit_retention_days: 365,
            webhook_delivery_retention_days: 30,
            connection_event_retention_days: 365,
            connection_check_interval_mins: 360,
            proactive_refresh_days: 7,
            ui_session_hours: 12,
            scan_cache_dir: None,
            scan_cache_max_mb: 10_240,
            scan_parallelism: 2,
            scan_interval: "24h".to_owned(),
            access_sync_interval: "24h".to_owned(),
            access_sync_max_rpm: 600,
        }
    }
}

/// A list written either as a TOML array or as one comma-separated string (environment).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(into = "Vec<String>")]
pub struct StringList(pub Vec<String>);

impl StringList {
    fn from_items(items: impl IntoIterator<Item = String>) -> StringList {
        StringList(
            items
                .into_iter()
                .map(|item| item.trim().to_owned())
                .filter(|item| !item.is_empty())
                .collect(),
        )
    }
}

impl<'de> Deserialize<'de> for StringList {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // A visitor rather than an untagged enum, whose error names the enum and not what to write.
        struct ListVisitor;

        impl<'de> serde::de::Visitor<'de> for ListVisitor {
            type Value = StringList;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list of strings or one comma-separated string")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<StringList, E> {
                Ok(StringList::from_items(text.split(',').map(str::to_owned)))
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<StringList, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<String>()? {
                    items.push(item);
                }
                Ok(StringList::from_items(items))
            }
        }

        deserializer.deserialize_any(ListVisitor)
    }
}

impl From<StringList> for Vec<String> {
    fn from(value: StringList) -> Self {
        value.0
    }
}

/// The `LABGATE_*` names of the settings above, plus the CLI's own.
pub fn known_variables() -> Vec<String> {
    let mut names: Vec<String> = SETTING_KEYS
        .iter()
        .map(|key| format!("LABGATE_{}", key.to_ascii_uppercase()))
        .collect();
    names.extend(CLIENT_VARIABLES.iter().map(|name| (*name).to_owned()));
    names
}

const SETTING_KEYS: &[&str] = &[
    "listen",
    "data_dir",
    "database_url",
    "database_url_file",
    "database_max_connections",
    "root_keys",
    "root_keys_file",
    "root_key",
    "root_key_file",
    "bootstrap_admin_key",
    "bootstrap_admin_key_file",
    "site_url",
    "gitlab_url",
    "gitlab_oauth_client_id",
    "gitlab_oauth_client_secret",
    "gitlab_oauth_client_secret_file",
    "log_format",
    "log_level",
    "tls_cert_file",
    "tls_key_file",
    "trusted_proxies",
    "allow_internal_hosts",
    "webhook_allow_internal_hosts",
    "webhook_proxy",
    "webhook_proxy_file",
    "metrics_token",
    "metrics_token_file",
    "request_timeout_secs",
    "token_change_wait_secs",
    "shutdown_timeout_secs",
    "auth_failures_per_minute",
    "worker_concurrency",
    "job_lease_secs",
    "job_retention_days",
    "audit_retention_days",
    "webhook_delivery_retention_days",
    "connection_event_retention_days",
    "connection_check_interval_mins",
    "proactive_refresh_days",
    "ui_session_hours",
    "scan_cache_dir",
    "scan_cache_max_mb",
    "scan_parallelism",
    "scan_interval",
    "access_sync_interval",
    "access_sync_max_rpm",
];

/// Variables labgate reads that are not server settings: the CLI's server address and key, the
/// scanner's clone token, the demo's database, the test suite's backend choice.
const CLIENT_VARIABLES: &[&str] = &[
    "LABGATE_URL",
    "LABGATE_API_KEY",
    "LABGATE_SCAN_TOKEN",
    crate::commands::demo::DEMO_DATABASE_URL_VARIABLE,
    "LABGATE_TEST_BACKEND",
    "LABGATE_TEST_POSTGRES_URL",
];

/// Flags that override every other layer.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FlagOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
}

/// Settings after layering, with secrets resolved and values parsed.
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: SecretString,
    pub database_max_connections: u32,
    pub keys: KeySettings,
    pub bootstrap_admin_key: Option<SecretString>,
    pub site_url: Option<String>,
    /// `LABGATE_GITLAB_URL` and the OAuth application registered there.
    pub default_instance: labgate_core::instances::DefaultInstance,
    pub json_logs: bool,
    pub log_level: String,
    pub tls: Option<labgate_server::TlsFiles>,
    pub trusted_proxies: Vec<IpNet>,
    pub network: labgate_core::NetworkSettings,
    pub metrics_token: Option<SecretString>,
    pub request_timeout: Duration,
    pub token_change_wait: Duration,
    /// OAuth connections used within this many days are refreshed ahead of expiry.
    pub proactive_refresh_days: u32,
    /// How long a web UI login lasts.
    pub ui_session_hours: u32,
    /// Where and how secret scanning mirrors repositories.
    pub scan_cache_dir: PathBuf,
    pub scan_cache_max_bytes: u64,
    pub scan_parallelism: usize,
    pub scan_interval: Duration,
    pub access_sync_interval: Duration,
    pub access_sync_max_rpm: u32,
    pub shutdown_timeout: Duration,
    pub auth_failures_per_minute: u32,
    pub worker_concurrency: usize,
    pub job_lease: Duration,
    pub job_retention: Duration,
    pub audit_retention: Duration,
    pub delivery_retention: Duration,
    pub event_retention: Duration,
    pub health_interval: Duration,
    /// Where the file layer came from, if any.
    pub file: Option<PathBuf>,
    /// `LABGATE_*` variables that are not settings (reported as warnings once logging is up).
    pub unknown_variables: Vec<String>,
}

/// Reads the layers. `config_file` is `--config`; without it `labgate.toml` in the working
/// directory is used when present.
pub fn load(config_file: Option<&Path>, flags: &FlagOverrides) -> anyhow::Result<Config> {
    let environment: Vec<(String, String)> = std::env::vars().collect();
    load_from(config_file, flags, &environment)
}

pub fn load_from(
    config_file: Option<&Path>,
    flags: &FlagOverrides,
    environment: &[(String, String)],
) -> anyhow::Result<Config> {
    let file = match config_file {
        Some(path) => {
            if !path.exists() {
                bail!("the configuration file {} does not exist", path.display());
            }
            Some(path.to_owned())
        }
        None => Some(PathBuf::from(DEFAULT_CONFIG_FILE)).filter(|path| path.exists()),
    };
    load_layers(file, flags, environment)
}

/// Settings from defaults and `environment` alone: no file, not even `./labgate.toml`. For a
/// process whose settings are all chosen by labgate itself (`labgate demo`).
pub fn load_without_file(environment: &[(String, String)]) -> anyhow::Result<Config> {
    load_layers(None, &FlagOverrides::default(), environment)
}

fn load_layers(
    file: Option<PathBuf>,
    flags: &FlagOverrides,
    environment: &[(String, String)],
) -> anyhow::Result<Config> {
    let known = known_variables();
    let unknown_variables: Vec<String> = environment
        .iter()
        .map(|(name, _)| name)
        .filter(|name| name.starts_with("LABGATE_") && !known.contains(name))
        .cloned()
        .collect();

    let mut figment = Figment::from(Layer::new(
        Serialized::defaults(Settings::default()),
        Metadata::named("default"),
    ));
    if let Some(path) = &file {
        figment = figment.merge(Toml::file_exact(path));
    }
    for (name, value) in environment {
        let Some(key) = name.strip_prefix("LABGATE_").map(str::to_ascii_lowercase) else {
            continue;
        };
        if !SETTING_KEYS.contains(&key.as_str()) {
            continue;
        }
        // Environment values are text; typed settings parse them, secrets keep them verbatim.
        figment = figment.merge(Layer::new(
            Serialized::default(&key, env_value(&key, value)),
            Metadata::from(ENV_LAYER, name.as_str()),
        ));
    }
    for (key, flag, value) in [
        ("listen", "--listen", flags.listen.clone()),
        (
            "data_dir",
            "--data-dir",
            flags.data_dir.as_ref().map(|dir| dir.display().to_string()),
        ),
        ("database_url", "--database-url", flags.database_url.clone()),
    ] {
        if let Some(value) = value {
            figment = figment.merge(Layer::new(
                Serialized::default(key, value),
                Metadata::from(FLAG_LAYER, flag),
            ));
        }
    }
    let settings: Settings = figment
        .extract()
        .map_err(|error| anyhow::anyhow!(describe_figment_error(&error)))?;
    let origins = Origins::of(&figment);
    resolve(settings, &origins, file, unknown_variables)
}

const ENV_LAYER: &str = "environment variable";
const FLAG_LAYER: &str = "command-line flag";

/// A provider under a name of labgate's choosing. Figment names a provider it was given in code
/// by the Rust source line that added it, which means nothing to an operator.
struct Layer<P> {
    provider: P,
    metadata: Metadata,
}

impl<P: Provider> Layer<P> {
    fn new(provider: P, metadata: Metadata) -> Self {
        Layer { provider, metadata }
    }
}

impl<P: Provider> Provider for Layer<P> {
    fn metadata(&self) -> Metadata {
        self.metadata.clone()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        self.provider.data()
    }

    fn profile(&self) -> Option<Profile> {
        self.provider.profile()
    }
}

/// Where a setting's value came from, as an operator would look for it: `LABGATE_LISTEN`,
/// `--listen`, or `listen in labgate.toml`. Defaults and unknown sources go by the variable name.
fn origin(key: &str, metadata: Option<&Metadata>) -> String {
    match metadata.and_then(|metadata| metadata.source.as_ref()) {
        Some(Source::File(_)) => {
            let source = metadata.and_then(|m| m.source.as_ref()).map(ToString::to_string);
            format!("{key} in {}", source.unwrap_or_default())
        }
        Some(Source::Custom(name)) => name.clone(),
        _ => format!("LABGATE_{}", key.to_ascii_uppercase()),
    }
}

/// The origin of every setting after layering, for errors found once the values are parsed.
struct Origins(HashMap<&'static str, String>);

impl Origins {
    fn of(figment: &Figment) -> Origins {
        Origins(
            SETTING_KEYS
                .iter()
                .map(|key| (*key, origin(key, figment.find_metadata(key))))
                .collect(),
        )
    }

    fn get(&self, key: &str) -> String {
        self.0
            .get(key)
            .cloned()
            .unwrap_or_else(|| format!("LABGATE_{}", key.to_ascii_uppercase()))
    }
}

fn env_value(key: &str, value: &str) -> figment::value::Value {
    use figment::value::Value;
    let numeric = matches!(
        key,
        "database_max_connections"
            | "request_timeout_secs"
            | "token_change_wait_secs"
            | "shutdown_timeout_secs"
            | "auth_failures_per_minute"
            | "worker_concurrency"
            | "job_lease_secs"
            | "job_retention_days"
            | "audit_retention_days"
            | "webhook_delivery_retention_days"
            | "connection_event_retention_days"
            | "connection_check_interval_mins"
            | "proactive_refresh_days"
            | "ui_session_hours"
            | "scan_cache_max_mb"
            | "scan_parallelism"
            | "access_sync_max_rpm"
    );
    if numeric && let Ok(number) = value.trim().parse::<u64>() {
        return Value::from(number);
    }
    Value::from(value.to_owned())
}

/// Settings whose values never appear in messages.
const SECRET_KEYS: &[&str] = &[
    "database_url",
    "root_keys",
    "root_key",
    "bootstrap_admin_key",
    "metrics_token",
    "webhook_proxy",
    "gitlab_oauth_client_secret",
];

fn describe_figment_error(error: &figment::Error) -> String {
    let mut lines = Vec::new();
    for error in error.clone() {
        let key = error.path.join(".");
        let metadata = error.metadata.as_ref();
        if let Kind::UnknownField(name, _) = &error.kind {
            let place = metadata
                .and_then(|metadata| metadata.source.as_ref())
                .map_or_else(|| "configuration".to_owned(), ToString::to_string);
            lines.push(format!("{place}: {name} is not a labgate setting"));
        } else if key.is_empty() {
            let place = match metadata.and_then(|metadata| metadata.source.as_ref()) {
                Some(source @ (Source::File(_) | Source::Custom(_))) => source.to_string(),
                _ => "configuration".to_owned(),
            };
            // A syntax error's message quotes the offending line of the file, which may hold a
            // secret: the position and the reason are enough to find it.
            lines.push(format!(
                "{place}: {}",
                without_quoted_source(&describe_kind(&error.kind))
            ));
        } else if SECRET_KEYS.contains(&key.as_str()) {
            // The parser's message quotes the value, and this value is a secret.
            lines.push(format!(
                "{}: must be a string (value not shown: it is a secret)",
                origin(&key, metadata)
            ));
        } else {
            lines.push(format!(
                "{}: {}",
                origin(&key, metadata),
                describe_kind(&error.kind)
            ));
        }
    }
    lines.join("\n")
}

/// The parser's complaint in an operator's words: no Rust type names.
/// A parser message without the source lines it quotes (`1 | root_keys = "…`) and their markers.
fn without_quoted_source(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .filter(|line| {
            let gutter = line.trim_start_matches(|c: char| c.is_ascii_digit()).trim_start();
            !gutter.starts_with('|')
        })
        .collect::<Vec<_>>()
        .join(": ")
}

fn describe_kind(kind: &Kind) -> String {
    match kind {
        Kind::InvalidType(found, expected) | Kind::InvalidValue(found, expected) => {
            format!(
                "expected {}, found {}",
                expected_words(expected),
                found_words(found)
            )
        }
        other => other.to_string(),
    }
}

fn expected_words(expected: &str) -> String {
    match expected {
        "u8" => "an integer from 0 to 255".to_owned(),
        "u16" => "an integer from 0 to 65535".to_owned(),
        "u32" => format!("an integer from 0 to {}", u32::MAX),
        "u64" | "usize" | "u128" => "an integer of 0 or more".to_owned(),
        "i8" | "i16" | "i32" | "i64" | "isize" | "i128" => "an integer".to_owned(),
        "f32" | "f64" => "a number".to_owned(),
        "a boolean" => "true or false".to_owned(),
        other => other.to_owned(),
    }
}

fn found_words(found: &Actual) -> String {
    match found {
        Actual::Str(text) => format!("{text:?}"),
        Actual::Unsigned(number) => number.to_string(),
        Actual::Signed(number) => number.to_string(),
        Actual::Float(number) => number.to_string(),
        Actual::Bool(value) => value.to_string(),
        Actual::Seq => "a list".to_owned(),
        Actual::Map => "a table".to_owned(),
        other => other.to_string(),
    }
}

fn secret(
    value: Option<SecretString>,
    file: Option<PathBuf>,
    name: &str,
    origins: &Origins,
) -> anyhow::Result<Option<SettingValue>> {
    let key = name.to_ascii_lowercase();
    let file_key = format!("{key}_file");
    match (value, file) {
        (Some(_), Some(_)) => bail!(
            "set either {} or {}, not both",
            origins.get(&key),
            origins.get(&file_key)
        ),
        (Some(value), None) => Ok(Some(SettingValue {
            value,
            setting: format!("LABGATE_{name}"),
        })),
        (None, Some(path)) => {
            let text =
                secrecy::zeroize::Zeroizing::new(std::fs::read_to_string(&path).with_context(|| {
                    format!("{}: cannot read {}", origins.get(&file_key), path.display())
                })?);
            let value = text.trim_end_matches(['\n', '\r']).to_owned();
            if value.trim().is_empty() {
                bail!("{}: {} is empty", origins.get(&file_key), path.display());
            }
            Ok(Some(SettingValue {
                value: SecretString::from(value),
                setting: format!("LABGATE_{name}_FILE"),
            }))
        }
        (None, None) => Ok(None),
    }
}

/// The default instance (`LABGATE_GITLAB_URL`, checked as an instance URL against the GitLab
/// allow-list) and the OAuth application registered there. A client secret belongs to a client
/// id; a client id alone is a public application (PKCE only).
fn default_instance(
    url: &str,
    client_id: Option<&str>,
    client_secret: Option<SettingValue>,
    policy: &labgate_core::NetworkPolicy,
    origins: &Origins,
) -> anyhow::Result<labgate_core::instances::DefaultInstance> {
    let url = labgate_core::instances::validate_url(url, policy).map_err(|error| {
        // The check speaks of the API's `url` field; here the setting is named instead.
        let message = error.to_string();
        let reason = ["url refused: ", "url "]
            .iter()
            .find_map(|field| message.strip_prefix(field))
            .unwrap_or(&message);
        anyhow::anyhow!(
            "{} is not a usable GitLab URL: {reason}",
            origins.get("gitlab_url")
        )
    })?;
    let oauth_field = |key: &str, text: &str| -> anyhow::Result<()> {
        let text = text.trim();
        if text.is_empty() {
            bail!("{} is empty", origins.get(key));
        }
        if text.chars().count() > MAX_OAUTH_FIELD_LEN || text.chars().any(char::is_control) {
            bail!(
                "{} must be 1 to {MAX_OAUTH_FIELD_LEN} printable characters",
                origins.get(key)
            );
        }
        Ok(())
    };
    let client_id = client_id
        .map(|id| oauth_field("gitlab_oauth_client_id", id).map(|()| id.trim().to_owned()))
        .transpose()?;
    let client_secret = match client_secret {
        Some(secret) => {
            let key = if secret.setting.ends_with("_FILE") {
                "gitlab_oauth_client_secret_file"
            } else {
                "gitlab_oauth_client_secret"
            };
            if client_id.is_none() {
                bail!(
                    "{} is set but LABGATE_GITLAB_OAUTH_CLIENT_ID is not: the secret belongs to an OAuth \
                     application, so set its client id too",
                    origins.get(key)
                );
            }
            oauth_field(key, secret.value.expose_secret())?;
            Some(SecretString::from(secret.value.expose_secret().trim()))
        }
        None => None,
    };
    Ok(labgate_core::instances::DefaultInstance {
        url,
        oauth_client_id: client_id,
        oauth_client_secret: client_secret,
    })
}

fn resolve(
    settings: Settings,
    origins: &Origins,
    file: Option<PathBuf>,
    unknown_variables: Vec<String>,
) -> anyhow::Result<Config> {
    let listen: SocketAddr = settings.listen.parse().with_context(|| {
        format!(
            "{} must be an address and port such as 127.0.0.1:8080, not {:?}",
            origins.get("listen"),
            settings.listen
        )
    })?;
    let database_url = secret(
        settings.database_url,
        settings.database_url_file,
        "DATABASE_URL",
        origins,
    )?;
    let database_url_origin = match &database_url {
        Some(value) if value.setting.ends_with("_FILE") => origins.get("database_url_file"),
        Some(_) => origins.get("database_url"),
        None => origins.get("data_dir"),
    };
    let database_url = database_url.map_or_else(
        || {
            SecretString::from(format!(
                "sqlite://{}",
                settings.data_dir.join("labgate.db").display()
            ))
        },
        |value| value.value,
    );
    let scheme_ok = ["sqlite:", "postgres:", "postgresql:"].iter().any(|scheme| {
        database_url
            .expose_secret()
            .to_ascii_lowercase()
            .starts_with(scheme)
    });
    if !scheme_ok {
        bail!("{database_url_origin} must start with sqlite:// or postgres://");
    }
    let json_logs = match settings.log_format.as_str() {
        "text" => false,
        "json" => true,
        other => bail!(
            "{} must be text or json, not {other:?}",
            origins.get("log_format")
        ),
    };
    let tls = match (settings.tls_cert_file, settings.tls_key_file) {
        (Some(cert), Some(key)) => Some(labgate_server::TlsFiles { cert, key }),
        (None, None) => None,
        (Some(_), None) => bail!(
            "{} is set but LABGATE_TLS_KEY_FILE is not: set both, or neither",
            origins.get("tls_cert_file")
        ),
        (None, Some(_)) => bail!(
            "{} is set but LABGATE_TLS_CERT_FILE is not: set both, or neither",
            origins.get("tls_key_file")
        ),
    };
    let trusted_proxies = settings
        .trusted_proxies
        .0
        .iter()
        .map(|entry| {
            entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<std::net::IpAddr>().map(IpNet::from))
                .with_context(|| {
                    format!(
                        "{}: {entry:?} is not an address or CIDR",
                        origins.get("trusted_proxies")
                    )
                })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let allow_list = |key: &str, list: &StringList| {
        labgate_core::NetworkPolicy::parse(&list.0.join(",")).map_err(|error| {
            anyhow::anyhow!(
                "{}: {:?} is neither a host name, an IP address nor a CIDR range",
                origins.get(key),
                error.entry
            )
        })
    };
    let mut network = labgate_core::NetworkSettings::new(
        allow_list("allow_internal_hosts", &settings.allow_internal_hosts)?,
        allow_list(
            "webhook_allow_internal_hosts",
            &settings.webhook_allow_internal_hosts,
        )?,
    );
    let webhook_proxy = secret(
        settings.webhook_proxy,
        settings.webhook_proxy_file,
        "WEBHOOK_PROXY",
        origins,
    )?;
    if let Some(proxy) = webhook_proxy {
        let key = if proxy.setting.ends_with("_FILE") {
            "webhook_proxy_file"
        } else {
            "webhook_proxy"
        };
        network = network
            .with_webhook_proxy(proxy.value.expose_secret())
            .map_err(|error| {
                anyhow::anyhow!(
                    "{} is not a proxy URL such as http://proxy.internal:3128 ({})",
                    origins.get(key),
                    error.reason
                )
            })?;
    }
    if let Some(site_url) = &settings.site_url
        && !(site_url.starts_with("http://") || site_url.starts_with("https://"))
    {
        bail!("{} must be an http:// or https:// URL", origins.get("site_url"));
    }
    let default_instance = default_instance(
        &settings.gitlab_url,
        settings.gitlab_oauth_client_id.as_deref(),
        secret(
            settings.gitlab_oauth_client_secret,
            settings.gitlab_oauth_client_secret_file,
            "GITLAB_OAUTH_CLIENT_SECRET",
            origins,
        )?,
        network.gitlab(),
        origins,
    )?;
    let bootstrap = secret(
        settings.bootstrap_admin_key,
        settings.bootstrap_admin_key_file,
        "BOOTSTRAP_ADMIN_KEY",
        origins,
    )?;
    if let Some(key) = &bootstrap
        && key.value.expose_secret().len() < 32
    {
        let key = if key.setting.ends_with("_FILE") {
            "bootstrap_admin_key_file"
        } else {
            "bootstrap_admin_key"
        };
        bail!("{} must be at least 32 characters", origins.get(key));
    }
    let keys = KeySettings {
        root_keys: secret(settings.root_keys, settings.root_keys_file, "ROOT_KEYS", origins)?,
        root_key: secret(settings.root_key, settings.root_key_file, "ROOT_KEY", origins)?,
        data_dir: settings.data_dir.clone(),
    };
    let metrics_token = secret(
        settings.metrics_token,
        settings.metrics_token_file,
        "METRICS_TOKEN",
        origins,
    )?
    .map(|v| v.value);
    if settings.worker_concurrency == 0 || settings.worker_concurrency > 256 {
        bail!("{} must be between 1 and 256", origins.get("worker_concurrency"));
    }
    if settings.proactive_refresh_days == 0 || settings.proactive_refresh_days > 365 {
        bail!(
            "{} must be between 1 and 365",
            origins.get("proactive_refresh_days")
        );
    }
    if settings.scan_cache_max_mb == 0 {
        bail!("{} must be at least 1", origins.get("scan_cache_max_mb"));
    }
    if settings.scan_parallelism == 0 || settings.scan_parallelism > 64 {
        bail!("{} must be between 1 and 64", origins.get("scan_parallelism"));
    }
    let Some(scan_interval) = parse_interval(&settings.scan_interval) else {
        bail!(
            "{} must be a whole number with a unit, at least a minute (e.g. 90m, 24h, 7d)",
            origins.get("scan_interval")
        );
    };
    let Some(access_sync_interval) = parse_interval(&settings.access_sync_interval) else {
        bail!(
            "{} must be a whole number with a unit, at least a minute (e.g. 90m, 24h, 7d)",
            origins.get("access_sync_interval")
        );
    };
    if settings.access_sync_max_rpm == 0 || settings.access_sync_max_rpm > 100_000 {
        bail!(
            "{} must be between 1 and 100000",
            origins.get("access_sync_max_rpm")
        );
    }
    if settings.ui_session_hours == 0 || settings.ui_session_hours > 720 {
        bail!("{} must be between 1 and 720", origins.get("ui_session_hours"));
    }
    if settings.job_lease_secs < 2 {
        bail!("{} must be at least 2", origins.get("job_lease_secs"));
    }
    let request_timeout_secs = settings.request_timeout_secs.max(1);
    if settings.token_change_wait_secs >= request_timeout_secs {
        bail!(
            "{} ({}) must be shorter than {} ({request_timeout_secs}): a request still waiting at the request \
             timeout is answered 503 instead of 202 with the job to follow",
            origins.get("token_change_wait_secs"),
            settings.token_change_wait_secs,
            origins.get("request_timeout_secs"),
        );
    }
    let scan_cache_dir = settings
        .scan_cache_dir
        .clone()
        .unwrap_or_else(|| settings.data_dir.join("scan-cache"));
    // git runs inside each mirror, so a path relative to labgate's directory (the askpass script
    // in the cache) would name nothing there.
    let scan_cache_dir = std::path::absolute(&scan_cache_dir).unwrap_or(scan_cache_dir);
    Ok(Config {
        listen,
        data_dir: settings.data_dir,
        database_url,
        database_max_connections: settings.database_max_connections.max(1),
        keys,
        bootstrap_admin_key: bootstrap.map(|value| value.value),
        site_url: settings.site_url,
        default_instance,
        json_logs,
        log_level: settings.log_level,
        tls,
        trusted_proxies,
        network,
        metrics_token,
        request_timeout: Duration::from_secs(request_timeout_secs),
        token_change_wait: Duration::from_secs(settings.token_change_wait_secs),
        proactive_refresh_days: settings.proactive_refresh_days,
        ui_session_hours: settings.ui_session_hours,
        scan_cache_dir,
        scan_cache_max_bytes: settings.scan_cache_max_mb.saturating_mul(1024 * 1024),
        scan_parallelism: settings.scan_parallelism as usize,
        scan_interval,
        access_sync_interval,
        access_sync_max_rpm: settings.access_sync_max_rpm,
        shutdown_timeout: Duration::from_secs(settings.shutdown_timeout_secs),
        auth_failures_per_minute: settings.auth_failures_per_minute,
        worker_concurrency: settings.worker_concurrency,
        job_lease: Duration::from_secs(settings.job_lease_secs),
        job_retention: Duration::from_secs(settings.job_retention_days.saturating_mul(86_400)),
        audit_retention: Duration::from_secs(settings.audit_retention_days.saturating_mul(86_400)),
        delivery_retention: Duration::from_secs(
            settings.webhook_delivery_retention_days.saturating_mul(86_400),
        ),
        event_retention: Duration::from_secs(settings.connection_event_retention_days.saturating_mul(86_400)),
        health_interval: Duration::from_secs(
            settings.connection_check_interval_mins.max(1).saturating_mul(60),
        ),
        file,
        unknown_variables,
    })
}

/// `90m`, `24h`, `7d` (also `s`): at least a minute.
fn parse_interval(text: &str) -> Option<Duration> {
    let text = text.trim();
    let unit_at = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(unit_at);
    let number: u64 = number.parse().ok()?;
    let seconds = match unit.trim() {
        "s" => number,
        "m" => number.checked_mul(60)?,
        "h" => number.checked_mul(3_600)?,
        "d" => number.checked_mul(86_400)?,
        _ => return None,
    };
    (seconds >= 60).then(|| Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_intervals_take_a_unit_and_at_least_a_minute() {
        assert_eq!(parse_interval("24h"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_interval("90m"), Some(Duration::from_secs(5_400)));
        assert_eq!(parse_interval(" 7d "), Some(Duration::from_secs(604_800)));
        assert_eq!(parse_interval("120s"), Some(Duration::from_secs(120)));
        for refused in ["24", "30s", "h", "-1h", "1w", "", "99999999999999999999d"] {
            assert_eq!(parse_interval(refused), None, "{refused}");
        }
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_syntax_error_in_the_file_names_its_place_but_never_quotes_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("labgate.toml");
        std::fs::write(&file, "root_keys = \"k1:SECRETsecretSECRET\n").unwrap();
        let Err(error) = load_from(Some(&file), &FlagOverrides::default(), &[]) else {
            panic!("a broken file is refused");
        };
        let error = error.to_string();
        assert!(!error.contains("SECRETsecret"), "{error}");
        assert!(
            error.contains("line 1") && error.contains("labgate.toml"),
            "{error}"
        );
    }

    #[test]
    fn defaults_need_no_configuration() {
        let config = load_from(None, &FlagOverrides::default(), &[]).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(
            config.database_url.expose_secret(),
            "sqlite://labgate-data/labgate.db"
        );
        assert!(config.keys.root_keys.is_none() && config.tls.is_none());
    }

    #[test]
    fn the_scan_cache_is_an_absolute_path_under_a_relative_data_dir() {
        let config = load_from(None, &FlagOverrides::default(), &[]).unwrap();
        assert!(
            config.scan_cache_dir.is_absolute(),
            "{}",
            config.scan_cache_dir.display()
        );
        assert!(config.scan_cache_dir.ends_with("labgate-data/scan-cache"));
    }

    #[test]
    fn layers_apply_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("labgate.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\nworker_concurrency = 2\ntrusted_proxies = [\"10.0.0.0/8\"]\n",
        )
        .unwrap();
        let config = load_from(Some(&file), &FlagOverrides::default(), &[]).unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.worker_concurrency, 2);
        let environment = env(&[
            ("LABGATE_LISTEN", "127.0.0.1:9100"),
            ("LABGATE_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.1"),
        ]);
        let config = load_from(Some(&file), &FlagOverrides::default(), &environment).unwrap();
        assert_eq!(config.listen.port(), 9100);
        assert_eq!(config.trusted_proxies.len(), 2);
        let flags = FlagOverrides {
            listen: Some("127.0.0.1:9200".into()),
            ..FlagOverrides::default()
        };
        assert_eq!(
            load_from(Some(&file), &flags, &environment)
                .unwrap()
                .listen
                .port(),
            9200
        );
    }

    #[test]
    fn unknown_file_keys_are_errors_naming_them() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("labgate.toml");
        std::fs::write(&file, "listn = \"127.0.0.1:9000\"\n").unwrap();
        let error = load_from(Some(&file), &FlagOverrides::default(), &[])
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("listn"), "{error}");
    }

    #[test]
    fn unknown_variables_are_reported_not_fatal() {
        let environment = env(&[
            ("LABGATE_LISTN", "x"),
            ("LABGATE_URL", "http://x"),
            ("LABGATE_API_KEY", "k"),
        ]);
        let config = load_from(None, &FlagOverrides::default(), &environment).unwrap();
        assert_eq!(config.unknown_variables, vec!["LABGATE_LISTN".to_owned()]);
    }

    #[test]
    fn a_mistyped_secret_is_not_echoed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("labgate.toml");
        std::fs::write(&file, "metrics_token = 98765432101234\n").unwrap();
        let error = load_from(Some(&file), &FlagOverrides::default(), &[])
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("metrics_token"), "{error}");
        assert!(!error.contains("98765432101234"), "{error}");
    }

    #[test]
    fn secrets_come_from_files_and_not_from_both() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("keys");
        std::fs::write(&file, "a:AAAA\n").unwrap();
        let path = file.display().to_string();
        let config = load_from(
            None,
            &FlagOverrides::default(),
            &env(&[("LABGATE_ROOT_KEYS_FILE", &path)]),
        )
        .unwrap();
        let keys = config.keys.root_keys.unwrap();
        assert_eq!(
            (keys.value.expose_secret(), keys.setting.as_str()),
            ("a:AAAA", "LABGATE_ROOT_KEYS_FILE")
        );
        let both = env(&[("LABGATE_ROOT_KEYS_FILE", &path), ("LABGATE_ROOT_KEYS", "a:BBBB")]);
        assert!(load_from(None, &FlagOverrides::default(), &both).is_err());
    }

    #[test]
    fn bad_values_name_their_setting() {
        for (name, value) in [
            ("LABGATE_LISTEN", "nowhere"),
            ("LABGATE_DATABASE_URL", "mysql://x"),
            ("LABGATE_LOG_FORMAT", "xml"),
            ("LABGATE_TRUSTED_PROXIES", "not-a-cidr"),
            ("LABGATE_BOOTSTRAP_ADMIN_KEY", "short"),
            ("LABGATE_TLS_CERT_FILE", "/only/cert.pem"),
            ("LABGATE_ALLOW_INTERNAL_HOSTS", "10.0.0.0/99"),
            ("LABGATE_WEBHOOK_ALLOW_INTERNAL_HOSTS", "10.0.0.0/99"),
            ("LABGATE_WEBHOOK_PROXY", "ftp://proxy.internal"),
        ] {
            let error = load_from(None, &FlagOverrides::default(), &env(&[(name, value)]))
                .err()
                .unwrap()
                .to_string();
            let stem = name.trim_start_matches("LABGATE_");
            assert!(error.contains(stem), "{name}: {error}");
        }
    }

    #[test]
    fn gitlab_and_webhooks_have_their_own_allow_lists_and_webhooks_their_own_proxy() {
        let config = load_from(
            None,
            &FlagOverrides::default(),
            &env(&[
                ("LABGATE_ALLOW_INTERNAL_HOSTS", "gitlab.internal"),
                (
                    "LABGATE_WEBHOOK_ALLOW_INTERNAL_HOSTS",
                    "hooks.internal,10.1.0.0/16",
                ),
                (
                    "LABGATE_WEBHOOK_PROXY",
                    "http://user:proxy-password@proxy.internal:3128",
                ),
            ]),
        )
        .unwrap();
        let network = &config.network;
        assert!(network.gitlab().host_allowed("gitlab.internal"));
        assert!(!network.gitlab().host_allowed("hooks.internal"));
        assert!(network.webhooks().host_allowed("hooks.internal"));
        assert!(!network.webhooks().host_allowed("gitlab.internal"));
        assert_eq!(
            network.webhooks().setting(),
            "LABGATE_WEBHOOK_ALLOW_INTERNAL_HOSTS"
        );
        assert_eq!(
            network.webhook_proxy().and_then(|proxy| proxy.host_str()),
            Some("proxy.internal")
        );
        assert!(!format!("{network:?}").contains("proxy-password"));

        let error = error_of(
            None,
            &FlagOverrides::default(),
            &[("LABGATE_WEBHOOK_PROXY", "http://user:proxy-password@[bad")],
        );
        assert!(error.contains("LABGATE_WEBHOOK_PROXY"), "{error}");
        assert!(!error.contains("proxy-password"), "{error}");
    }

    #[test]
    fn the_proactive_refresh_window_is_one_to_365_days() {
        let none = FlagOverrides::default();
        assert_eq!(load_from(None, &none, &[]).unwrap().proactive_refresh_days, 7);
        let set = load_from(None, &none, &env(&[("LABGATE_PROACTIVE_REFRESH_DAYS", "30")])).unwrap();
        assert_eq!(set.proactive_refresh_days, 30);
        for bad in ["0", "366"] {
            let Err(error) = load_from(None, &none, &env(&[("LABGATE_PROACTIVE_REFRESH_DAYS", bad)])) else {
                panic!("{bad} days is refused");
            };
            let error = error.to_string();
            assert!(
                error.contains("LABGATE_PROACTIVE_REFRESH_DAYS must be between 1 and 365"),
                "{error}"
            );
        }
    }

    #[test]
    fn ui_sessions_last_one_to_720_hours() {
        let none = FlagOverrides::default();
        assert_eq!(load_from(None, &none, &[]).unwrap().ui_session_hours, 12);
        let set = load_from(None, &none, &env(&[("LABGATE_UI_SESSION_HOURS", "8")])).unwrap();
        assert_eq!(set.ui_session_hours, 8);
        for bad in ["0", "721"] {
            let Err(error) = load_from(None, &none, &env(&[("LABGATE_UI_SESSION_HOURS", bad)])) else {
                panic!("{bad} hours is refused");
            };
            let error = error.to_string();
            assert!(
                error.contains("LABGATE_UI_SESSION_HOURS must be between 1 and 720"),
                "{error}"
            );
        }
    }

    #[test]
    fn the_token_change_wait_stays_under_the_request_timeout() {
        let none = FlagOverrides::default();
        let config = load_from(None, &none, &env(&[("LABGATE_TOKEN_CHANGE_WAIT_SECS", "4")])).unwrap();
        assert_eq!(config.token_change_wait, Duration::from_secs(4));
        assert_eq!(
            load_from(None, &none, &[]).unwrap().token_change_wait,
            Duration::from_secs(10)
        );
        let error = error_of(
            None,
            &none,
            &[
                ("LABGATE_TOKEN_CHANGE_WAIT_SECS", "30"),
                ("LABGATE_REQUEST_TIMEOUT_SECS", "30"),
            ],
        );
        assert!(
            error.contains(
                "LABGATE_TOKEN_CHANGE_WAIT_SECS (30) must be shorter than LABGATE_REQUEST_TIMEOUT_SECS"
            ),
            "{error}"
        );
    }

    fn error_of(file: Option<&Path>, flags: &FlagOverrides, environment: &[(&str, &str)]) -> String {
        load_from(file, flags, &env(environment))
            .err()
            .unwrap()
            .to_string()
    }

    #[test]
    fn the_default_instance_is_gitlab_com_without_an_oauth_application() {
        let config = load_from(None, &FlagOverrides::default(), &[]).unwrap();
        let instance = &config.default_instance;
        assert_eq!(instance.url.as_str(), "https://gitlab.com");
        assert!(instance.oauth_client_id.is_none() && instance.oauth_client_secret.is_none());
    }

    #[test]
    fn the_default_instance_and_its_oauth_application_come_from_the_settings() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("client-secret");
        std::fs::write(&file, "  gloas-SECRETfromFILE \n").unwrap();
        let path = file.display().to_string();
        let config = load_from(
            None,
            &FlagOverrides::default(),
            &env(&[
                ("LABGATE_GITLAB_URL", "https://example.com/gitlab/"),
                ("LABGATE_GITLAB_OAUTH_CLIENT_ID", " app-id "),
                ("LABGATE_GITLAB_OAUTH_CLIENT_SECRET_FILE", &path),
            ]),
        )
        .unwrap();
        let instance = &config.default_instance;
        assert_eq!(instance.url.as_str(), "https://example.com/gitlab");
        assert_eq!(instance.oauth_client_id.as_deref(), Some("app-id"));
        assert_eq!(
            instance.oauth_client_secret.as_ref().unwrap().expose_secret(),
            "gloas-SECRETfromFILE"
        );
        assert!(!format!("{instance:?}").contains("SECRET"), "{instance:?}");

        let config = load_from(
            None,
            &FlagOverrides::default(),
            &env(&[
                ("LABGATE_GITLAB_OAUTH_CLIENT_ID", "app-id"),
                ("LABGATE_GITLAB_OAUTH_CLIENT_SECRET", "gloas-SECRETfromENV"),
            ]),
        )
        .unwrap();
        assert_eq!(
            config
                .default_instance
                .oauth_client_secret
                .as_ref()
                .unwrap()
                .expose_secret(),
            "gloas-SECRETfromENV"
        );
        // A client id alone is a public application (PKCE only).
        let config = load_from(
            None,
            &FlagOverrides::default(),
            &env(&[("LABGATE_GITLAB_OAUTH_CLIENT_ID", "app-id")]),
        )
        .unwrap();
        assert!(config.default_instance.oauth_client_secret.is_none());
    }

    #[test]
    fn an_internal_default_instance_needs_the_allow_list_like_any_instance() {
        let none = FlagOverrides::default();
        let error = error_of(None, &none, &[("LABGATE_GITLAB_URL", "http://gitlab.internal")]);
        assert!(
            error.starts_with(
                "LABGATE_GITLAB_URL is not a usable GitLab URL: must use https://; plain http://"
            ),
            "{error}"
        );
        let error = error_of(None, &none, &[("LABGATE_GITLAB_URL", "https://10.1.2.3")]);
        assert!(
            error
                .starts_with("LABGATE_GITLAB_URL is not a usable GitLab URL: refused to connect to 10.1.2.3")
                && error.contains("LABGATE_ALLOW_INTERNAL_HOSTS"),
            "{error}"
        );
        let config = load_from(
            None,
            &none,
            &env(&[
                ("LABGATE_GITLAB_URL", "http://gitlab.internal:8929/gitlab"),
                ("LABGATE_ALLOW_INTERNAL_HOSTS", "gitlab.internal"),
            ]),
        )
        .unwrap();
        assert_eq!(
            config.default_instance.url.as_str(),
            "http://gitlab.internal:8929/gitlab"
        );
    }

    #[test]
    fn default_instance_errors_name_their_setting_and_never_the_secret() {
        const SECRET: &str = "gloas-SECRETsecretSECRET";
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty");
        std::fs::write(&empty, " \n\n").unwrap();
        let secret_file = dir.path().join("secret");
        std::fs::write(&secret_file, SECRET).unwrap();
        let missing = dir.path().join("missing");
        let (empty, secret_file, missing, directory) = (
            empty.display().to_string(),
            secret_file.display().to_string(),
            missing.display().to_string(),
            dir.path().display().to_string(),
        );
        let none = FlagOverrides::default();
        let id = ("LABGATE_GITLAB_OAUTH_CLIENT_ID", "app-id");
        let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (
                vec![("LABGATE_GITLAB_URL", "ftp://gitlab.example.com")],
                "LABGATE_GITLAB_URL is not a usable GitLab URL",
            ),
            (
                vec![("LABGATE_GITLAB_URL", "gitlab.example.com")],
                "LABGATE_GITLAB_URL is not a usable GitLab URL",
            ),
            (
                vec![("LABGATE_GITLAB_URL", "https://gitlab.example.com/?x=1")],
                "LABGATE_GITLAB_URL is not a usable GitLab URL",
            ),
            (
                vec![("LABGATE_GITLAB_URL", "https://user:pw@gitlab.example.com")],
                "LABGATE_GITLAB_URL is not a usable GitLab URL",
            ),
            (
                vec![("LABGATE_GITLAB_OAUTH_CLIENT_SECRET", SECRET)],
                "LABGATE_GITLAB_OAUTH_CLIENT_SECRET is set but LABGATE_GITLAB_OAUTH_CLIENT_ID is not",
            ),
            (
                vec![("LABGATE_GITLAB_OAUTH_CLIENT_SECRET_FILE", &secret_file)],
                "LABGATE_GITLAB_OAUTH_CLIENT_SECRET_FILE is set but LABGATE_GITLAB_OAUTH_CLIENT_ID is not",
            ),
            (
                vec![
                    id,
                    ("LABGATE_GITLAB_OAUTH_CLIENT_SECRET", SECRET),
                    ("LABGATE_GITLAB_OAUTH_CLIENT_SECRET_FILE", &secret_file),
                ],
                "set either LABGATE_GITLAB_OAUTH_CLIENT_SECRET or LABGATE_GITLAB_OAUTH_CLIENT_SECRET_FILE, not both",
            ),
            (
                vec![id, ("LABGATE_GITLAB_OAUTH_CLIENT_SECRET_FILE", &missing)],
                "LABGATE_GITLAB_OAUTH_CLIENT_SECRET_FILE: cannot read",
            ),
            (
                vec![id, ("LABGATE_GITLAB_OAUTH_CLIENT_SECRET_FILE", &directory)],
                "LABGATE_GITLAB_OAUTH_CLIENT_SECRET_FILE: cannot read",
            ),
            (
                vec![id, ("LABGATE_GITLAB_OAUTH_CLIENT_SECRET_FILE", &empty)],
                "LABGATE_GITLAB_OAUTH_CLIENT_SECRET_FILE: ",
            ),
            (
                vec![id, ("LABGATE_GITLAB_OAUTH_CLIENT_SECRET", "  ")],
                "LABGATE_GITLAB_OAUTH_CLIENT_SECRET is empty",
            ),
            (
                vec![("LABGATE_GITLAB_OAUTH_CLIENT_ID", " ")],
                "LABGATE_GITLAB_OAUTH_CLIENT_ID is empty",
            ),
            (
                vec![("LABGATE_GITLAB_OAUTH_CLIENT_ID", "app\u{7}id")],
                "LABGATE_GITLAB_OAUTH_CLIENT_ID must be 1 to 255 printable characters",
            ),
        ];
        for (environment, want) in cases {
            let error = load_from(None, &none, &env(&environment))
                .err()
                .map(|error| format!("{error:#}"))
                .unwrap_or_else(|| panic!("{environment:?} is refused"));
            assert!(error.starts_with(want), "{environment:?}: {error}");
            assert!(!error.contains(SECRET) && !error.contains("pw@"), "{error}");
        }
        let error = format!(
            "{:#}",
            load_from(
                None,
                &none,
                &env(&[id, ("LABGATE_GITLAB_OAUTH_CLIENT_SECRET_FILE", &missing)])
            )
            .err()
            .unwrap()
        );
        assert!(error.contains(&missing), "the file is named: {error}");
        let error = error_of(
            None,
            &none,
            &[id, ("LABGATE_GITLAB_OAUTH_CLIENT_SECRET_FILE", &empty)],
        );
        assert!(error.ends_with("is empty") && error.contains(&empty), "{error}");

        // Set in the file, the errors name the file's key.
        let file = dir.path().join("labgate.toml");
        std::fs::write(
            &file,
            format!("gitlab_oauth_client_secret_file = {missing:?}\ngitlab_oauth_client_id = \"app-id\"\n"),
        )
        .unwrap();
        let error = error_of(Some(&file), &none, &[]);
        assert!(
            error.starts_with("gitlab_oauth_client_secret_file in ") && error.contains("labgate.toml"),
            "{error}"
        );
        std::fs::write(&file, "gitlab_oauth_client_secret = 98765432101234\n").unwrap();
        let error = error_of(Some(&file), &none, &[]);
        assert!(error.contains("gitlab_oauth_client_secret in "), "{error}");
        assert!(!error.contains("98765432101234"), "{error}");
    }

    #[test]
    fn errors_name_the_layer_a_value_came_from_and_no_source_location() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("labgate.toml");
        let none = FlagOverrides::default();
        let cases: Vec<(String, &str)> = vec![
            (
                error_of(None, &none, &[("LABGATE_DATABASE_MAX_CONNECTIONS", "abc")]),
                "LABGATE_DATABASE_MAX_CONNECTIONS: expected an integer from 0 to 4294967295, found \"abc\"",
            ),
            (
                error_of(None, &none, &[("LABGATE_JOB_LEASE_SECS", "-5")]),
                "LABGATE_JOB_LEASE_SECS: expected an integer of 0 or more, found \"-5\"",
            ),
            (
                error_of(None, &none, &[("LABGATE_LISTEN", "nowhere")]),
                "LABGATE_LISTEN must be an address and port",
            ),
            (
                error_of(
                    None,
                    &FlagOverrides {
                        listen: Some("nowhere".to_owned()),
                        ..FlagOverrides::default()
                    },
                    &[("LABGATE_LISTEN", "127.0.0.1:1")],
                ),
                "--listen must be an address and port",
            ),
        ];
        for (error, want) in cases {
            assert!(error.contains(want), "{error}");
            assert!(!error.contains(".rs:"), "{error}");
        }

        for (text, want) in [
            (
                "database_max_connections = \"abc\"\n",
                "database_max_connections in ",
            ),
            ("listen = 5\n", "listen in "),
            ("listen = \"nowhere\"\n", "listen in "),
            ("trusted_proxies = 3\n", "trusted_proxies in "),
            ("worker_concurrency = 0\n", "worker_concurrency in "),
            ("listn = \"x\"\n", "listn is not a labgate setting"),
        ] {
            std::fs::write(&file, text).unwrap();
            let error = error_of(Some(&file), &none, &[]);
            assert!(error.contains(want), "{text}: {error}");
            assert!(error.contains("labgate.toml"), "{text}: {error}");
            assert!(!error.contains(".rs:"), "{text}: {error}");
        }
        std::fs::write(&file, "trusted_proxies = 3\n").unwrap();
        let error = error_of(Some(&file), &none, &[]);
        assert!(
            error.contains("expected a list of strings or one comma-separated string, found 3"),
            "{error}"
        );
    }
}
