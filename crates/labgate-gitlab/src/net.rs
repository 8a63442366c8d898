//! Outgoing-request safety: the network policy (`LABGATE_ALLOW_INTERNAL_HOSTS`), the SSRF guard
//! built into DNS resolution, the redirect policy, and the `reqwest` client every labgate request
//! to a user-supplied URL goes through.
//!
//! How the guard closes the DNS-rebinding gap: `reqwest` never resolves names itself. It asks
//! [`GuardedResolver`], which resolves the name once, drops every address the policy refuses and
//! hands only the remaining addresses to the connector, so the address connected to is always one
//! that was checked. IP literals bypass resolvers, so [`check_url`] checks them before a request is
//! sent, and redirects are never followed to another host.
//!
//! Through a proxy, the proxy resolves the name and labgate never sees the address connected to.
//! Every send therefore resolves and checks the name itself first ([`resolve_checked`]); what is
//! left is the window between that resolution and the proxy's own.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::Url;

/// Why an address is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockReason {
    Loopback,
    Private,
    LinkLocal,
    /// 100.64.0.0/10, carrier-grade NAT.
    SharedAddressSpace,
    /// fc00::/7.
    UniqueLocal,
    Multicast,
    /// 169.254.169.254 and friends: cloud instance metadata services.
    CloudMetadata,
    /// 0.0.0.0/8, `::`, broadcast, documentation and reserved ranges.
    Reserved,
    /// `http://` to a host that is not allow-listed.
    PlainHttp,
}

impl BlockReason {
    pub fn describe(self) -> &'static str {
        match self {
            Self::Loopback => "a loopback address",
            Self::Private => "a private network address",
            Self::LinkLocal => "a link-local address",
            Self::SharedAddressSpace => "a carrier-grade NAT (100.64.0.0/10) address",
            Self::UniqueLocal => "an IPv6 unique-local address",
            Self::Multicast => "a multicast address",
            Self::CloudMetadata => "a cloud metadata service address",
            Self::Reserved => "an unspecified, broadcast or reserved address",
            Self::PlainHttp => "plain http:// to a host that is not allow-listed",
        }
    }
}

impl fmt::Display for BlockReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// The setting that allow-lists internal GitLab instances (and, unless told otherwise, what a
/// [`NetworkPolicy`] names in its refusals).
pub const ALLOW_INTERNAL_HOSTS: &str = "LABGATE_ALLOW_INTERNAL_HOSTS";

/// A refused destination, as raised inside the HTTP stack and turned into
/// [`crate::GitLabError::Blocked`]. Its message never shows an address a name resolved to:
/// refusals are shown to the people who typed the URL, and the address would map the internal
/// network for them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "refused to connect to {host}: {}; an operator can allow it with {setting}",
    why_refused(host, *reason)
)]
pub struct Blocked {
    pub host: String,
    /// The refused address, for the operator's logs only.
    pub address: Option<IpAddr>,
    pub reason: BlockReason,
    /// The setting that would allow it.
    pub setting: &'static str,
}

/// Why `host` was refused, without the address a name resolved to: an IP literal is described
/// by its range (the user typed it), a name only as resolving to an internal address.
pub(crate) fn why_refused(host: &str, reason: BlockReason) -> String {
    let literal = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .is_ok();
    if literal || reason == BlockReason::PlainHttp {
        format!("it is {reason}")
    } else {
        "the name resolves to an internal address".to_owned()
    }
}

/// A redirect to another host, refused by the redirect policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refused to follow a redirect from {from} to another host ({to})")]
pub struct RedirectRefused {
    pub from: String,
    pub to: String,
}

/// A malformed allow-list entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("allow-list entry {entry:?} is neither a host name, an IP address nor a CIDR range")]
pub struct PolicyError {
    pub entry: String,
}

/// Turns host names into addresses. Production asks the operating system ([`SystemResolver`]);
/// tests answer from a table, so no query leaves the machine and names like `db.internal` can
/// point where a test needs them.
pub trait NameResolver: Send + Sync + fmt::Debug {
    fn lookup(&self, host: &str, port: u16) -> BoxFuture<'static, std::io::Result<Vec<SocketAddr>>>;
}

/// The operating system's resolver (`getaddrinfo`).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl NameResolver for SystemResolver {
    fn lookup(&self, host: &str, port: u16) -> BoxFuture<'static, std::io::Result<Vec<SocketAddr>>> {
        let host = host.to_owned();
        Box::pin(async move { Ok(tokio::net::lookup_host((host.as_str(), port)).await?.collect()) })
    }
}

