//! A running simulated fleet: builds the devices, binds the SNMP agent and the MikroTiks'
//! RouterOS API, serves until cancelled, and switches scenarios; what `ispmonitor simulate` and
//! `ispmonitor demo` start.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::agent::{
    self, AgentSecurity, AgentSettings, AgentStats, Endpoint, UsmAuth, UsmPriv, UsmUser,
};
use super::control::ControlState;
use super::credentials::{SimAuth, SimCredentials, SimPriv};
use super::device::{Device, DeviceSpec, FrozenClock, Identity, MIKROTIK};
use super::fleet::{FleetAddresses, FleetError};
use super::mib::MibView;
use super::routeros::faults::FaultState;
use super::routeros::model::ApiModel;
use super::routeros::server::{
    self as api, ApiDevice, ApiEndpoint, ApiError, ApiServer, ApiSettings, ApiShared,
};
use super::routeros::stats::ApiStats;
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
    /// Devices (0-based) that are MikroTik routers whatever the seed chooses.
    pub mikrotik_devices: Vec<u32>,
    pub routeros: RouterOsOptions,
}

/// The RouterOS API of the MikroTik devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterOsOptions {
    /// Plain API port (0: a free port per device).
    pub port: u16,
    /// API-SSL port, served when `tls_cert` and `tls_key` are given.
    pub tls_port: u16,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

impl Default for RouterOsOptions {
    fn default() -> Self {
        RouterOsOptions {
            port: api::DEFAULT_PORT,
            tls_port: api::DEFAULT_TLS_PORT,
            tls_cert: None,
            tls_key: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimulatorError {
    #[error(transparent)]
    Fleet(#[from] FleetError),
    #[error("--scenario: {0}")]
    Scenario(#[from] ScenarioError),
    #[error("cannot start the SNMP agent: {0}")]
    Agent(#[from] agent::AgentError),
    #[error("cannot start the RouterOS API: {0}")]
    RouterOs(#[from] ApiError),
    #[error(
        "--mikrotik-devices: device {device} does not exist (the fleet has devices 0 to {last})"
    )]
    MikrotikDevice { device: u32, last: u32 },
    #[error("--routeros-tls-cert and --routeros-tls-key go together: give both or neither")]
    HalfTls,
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
    /// Where each MikroTik device's API answers, in device order.
    pub routeros: Vec<ApiEndpoint>,
    pub routeros_faults: Arc<FaultState>,
    pub routeros_stats: Arc<ApiStats>,
    agent: JoinHandle<()>,
    api: JoinHandle<()>,
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
        if let Some(&device) = options
            .mikrotik_devices
            .iter()
            .find(|&&d| d >= fleet.devices)
        {
            return Err(SimulatorError::MikrotikDevice {
                device,
                last: fleet.devices - 1,
            });
        }
        let tls = match (&options.routeros.tls_cert, &options.routeros.tls_key) {
            (Some(cert), Some(key)) => Some(api::tls_config(cert, key)?),
            (None, None) => None,
            _ => return Err(SimulatorError::HalfTls),
        };
        let scenarios = Arc::new(ScenarioState::new(fleet, options.scenario.clone())?);
        let devices: Vec<Arc<Device>> = (0..fleet.devices)
            .map(|index| {
                let spec = DeviceSpec {
                    seed: options.seed,
                    index,
                    interfaces: options.interfaces,
                };
                let forced = options.mikrotik_devices.contains(&index);
                Arc::new(Device::of_vendor(
                    spec,
                    scenarios.clone(),
                    forced.then_some(MIKROTIK),
                ))
            })
            .collect();
        let endpoints: Vec<Endpoint> = addrs
            .iter()
            .zip(&devices)
            .enumerate()
            .map(|(index, (&addr, device))| {
                let device: Arc<dyn MibView> = match options.frozen_at {
                    Some(at) => Arc::new(FrozenClock {
                        inner: device.clone(),
                        at,
                    }),
                    None => device.clone(),
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
        let api_devices: Vec<(Arc<ApiDevice>, std::net::IpAddr)> = devices
            .iter()
            .zip(&bound)
            .filter(|(device, _)| device.identity().vendor.speaks_routeros())
            .map(|(device, addr)| {
                let index = device.identity().index;
                let api_device = ApiDevice {
                    index,
                    device: device.clone(),
                    model: ApiModel::new(options.seed, index),
                };
                (Arc::new(api_device), addr.ip())
            })
            .collect();
        let routeros_faults = Arc::new(FaultState::new(
            api_devices.iter().map(|(d, _)| d.index).collect(),
        ));
        let routeros_stats = Arc::new(ApiStats::default());
        let shared = Arc::new(ApiShared {
            settings: ApiSettings {
                username: options.credentials.username.clone(),
                password: options.credentials.routeros_password.clone(),
                port: options.routeros.port,
                tls_port: options.routeros.tls_port,
                tls,
                layout: options.addresses.layout,
            },
            faults: routeros_faults.clone(),
            stats: routeros_stats.clone(),
            clock,
        });
        let api_server = ApiServer::bind(api_devices, shared).await?;
        let routeros = api_server.endpoints();
        let task = tokio::spawn(agent.run(shutdown.clone()));
        let api = tokio::spawn(api_server.run(shutdown));
        Ok(RunningFleet {
            devices: devices
                .iter()
                .map(|d| d.identity().clone())
                .zip(bound)
                .collect(),
            scenarios,
            stats,
            clock,
            routeros,
            routeros_faults,
            routeros_stats,
            agent: task,
            api,
        })
    }

    pub fn control(&self) -> ControlState {
        ControlState {
            scenarios: self.scenarios.clone(),
            stats: self.stats.clone(),
            clock: self.clock,
            routeros: Arc::new(self.routeros.clone()),
            routeros_faults: self.routeros_faults.clone(),
            routeros_stats: self.routeros_stats.clone(),
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
        if let Err(error) = self.api.await {
            tracing::warn!("the simulator's RouterOS API task failed: {error}");
        }
    }
}
