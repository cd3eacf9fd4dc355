//! A running simulated fleet: builds the devices, binds the agent, serves until cancelled, and
//! switches scenarios; what `ispmonitor simulate` and `ispmonitor demo` start.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::agent::{
    self, AgentSecurity, AgentSettings, AgentStats, Endpoint, UsmAuth, UsmPriv, UsmUser,
};
use super::control::ControlState;
use super::credentials::{SimAuth, SimCredentials, SimPriv};
use super::device::{Device, DeviceSpec, FrozenClock, Identity};
use super::fleet::{FleetAddresses, FleetError};
use super::mib::MibView;
use super::scenario::{
    Epoch, FleetShape, ScenarioError, ScenarioKind, ScenarioRequest, ScenarioState,
};

/// Everything needed to start a fleet.
#[derive(Debug, Clone)]
pub struct SimulatorOptions {
    pub addresses: FleetAddresses,
    pub interfaces: u32,
    pub seed: u64,
    pub scenario: ScenarioRequest,
    pub credentials: SimCredentials,
    /// Stop the simulated clock at this time (tests compare walks value for value).
    pub frozen_at: Option<Duration>,
}

#[derive(Debug, thiserror::Error)]
pub enum SimulatorError {
    #[error(transparent)]
    Fleet(#[from] FleetError),
    #[error("--scenario: {0}")]
    Scenario(#[from] ScenarioError),
    #[error("cannot start the SNMP agent: {0}")]
    Agent(#[from] agent::AgentError),
}

/// The simulated clock: time since the fleet started, or a frozen instant.
#[derive(Debug, Clone, Copy)]
pub struct SimClock {
    pub epoch: tokio::time::Instant,
    pub frozen_at: Option<Duration>,
}

impl SimClock {
    pub fn now(&self) -> Duration {
        self.frozen_at.unwrap_or_else(|| self.epoch.elapsed())
    }
}

/// A fleet being served.
pub struct RunningFleet {
    /// Each device's identity and bound address, in device order.
    pub devices: Vec<(Identity, SocketAddr)>,
    pub scenarios: Arc<ScenarioState>,
    pub stats: Arc<AgentStats>,
    pub clock: SimClock,
    agent: JoinHandle<()>,
}

fn usm_user(credentials: &SimCredentials) -> UsmUser {
    let auth = match credentials.auth {
        SimAuth::Md5 => UsmAuth::Md5,
        SimAuth::Sha => UsmAuth::Sha1,
        SimAuth::Sha256 => UsmAuth::Sha256,
    };
    let privacy = match credentials.privacy {
        SimPriv::None => None,
        SimPriv::Des => Some((UsmPriv::Des, credentials.priv_password.clone())),
        SimPriv::Aes => Some((UsmPriv::Aes128, credentials.priv_password.clone())),
    };
    UsmUser {
        name: credentials.username.clone(),
        auth,
        auth_password: credentials.auth_password.clone(),
        privacy,
    }
}

impl RunningFleet {
    /// Builds the devices, binds every socket and starts serving until `shutdown`.
    pub async fn start(
        options: SimulatorOptions,
        shutdown: CancellationToken,
    ) -> Result<RunningFleet, SimulatorError> {
        let addrs = options.addresses.allocate()?;
        let fleet = FleetShape {
            seed: options.seed,
            devices: options.addresses.devices,
        };
        let scenarios = Arc::new(ScenarioState::new(fleet, options.scenario.clone())?);
        let mut identities = Vec::with_capacity(addrs.len());
        let endpoints: Vec<Endpoint> = addrs
            .iter()
            .enumerate()
            .map(|(index, &addr)| {
                let spec = DeviceSpec {
                    seed: options.seed,
                    index: index as u32,
                    interfaces: options.interfaces,
                };
                let device = Device::new(spec, scenarios.clone());
                identities.push(device.identity().clone());
                let device: Arc<dyn MibView> = match options.frozen_at {
                    Some(at) => Arc::new(FrozenClock { inner: device, at }),
                    None => Arc::new(device),
                };
                Endpoint {
                    addr,
                    device,
                    engine_id: agent::engine_id_for(index as u32),
                }
            })
            .collect();
        let security = AgentSecurity {
            community: options.credentials.community.clone(),
            users: vec![usm_user(&options.credentials)],
        };
        let settings = Arc::new(AgentSettings::new(security));
        let clock = SimClock {
            epoch: settings.epoch,
            frozen_at: options.frozen_at,
        };
        let agent = agent::bind(endpoints, settings).await?;
        let bound = agent.local_addrs();
        let stats = agent.stats();
        let task = tokio::spawn(agent.run(shutdown));
        Ok(RunningFleet {
            devices: identities.into_iter().zip(bound).collect(),
            scenarios,
            stats,
            clock,
            agent: task,
        })
    }

    pub fn control(&self) -> ControlState {
        ControlState {
            scenarios: self.scenarios.clone(),
            stats: self.stats.clone(),
            clock: self.clock,
        }
    }

    /// Switches to the next scenario (SIGUSR1), with its default parameters.
    pub fn cycle(&self) -> Result<Epoch, ScenarioError> {
        let next: ScenarioKind = self.scenarios.current().plan.request.name.cycled();
        self.scenarios
            .switch(ScenarioRequest::new(next), self.clock.now())
    }

    /// Waits for the agent to stop (after `shutdown` was cancelled).
    pub async fn stopped(self) {
        if let Err(error) = self.agent.await {
            tracing::warn!("the simulator's agent task failed: {error}");
        }
    }
}