/// Which internal destinations the operator allows (`LABGATE_ALLOW_INTERNAL_HOSTS`: a comma- or
/// whitespace-separated list of host names, IP addresses and CIDR ranges), and how names are
/// resolved to be checked. Everything public is always allowed; the default policy allows
/// nothing internal.
#[derive(Clone)]
pub struct NetworkPolicy {
    hosts: Vec<String>,
    nets: Vec<IpNet>,
    /// The setting refusals point the operator to.
    setting: &'static str,
    resolver: Arc<dyn NameResolver>,
}

impl Default for NetworkPolicy {
    fn default() -> Self {
        Self {
            hosts: Vec::new(),
            nets: Vec::new(),
            setting: ALLOW_INTERNAL_HOSTS,
            resolver: Arc::new(SystemResolver),
        }
    }
}

impl fmt::Debug for NetworkPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetworkPolicy")
            .field("hosts", &self.hosts)
            .field("nets", &self.nets)
            .field("setting", &self.setting)
            .finish_non_exhaustive()
    }
}

/// Two policies are equal when they allow the same destinations; the resolver is not compared.
impl PartialEq for NetworkPolicy {
    fn eq(&self, other: &Self) -> bool {
        self.hosts == other.hosts && self.nets == other.nets && self.setting == other.setting
    }
}

impl Eq for NetworkPolicy {}

impl NetworkPolicy {
    /// The default: no internal destination allowed.
    pub fn deny_internal() -> Self {
        Self::default()
    }

    /// The same allow-list, configured by `setting` (named in refusals).
    #[must_use]
    pub fn for_setting(mut self, setting: &'static str) -> Self {
        self.setting = setting;
        self
    }

    /// The setting this allow-list comes from.
    pub fn setting(&self) -> &'static str {
        self.setting
    }

    /// The same allow-list, resolving names with `resolver` instead of the system's.
    #[must_use]
    pub fn with_resolver(mut self, resolver: Arc<dyn NameResolver>) -> Self {
        self.resolver = resolver;
        self
    }

    /// Looks `host` up with this policy's resolver, without checking the answers.
    pub fn lookup(&self, host: &str, port: u16) -> BoxFuture<'static, std::io::Result<Vec<SocketAddr>>> {
        self.resolver.lookup(host, port)
    }

    /// Parses `"127.0.0.1,gitlab.internal,10.0.0.0/8"`.
    pub fn parse(list: &str) -> Result<Self, PolicyError> {
        let mut policy = Self::default();
        for entry in list
            .split(|c: char| c == ',' || c.is_whitespace())
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            if let Ok(net) = entry.parse::<IpNet>() {
                policy.nets.push(net.trunc());
            } else if let Ok(ip) = entry
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
            {
                policy.nets.push(IpNet::from(ip));
            } else if is_host_name(entry) {
                policy
                    .hosts
                    .push(entry.trim_end_matches('.').to_ascii_lowercase());
            } else {
                return Err(PolicyError {
                    entry: entry.to_owned(),
                });
            }
        }
        Ok(policy)
    }

    /// Reads `LABGATE_ALLOW_INTERNAL_HOSTS` (absent: nothing internal allowed).
    pub fn from_env() -> Result<Self, PolicyError> {
        match std::env::var(ALLOW_INTERNAL_HOSTS) {
            Ok(v) => Self::parse(&v),
            Err(_) => Ok(Self::default()),
        }
    }

    /// Whether a host name is allow-listed by name.
    pub fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.hosts.contains(&host)
    }

    fn ip_listed(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// Checks one resolved address of `host`: `Ok` when public or allow-listed.
    pub fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), Blocked> {
        let Some(reason) = classify(ip) else {
            return Ok(());
        };
        let allowed = if reason == BlockReason::CloudMetadata {
            // A metadata endpoint is reachable only when named exactly, never through a range.
            self.host_allowed(host)
                || self
                    .nets
                    .iter()
                    .any(|n| n.prefix_len() == n.max_prefix_len() && n.contains(&ip))
        } else {
            self.host_allowed(host) || self.ip_listed(ip)
        };
        if allowed {
            Ok(())
        } else {
            Err(Blocked {
                host: host.to_owned(),
                address: Some(ip),
                reason,
                setting: self.setting,
            })
        }
    }

    /// Whether plain `http://` may be used to reach `host`: only allow-listed hosts (by name, or
    /// an IP literal inside an allow-listed range).
    pub fn plain_http_allowed(&self, host: &str) -> bool {
        if self.host_allowed(host) {
            return true;
        }
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| self.ip_listed(ip))
    }
}

