//! Reachability of each target, per protocol, with short timeouts, several at once: SNMP one GET
//! of the system group with the target's credential, SSH connect + host key + login (+ the
//! collection command), ICMP one echo request.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use serde::Serialize;

use crate::config::{Config, Module, ModuleKind, Target};
use crate::poller::icmp::{IcmpSockets, SocketMode};
use crate::poller::job::new_poller;
use crate::poller::outcome::{FailureReason, PollOutcome};
use crate::poller::Protocol;

/// One (target, protocol) check.
#[derive(Debug, Clone, Serialize)]
pub struct TargetCheck {
    pub target: String,
    pub kind: &'static str,
    /// `file` or `database`.
    pub source: &'static str,
    pub address: String,
    pub protocol: &'static str,
    pub ok: bool,
    /// `success`, a poll failure reason (`timeout`, `auth`...), or `icmp_not_permitted`.
    pub result: &'static str,
    pub message: String,
    /// SNMP: the sysName the device answered with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sys_name: Option<String>,
    pub seconds: f64,
}

/// Checks every protocol of every target of `config`, at most `concurrency` at once, each
/// within `timeout` (or the target's own timeout when shorter). Answers in config order.
pub async fn check_all(config: &Config, timeout: Duration, concurrency: usize) -> Vec<TargetCheck> {
    let jobs: Vec<(Arc<Target>, Protocol)> = config
        .targets
        .iter()
        .flat_map(|t| t.protocols().into_iter().map(move |p| (t.clone(), p)))
        .collect();
    stream::iter(jobs)
        .map(|(target, protocol)| check_one(config, target, protocol, timeout))
        .buffered(concurrency.max(1))
        .collect()
        .await
}

async fn check_one(
    config: &Config,
    target: Arc<Target>,
    protocol: Protocol,
    timeout: Duration,
) -> TargetCheck {
    let started = Instant::now();
    let mut check = TargetCheck {
        target: target.name.clone(),
        kind: target.kind.as_str(),
        source: target.source.as_str(),
        address: target.address.clone(),
        protocol: protocol.as_str(),
        ok: false,
        result: "",
        message: String::new(),
        sys_name: None,
        seconds: 0.0,
    };
    let probe = probe_target(config, &target, protocol, timeout);
    let outcome = match new_poller(&probe, protocol, &config.global) {
        Ok(mut poller) => {
            // The pollers keep their own deadline; this guard only covers a bug in one.
            let guard = probe.timeout + Duration::from_secs(1);
            tokio::time::timeout(guard, poller.poll())
                .await
                .unwrap_or_else(|_| PollOutcome::failed(FailureReason::Timeout))
        }
        Err(error) => {
            check.result = "config_error";
            check.message = error.to_string();
            check.seconds = started.elapsed().as_secs_f64();
            return check;
        }
    };
    check.seconds = started.elapsed().as_secs_f64();
    match outcome.result {
        Ok(()) => {
            check.ok = true;
            check.result = "success";
            check.sys_name = sys_name(&outcome);
            check.message = success_message(protocol, check.sys_name.as_deref());
        }
        Err(FailureReason::Unreachable) if protocol == Protocol::Icmp && icmp_refused() => {
            check.result = "icmp_not_permitted";
            check.message = "this process may not open an ICMP socket, so no echo was sent: \
                run as root or with CAP_NET_RAW, or put its group inside \
                net.ipv4.ping_group_range"
                .into();
        }
        Err(reason) => {
            check.result = reason.as_str();
            check.message = failure_message(protocol, reason, probe.timeout);
        }
    }
    check
}

