//! SSH polling of Linux servers: one persistent connection per server, one collection command
//! per poll, pure parsers, metric families of the catalogue's SSH section.

pub mod command;
pub mod connection;
pub mod decode;
pub mod error;
pub mod exec;
pub mod host_key;
pub mod parse;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use russh::keys::PrivateKey;
use tokio::time::{timeout_at, Instant};
use tracing::Instrument;

use crate::config::{FilesystemFilter, Module, ModuleKind, SshAuth, SshCredential, Target};
use crate::poller::outcome::{FailureReason, FamilySamples, PollOutcome};

use self::command::{collection_command, Sections};
use self::connection::{connect, ConnectSettings, Connection};
use self::decode::{decode, DecodeInput};
use self::error::{CommandFailure, SshError, Stage};
use crate::poller::backoff::Backoff;

/// The port of a target address without one.
pub const DEFAULT_SSH_PORT: u16 = 22;

/// Everything one SSH poller needs to poll one server.
#[derive(Debug, Clone)]
pub struct SshJob {
    pub target: Arc<Target>,
    pub credential: SshCredential,
    /// Only SSH modules.
    pub modules: Vec<Arc<Module>>,
    /// Deadline for one whole poll: connect, login and command together.
    pub timeout: Duration,
}

/// Polls one server; keeps its connection between polls.
pub struct SshPoller {
    settings: ConnectSettings,
    timeout: Duration,
    command: String,
    max_output_bytes: usize,
    filters: Vec<FilesystemFilter>,
    connection: Option<Connection>,
    backoff: Backoff,
    /// Connections opened so far (exported as a counter).
    connections_opened: u64,
    /// The decoded private key, decoded once (decrypting a passphrase key is slow on purpose).
    private_key: Option<Arc<PrivateKey>>,
    /// The reason of the last failed connection attempt, so a repeated one is logged once.
    last_connect_failure: Option<FailureReason>,
}

impl SshPoller {
    pub fn new(job: SshJob) -> Self {
        let ssh_modules = job.modules.iter().filter_map(|module| match &module.kind {
            ModuleKind::Ssh(ssh) => Some(ssh),
            _ => None,
        });
        let (filters, caps): (Vec<_>, Vec<_>) = ssh_modules
            .map(|ssh| (ssh.filesystems.clone(), ssh.max_output_bytes))
            .unzip();
        SshPoller {
            settings: ConnectSettings {
                target_name: job.target.name.clone(),
                host: job.target.host.clone(),
                port: job.target.port.unwrap_or(DEFAULT_SSH_PORT),
                credential: job.credential,
            },
            timeout: job.timeout,
            command: collection_command(),
            max_output_bytes: caps.into_iter().max().unwrap_or(0),
            filters,
            connection: None,
            backoff: Backoff::default(),
            connections_opened: 0,
            private_key: None,
            last_connect_failure: None,
        }
    }

    /// Runs the collection command once (connecting first when needed) and decodes its
    /// output. Never takes longer than the target's timeout (plus scheduling noise).
    pub async fn poll(&mut self) -> PollOutcome {
        let target = self.settings.target_name.clone();
        let span = tracing::debug_span!("ssh_poll", target = %target);
        let deadline = Instant::now() + self.timeout;
        let result = match timeout_at(deadline, self.collect(deadline))
            .instrument(span)
            .await
        {
            Ok(result) => result,
            Err(_elapsed) => {
                // Dropped mid-exchange: the connection's state is unknown.
                self.connection = None;
                Err(SshError::Timeout(Stage::Command))
            }
        };
        match result {
            Ok(families) => PollOutcome {
                result: Ok(()),
                families,
            },
            Err(error) => {
                tracing::debug!(target_name = %target, %error, "ssh poll failed");
                PollOutcome::failed(error.reason())
            }
        }
    }

