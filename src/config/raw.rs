//! The serde mirror of the YAML file: every key as written, checked for shape only.
//!
//! Required keys are `Option`s here so that a missing one is reported with its path alongside
//! every other problem, instead of stopping the parse at the first one.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub global: Option<RawGlobal>,
    pub web: Option<RawWeb>,
    pub database: Option<RawDatabase>,
    pub api: Option<RawApi>,
    pub license: Option<RawLicense>,
    pub credentials: Option<BTreeMap<String, RawCredential>>,
    pub modules: Option<BTreeMap<String, RawModule>>,
    pub targets: Option<Vec<RawTarget>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGlobal {
    pub interval: Option<String>,
    pub timeout: Option<String>,
    // Signed so that `-1` is reported as out of range with its path rather than as a type error.
    pub max_concurrent_polls: Option<i64>,
    pub max_concurrent_per_target: Option<i64>,
    pub snmp: Option<RawSnmpGlobal>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSnmpGlobal {
    pub max_repetitions: Option<i64>,
    pub retries: Option<i64>,
    pub max_oids_per_get: Option<i64>,
    pub wrap_large_counters: Option<bool>,
    pub max_requests_in_flight: Option<i64>,
    pub max_message_size: Option<i64>,
    pub lookup_refresh: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWeb {
    pub listen_address: Option<OneOrMany>,
}

/// `database:`: the PostgreSQL inventory (optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDatabase {
    pub url: Option<String>,
    pub url_file: Option<String>,
    pub secret_key_file: Option<String>,
    pub pool_size: Option<i64>,
    pub connect_timeout: Option<String>,
    pub resync_interval: Option<String>,
    pub inventory_cache_file: Option<String>,
}

/// `api:`: the inventory API's HTTP server.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApi {
    pub listen_address: Option<String>,
    pub max_body_bytes: Option<i64>,
    pub audit_retention: Option<String>,
    pub alert_retention: Option<String>,
    pub rate_limit: Option<RawRateLimits>,
}

/// `license:`: where the license comes from and how it is re-validated online.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLicense {
    pub file: Option<String>,
    pub public_key_file: Option<String>,
    pub server_url: Option<String>,
    pub validation_interval: Option<String>,
    pub grace_period: Option<String>,
    pub validation_timeout: Option<String>,
}

/// `api.rate_limit:`: token buckets per API token and per source address.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRateLimits {
    pub per_token: Option<RawRate>,
    pub per_address: Option<RawRate>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRate {
    pub requests_per_second: Option<f64>,
    pub burst: Option<i64>,
}

/// A string or a list of strings (`listen_address: "0.0.0.0:9090"` or a list of them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneOrMany(pub Vec<String>);

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(OneOrManyVisitor)
    }
}

struct OneOrManyVisitor;

impl<'de> Visitor<'de> for OneOrManyVisitor {
    type Value = OneOrMany;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or a list of strings")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<OneOrMany, E> {
        Ok(OneOrMany(vec![value.to_string()]))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<String>()? {
            items.push(item);
        }
        Ok(OneOrMany(items))
    }
}

/// One entry under `credentials:`. All fields of all versions are accepted here; which ones
/// belong to the chosen version is checked during validation, with a clearer message than
/// serde's "unknown field".
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCredential {
    #[serde(rename = "type")]
    pub credential_type: Option<String>,
    /// `1`, `2c` or `3`; YAML integers arrive as their text.
    pub version: Option<String>,
    pub community: Option<String>,
    pub community_file: Option<String>,
    pub username: Option<String>,
    pub security_level: Option<String>,
    pub auth_protocol: Option<String>,
    pub auth_password: Option<String>,
    pub auth_password_file: Option<String>,
    pub priv_protocol: Option<String>,
    pub priv_password: Option<String>,
    pub priv_password_file: Option<String>,
    pub key_extension: Option<String>,
    pub context_name: Option<String>,
    // SSH (`type: ssh`); `username` above is shared with SNMP v3.
    pub private_key: Option<String>,
    pub private_key_file: Option<String>,
    pub passphrase: Option<String>,
    pub passphrase_file: Option<String>,
    pub password: Option<String>,
    pub password_file: Option<String>,
    pub agent: Option<bool>,
    pub known_hosts_file: Option<String>,
    pub accept_new_host_keys: Option<bool>,
    pub host_key: Option<String>,
    pub host_key_file: Option<String>,
    // RouterOS API (`type: routeros`); `username` and `password(_file)` are shared with SSH.
    pub tls: Option<bool>,
    pub ca_file: Option<String>,
    pub server_name: Option<String>,
    pub insecure_skip_verify: Option<bool>,
}