fn is_host_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.trim_end_matches('.').split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !label.starts_with('-')
        })
}

const METADATA_V4: [Ipv4Addr; 3] = [
    Ipv4Addr::new(169, 254, 169, 254), // AWS, GCP, Azure, OpenStack, …
    Ipv4Addr::new(169, 254, 170, 2),   // AWS ECS task metadata
    Ipv4Addr::new(100, 100, 100, 200), // Alibaba Cloud
];
const METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254); // AWS IMDS over IPv6

/// Why an address is internal, or `None` for a public address.
pub fn classify(ip: IpAddr) -> Option<BlockReason> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<BlockReason> {
    let o = ip.octets();
    if METADATA_V4.contains(&ip) {
        return Some(BlockReason::CloudMetadata);
    }
    if ip.is_loopback() {
        return Some(BlockReason::Loopback);
    }
    if ip.is_private() {
        return Some(BlockReason::Private);
    }
    if ip.is_link_local() {
        return Some(BlockReason::LinkLocal);
    }
    if o[0] == 100 && (o[1] & 0xc0) == 64 {
        return Some(BlockReason::SharedAddressSpace);
    }
    if ip.is_multicast() {
        return Some(BlockReason::Multicast);
    }
    let reserved = o[0] == 0                                // "this network"
        || ip.is_broadcast()
        || o[0] >= 240                                      // 240.0.0.0/4
        || (o[0] == 192 && o[1] == 0 && o[2] == 0)          // IETF protocol assignments
        || (o[0] == 192 && o[1] == 0 && o[2] == 2)          // TEST-NET-1
        || (o[0] == 198 && o[1] == 51 && o[2] == 100)       // TEST-NET-2
        || (o[0] == 203 && o[1] == 0 && o[2] == 113)        // TEST-NET-3
        || (o[0] == 198 && (o[1] & 0xfe) == 18); // benchmarking
    reserved.then_some(BlockReason::Reserved)
}

fn classify_v6(ip: Ipv6Addr) -> Option<BlockReason> {
    if ip == METADATA_V6 {
        return Some(BlockReason::CloudMetadata);
    }
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    let s = ip.segments();
    // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) embed an IPv4 address.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return classify_v4(Ipv4Addr::new(
            (s[6] >> 8) as u8,
            s[6] as u8,
            (s[7] >> 8) as u8,
            s[7] as u8,
        ));
    }
    if s[0] == 0x2002 {
        return classify_v4(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    if ip.is_loopback() {
        return Some(BlockReason::Loopback);
    }
    if ip.is_unspecified() {
        return Some(BlockReason::Reserved);
    }
    if (s[0] & 0xfe00) == 0xfc00 {
        return Some(BlockReason::UniqueLocal);
    }
    if (s[0] & 0xffc0) == 0xfe80 {
        return Some(BlockReason::LinkLocal);
    }
    if (s[0] & 0xffc0) == 0xfec0 {
        return Some(BlockReason::Private); // deprecated site-local
    }
    if ip.is_multicast() {
        return Some(BlockReason::Multicast);
    }
    if s[0] == 0x2001 && s[1] == 0x0db8 {
        return Some(BlockReason::Reserved); // documentation
    }
    // IPv4-compatible (::a.b.c.d, deprecated).
    if s[0..6] == [0, 0, 0, 0, 0, 0] {
        return classify_v4(Ipv4Addr::new(
            (s[6] >> 8) as u8,
            s[6] as u8,
            (s[7] >> 8) as u8,
            s[7] as u8,
        ))
        .or(Some(BlockReason::Reserved));
    }
    None
}

/// Checks a URL before any request: scheme (`https`, or `http` for allow-listed hosts) and, for
/// IP-literal hosts (which bypass DNS), the address itself. Host names are checked when resolved.
pub fn check_url(url: &Url, policy: &NetworkPolicy) -> Result<(), Blocked> {
    let host = match url.host() {
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        Some(h) => h.to_string(),
        None => {
            return Err(Blocked {
                host: String::new(),
                address: None,
                reason: BlockReason::Reserved,
                setting: policy.setting,
            });
        }
    };
    match url.scheme() {
        "https" => {}
        "http" if policy.plain_http_allowed(&host) => {}
        _ => {
            return Err(Blocked {
                host,
                address: None,
                reason: BlockReason::PlainHttp,
                setting: policy.setting,
            });
        }
    }
    let ip = match url.host() {
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        _ => None,
    };
    if let Some(ip) = ip {
        policy.check_ip(&host, ip)?;
    }
    Ok(())
}

/// Resolves a host name and keeps only the addresses the policy allows; refused when none is
/// left. Used by the resolver and before every send (a proxy resolves names on its own).
pub async fn resolve_checked(
    host: &str,
    port: u16,
    policy: &NetworkPolicy,
) -> Result<Vec<SocketAddr>, ResolveError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        policy.check_ip(bare, ip).map_err(ResolveError::Blocked)?;
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let addrs: Vec<SocketAddr> = policy.lookup(bare, port).await.map_err(|e| ResolveError::Dns {
        host: bare.to_owned(),
        detail: e.to_string(),
    })?;
    let mut first_refused = None;
    let allowed: Vec<SocketAddr> = addrs
        .into_iter()
        .filter(|a| match policy.check_ip(bare, a.ip()) {
            Ok(()) => true,
            Err(b) => {
                first_refused.get_or_insert(b);
                false
            }
        })
        .collect();
    match (allowed.is_empty(), first_refused) {
        (false, _) => Ok(allowed),
        (true, Some(b)) => Err(ResolveError::Blocked(b)),
        (true, None) => Err(ResolveError::Dns {
            host: bare.to_owned(),
            detail: "the name has no addresses".to_owned(),
        }),
    }
}

