//! Wiring of `ispmonitor simulate` (a simulated fleet, its control endpoint and config file)
//! and `ispmonitor demo` (the same fleet with some routers in trouble, polled by `serve`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

use crate::cli::{ConfigArg, DemoArgs, FleetArgs, ServeArgs, SimCredentialArgs, SimulateArgs};
use crate::simulator::control;
use crate::simulator::credentials::SimCredentials;
use crate::simulator::fleet::{FleetAddresses, Layout};
use crate::simulator::scenario::{ScenarioKind, ScenarioRequest};
use crate::simulator::service::{RouterOsOptions, RunningFleet, SimulatorOptions};
use crate::simulator::write_config::{
    FleetConfig, LocalHost, LocalSsh, RouterOsTargets, TargetVersion, ROUTEROS_TARGETS,
};

/// The demo's troubled routers: device index -> what is wrong with it.
pub const DEMO_TROUBLE: [(u32, ScenarioKind); 3] = [
    (1, ScenarioKind::RouterDown),
    (2, ScenarioKind::FlappingInterface),
    (3, ScenarioKind::LinkSaturation),
];

fn credentials(args: &SimCredentialArgs) -> SimCredentials {
    SimCredentials {
        community: args.community.clone(),
        username: args.v3_username.clone(),
        auth: args.v3_auth_protocol,
        auth_password: args.v3_auth_password.clone(),
        privacy: args.v3_priv_protocol,
        priv_password: args.v3_priv_password.clone(),
        routeros_password: args.routeros_password.clone(),
    }
}

fn scenario_request(args: &SimulateArgs) -> ScenarioRequest {
    ScenarioRequest {
        name: args.scenario,
        fraction: args.scenario_fraction,
        devices: (!args.scenario_devices.is_empty()).then(|| args.scenario_devices.clone()),
        delay_ms: args.scenario_delay.map(|d| d.as_millis() as u64),
        loss: args.scenario_loss,
        period_ms: args.scenario_period.map(|d| d.as_millis() as u64),
        overrides: BTreeMap::new(),
    }
}

fn fleet_options(fleet: &FleetArgs, scenario: ScenarioRequest) -> SimulatorOptions {
    SimulatorOptions {
        addresses: FleetAddresses {
            listen: fleet.listen,
            port: fleet.port,
            devices: fleet.devices,
            layout: if fleet.consecutive_ports {
                Layout::Ports
            } else {
                Layout::Addresses
            },
        },
        interfaces: fleet.interfaces,
        seed: fleet.seed,
        scenario,
        credentials: credentials(&fleet.credentials),
        frozen_at: fleet.freeze_time,
        mikrotik_devices: fleet.mikrotik_devices.clone(),
        routeros: RouterOsOptions {
            port: fleet.routeros.routeros_port,
            tls_port: fleet.routeros.routeros_tls_port,
            tls_cert: fleet.routeros.routeros_tls_cert.clone(),
            tls_key: fleet.routeros.routeros_tls_key.clone(),
        },
    }
}

/// Serves the control endpoint until `stop`, unless the address is "none".
async fn spawn_control(
    address: &str,
    fleet: &RunningFleet,
    stop: CancellationToken,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    if address.eq_ignore_ascii_case("none") || address.is_empty() {
        return Ok(None);
    }
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address} (--control.listen-address)"))?;
    let local = listener.local_addr()?;
    tracing::info!(address = %local, "simulator control endpoint: GET/PUT /scenario, /metrics");
    let router = control::router(fleet.control());
    Ok(Some(tokio::spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
        if let Err(error) = served {
            tracing::warn!("the control endpoint stopped: {error}");
        }
    })))
}

