//! Turns a target and one of its protocols into the poller that polls it.

use std::sync::Arc;

use super::outcome::{PollOutcome, Protocol};
use super::snmp::{SnmpJob, SnmpPoller};
use crate::config::{Credential, Global, Target};

/// Why a target cannot be polled with a protocol (a config the validator should have refused).
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("target {target}: protocol {protocol} needs a credential of that protocol")]
    MissingCredential {
        target: String,
        protocol: &'static str,
    },
    #[error("target {target}: protocol {protocol} is not supported yet")]
    Unsupported {
        target: String,
        protocol: &'static str,
    },
}

/// The poller of one (target, protocol). Keeps protocol state (sessions) between polls.
pub enum ProtocolPoller {
    Snmp(SnmpPoller),
}

impl ProtocolPoller {
    pub fn new(target: &Arc<Target>, protocol: Protocol, global: &Global) -> Result<Self, JobError> {
        match protocol {
            Protocol::Snmp => snmp_poller(target, global).map(ProtocolPoller::Snmp),
            Protocol::Ssh | Protocol::Icmp => Err(JobError::Unsupported {
                target: target.name.clone(),
                protocol: protocol.as_str(),
            }),
        }
    }

    pub async fn poll(&mut self) -> PollOutcome {
        match self {
            ProtocolPoller::Snmp(p) => p.poll().await,
        }
    }
}

fn snmp_poller(target: &Arc<Target>, global: &Global) -> Result<SnmpPoller, JobError> {
    let credential = match target.credential.as_deref() {
        Some(Credential::Snmp(c)) => c.clone(),
        None => {
            return Err(JobError::MissingCredential {
                target: target.name.clone(),
                protocol: Protocol::Snmp.as_str(),
            })
        }
    };
    Ok(SnmpPoller::new(SnmpJob {
        target: target.clone(),
        credential,
        modules: target.modules_for(Protocol::Snmp),
        settings: global.snmp.clone(),
        timeout: target.timeout,
    }))
}