/// Why resolution failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    Blocked(Blocked),
    #[error("could not resolve {host}: {detail}")]
    Dns { host: String, detail: String },
}

/// The DNS resolver installed into every labgate `reqwest` client.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    policy: Arc<NetworkPolicy>,
    /// Operator-configured proxies, which are trusted whatever their address.
    trusted: Arc<Vec<String>>,
}

impl GuardedResolver {
    pub fn new(policy: Arc<NetworkPolicy>, trusted_hosts: Vec<String>) -> Self {
        Self {
            policy,
            trusted: Arc::new(
                trusted_hosts
                    .into_iter()
                    .map(|h| h.to_ascii_lowercase())
                    .collect(),
            ),
        }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.policy);
        let host = name.as_str().to_ascii_lowercase();
        let trusted = self.trusted.contains(&host);
        Box::pin(async move {
            let addrs = if trusted {
                policy
                    .lookup(&host, 0)
                    .await
                    .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { Box::new(e) })?
            } else {
                resolve_checked(&host, 0, &policy)
                    .await
                    .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { Box::new(e) })?
            };
            let it: Addrs = Box::new(addrs.into_iter());
            Ok(it)
        })
    }
}

/// The redirect policy: follow at most 5 redirects, only to the same host, port and scheme (or
/// an upgrade from http to https on the same host).
pub fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        if attempt.previous().len() >= 5 {
            return attempt.error("too many redirects");
        }
        let Some(prev) = attempt.previous().last() else {
            return attempt.follow();
        };
        let next = attempt.url();
        let same_host = prev.host_str() == next.host_str();
        let same_port = prev.port_or_known_default() == next.port_or_known_default()
            || (prev.scheme() == "http" && next.scheme() == "https");
        let scheme_ok = next.scheme() == prev.scheme() || next.scheme() == "https";
        if same_host && same_port && scheme_ok {
            attempt.follow()
        } else {
            let to = if same_host {
                // Same host, other port or a downgrade to http: name the whole origin.
                next.origin().ascii_serialization()
            } else {
                next.host_str().unwrap_or_default().to_owned()
            };
            let err = RedirectRefused {
                from: prev.host_str().unwrap_or_default().to_owned(),
                to,
            };
            attempt.error(err)
        }
    })
}

/// Where outgoing requests go through a proxy.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ProxySettings {
    /// Proxy URL for `https://` destinations.
    pub https: Option<Url>,
    /// Proxy URL for `http://` destinations.
    pub http: Option<Url>,
    /// `NO_PROXY`: host names, domain suffixes (`.corp` or `corp`), IPs, CIDRs or `*`.
    pub no_proxy: Option<String>,
}

impl fmt::Debug for ProxySettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Proxy URLs may carry credentials: print hosts only.
        let host = |u: &Option<Url>| u.as_ref().map(|u| u.host_str().unwrap_or_default().to_owned());
        f.debug_struct("ProxySettings")
            .field("https", &host(&self.https))
            .field("http", &host(&self.http))
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