/// `ispmonitor simulate`: serves until SIGTERM or SIGINT; SIGUSR1 switches to the next scenario.
pub async fn simulate(args: SimulateArgs) -> anyhow::Result<()> {
    let stop = CancellationToken::new();
    let options = fleet_options(&args.fleet, scenario_request(&args));
    let fleet = RunningFleet::start(options, stop.clone()).await?;
    if let Some(path) = &args.write_config {
        write_fleet_config(&fleet, &args, path)?;
    }
    let control = spawn_control(&args.fleet.control_listen_address, &fleet, stop.clone()).await?;
    log_started(&fleet);
    wait_for_stop(&fleet).await?;
    tracing::info!("stopping the simulator");
    stop.cancel();
    if let Some(control) = control {
        let _ = control.await;
    }
    fleet.stopped().await;
    Ok(())
}

fn log_started(fleet: &RunningFleet) {
    let first = fleet.devices.first().map(|(_, addr)| addr.to_string());
    let last = fleet.devices.last().map(|(_, addr)| addr.to_string());
    let epoch = fleet.scenarios.current();
    let affected = epoch.plan.affected_devices(fleet.scenarios.fleet().devices);
    tracing::info!(
        devices = fleet.devices.len(),
        first = first.unwrap_or_default(),
        last = last.unwrap_or_default(),
        scenario = %epoch.plan.request.name,
        affected = ?affected,
        "simulated routers are answering SNMP"
    );
    if let Some(first) = fleet.routeros.first() {
        tracing::info!(
            devices = fleet.routeros.len(),
            first = %first.address,
            tls = first.tls_address.is_some(),
            "simulated MikroTik routers are answering the RouterOS API (GET /routeros lists them)"
        );
    }
}

fn write_fleet_config(
    fleet: &RunningFleet,
    args: &SimulateArgs,
    path: &Path,
) -> anyhow::Result<()> {
    let credentials = credentials(&args.fleet.credentials);
    let config = FleetConfig {
        devices: &fleet.devices,
        credentials: &credentials,
        version: args.write_config_version,
        interval: args.write_config_interval,
        timeout: args.write_config_timeout,
        web_listen: None,
        local_host: None,
        routeros: ROUTEROS_TARGETS.then(|| RouterOsTargets {
            endpoints: &fleet.routeros,
            ca_file: args.fleet.routeros.routeros_tls_cert.as_deref(),
        }),
    };
    config
        .write(path)
        .with_context(|| format!("cannot write {} (--write-config)", path.display()))?;
    tracing::info!(path = %path.display(), "poller config for the fleet written");
    Ok(())
}

async fn wait_for_stop(fleet: &RunningFleet) -> anyhow::Result<()> {
    let mut terminate =
        signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut cycle =
        signal(SignalKind::user_defined1()).context("installing the SIGUSR1 handler")?;
    loop {
        tokio::select! {
            _ = terminate.recv() => return Ok(()),
            _ = interrupt.recv() => return Ok(()),
            _ = cycle.recv() => match fleet.cycle() {
                Ok(epoch) => tracing::info!(scenario = %epoch.plan.request.name, "SIGUSR1: scenario switched"),
                Err(error) => tracing::warn!("SIGUSR1: cannot switch the scenario: {error}"),
            },
        }
    }
}

/// A private directory for the demo's generated config, removed when dropped.
struct DemoDir(PathBuf);

impl DemoDir {
    fn create() -> anyhow::Result<DemoDir> {
        let path = std::env::temp_dir().join(format!("ispmonitor-demo-{}", std::process::id()));
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(DemoDir(path))
    }
}

impl Drop for DemoDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The demo's fleet: healthy, except the routers in `DEMO_TROUBLE`.
fn demo_options(args: &DemoArgs) -> SimulatorOptions {
    let mut scenario = ScenarioRequest::new(ScenarioKind::Healthy);
    scenario.overrides = DEMO_TROUBLE.into_iter().collect();
    SimulatorOptions {
        addresses: FleetAddresses {
            listen: args.listen,
            port: args.port,
            devices: args.devices,
            layout: Layout::Addresses,
        },
        interfaces: crate::simulator::device::DEFAULT_INTERFACES,
        seed: args.seed,
        scenario,
        credentials: SimCredentials::default(),
        frozen_at: None,
        mikrotik_devices: Vec::new(),
        // With `--port 0` (tests) the API ports are the system's choice too, so demos run side
        // by side.
        routeros: if args.port == 0 {
            RouterOsOptions {
                port: 0,
                tls_port: 0,
                ..RouterOsOptions::default()
            }
        } else {
            RouterOsOptions::default()
        },
    }
}