/// The target as checked: the timeout shortened, SNMP reduced to the system group, ICMP to one
/// echo request. SSH keeps its modules: their one command is what proves the login works.
fn probe_target(
    config: &Config,
    target: &Target,
    protocol: Protocol,
    timeout: Duration,
) -> Arc<Target> {
    let timeout = target.timeout.min(timeout);
    let modules: Vec<Arc<Module>> = match protocol {
        Protocol::Snmp => match config.modules.get("system") {
            Some(system) => vec![system.clone()],
            None => target.modules_for(Protocol::Snmp),
        },
        Protocol::Ssh => target.modules_for(Protocol::Ssh),
        Protocol::RouterOs => target.modules_for(Protocol::RouterOs),
        Protocol::Icmp => target
            .modules_for(Protocol::Icmp)
            .iter()
            .map(|module| one_echo(module, timeout))
            .collect(),
    };
    Arc::new(Target {
        modules,
        timeout,
        ..target.clone()
    })
}

fn one_echo(module: &Arc<Module>, timeout: Duration) -> Arc<Module> {
    let ModuleKind::Icmp(icmp) = &module.kind else {
        return module.clone();
    };
    let mut icmp = icmp.clone();
    icmp.count = 1;
    icmp.timeout = icmp.timeout.min(timeout);
    Arc::new(Module {
        name: module.name.clone(),
        kind: ModuleKind::Icmp(icmp),
    })
}

/// Whether the shared ICMP sockets could not be opened (the poll then fails `unreachable`).
fn icmp_refused() -> bool {
    IcmpSockets::global()
        .modes()
        .iter()
        .any(|(_, mode)| *mode == SocketMode::Unavailable)
}

fn sys_name(outcome: &PollOutcome) -> Option<String> {
    outcome
        .families
        .iter()
        .filter(|family| &*family.desc.name == "ispmonitor_snmp_system_info")
        .flat_map(|family| family.samples.iter())
        .find_map(|sample| sample.labels.get("sys_name"))
        .filter(|name| !name.is_empty())
}

fn success_message(protocol: Protocol, sys_name: Option<&str>) -> String {
    match (protocol, sys_name) {
        (Protocol::Snmp, Some(name)) => format!("answered the system group (sysName {name:?})"),
        (Protocol::Snmp, None) => "answered the system group".into(),
        (Protocol::Ssh, _) => "connected, host key verified, logged in, command ran".into(),
        (Protocol::Icmp, _) => "answered an echo request".into(),
        (Protocol::RouterOs, _) => "connected, logged in to the API, commands answered".into(),
    }
}

/// What an operator should look at for each failure.
fn failure_message(protocol: Protocol, reason: FailureReason, timeout: Duration) -> String {
    let secs = timeout.as_secs_f64();
    match (protocol, reason) {
        (Protocol::Snmp, FailureReason::Timeout) => format!(
            "no answer within {secs}s: the agent is down or filtered, or (SNMPv1/v2c) the \
             community is wrong, which agents answer with silence"
        ),
        (_, FailureReason::Timeout) => format!("no answer within {secs}s"),
        (_, FailureReason::Unreachable) => {
            "cannot reach the address: port closed, no route, or the name does not resolve".into()
        }
        (Protocol::Snmp, FailureReason::Auth) => {
            "the agent refused the SNMPv3 credential (user, auth or privacy password, or \
             protocols)"
                .into()
        }
        (Protocol::RouterOs, FailureReason::Auth) => {
            "the router refused the API login (user name or password, or the user's group \
             lacks the api policy)"
                .into()
        }
        (_, FailureReason::Auth) => "the server refused the login".into(),
        (_, FailureReason::HostKeyMismatch) => {
            "the server's host key is not the one configured (or is unknown)".into()
        }
        (_, FailureReason::TlsError) => {
            "the TLS handshake failed: the certificate is not trusted (set ca_file to the \
             router's certificate or its CA) or is for another name (set server_name)"
                .into()
        }
        (_, FailureReason::CommandFailed) => "logged in, but the collection command failed".into(),
        (_, FailureReason::ProtocolError) => {
            "the device answered with something that is not valid for the protocol".into()
        }
        (_, FailureReason::ParseError) => {
            "the device answered, but the answer could not be read".into()
        }
    }
}