/// A malformed proxy setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the proxy setting {setting} is not a valid proxy URL ({reason})")]
pub struct ProxyError {
    pub setting: &'static str,
    pub reason: String,
}

fn env_any(names: &[&str]) -> Option<String> {
    var_any(&|n| std::env::var(n).ok(), names)
}

fn var_any(get: &dyn Fn(&str) -> Option<String>, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| get(n)).filter(|v| !v.trim().is_empty())
}

fn parse_proxy(setting: &'static str, value: &str) -> Result<Url, ProxyError> {
    let value = value.trim();
    let with_scheme = if value.contains("://") {
        value.to_owned()
    } else {
        format!("http://{value}")
    };
    let url = Url::parse(&with_scheme).map_err(|e| ProxyError {
        setting,
        reason: e.to_string(),
    })?;
    if !matches!(url.scheme(), "http" | "https" | "socks5" | "socks5h") || url.host_str().is_none() {
        return Err(ProxyError {
            setting,
            reason: "expected http://host:port".to_owned(),
        });
    }
    Ok(url)
}

impl ProxySettings {
    /// `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY`/`NO_PROXY` (either case).
    pub fn from_env() -> Result<Self, ProxyError> {
        Self::from_vars(&|n| std::env::var(n).ok())
    }

    /// The same as [`ProxySettings::from_env`], reading variables through `get`.
    pub fn from_vars(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, ProxyError> {
        let all = var_any(get, &["ALL_PROXY", "all_proxy"]);
        let https = var_any(get, &["HTTPS_PROXY", "https_proxy"]).or_else(|| all.clone());
        let http = var_any(get, &["HTTP_PROXY", "http_proxy"]).or(all);
        Ok(Self {
            https: https.map(|v| parse_proxy("HTTPS_PROXY", &v)).transpose()?,
            http: http.map(|v| parse_proxy("HTTP_PROXY", &v)).transpose()?,
            no_proxy: var_any(get, &["NO_PROXY", "no_proxy"]),
        })
    }

    /// One proxy for every destination, and nothing from the environment.
    pub fn only(proxy: Url) -> Self {
        Self {
            https: Some(proxy.clone()),
            http: Some(proxy),
            no_proxy: None,
        }
    }

    /// Parses a proxy URL (`http://host:port`, scheme optional) given in `setting`.
    pub fn parse_url(setting: &'static str, value: &str) -> Result<Url, ProxyError> {
        parse_proxy(setting, value)
    }

    /// One proxy for every destination of an instance (the per-instance setting); `NO_PROXY`
    /// from the environment still applies.
    pub fn single(proxy: &str) -> Result<Self, ProxyError> {
        let url = parse_proxy("proxy", proxy)?;
        Ok(Self {
            https: Some(url.clone()),
            http: Some(url),
            no_proxy: env_any(&["NO_PROXY", "no_proxy"]),
        })
    }

    /// Whether `url` would be sent through a proxy.
    pub fn proxies(&self, url: &Url) -> bool {
        let proxy = if url.scheme() == "https" {
            &self.https
        } else {
            &self.http
        };
        proxy.is_some() && !self.bypassed(url)
    }

    fn bypassed(&self, url: &Url) -> bool {
        let Some(list) = &self.no_proxy else {
            return false;
        };
        let host = match url.host() {
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            Some(h) => h.to_string().to_ascii_lowercase(),
            None => return false,
        };
        let ip = host.parse::<IpAddr>().ok();
        list.split(',').map(str::trim).filter(|e| !e.is_empty()).any(|e| {
            if e == "*" {
                return true;
            }
            if let (Some(ip), Ok(net)) = (ip, e.parse::<IpNet>()) {
                return net.contains(&ip);
            }
            if let (Some(ip), Ok(other)) = (ip, e.parse::<IpAddr>()) {
                return ip == other;
            }
            let e = e
                .trim_start_matches('*')
                .trim_start_matches('.')
                .to_ascii_lowercase();
            host == e || host.ends_with(&format!(".{e}"))
        })
    }

    fn hosts(&self) -> Vec<String> {
        [&self.https, &self.http]
            .into_iter()
            .flatten()
            .filter_map(|u| u.host_str().map(str::to_owned))
            .collect()
    }
}

/// TLS and timeout settings for a guarded client.
#[derive(Clone, Default)]
pub struct TlsSettings {
    /// Extra trusted CA certificates (PEM), added to the built-in web PKI roots.
    pub ca_bundle_pem: Option<String>,
    /// Operator-only escape hatch; logs a warning whenever a client is built with it.
    pub danger_accept_invalid_certs: bool,
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("ca_bundle_pem", &self.ca_bundle_pem.as_ref().map(|p| p.len()))
            .field("danger_accept_invalid_certs", &self.danger_accept_invalid_certs)
            .finish()
    }
}

