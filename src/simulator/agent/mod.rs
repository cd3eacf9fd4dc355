//! The simulator's own SNMP agent (v1, v2c, v3 USM): UDP sockets in, `MibView` lookups out.
//!
//! It is an independent implementation (its own BER codec, no snmp2), so the poller's client
//! and this agent check each other. Layers: `ber` (codec) -> `message` (v1/v2c/v3 framing) ->
//! `v3` + `usm` (security) -> `respond` (PDU semantics, sizes) over `view` (device MIB plus the
//! engine's own objects) -> `server` (sockets, tasks, reactions). `load` drives it for
//! benchmarks.

pub mod ber;
pub mod load;
pub mod message;
pub mod respond;
mod server;
pub mod stats;
pub mod usm;
pub mod v3;
pub mod view;

use std::net::SocketAddr;
use std::sync::Arc;

use thiserror::Error;

use crate::config::Secret;
use crate::simulator::mib::MibView;

pub use server::Agent;
pub use stats::{AgentStats, AgentStatsSnapshot};

/// The agent's own message size limit by default: an Ethernet MTU's worth of UDP payload
/// (1500 - 20 IPv4 - 8 UDP), which is what real routers answer with (net-snmp's default is
/// the same 1472). A bigger limit would make simulated walks cheaper than real ones.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 1472;

/// SNMPv3 authentication protocols (HMAC-MD5-96, HMAC-SHA-96, and the RFC 7860 SHA-2 ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsmAuth {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

/// SNMPv3 privacy protocols: DES-CBC (RFC 3414) and AES-128-CFB (RFC 3826).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsmPriv {
    Des,
    Aes128,
}

/// One SNMPv3 user every simulated device knows. Passwords must be at least 8 characters.
/// A user is accepted at its own level and at any lower one (noAuthNoPriv included): there is
/// no VACM, every view is read-only.
#[derive(Debug, Clone)]
pub struct UsmUser {
    pub name: String,
    pub auth: UsmAuth,
    pub auth_password: Secret,
    pub privacy: Option<(UsmPriv, Secret)>,
}

/// Who may read the devices: the community serves v1 and v2c.
#[derive(Debug, Clone)]
pub struct AgentSecurity {
    pub community: Secret,
    pub users: Vec<UsmUser>,
}

/// Settings shared by every endpoint of one agent.
#[derive(Debug, Clone)]
pub struct AgentSettings {
    pub security: AgentSecurity,
    /// Simulated time zero: `MibView` calls get `epoch.elapsed()`, engineTime counts from it.
    pub epoch: tokio::time::Instant,
    /// The agent's own limit on response size (see `DEFAULT_MAX_MESSAGE_SIZE`); a v3
    /// request's msgMaxSize lowers it further.
    pub max_message_size: usize,
}

impl AgentSettings {
    /// Settings with the epoch now and the default message size.
    pub fn new(security: AgentSecurity) -> Self {
        AgentSettings {
            security,
            epoch: tokio::time::Instant::now(),
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
        }
    }
}

/// One simulated device on one UDP address.
#[derive(Clone)]
pub struct Endpoint {
    pub addr: SocketAddr,
    pub device: Arc<dyn MibView>,
    /// The device's snmpEngineID (see `engine_id_for`).
    pub engine_id: Vec<u8>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("addr", &self.addr)
            .field("engine_id", &self.engine_id)
            .finish_non_exhaustive()
    }
}

/// IANA's enterprise number reserved for documentation and examples (RFC 5612): no real
/// vendor's engine ids can collide with the simulator's.
const ENGINE_ENTERPRISE: u32 = 32473;
/// RFC 3411 engine id format 5: administratively assigned octets.
const ENGINE_FORMAT_OCTETS: u8 = 5;

/// A unique, deterministic engine id for device `index` (RFC 3411 SnmpEngineID: enterprise
/// with the top bit set, format 5, then "ispmsim" and the index).
pub fn engine_id_for(index: u32) -> Vec<u8> {
    let mut id = Vec::with_capacity(16);
    id.extend_from_slice(&(ENGINE_ENTERPRISE | 0x8000_0000).to_be_bytes());
    id.push(ENGINE_FORMAT_OCTETS);
    id.extend_from_slice(b"ispmsim");
    id.extend_from_slice(&index.to_be_bytes());
    id
}

/// Why the agent could not start.
#[derive(Debug, Error)]
pub enum AgentError {
    #[error("{addr}: {error}")]
    Bind {
        addr: SocketAddr,
        error: std::io::Error,
    },
    #[error(
        "{needed} open files are needed for the sockets but the hard limit is {hard}: \
         raise it (ulimit -Hn, or LimitNOFILE= in a systemd unit) or serve fewer devices"
    )]
    FileLimit { needed: u64, hard: u64 },
    #[error("cannot read or raise the open-file limit: {0}")]
    Rlimit(std::io::Error),
    #[error("SNMPv3 user {user:?}: passwords must be at least 8 characters (RFC 3414)")]
    ShortPassword { user: String },
}

/// Binds every endpoint's socket before anything is served (raising the open-file limit if
/// needed) and derives the v3 users' keys.
pub async fn bind(
    endpoints: Vec<Endpoint>,
    settings: Arc<AgentSettings>,
) -> Result<Agent, AgentError> {
    server::bind(endpoints, settings).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_ids_follow_rfc_3411_and_are_unique() {
        let id = engine_id_for(7);
        assert_eq!(id[..5], [0x80, 0x00, 0x7e, 0xd9, 5]);
        assert!((5..=32).contains(&id.len()));
        assert_ne!(engine_id_for(1), engine_id_for(2));
        assert_eq!(engine_id_for(3), engine_id_for(3));
    }

    #[test]
    fn settings_never_print_secrets() {
        let settings = AgentSettings::new(AgentSecurity {
            community: Secret::new("sekritcommunity"),
            users: vec![UsmUser {
                name: "alice".into(),
                auth: UsmAuth::Sha1,
                auth_password: Secret::new("authpassword1"),
                privacy: Some((UsmPriv::Aes128, Secret::new("privpassword1"))),
            }],
        });
        let text = format!("{settings:?}");
        assert!(text.contains("alice"));
        for secret in ["sekritcommunity", "authpassword1", "privpassword1"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
    }
}
