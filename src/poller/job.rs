//! Turns a target and one of its protocols into the poller that polls it, behind a small trait
//! so the scheduler can be tested with scripted pollers.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::icmp::{IcmpJob, IcmpPoller};
use super::outcome::{PollOutcome, Protocol};
use super::routeros::{RouterOsJob, RouterOsPoller};
use super::snmp::{SnmpJob, SnmpPoller};
use super::ssh::{SshJob, SshPoller};
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

pub type PollFuture<'a> = Pin<Box<dyn Future<Output = PollOutcome> + Send + 'a>>;

/// Polls one (target, protocol), keeping protocol state (sessions) between polls.
pub trait TargetPoller: Send {
    fn poll(&mut self) -> PollFuture<'_>;
}

/// Builds the poller of a (target, protocol).
pub type PollerFactory = Arc<
    dyn Fn(&Arc<Target>, Protocol, &Global) -> Result<Box<dyn TargetPoller>, JobError>
        + Send
        + Sync,
>;

/// The production factory: one poller implementation per protocol.
pub fn protocol_pollers() -> PollerFactory {
    Arc::new(new_poller)
}

/// Builds the real poller of a (target, protocol).
pub fn new_poller(
    target: &Arc<Target>,
    protocol: Protocol,
    global: &Global,
) -> Result<Box<dyn TargetPoller>, JobError> {
    match protocol {
        Protocol::Snmp => Ok(Box::new(snmp_poller(target, global)?)),
        Protocol::Icmp => Ok(Box::new(icmp_poller(target)?)),
        Protocol::Ssh => Ok(Box::new(ssh_poller(target)?)),
        Protocol::RouterOs => Ok(Box::new(routeros_poller(target)?)),
    }
}

impl TargetPoller for SnmpPoller {
    fn poll(&mut self) -> PollFuture<'_> {
        Box::pin(SnmpPoller::poll(self))
    }
}

impl TargetPoller for IcmpPoller {
    fn poll(&mut self) -> PollFuture<'_> {
        Box::pin(IcmpPoller::poll(self))
    }
}

fn icmp_poller(target: &Arc<Target>) -> Result<IcmpPoller, JobError> {
    // Only a target without an ICMP module has no job: the validator never schedules one.
    let job = IcmpJob::for_target(target).ok_or_else(|| JobError::Unsupported {
        target: target.name.clone(),
        protocol: Protocol::Icmp.as_str(),
    })?;
    Ok(IcmpPoller::new(job))
}

fn snmp_poller(target: &Arc<Target>, global: &Global) -> Result<SnmpPoller, JobError> {
    let credential = match target.credential.as_deref() {
        Some(Credential::Snmp(c)) => c.clone(),
        Some(_) | None => {
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

impl TargetPoller for SshPoller {
    fn poll(&mut self) -> PollFuture<'_> {
        Box::pin(SshPoller::poll(self))
    }
}

fn ssh_poller(target: &Arc<Target>) -> Result<SshPoller, JobError> {
    let credential = match target.credential.as_deref() {
        Some(Credential::Ssh(c)) => c.clone(),
        Some(_) | None => {
            return Err(JobError::MissingCredential {
                target: target.name.clone(),
                protocol: Protocol::Ssh.as_str(),
            })
        }
    };
    Ok(SshPoller::new(SshJob {
        target: target.clone(),
        credential,
        modules: target.modules_for(Protocol::Ssh),
        timeout: target.timeout,
    }))
}

impl TargetPoller for RouterOsPoller {
    fn poll(&mut self) -> PollFuture<'_> {
        Box::pin(RouterOsPoller::poll(self))
    }
}

fn routeros_poller(target: &Arc<Target>) -> Result<RouterOsPoller, JobError> {
    let credential = match target.credential.as_deref() {
        Some(Credential::RouterOs(c)) => c.clone(),
        Some(_) | None => {
            return Err(JobError::MissingCredential {
                target: target.name.clone(),
                protocol: Protocol::RouterOs.as_str(),
            })
        }
    };
    Ok(RouterOsPoller::new(RouterOsJob {
        target: target.clone(),
        credential,
        modules: target.modules_for(Protocol::RouterOs),
        timeout: target.timeout,
    }))
}
