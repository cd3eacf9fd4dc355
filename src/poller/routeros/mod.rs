//! RouterOS API polling of MikroTik routers: the word codec, one persistent connection per
//! router (plain TCP 8728 or TLS 8729), count-only collection, metric families of the
//! catalogue's RouterOS section.

pub mod collect;
pub mod connection;
pub mod error;
pub mod tls;
pub mod word;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::{timeout_at, Instant};
use tracing::Instrument;

use self::collect::{decode, plan, Query};
use self::connection::{connect, encode_batch, ConnectSettings, Connection};
use self::error::{RouterOsError, Stage};
use self::word::Command;
use crate::catalog::desc;
use crate::config::{Module, ModuleKind, RouterOsCredential, RouterOsSection, Target};
use crate::poller::backoff::Backoff;
use crate::poller::outcome::{FailureReason, FamilySamples, PollOutcome, Sample, Value};

/// The API port without TLS.
pub const DEFAULT_API_PORT: u16 = 8728;
/// The API-SSL port.
pub const DEFAULT_API_TLS_PORT: u16 = 8729;

/// Everything one RouterOS poller needs to poll one router.
#[derive(Debug, Clone)]
pub struct RouterOsJob {
    pub target: Arc<Target>,
    pub credential: RouterOsCredential,
    /// Only RouterOS modules.
    pub modules: Vec<Arc<Module>>,
    /// Deadline for one whole poll: connect, TLS, login and commands together.
    pub timeout: Duration,
}

/// Polls one router; keeps its logged-in connection between polls.
pub struct RouterOsPoller {
    target_name: String,
    credential: RouterOsCredential,
    host: String,
    port: u16,
    /// Built on first use (it reads the public roots or the CA certificates).
    settings: Option<ConnectSettings>,
    timeout: Duration,
    plan: Vec<(Query, Command)>,
    /// The plan's commands as sent on every poll, encoded once.
    batch: Vec<u8>,
    connection: Option<Connection>,
    backoff: Backoff,
    connections_opened: u64,
    /// `!trap` answers by command path, for `ispmonitor_routeros_command_traps_total`.
    traps: BTreeMap<String, u64>,
    /// The reason of the last failed connection attempt, so a repeated one is logged once.
    last_connect_failure: Option<FailureReason>,
}

impl RouterOsPoller {
    pub fn new(job: RouterOsJob) -> Self {
        let sections: BTreeSet<RouterOsSection> = job
            .modules
            .iter()
            .filter_map(|module| match &module.kind {
                ModuleKind::RouterOs(routeros) => Some(routeros.collect.iter().copied()),
                _ => None,
            })
            .flatten()
            .collect();
        let default_port = if job.credential.tls.is_some() {
            DEFAULT_API_TLS_PORT
        } else {
            DEFAULT_API_PORT
        };
        let plan = plan(&sections);
        let commands: Vec<Command> = plan.iter().map(|(_, c)| c.clone()).collect();
        RouterOsPoller {
            batch: encode_batch(&commands),
            target_name: job.target.name.clone(),
            host: job.target.host.clone(),
            port: job.target.port.unwrap_or(default_port),
            credential: job.credential,
            settings: None,
            timeout: job.timeout,
            plan,
            connection: None,
            backoff: Backoff::default(),
            connections_opened: 0,
            traps: BTreeMap::new(),
            last_connect_failure: None,
        }
    }

    /// Runs the poll's commands once (connecting first when needed) and decodes the answers.
    /// Never takes longer than the target's timeout (plus scheduling noise).
    pub async fn poll(&mut self) -> PollOutcome {
        let span = tracing::debug_span!("routeros_poll", target = %self.target_name);
        let deadline = Instant::now() + self.timeout;
        let result = match timeout_at(deadline, self.collect(deadline))
            .instrument(span)
            .await
        {
            Ok(result) => result,
            Err(_elapsed) => {
                // Dropped mid-exchange: answers may still be on their way, so the sentence
                // stream is no longer in step.
                self.connection = None;
                Err(RouterOsError::Timeout(Stage::Commands))
            }
        };
        match result {
            Ok(families) => PollOutcome {
                result: Ok(()),
                families,
            },
            Err(error) => {
                tracing::debug!(target_name = %self.target_name, %error, "routeros poll failed");
                PollOutcome::failed(error.reason())
            }
        }
    }