/// Why a guarded client could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientBuildError {
    #[error("the CA bundle is not valid PEM with at least one certificate: {0}")]
    CaBundle(String),
    #[error(transparent)]
    Proxy(#[from] ProxyError),
    #[error("the HTTP client could not be built: {0}")]
    Http(String),
}

/// A `reqwest` builder with the SSRF guard (resolver and redirect policy), the proxy settings,
/// rustls with the web PKI roots plus `tls.ca_bundle_pem`, and the given timeouts. Callers add
/// what they need (user agent, default headers) and build it. Each request URL must still be
/// checked with [`check_url`] (IP literals and the scheme are not seen by the resolver).
pub fn guarded_client_builder(
    policy: Arc<NetworkPolicy>,
    proxy: &ProxySettings,
    tls: &TlsSettings,
    connect_timeout: Duration,
) -> Result<reqwest::ClientBuilder, ClientBuildError> {
    labgate_crypto::tls::install_default_provider();
    let resolver = GuardedResolver::new(policy, proxy.hosts());
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .no_proxy()
        .dns_resolver(Arc::new(resolver))
        .redirect(redirect_policy())
        .connect_timeout(connect_timeout)
        .https_only(false)
        .referer(false);
    let no_proxy = proxy.no_proxy.as_deref().and_then(reqwest::NoProxy::from_string);
    if let Some(u) = &proxy.https {
        let p = reqwest::Proxy::https(u.as_str())
            .map_err(|e| ProxyError {
                setting: "HTTPS proxy",
                reason: e.to_string(),
            })?
            .no_proxy(no_proxy.clone());
        b = b.proxy(p);
    }
    if let Some(u) = &proxy.http {
        let p = reqwest::Proxy::http(u.as_str())
            .map_err(|e| ProxyError {
                setting: "HTTP proxy",
                reason: e.to_string(),
            })?
            .no_proxy(no_proxy);
        b = b.proxy(p);
    }
    if let Some(pem) = &tls.ca_bundle_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
            .map_err(|e| ClientBuildError::CaBundle(e.without_url().to_string()))?;
        if certs.is_empty() {
            return Err(ClientBuildError::CaBundle("no certificate found".to_owned()));
        }
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    if tls.danger_accept_invalid_certs {
        tracing::warn!(
            "TLS certificate verification is DISABLED for this GitLab instance by operator setting; \
             connections can be intercepted"
        );
        b = b.danger_accept_invalid_certs(true);
    }
    Ok(b)
}

/// Why [`GuardedHttp::send`] did not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The destination was refused, or its name did not resolve: before sending, inside the
    /// connector, or on the address connected to.
    #[error(transparent)]
    Refused(ResolveError),
    /// The request failed on the way (connection, TLS, timeout, redirect).
    #[error(transparent)]
    Http(reqwest::Error),
}

/// A guarded client for labgate's outgoing requests to user-supplied URLs other than GitLab
/// instances (webhook subscribers). It takes no proxy from the environment: a proxy resolves
/// names where labgate cannot check the answer, so only one an operator configured for these
/// requests is used. Every send checks the URL and resolves its host first; without a proxy
/// the resolver guard and a check of the connected address apply as well. Cheap to clone.
#[derive(Clone)]
pub struct GuardedHttp {
    client: reqwest::Client,
    policy: Arc<NetworkPolicy>,
    proxy: ProxySettings,
}

impl fmt::Debug for GuardedHttp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardedHttp")
            .field("policy", &self.policy)
            .field("proxy", &self.proxy)
            .finish_non_exhaustive()
    }
}

