//! The credentials a simulated fleet accepts: one v2c community, one SNMPv3 user and the
//! RouterOS API login of its MikroTik devices, with the documented defaults (`public`;
//! `simuser`, SHA/AES, `authpass123`/`privpass123`; API: `simuser`/`apipass123`).

use crate::config::Secret;

pub const DEFAULT_COMMUNITY: &str = "public";
pub const DEFAULT_V3_USER: &str = "simuser";
pub const DEFAULT_AUTH_PASSWORD: &str = "authpass123";
pub const DEFAULT_PRIV_PASSWORD: &str = "privpass123";
pub const DEFAULT_ROUTEROS_PASSWORD: &str = "apipass123";

/// SNMPv3 authentication protocols the simulator offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SimAuth {
    Md5,
    Sha,
    Sha256,
}

/// SNMPv3 privacy protocols the simulator offers (`none`: authNoPriv).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SimPriv {
    None,
    Des,
    Aes,
}

impl SimAuth {
    /// The protocol's name in an ispmonitor config.
    pub fn config_name(self) -> &'static str {
        match self {
            SimAuth::Md5 => "MD5",
            SimAuth::Sha => "SHA",
            SimAuth::Sha256 => "SHA256",
        }
    }
}

impl SimPriv {
    pub fn config_name(self) -> Option<&'static str> {
        match self {
            SimPriv::None => None,
            SimPriv::Des => Some("DES"),
            SimPriv::Aes => Some("AES"),
        }
    }
}

/// What every simulated device accepts.
#[derive(Debug, Clone, PartialEq)]
pub struct SimCredentials {
    pub community: Secret,
    pub username: String,
    pub auth: SimAuth,
    pub auth_password: Secret,
    pub privacy: SimPriv,
    pub priv_password: Secret,
    /// The RouterOS API password (the user name is the SNMPv3 one).
    pub routeros_password: Secret,
}

impl Default for SimCredentials {
    fn default() -> Self {
        SimCredentials {
            community: Secret::new(DEFAULT_COMMUNITY),
            username: DEFAULT_V3_USER.to_string(),
            auth: SimAuth::Sha,
            auth_password: Secret::new(DEFAULT_AUTH_PASSWORD),
            privacy: SimPriv::Aes,
            priv_password: Secret::new(DEFAULT_PRIV_PASSWORD),
            routeros_password: Secret::new(DEFAULT_ROUTEROS_PASSWORD),
        }
    }
}