/// Which fields of another credential type are set: each validator reports those of the
/// types it is not, rather than ignoring them (the user meant something).
impl RawCredential {
    /// SNMP-only fields.
    pub fn snmp_fields_set(&self) -> [(&'static str, bool); 12] {
        [
            ("version", self.version.is_some()),
            ("community", self.community.is_some()),
            ("community_file", self.community_file.is_some()),
            ("security_level", self.security_level.is_some()),
            ("auth_protocol", self.auth_protocol.is_some()),
            ("auth_password", self.auth_password.is_some()),
            ("auth_password_file", self.auth_password_file.is_some()),
            ("priv_protocol", self.priv_protocol.is_some()),
            ("priv_password", self.priv_password.is_some()),
            ("priv_password_file", self.priv_password_file.is_some()),
            ("key_extension", self.key_extension.is_some()),
            ("context_name", self.context_name.is_some()),
        ]
    }

    /// SSH-only fields (`password` is shared with RouterOS, `username` with all).
    pub fn ssh_fields_set(&self) -> [(&'static str, bool); 9] {
        [
            ("private_key", self.private_key.is_some()),
            ("private_key_file", self.private_key_file.is_some()),
            ("passphrase", self.passphrase.is_some()),
            ("passphrase_file", self.passphrase_file.is_some()),
            ("agent", self.agent.is_some()),
            ("known_hosts_file", self.known_hosts_file.is_some()),
            ("accept_new_host_keys", self.accept_new_host_keys.is_some()),
            ("host_key", self.host_key.is_some()),
            ("host_key_file", self.host_key_file.is_some()),
        ]
    }

    /// RouterOS-only fields (the TLS settings).
    pub fn routeros_fields_set(&self) -> [(&'static str, bool); 4] {
        [
            ("tls", self.tls.is_some()),
            ("ca_file", self.ca_file.is_some()),
            ("server_name", self.server_name.is_some()),
            ("insecure_skip_verify", self.insecure_skip_verify.is_some()),
        ]
    }
}

/// One entry under `modules:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModule {
    #[serde(rename = "type")]
    pub module_type: Option<String>,
    pub max_repetitions: Option<i64>,
    pub metrics: Option<Vec<RawMetric>>,
    // ICMP module fields (`type: icmp`), validated in config/icmp_module.rs.
    // Integers are signed so `-1` is reported as out of range with its path.
    pub count: Option<i64>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub payload_size: Option<i64>,
    pub ip_protocol: Option<String>,
    pub source_address: Option<String>,

    // SSH modules (`type: ssh`).
    pub filesystems: Option<RawFilesystemFilter>,
    pub max_output_bytes: Option<i64>,

    // RouterOS modules (`type: routeros`): which sections to read.
    pub collect: Option<Vec<String>>,
}

/// `filesystems:` of an SSH module: which mounts are reported.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFilesystemFilter {
    pub include_fstypes: Option<Vec<String>>,
    pub exclude_fstypes: Option<Vec<String>>,
    pub include_mountpoints: Option<Vec<String>>,
    pub exclude_mountpoints: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetric {
    pub name: Option<String>,
    pub oid: Option<String>,
    #[serde(rename = "type")]
    pub metric_type: Option<String>,
    pub index: Option<Vec<String>>,
    pub help: Option<String>,
}

/// One entry under `targets:`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    pub name: Option<String>,
    pub address: Option<String>,
    pub kind: Option<String>,
    pub modules: Option<Vec<String>>,
    pub credential: Option<String>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub labels: Option<BTreeMap<String, String>>,
    /// SSH: this server's pinned host key, overriding the credential's host-key policy.
    pub host_key: Option<String>,
}
