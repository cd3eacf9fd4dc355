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
}

#[derive(Debug, Clone, PartialEq)]
pub struct Web {
    /// Addresses the exporter listens on ("0.0.0.0:9090" by default).
    pub listen_addresses: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Credential {
    Snmp(SnmpCredential),
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyExtension {
    /// net-snmp's `AES-256` (draft-blumenthal-aes-usm).
    Blumenthal,
    /// Cisco's `AES-256-C` (draft-reeder-snmpv3-usm-3desede).
    Reeder,
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
}

impl Module {
    pub fn protocol(&self) -> crate::poller::Protocol {
        match self.kind {
            ModuleKind::Snmp(_) => crate::poller::Protocol::Snmp,
        }
    }
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
