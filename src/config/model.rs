//! The validated configuration model: what the rest of the program reads after `config::load`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::secret::Secret;

/// A fully validated configuration. Built only by `config::load*`; every reference between
/// sections (target -> credential, target -> module) is already resolved.
#[derive(Debug, Clone)]
pub struct Config {
    pub global: Global,
    pub web: Web,
    /// The PostgreSQL inventory, if configured (the URL may also come from the environment).
    pub database: Database,
    pub api: Api,
    pub license: License,
    /// Named credentials, as written under `credentials:`.
    pub credentials: BTreeMap<String, Arc<Credential>>,
    /// Named modules: the built-in ones plus those under `modules:`.
    pub modules: BTreeMap<String, Arc<Module>>,
    pub targets: Vec<Arc<Target>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Global {
    /// Default poll interval for targets without their own.
    pub interval: Duration,
    /// Default poll timeout (always shorter than the interval it goes with).
    pub timeout: Duration,
    /// How many polls may run at once over the whole process.
    pub max_concurrent_polls: usize,
    /// How many polls of one device (across its protocols) may run at once.
    pub max_concurrent_per_target: usize,
    pub snmp: SnmpGlobal,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SnmpGlobal {
    /// GETBULK max-repetitions for table walks.
    pub max_repetitions: u32,
    /// Retries of one request after a timeout, within the poll timeout.
    pub retries: u32,
    /// How many OIDs a GET may carry in one PDU.
    pub max_oids_per_get: usize,
    /// Wrap Counter64 values at 2^53 (as snmp_exporter does) so they stay exact as float64.
    pub wrap_large_counters: bool,
    /// The agent message size GETBULK requests are sized to when the agent does not tell its
    /// own (snmpEngineMaxMessageSize.0).
    pub max_message_size: usize,
    /// How long the if_mib interface lookups (ifName, ifDescr, ifAlias) are reused before they
    /// are walked again; zero walks them on every poll.
    pub lookup_refresh: Duration,
    /// Requests one target may have in flight at once: a walk's columns are split into this
    /// many chains, each on its own socket. 1 sends one request after another.
    pub max_requests_in_flight: usize,
}

impl Default for SnmpGlobal {
    /// The defaults of an absent `global.snmp` section.
    fn default() -> Self {
        SnmpGlobal {
            max_repetitions: 25,
            retries: 1,
            max_oids_per_get: 32,
            wrap_large_counters: true,
            max_message_size: 1472,
            lookup_refresh: Duration::from_secs(15 * 60),
            max_requests_in_flight: 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Web {
    /// Addresses the exporter listens on ("0.0.0.0:9090" by default).
    pub listen_addresses: Vec<String>,
}

/// `database:`. Every field has a default, so an absent section is a valid one.
#[derive(Debug, Clone, PartialEq)]
pub struct Database {
    /// `url` or the content of `url_file`; `ISPMONITOR_DATABASE_URL` overrides it.
    pub url: Option<Secret>,
    /// File holding the key that encrypts credential secrets at rest (32 bytes, base64 or
    /// hex); `ISPMONITOR_SECRET_KEY` / `ISPMONITOR_SECRET_KEY_FILE` override it.
    pub secret_key_file: Option<std::path::PathBuf>,
    /// Most connections the pool opens.
    pub pool_size: usize,
    /// How long one connection attempt may take.
    pub connect_timeout: Duration,
    /// How often the poller reloads the whole database inventory, besides LISTEN/NOTIFY.
    pub resync_interval: Duration,
    /// Where the poller keeps a copy of the database inventory (secrets still sealed), read
    /// at start so a restart during a database outage still polls every device.
    pub inventory_cache_file: Option<std::path::PathBuf>,
}

/// `api:`: the inventory API.
#[derive(Debug, Clone, PartialEq)]
pub struct Api {
    /// Where the API listens; `None` when disabled (`listen_address: none`).
    pub listen_address: Option<String>,
    /// Largest request body accepted (413 beyond).
    pub max_body_bytes: usize,
    /// How long audit entries are kept.
    pub audit_retention: Duration,
    /// How long alert history rows are kept after their last delivery.
    pub alert_retention: Duration,
    pub rate_limit: RateLimits,
}

/// `license:`. Every field has a default: without the section the build's own key is trusted,
/// the license is the one installed through the API, and nothing is validated online.
#[derive(Debug, Clone, PartialEq)]
pub struct License {
    /// A license file that is the license (the API cannot replace it then).
    pub file: Option<std::path::PathBuf>,
    /// The built-in vendor key, plus `public_key_file`'s when configured (read at load).
    pub trusted_keys: crate::license::keys::TrustedKeys,
    /// Online re-validation, when `server_url` is set.
    pub online: Option<OnlineValidation>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OnlineValidation {
    /// `POST {server_url}/validate`.
    pub server_url: String,
    pub interval: Duration,
    /// How long validation may fail, counted from the last success, before the license stops
    /// granting its limits.
    pub grace_period: Duration,
    /// One request's deadline.
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RateLimits {
    /// `None`: not limited.
    pub per_token: Option<Rate>,
    pub per_address: Option<Rate>,
}

/// A token bucket: refills at `requests_per_second`, holds at most `burst`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub requests_per_second: f64,
    pub burst: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Credential {
    Snmp(SnmpCredential),
    Ssh(SshCredential),
    RouterOs(RouterOsCredential),
}

impl Credential {
    /// The protocol this credential authenticates.
    pub fn protocol(&self) -> crate::poller::Protocol {
        match self {
            Credential::Snmp(_) => crate::poller::Protocol::Snmp,
            Credential::Ssh(_) => crate::poller::Protocol::Ssh,
            Credential::RouterOs(_) => crate::poller::Protocol::RouterOs,
        }
    }
}

/// How the poller logs in to a MikroTik router's API (8728, or API-SSL on 8729).
#[derive(Debug, Clone, PartialEq)]
pub struct RouterOsCredential {
    pub username: String,
    pub password: Secret,
    /// `None`: the plain API, where the password crosses the network in clear.
    pub tls: Option<RouterOsTls>,
}

/// How the router's certificate is checked. Verification is on unless explicitly turned off.
#[derive(Debug, Clone, PartialEq)]
pub struct RouterOsTls {
    /// DER certificates from `ca_file`: CAs to trust instead of the public roots, or the
    /// router's own self-signed certificate, which is then trusted exactly as it is.
    pub ca_certificates: Vec<Vec<u8>>,
    /// The name the certificate must carry (default: the target's host).
    pub server_name: Option<String>,
    /// Accept any certificate (encryption without authentication). Never the default.
    pub insecure_skip_verify: bool,
}

/// How the poller logs in to a Linux server and checks that it is the right server.
#[derive(Debug, Clone, PartialEq)]
pub struct SshCredential {
    pub username: String,
    pub auth: SshAuth,
    pub host_key: HostKeyPolicy,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SshAuth {
    /// A private key in OpenSSH or PEM format (ed25519, ECDSA or RSA), read from the config or
    /// from `private_key_file`, with an optional passphrase.
    PrivateKey {
        key: Secret,
        passphrase: Option<Secret>,
    },
    Password(Secret),
    /// Keys offered by the ssh-agent at `SSH_AUTH_SOCK`.
    Agent,
}

/// How a server's host key is verified. There is no "accept anything" variant on purpose.
#[derive(Debug, Clone, PartialEq)]
pub enum HostKeyPolicy {
    /// Checked against an OpenSSH known_hosts file. With `accept_new`, a host that is not in the
    /// file yet is accepted once and appended to it; a changed key is always refused.
    KnownHosts {
        file: std::path::PathBuf,
        accept_new: bool,
    },
    /// One public key in `authorized_keys` format (`ssh-ed25519 AAAA...`), pinned for every target
    /// using the credential.
    Pinned(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum SnmpCredential {
    V1 { community: Secret },
    V2c { community: Secret },
    V3(SnmpV3Credential),
}

#[derive(Debug, Clone, PartialEq)]
pub struct SnmpV3Credential {
    pub username: String,
    pub security_level: SecurityLevel,
    /// Present for authNoPriv and authPriv.
    pub auth: Option<(AuthProtocol, Secret)>,
    /// Present for authPriv.
    pub privacy: Option<(PrivProtocol, Secret)>,
    /// How AES-192/256 keys are extended from a shorter digest (net-snmp vs Cisco style).
    pub key_extension: Option<KeyExtension>,
    pub context_name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityLevel {
    NoAuthNoPriv,
    AuthNoPriv,
    AuthPriv,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthProtocol {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrivProtocol {
    Des,
    Aes128,
    Aes192,
    Aes256,
}

impl SecurityLevel {
    /// The name the config file and the API use.
    pub fn config_name(self) -> &'static str {
        match self {
            SecurityLevel::NoAuthNoPriv => "noAuthNoPriv",
            SecurityLevel::AuthNoPriv => "authNoPriv",
            SecurityLevel::AuthPriv => "authPriv",
        }
    }
}

impl AuthProtocol {
    /// The name the config file and the API use (net-snmp's spelling).
    pub fn config_name(self) -> &'static str {
        match self {
            AuthProtocol::Md5 => "MD5",
            AuthProtocol::Sha1 => "SHA",
            AuthProtocol::Sha224 => "SHA224",
            AuthProtocol::Sha256 => "SHA256",
            AuthProtocol::Sha384 => "SHA384",
            AuthProtocol::Sha512 => "SHA512",
        }
    }
}

impl PrivProtocol {
    /// The name the config file and the API use (net-snmp's spelling).
    pub fn config_name(self) -> &'static str {
        match self {
            PrivProtocol::Des => "DES",
            PrivProtocol::Aes128 => "AES",
            PrivProtocol::Aes192 => "AES192",
            PrivProtocol::Aes256 => "AES256",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyExtension {
    /// net-snmp's `AES-256` (draft-blumenthal-aes-usm).
    Blumenthal,
    /// Cisco's `AES-256-C` (draft-reeder-snmpv3-usm-3desede).
    Reeder,
}

impl KeyExtension {
    /// The name the config file and the API use.
    pub fn config_name(self) -> &'static str {
        match self {
            KeyExtension::Blumenthal => "blumenthal",
            KeyExtension::Reeder => "reeder",
        }
    }
}

/// What to collect. Built-in SNMP modules need no entry in the config file.
#[derive(Debug, Clone, PartialEq)]
pub struct Module {
    pub name: String,
    pub kind: ModuleKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ModuleKind {
    Snmp(SnmpModule),
    Ssh(SshModule),
    Icmp(IcmpModule),
    RouterOs(RouterOsModule),
}

impl Module {
    pub fn protocol(&self) -> crate::poller::Protocol {
        match self.kind {
            ModuleKind::Snmp(_) => crate::poller::Protocol::Snmp,
            ModuleKind::Ssh(_) => crate::poller::Protocol::Ssh,
            ModuleKind::Icmp(_) => crate::poller::Protocol::Icmp,
            ModuleKind::RouterOs(_) => crate::poller::Protocol::RouterOs,
        }
    }
}

/// What to read from a MikroTik router over its API.
#[derive(Debug, Clone, PartialEq)]
pub struct RouterOsModule {
    pub collect: std::collections::BTreeSet<RouterOsSection>,
}

/// One part of a RouterOS poll: the menus it reads and the families it produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RouterOsSection {
    /// `/ppp/active` count of PPPoE sessions.
    Pppoe,
    /// `/ip/dhcp-server/lease` counts by status.
    Dhcp,
    /// `/ip/firewall/connection` count and the tracking table's limit.
    Firewall,
    /// `/system/resource`.
    Resource,
    /// `/system/health`.
    Health,
    /// `/interface` with stats.
    Interfaces,
}

impl RouterOsSection {
    pub const ALL: [RouterOsSection; 6] = [
        RouterOsSection::Pppoe,
        RouterOsSection::Dhcp,
        RouterOsSection::Firewall,
        RouterOsSection::Resource,
        RouterOsSection::Health,
        RouterOsSection::Interfaces,
    ];

    /// The name `collect:` uses.
    pub fn as_str(self) -> &'static str {
        match self {
            RouterOsSection::Pppoe => "pppoe",
            RouterOsSection::Dhcp => "dhcp",
            RouterOsSection::Firewall => "firewall",
            RouterOsSection::Resource => "resource",
            RouterOsSection::Health => "health",
            RouterOsSection::Interfaces => "interfaces",
        }
    }
}

/// What to read from a Linux server over SSH (one command per poll reads all of it).
#[derive(Debug, Clone, PartialEq)]
pub struct SshModule {
    /// Filesystems to report, by mountpoint and fstype.
    pub filesystems: FilesystemFilter,
    /// The most output one poll may read; a poll that produces more fails with `command_failed`.
    pub max_output_bytes: usize,
}

/// Which filesystems are reported. Pseudo filesystems (proc, sysfs, tmpfs, overlay...) are
/// excluded by default.
#[derive(Debug, Clone, PartialEq)]
pub struct FilesystemFilter {
    /// When non-empty, only these fstypes are reported.
    pub include_fstypes: Vec<String>,
    pub exclude_fstypes: Vec<String>,
    /// When non-empty, only mountpoints matching one of these (`*` globs) are reported.
    pub include_mountpoints: Vec<String>,
    pub exclude_mountpoints: Vec<String>,
}

/// How a host is pinged.
#[derive(Debug, Clone, PartialEq)]
pub struct IcmpModule {
    /// Echo requests per probe.
    pub count: u32,
    /// Time between two echo requests of one probe.
    pub interval: Duration,
    /// How long to wait for each reply. The probe also ends at the poll timeout.
    pub timeout: Duration,
    /// ICMP payload bytes (after the 8-byte ICMP header).
    pub payload_size: usize,
    pub ip_protocol: IpProtocol,
    /// Source address for the echo requests, if not the kernel's choice.
    pub source_address: Option<std::net::IpAddr>,
}

/// Which address family to ping a host name with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpProtocol {
    Ipv4,
    Ipv6,
    /// Try IPv4 first, IPv6 when the name has no IPv4 address.
    PreferIpv4,
    /// Try IPv6 first, IPv4 when the name has no IPv6 address.
    PreferIpv6,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SnmpModule {
    /// sysUpTime, sysName, sysDescr, sysObjectID.
    System,
    /// ifTable + ifXTable (64-bit counters, 32-bit fallback).
    IfMib,
    /// hrProcessorLoad, hrStorage.
    HostResources,
    /// bgpPeerTable (BGP4-MIB).
    Bgp4,
    /// User-defined OIDs.
    Custom(CustomSnmpModule),
}

#[derive(Debug, Clone, PartialEq)]
pub struct CustomSnmpModule {
    pub metrics: Vec<CustomMetric>,
    /// Overrides `global.snmp.max_repetitions` for this module's walks.
    pub max_repetitions: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CustomMetric {
    /// Exposed family name, already prefixed with `ispmonitor_` (and ending in `_total` for
    /// counters).
    pub name: String,
    pub help: String,
    /// Numeric OID. With no `index` labels it is a scalar (GET of `oid.0` unless the OID already
    /// ends in `.0`); with index labels it is a table column that is walked.
    pub oid: Vec<u32>,
    pub metric_type: CustomMetricType,
    /// One label per index sub-identifier; the last label takes any remaining sub-identifiers
    /// joined with dots.
    pub index: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomMetricType {
    Gauge,
    Counter,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TargetKind {
    Router,
    Server,
    Host,
}

impl TargetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Router => "router",
            TargetKind::Server => "server",
            TargetKind::Host => "host",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub name: String,
    /// The address as written (host, host:port, [v6]:port).
    pub address: String,
    /// Host part of the address (IP literal or DNS name), without brackets.
    pub host: String,
    /// Port given in the address, if any (protocols apply their default otherwise).
    pub port: Option<u16>,
    pub kind: TargetKind,
    pub modules: Vec<Arc<Module>>,
    pub credential_name: Option<String>,
    pub credential: Option<Arc<Credential>>,
    pub interval: Duration,
    pub timeout: Duration,
    /// Free-form labels (site, role, vendor...), exported on `ispmonitor_target_info`.
    pub labels: BTreeMap<String, String>,
    /// Where the target was defined.
    pub source: TargetSource,
}

/// Where a target comes from: the YAML file, or the PostgreSQL inventory (through the API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum TargetSource {
    #[default]
    File,
    Database,
}

impl TargetSource {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetSource::File => "file",
            TargetSource::Database => "database",
        }
    }
}

impl Target {
    /// The protocols this target is polled with, each once, in a stable order.
    pub fn protocols(&self) -> Vec<crate::poller::Protocol> {
        let mut protocols: Vec<_> = self.modules.iter().map(|m| m.protocol()).collect();
        protocols.sort();
        protocols.dedup();
        protocols
    }

    /// The modules of one protocol.
    pub fn modules_for(&self, protocol: crate::poller::Protocol) -> Vec<Arc<Module>> {
        self.modules
            .iter()
            .filter(|m| m.protocol() == protocol)
            .cloned()
            .collect()
    }
}