impl GuardedHttp {
    /// Web PKI roots, 10 s connect and 30 s total timeouts, and `proxy` (if any) for every
    /// destination.
    pub fn new(policy: &NetworkPolicy, proxy: Option<&Url>) -> Result<Self, ClientBuildError> {
        let proxy = proxy
            .cloned()
            .map_or_else(ProxySettings::default, ProxySettings::only);
        let policy = Arc::new(policy.clone());
        let client = guarded_client_builder(
            Arc::clone(&policy),
            &proxy,
            &TlsSettings::default(),
            Duration::from_secs(10),
        )?
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| ClientBuildError::Http(e.without_url().to_string()))?;
        Ok(Self {
            client,
            policy,
            proxy,
        })
    }

    /// A POST to `url`, sent with [`GuardedHttp::send`].
    pub fn post(&self, url: Url) -> reqwest::RequestBuilder {
        self.client.post(url)
    }

    /// Checks `url` as it would be sent now: scheme, IP literal, and every address its host
    /// name resolves to.
    pub async fn vet(&self, url: &Url) -> Result<(), ResolveError> {
        check_url(url, &self.policy).map_err(ResolveError::Blocked)?;
        let host = url.host_str().unwrap_or_default();
        let port = url.port_or_known_default().unwrap_or(443);
        resolve_checked(host, port, &self.policy).await.map(|_| ())
    }

    /// Sends a request built with this client once its URL passes [`GuardedHttp::vet`].
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, SendError> {
        let request = request.build().map_err(SendError::Http)?;
        self.vet(request.url()).await.map_err(SendError::Refused)?;
        let host = request.url().host_str().unwrap_or_default().to_owned();
        let proxied = self.proxy.proxies(request.url());
        let response = self
            .client
            .execute(request)
            .await
            .map_err(|e| refusal_in(&e).map_or(SendError::Http(e), SendError::Refused))?;
        if let Some(peer) = response.remote_addr()
            && !proxied
        {
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            self.policy
                .check_ip(bare, peer.ip())
                .map_err(|b| SendError::Refused(ResolveError::Blocked(b)))?;
        }
        Ok(response)
    }
}