    async fn collect(&mut self, deadline: Instant) -> Result<Vec<FamilySamples>, RouterOsError> {
        let answers = self.run(deadline).await?;
        let decoded = decode(&self.plan, &answers)?;
        for path in &decoded.trapped {
            let count = self.traps.entry(path.clone()).or_insert(0);
            if *count == 0 {
                tracing::warn!(
                    target_name = %self.target_name,
                    command = %path,
                    "the router refused a command (!trap); its metrics are left out"
                );
            }
            *count += 1;
        }
        let mut families = decoded.families;
        families.extend(self.own_families());
        Ok(families)
    }

    /// The poller's own counters of this router.
    fn own_families(&self) -> Vec<FamilySamples> {
        let connections = FamilySamples {
            desc: desc("ispmonitor_routeros_connections_total"),
            samples: vec![Sample::new([], Value::Int(self.connections_opened))],
        };
        let traps = self
            .traps
            .iter()
            .map(|(path, count)| Sample::new([("command", path.as_str())], Value::Int(*count)))
            .collect::<Vec<_>>();
        let mut families = vec![connections];
        if !traps.is_empty() {
            families.push(FamilySamples {
                desc: desc("ispmonitor_routeros_command_traps_total"),
                samples: traps,
            });
        }
        families
    }

    /// The answers, over the kept connection when it still works, else over a new one. A
    /// kept connection found dead is replaced at once (routers reboot, idle connections get
    /// cut); only failed *new* connections back off.
    async fn run(&mut self, deadline: Instant) -> Result<Vec<connection::Answer>, RouterOsError> {
        if let Some(connection) = self.connection.take() {
            match self.exchange(connection).await {
                Err(RouterOsError::ConnectionLost) => {
                    tracing::info!(target_name = %self.target_name, "routeros connection lost; reconnecting");
                }
                other => return other,
            }
        }
        self.backoff
            .check(Instant::now())
            .map_err(RouterOsError::BackingOff)?;
        let connection = match self.open(deadline).await {
            Ok(connection) => connection,
            Err(error) => {
                self.connection_failed(&error);
                return Err(error);
            }
        };
        self.exchange(connection).await
    }

    /// Runs the commands, keeping the connection unless the failure broke it.
    async fn exchange(
        &mut self,
        mut connection: Connection,
    ) -> Result<Vec<connection::Answer>, RouterOsError> {
        let result = connection.run(&self.batch, self.plan.len()).await;
        match &result {
            Err(error) if error.breaks_connection() => drop(connection),
            _ => self.connection = Some(connection),
        }
        result
    }

    async fn open(&mut self, deadline: Instant) -> Result<Connection, RouterOsError> {
        let settings = self.settings()?.clone();
        let connection = connect(&settings, deadline).await?;
        self.connections_opened += 1;
        self.backoff.succeeded();
        self.last_connect_failure = None;
        tracing::info!(
            target_name = %self.target_name,
            user = %self.credential.username,
            tls = self.credential.tls.is_some(),
            connections = self.connections_opened,
            "routeros api connected"
        );
        Ok(connection)
    }

    /// The connect settings, built once: the TLS client configuration reads the roots.
    fn settings(&mut self) -> Result<&ConnectSettings, RouterOsError> {
        if self.settings.is_none() {
            let tls = match &self.credential.tls {
                None => None,
                Some(tls) => Some((
                    tls::client_config(tls).map_err(RouterOsError::Tls)?,
                    tls::server_name(tls, &self.host).map_err(RouterOsError::Tls)?,
                )),
            };
            self.settings = Some(ConnectSettings {
                host: self.host.clone(),
                port: self.port,
                credential: self.credential.clone(),
                tls,
            });
        }
        Ok(self.settings.as_ref().expect("set above"))
    }

    /// Logs a failed attempt once per reason (login refused, certificate...) and backs off.
    fn connection_failed(&mut self, error: &RouterOsError) {
        let reason = error.reason();
        self.backoff.failed(reason, Instant::now());
        if self.last_connect_failure != Some(reason) {
            tracing::warn!(
                target_name = %self.target_name,
                reason = reason.as_str(),
                %error,
                "routeros api connection failed"
            );
        }
        self.last_connect_failure = Some(reason);
    }
}