    async fn collect(&mut self, deadline: Instant) -> Result<Vec<FamilySamples>, SshError> {
        let output = self.run(deadline).await?;
        let text = std::str::from_utf8(&output).map_err(|_| CommandFailure::NotText)?;
        let sections = Sections::split(text)?;
        let now_unix = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let families = decode(&DecodeInput {
            sections: &sections,
            filters: &self.filters,
            now_unix,
            connections: self.connections_opened,
        })?;
        Ok(families)
    }

    /// The command's output, over the kept connection when it still works, else over a new
    /// one. A kept connection found dead is replaced at once (servers restart, idle
    /// connections get cut); only failed *new* connections back off.
    async fn run(&mut self, deadline: Instant) -> Result<Vec<u8>, SshError> {
        if let Some(connection) = self.connection.take() {
            match self.exec(connection, deadline).await {
                Err(SshError::ConnectionLost) => {
                    tracing::info!(target_name = %self.settings.target_name, "ssh connection lost; reconnecting");
                }
                other => return other,
            }
        }
        self.backoff
            .check(Instant::now())
            .map_err(SshError::BackingOff)?;
        let connection = match self.open(deadline).await {
            Ok(connection) => connection,
            Err(error) => {
                self.connection_failed(&error);
                return Err(error);
            }
        };
        self.exec(connection, deadline).await
    }

    /// Runs the command, keeping the connection unless the failure broke it.
    async fn exec(
        &mut self,
        connection: Connection,
        deadline: Instant,
    ) -> Result<Vec<u8>, SshError> {
        let run = exec::run_capped(&connection, &self.command, self.max_output_bytes);
        let result = match timeout_at(deadline, run).await {
            Ok(result) => result,
            Err(_) => Err(SshError::Timeout(Stage::Command)),
        };
        match &result {
            Err(error) if error.breaks_connection() => drop(connection),
            _ => self.connection = Some(connection),
        }
        result
    }

    async fn open(&mut self, deadline: Instant) -> Result<Connection, SshError> {
        let key = self.private_key(deadline).await?;
        let connection = connect(&self.settings, key, deadline).await?;
        self.connections_opened += 1;
        self.backoff.succeeded();
        self.last_connect_failure = None;
        tracing::info!(
            target_name = %self.settings.target_name,
            user = %self.settings.credential.username,
            connections = self.connections_opened,
            "ssh connected"
        );
        Ok(connection)
    }

    /// Logs a failed attempt once per reason (auth refused, host key mismatch...) and backs off.
    fn connection_failed(&mut self, error: &SshError) {
        let reason = error.reason();
        self.backoff.failed(reason, Instant::now());
        if self.last_connect_failure != Some(reason) {
            tracing::warn!(
                target_name = %self.settings.target_name,
                reason = reason.as_str(),
                %error,
                "ssh connection failed"
            );
        }
        self.last_connect_failure = Some(reason);
    }

    /// Decodes the private key once, off the async threads: bcrypt of a passphrase key is
    /// deliberately slow.
    async fn private_key(
        &mut self,
        deadline: Instant,
    ) -> Result<Option<Arc<PrivateKey>>, SshError> {
        let SshAuth::PrivateKey { key, passphrase } = &self.settings.credential.auth else {
            return Ok(None);
        };
        if let Some(decoded) = &self.private_key {
            return Ok(Some(decoded.clone()));
        }
        let (key, passphrase) = (key.clone(), passphrase.clone());
        let decode = tokio::task::spawn_blocking(move || {
            russh::keys::decode_secret_key(key.expose(), passphrase.as_ref().map(|p| p.expose()))
        });
        let decoded = match timeout_at(deadline, decode).await {
            Err(_) => return Err(SshError::Timeout(Stage::Auth)),
            Ok(Ok(Ok(decoded))) => Arc::new(decoded),
            Ok(_) => return Err(SshError::AuthSetup("the private key cannot be decoded")),
        };
        self.private_key = Some(decoded.clone());
        Ok(Some(decoded))
    }
}