/// The guard's own refusal carried inside a transport error, if that is why it failed.
fn refusal_in(err: &reqwest::Error) -> Option<ResolveError> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(r) = e.downcast_ref::<ResolveError>() {
            return Some(r.clone());
        }
        if let Some(b) = e.downcast_ref::<Blocked>() {
            return Some(ResolveError::Blocked(b.clone()));
        }
        source = match e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            // `io::Error::source` skips the wrapped error itself: descend into it instead.
            Some(inner) => Some(inner),
            None => e.source(),
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn classifies_internal_ranges() {
        let cases = [
            ("127.0.0.1", Some(BlockReason::Loopback)),
            ("10.1.2.3", Some(BlockReason::Private)),
            ("172.16.0.1", Some(BlockReason::Private)),
            ("192.168.1.1", Some(BlockReason::Private)),
            ("169.254.1.1", Some(BlockReason::LinkLocal)),
            ("169.254.169.254", Some(BlockReason::CloudMetadata)),
            ("100.64.0.1", Some(BlockReason::SharedAddressSpace)),
            ("100.127.255.255", Some(BlockReason::SharedAddressSpace)),
            ("100.128.0.1", None),
            ("224.0.0.1", Some(BlockReason::Multicast)),
            ("0.0.0.0", Some(BlockReason::Reserved)),
            ("255.255.255.255", Some(BlockReason::Reserved)),
            ("8.8.8.8", None),
            ("::1", Some(BlockReason::Loopback)),
            ("::", Some(BlockReason::Reserved)),
            ("fd12::1", Some(BlockReason::UniqueLocal)),
            ("fe80::1", Some(BlockReason::LinkLocal)),
            ("ff02::1", Some(BlockReason::Multicast)),
            ("::ffff:10.0.0.1", Some(BlockReason::Private)),
            ("::ffff:169.254.169.254", Some(BlockReason::CloudMetadata)),
            ("64:ff9b::7f00:1", Some(BlockReason::Loopback)),
            ("2002:a00:1::", Some(BlockReason::Private)),
            ("fd00:ec2::254", Some(BlockReason::CloudMetadata)),
            ("2606:4700::1111", None),
        ];
        for (addr, want) in cases {
            assert_eq!(classify(ip(addr)), want, "{addr}");
        }
    }

    #[test]
    fn policy_parsing_and_allow_list() {
        let p = NetworkPolicy::parse("127.0.0.1, gitlab.internal 10.0.0.0/8,[::1]").unwrap();
        assert!(p.check_ip("x", ip("127.0.0.1")).is_ok());
        assert!(p.check_ip("x", ip("10.200.0.1")).is_ok());
        assert!(p.check_ip("x", ip("::1")).is_ok());
        assert!(p.check_ip("gitlab.internal", ip("192.168.0.9")).is_ok());
        let b = p.check_ip("other", ip("192.168.0.9")).unwrap_err();
        assert_eq!(b.reason, BlockReason::Private);
        assert!(b.to_string().contains("LABGATE_ALLOW_INTERNAL_HOSTS"));
        assert!(NetworkPolicy::parse("not a host!").is_err());
        assert_eq!(NetworkPolicy::parse("").unwrap(), NetworkPolicy::default());
    }

    #[test]
    fn metadata_needs_exact_entry() {
        let wide = NetworkPolicy::parse("169.254.0.0/16").unwrap();
        assert!(wide.check_ip("x", ip("169.254.1.1")).is_ok());
        assert_eq!(
            wide.check_ip("x", ip("169.254.169.254")).unwrap_err().reason,
            BlockReason::CloudMetadata
        );
        let exact = NetworkPolicy::parse("169.254.169.254").unwrap();
        assert!(exact.check_ip("x", ip("169.254.169.254")).is_ok());
    }

    #[test]
    fn check_url_scheme_and_literals() {
        let deny = NetworkPolicy::default();
        let allow = NetworkPolicy::parse("127.0.0.1,gitlab.internal").unwrap();
        let u = |s: &str| Url::parse(s).unwrap();
        assert!(check_url(&u("https://gitlab.com/x"), &deny).is_ok());
        assert_eq!(
            check_url(&u("http://gitlab.com/x"), &deny).unwrap_err().reason,
            BlockReason::PlainHttp
        );
        assert_eq!(
            check_url(&u("https://127.0.0.1/"), &deny).unwrap_err().reason,
            BlockReason::Loopback
        );
        assert_eq!(
            check_url(&u("https://[::ffff:127.0.0.1]/"), &deny)
                .unwrap_err()
                .reason,
            BlockReason::Loopback
        );
        assert!(check_url(&u("http://127.0.0.1:8080/"), &allow).is_ok());
        assert!(check_url(&u("http://gitlab.internal/"), &allow).is_ok());
        assert!(check_url(&u("ftp://gitlab.com/"), &allow).is_err());
    }

    #[test]
    fn proxy_variables() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |n: &str| pairs.iter().find(|(k, _)| *k == n).map(|(_, v)| (*v).to_owned())
        };
        let p = ProxySettings::from_vars(&vars(&[
            ("https_proxy", "proxy.corp:3128"),
            ("NO_PROXY", "localhost,.internal"),
        ]))
        .unwrap();
        assert_eq!(p.https.as_ref().map(Url::as_str), Some("http://proxy.corp:3128/"));
        assert!(p.http.is_none());
        assert!(p.proxies(&Url::parse("https://gitlab.com").unwrap()));
        assert!(!p.proxies(&Url::parse("https://git.internal").unwrap()));
        let all =
            ProxySettings::from_vars(&vars(&[("ALL_PROXY", "http://p:1"), ("HTTPS_PROXY", "")])).unwrap();
        assert!(all.https.is_some() && all.http.is_some());
        let bad = ProxySettings::from_vars(&vars(&[("HTTPS_PROXY", "ftp://x")])).unwrap_err();
        assert_eq!(bad.setting, "HTTPS_PROXY");
        assert_eq!(
            ProxySettings::from_vars(&vars(&[])).unwrap(),
            ProxySettings::default()
        );
    }

    #[test]
    fn no_proxy_matching() {
        let p = ProxySettings {
            https: Some(Url::parse("http://proxy:3128").unwrap()),
            http: None,
            no_proxy: Some("corp.example, 10.0.0.0/8,.internal,::1".into()),
        };
        let u = |s: &str| Url::parse(s).unwrap();
        assert!(p.proxies(&u("https://gitlab.com")));
        assert!(!p.proxies(&u("https://git.corp.example")));
        assert!(!p.proxies(&u("https://corp.example")));
        assert!(!p.proxies(&u("https://10.1.1.1")));
        assert!(!p.proxies(&u("https://a.internal")));
        assert!(!p.proxies(&u("http://gitlab.com")), "no http proxy configured");
        assert!(format!("{:?}", ProxySettings::single("http://user:pw@proxy:1").unwrap()).contains("proxy"));
        assert!(!format!("{:?}", ProxySettings::single("http://user:pw@proxy:1").unwrap()).contains("pw"));
    }
}