/// Writes the demo's config: the fleet, plus this machine over ICMP and, when a local sshd and
/// the user's key allow it, over SSH. An SSH part the config loader refuses (an encrypted key,
/// say) is dropped with a note rather than failing the demo.
async fn write_demo_config(
    fleet: &RunningFleet,
    args: &DemoArgs,
    dir: &Path,
    path: &Path,
) -> anyhow::Result<()> {
    let credentials = SimCredentials::default();
    let mut config = FleetConfig {
        devices: &fleet.devices,
        credentials: &credentials,
        version: TargetVersion::Mixed,
        interval: args.interval,
        timeout: (args.interval / 2).min(Duration::from_secs(5)),
        web_listen: None,
        local_host: Some(LocalHost {
            ssh: local_ssh(dir).await,
        }),
        routeros: ROUTEROS_TARGETS.then(|| RouterOsTargets {
            endpoints: &fleet.routeros,
            ca_file: None,
        }),
    };
    config
        .write(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    if config.local_host.as_ref().is_some_and(|l| l.ssh.is_some()) {
        if let Err(problems) = crate::config::load_file(path) {
            tracing::info!("demo: the local SSH target is left out: {problems}");
            config.local_host = Some(LocalHost { ssh: None });
            config
                .write(path)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    Ok(())
}

/// SSH to this machine when sshd listens on 127.0.0.1:22 and the user has a key file; the
/// host key is learnt on first contact into the demo's own known_hosts file.
async fn local_ssh(dir: &Path) -> Option<LocalSsh> {
    const PORT: u16 = 22;
    let username = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()?;
    let home = PathBuf::from(std::env::var_os("HOME")?);
    let private_key_file = ["id_ed25519", "id_ecdsa", "id_rsa"]
        .iter()
        .map(|name| home.join(".ssh").join(name))
        .find(|path| path.is_file())?;
    // Cheap checks first: only with a key is it worth trying the port.
    let listening = tokio::time::timeout(
        Duration::from_millis(300),
        tokio::net::TcpStream::connect(("127.0.0.1", PORT)),
    )
    .await
    .is_ok_and(|connected| connected.is_ok());
    if !listening {
        return None;
    }
    let known_hosts_file = dir.join("known_hosts");
    std::fs::write(&known_hosts_file, "").ok()?;
    tracing::info!(%username, key = %private_key_file.display(), "demo: polling this machine over SSH too");
    Some(LocalSsh {
        username,
        private_key_file,
        known_hosts_file,
        port: PORT,
    })
}

/// `ispmonitor demo`: a simulated fleet and `serve` polling it, until SIGTERM or SIGINT.
pub async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    let stop = CancellationToken::new();
    let fleet = RunningFleet::start(demo_options(&args), stop.clone()).await?;
    let control = spawn_control(&args.control_listen_address, &fleet, stop.clone()).await?;
    let dir = DemoDir::create()?;
    let config_path = dir.0.join("demo.yaml");
    write_demo_config(&fleet, &args, &dir.0, &config_path).await?;
    log_started(&fleet);
    for (device, trouble) in DEMO_TROUBLE {
        if let Some((identity, addr)) = fleet.devices.get(device as usize) {
            tracing::info!(target_name = %identity.sys_name, %addr, trouble = %trouble, "demo router in trouble");
        }
    }
    let served = crate::app::serve(ServeArgs {
        config: ConfigArg {
            config: config_path.clone(),
        },
        listen_addresses: args.listen_addresses.clone(),
        shutdown_delay: Duration::ZERO,
        api_listen_address: args.api_listen_address.clone(),
        migrate: false,
        // The demo is one process polling the whole demo fleet.
        shard: Some(0),
        total_shards: Some(1),
        no_poll: false,
        web_config_file: None,
    })
    .await;
    stop.cancel();
    if let Some(control) = control {
        let _ = control.await;
    }
    fleet.stopped().await;
    served
}
