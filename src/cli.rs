//! Command-line interface: global logging flags and the subcommands. Every flag has an
//! `ISPMONITOR_*` environment twin; the flag wins over the environment, which wins over the file.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use clap::{Args, Parser, Subcommand};

use crate::license::plan::Plan;
use crate::telemetry::{LogFormat, LogLevel};

#[derive(Debug, Parser)]
#[command(name = "ispmonitor", version = crate::build_info::long_version(), about = "Prometheus-native SNMP/SSH/ICMP poller and exporter for ISPs and server fleets")]
pub struct Cli {
    /// Minimum level of log lines (RUST_LOG, when set, overrides it).
    #[arg(
        long = "log.level",
        env = "ISPMONITOR_LOG_LEVEL",
        value_enum,
        default_value = "info",
        global = true
    )]
    pub log_level: LogLevel,

    /// Log line format.
    #[arg(
        long = "log.format",
        env = "ISPMONITOR_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Poll every target of the config on its schedule and serve /metrics and /probe.
    Serve(ServeArgs),
    /// Validate a config file: exit 0 when valid, 1 with every problem and its YAML path otherwise.
    CheckConfig(ConfigArg),
    /// Print docs/metrics.md, generated from the metric catalogue.
    #[command(hide = true)]
    MetricsDoc,
    /// Print docs/openapi.json, the API's OpenAPI document generated from the route table.
    #[command(hide = true)]
    Openapi,
    /// Serve simulated routers over SNMP on loopback (see docs/simulator.md).
    Simulate(Box<SimulateArgs>),
    /// Run a complete installation on this machine: a simulated fleet (some routers in trouble),
    /// the poller, and /metrics. No external gear, no database.
    Demo(Box<DemoArgs>),
    /// Apply the database schema migrations (idempotent; concurrent runs wait for each other).
    Migrate(DatabaseArgs),
    /// GET a health endpoint (2s timeout): exit 0 on 2xx, 1 with the reason otherwise. For
    /// container HEALTHCHECKs in images without curl.
    Healthcheck(HealthcheckArgs),
    /// Manage API tokens from the command line (the first admin token comes from here).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Licenses: the vendor's signing keys, issuing signed licenses, and inspecting a license file.
    #[command(subcommand)]
    License(LicenseCommand),
    /// For support tickets: print the effective config with every secret as <secret>, and
    /// check that the database and each target (per protocol) answer.
    #[command(after_help = DIAGNOSTICS_EXIT_STATUS)]
    Diagnostics(DiagnosticsArgs),
}

const DIAGNOSTICS_EXIT_STATUS: &str = "\
Checks: the database (connect, SELECT 1, schema version, inventory read) when one is
configured; every target of the config file and of the database inventory, per protocol:
SNMP one GET of the system group with the target's credential, SSH connect + host key + login
+ the collection command, ICMP one echo request (or why this process may not send one).

Exit status:
  0  the database (if configured) and every target answered
  1  a check failed, or the config file is invalid
  2  a command-line usage error

--output json prints one object: version, config_file, ok, config, database, targets, summary.
";

/// `ispmonitor diagnostics`.
#[derive(Debug, Args)]
pub struct DiagnosticsArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// text for people, json for tickets and scripts.
    #[arg(long = "output", value_enum, default_value = "text")]
    pub output: InspectFormat,
    /// Longest wait for one check (a target's own shorter timeout wins).
    #[arg(long = "timeout", env = "ISPMONITOR_DIAGNOSTICS_TIMEOUT", default_value = "3s", value_parser = parse_delay)]
    pub timeout: std::time::Duration,
    /// How many target checks run at once.
    #[arg(long = "concurrency", env = "ISPMONITOR_DIAGNOSTICS_CONCURRENCY", default_value_t = 32,
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub concurrency: u16,
}

/// Where the database is: `ISPMONITOR_DATABASE_URL`, or the `database:` section of a config file.
#[derive(Debug, Args)]
pub struct DatabaseArgs {
    /// A config file whose `database:` section names the database (ISPMONITOR_DATABASE_URL wins).
    #[arg(
        long = "config",
        visible_alias = "config.file",
        env = "ISPMONITOR_CONFIG"
    )]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// The endpoint to GET (the API's is http://127.0.0.1:8080/live).
    #[arg(
        long = "url",
        env = "ISPMONITOR_HEALTHCHECK_URL",
        default_value = crate::healthcheck::DEFAULT_URL
    )]
    pub url: String,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it alone on the last line of the output (shown only once).
    Create(TokenCreateArgs),
}

#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    /// admin (everything), operator (inventory writes) or viewer (reads).
    #[arg(long = "role")]
    pub role: String,
    /// A unique name for the token (letters, digits, '.', '_', '-').
    #[arg(long = "name")]
    pub name: String,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Subcommand)]
pub enum LicenseCommand {
    /// Vendor side: create a new Ed25519 key pair for signing licenses and print the public key's
    /// fingerprint. Never overwrites a file.
    Keygen(LicenseKeygenArgs),
    /// Vendor side: sign a license and print the license file (or write it to --output).
    Issue(Box<LicenseIssueArgs>),
    /// Show what a license file says, whether its signature verifies (and with which key) and
    /// whether it is valid now.
    #[command(after_help = INSPECT_EXIT_STATUS)]
    Inspect(LicenseInspectArgs),
}

const INSPECT_EXIT_STATUS: &str = "\
Exit status:
  0  the signature verifies and the license is valid now
  1  the signature does not verify, or the file cannot be read or is not a license
  2  a command-line usage error
  3  the signature verifies, but the license is expired or not yet valid

--output json prints one object: verified, state, key_fingerprint, key_origin, payload (null
unless verified), claimed_payload (what a license that does not verify claims: never trust it),
days_left, message, error, trusted_keys.
";

#[derive(Debug, Args)]
pub struct LicenseKeygenArgs {
    /// Where to write the private key (PKCS#8 PEM, mode 0600). Must not exist yet.
    #[arg(long = "private-key", value_name = "FILE")]
    pub private_key: PathBuf,
    /// Where to write the public key (SPKI PEM): what `license.public_key_file` or a build's
    /// built-in key is. Must not exist yet.
    #[arg(long = "public-key", value_name = "FILE")]
    pub public_key: PathBuf,
}

#[derive(Debug, Args)]
pub struct LicenseIssueArgs {
    /// The vendor's private key: PKCS#8 PEM, from `license keygen` or `openssl genpkey
    /// -algorithm ed25519`.
    #[arg(long = "signing-key", value_name = "FILE")]
    pub signing_key: PathBuf,
    /// starter, professional or enterprise: sets the default limits.
    #[arg(long = "plan", value_name = "PLAN", value_parser = parse_plan)]
    pub plan: Plan,
    /// Who the license is for.
    #[arg(long = "customer", value_name = "NAME")]
    pub customer: String,
    /// The license's id [default: LIC- and 12 random characters].
    #[arg(long = "license-id", value_name = "ID")]
    pub license_id: Option<String>,
    /// Routers the API inventory may hold [default: the plan's].
    #[arg(long = "max-routers", value_name = "N|unlimited", value_parser = parse_limit)]
    pub max_routers: Option<LimitArg>,
    /// Servers the API inventory may hold [default: the plan's].
    #[arg(long = "max-servers", value_name = "N|unlimited", value_parser = parse_limit)]
    pub max_servers: Option<LimitArg>,
    /// Users (live API tokens) [default: the plan's].
    #[arg(long = "max-users", value_name = "N|unlimited", value_parser = parse_limit)]
    pub max_users: Option<LimitArg>,
    /// A feature the license grants (repeatable).
    #[arg(long = "feature", value_name = "NAME")]
    pub features: Vec<String>,
    /// Start of validity, RFC 3339 UTC, e.g. 2026-01-01T00:00:00Z [default: now].
    #[arg(long = "issued-at", value_name = "RFC3339", value_parser = parse_rfc3339)]
    pub issued_at: Option<SystemTime>,
    /// How long the license is valid from --issued-at (e.g. 365d, 90d, 2years).
    #[arg(long = "valid-for", value_name = "DURATION", default_value = "365d",
          value_parser = parse_validity, conflicts_with = "expires_at")]
    pub valid_for: Duration,
    /// End of validity, RFC 3339 UTC, instead of --valid-for.
    #[arg(long = "expires-at", value_name = "RFC3339", value_parser = parse_rfc3339)]
    pub expires_at: Option<SystemTime>,
    /// Write the license file here instead of printing it.
    #[arg(long = "output", short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LicenseInspectArgs {
    /// The license file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Also trust this Ed25519 public key (SPKI PEM), besides the built-in key.
    #[arg(long = "public-key", value_name = "FILE")]
    pub public_key: Option<PathBuf>,
    /// Also trust the key the server trusts: this config's `license.public_key_file`.
    #[arg(
        long = "config",
        value_name = "FILE",
        visible_alias = "config.file",
        env = "ISPMONITOR_CONFIG"
    )]
    pub config: Option<PathBuf>,
    /// text for people, json for scripts.
    #[arg(long = "output", value_enum, default_value = "text")]
    pub output: InspectFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InspectFormat {
    Text,
    Json,
}

/// A limit flag's value: `None` is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitArg(pub Option<u64>);

fn parse_limit(text: &str) -> Result<LimitArg, String> {
    if text == "unlimited" {
        return Ok(LimitArg(None));
    }
    text.parse()
        .map(|n| LimitArg(Some(n)))
        .map_err(|_| "expected a whole number or `unlimited`".to_string())
}

fn parse_plan(text: &str) -> Result<Plan, String> {
    Plan::parse(text).ok_or_else(|| {
        let names: Vec<&str> = Plan::ALL.iter().map(|p| p.as_str()).collect();
        format!("use one of {}", names.join(", "))
    })
}

fn parse_rfc3339(text: &str) -> Result<SystemTime, String> {
    humantime::parse_rfc3339(text)
        .map_err(|e| format!("{e}: expected an RFC 3339 UTC time like 2026-01-01T00:00:00Z"))
}

fn parse_validity(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(d) if d.as_secs() > 0 => Ok(d),
        Ok(_) => Err("must be at least one second".to_string()),
        Err(e) => Err(format!("{e}: expected a duration like 365d or 90d")),
    }
}

#[derive(Debug, Args)]
pub struct ConfigArg {
    /// The YAML config file.
    #[arg(
        long = "config",
        visible_alias = "config.file",
        env = "ISPMONITOR_CONFIG"
    )]
    pub config: PathBuf,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub config: ConfigArg,

    /// Address to listen on for /metrics, /probe and health (repeatable, or comma-separated).
    /// Overrides `web.listen_address` from the config. Default 0.0.0.0:9090, which is also
    /// Prometheus' own default port: move one of them when both run on one host.
    #[arg(
        long = "web.listen-address",
        env = "ISPMONITOR_WEB_LISTEN_ADDRESS",
        value_delimiter = ','
    )]
    pub listen_addresses: Vec<String>,

    /// Exporter-toolkit web config file: TLS (`tls_server_config`), basic auth
    /// (`basic_auth_users`, bcrypt) and response headers. Reread when it or its certificate
    /// files change. The API listener uses its TLS settings too (not its users). See
    /// docs/web-config.md.
    #[arg(long = "web.config.file", env = "ISPMONITOR_WEB_CONFIG_FILE")]
    pub web_config_file: Option<std::path::PathBuf>,

    /// How long /ready answers 503 before the listener closes on SIGTERM, so load balancers and
    /// Kubernetes endpoints notice first (e.g. 5s).
    #[arg(long = "web.shutdown-delay", env = "ISPMONITOR_WEB_SHUTDOWN_DELAY", default_value = "0s", value_parser = parse_delay)]
    pub shutdown_delay: std::time::Duration,

    /// Address of the inventory API (/api/v1/...); "none" turns it off. Overrides
    /// `api.listen_address` (default 0.0.0.0:8080).
    #[arg(long = "api.listen-address", env = "ISPMONITOR_API_LISTEN_ADDRESS")]
    pub api_listen_address: Option<String>,

    /// Apply database migrations before starting (same as `ispmonitor migrate`).
    #[arg(long = "migrate", env = "ISPMONITOR_MIGRATE")]
    pub migrate: bool,

    /// This poller's shard (0-based) when several pollers split the inventory. Without it,
    /// --total-shards > 1 takes the ordinal from the pod name: POD_NAME (else HOSTNAME) ending
    /// in -N, as StatefulSet pods do (ispmonitor-poller-2 is shard 2).
    #[arg(long = "shard", env = "ISPMONITOR_SHARD")]
    pub shard: Option<u32>,

    /// How many pollers split the inventory (default 1: this one polls everything). Each
    /// target is polled by exactly one shard, chosen by rendezvous hashing of its name.
    #[arg(long = "total-shards", env = "ISPMONITOR_TOTAL_SHARDS")]
    pub total_shards: Option<u32>,

    /// Schedule no polls: serve the API, /metrics, health and /probe only (the API Deployment
    /// next to sharded pollers runs like this).
    #[arg(long = "no-poll", env = "ISPMONITOR_NO_POLL")]
    pub no_poll: bool,
}

fn parse_delay(text: &str) -> Result<std::time::Duration, String> {
    if text == "0" || text == "0s" {
        return Ok(std::time::Duration::ZERO);
    }
    crate::config::duration::parse_duration(text)
}

/// Where the simulated fleet listens and what it is (shared by `simulate` and `demo`).
#[derive(Debug, Args)]
pub struct FleetArgs {
    /// How many simulated routers.
    #[arg(long = "devices", env = "ISPMONITOR_SIM_DEVICES", default_value_t = 10)]
    pub devices: u32,

    /// First address: device N listens on this address + N (127.0.0.0/8 only), or with
    /// --consecutive-ports every device listens here on its own port.
    #[arg(
        long = "listen",
        env = "ISPMONITOR_SIM_LISTEN",
        default_value = "127.1.0.1"
    )]
    pub listen: std::net::IpAddr,

    /// UDP port of every device (the first port with --consecutive-ports; 0 lets the system
    /// choose). Ports below 1024 need root or CAP_NET_BIND_SERVICE.
    #[arg(long = "port", env = "ISPMONITOR_SIM_PORT", default_value_t = 161)]
    pub port: u16,

    /// All devices on --listen, on consecutive ports from --port.
    #[arg(long = "consecutive-ports", env = "ISPMONITOR_SIM_CONSECUTIVE_PORTS")]
    pub consecutive_ports: bool,

    /// Interfaces per router (ifNumber).
    #[arg(long = "interfaces", env = "ISPMONITOR_SIM_INTERFACES", default_value_t = 48,
          value_parser = clap::value_parser!(u32).range(1..=50_000))]
    pub interfaces: u32,

    /// Seed of the fleet: the same seed gives the same routers, interfaces and traffic.
    #[arg(long = "seed", env = "ISPMONITOR_SIM_SEED", default_value_t = 1)]
    pub seed: u64,

    /// Address of the control endpoint (GET/PUT /scenario, /metrics); "none" for none.
    #[arg(
        long = "control.listen-address",
        env = "ISPMONITOR_SIM_CONTROL_LISTEN_ADDRESS",
        default_value = "127.0.0.1:9161"
    )]
    pub control_listen_address: String,

    #[command(flatten)]
    pub credentials: SimCredentialArgs,

    /// Devices (0-based, comma-separated) that are MikroTik routers whatever the seed chose
    /// (MikroTik devices also serve the RouterOS API).
    #[arg(
        long = "mikrotik-devices",
        env = "ISPMONITOR_SIM_MIKROTIK_DEVICES",
        value_delimiter = ','
    )]
    pub mikrotik_devices: Vec<u32>,

    #[command(flatten)]
    pub routeros: RouterOsArgs,

    /// Stop the simulated clock at this many seconds (tests compare walks value for value).
    #[arg(long = "freeze-time", hide = true, value_parser = parse_delay)]
    pub freeze_time: Option<std::time::Duration>,
}

/// The RouterOS API of the simulated MikroTik devices.
#[derive(Debug, Args)]
pub struct RouterOsArgs {
    /// TCP port of every MikroTik device's API, on its SNMP address (0: the system picks one
    /// per device; with --consecutive-ports, device N uses this port + N).
    #[arg(long = "routeros-port", env = "ISPMONITOR_SIM_ROUTEROS_PORT",
          default_value_t = crate::simulator::routeros::server::DEFAULT_PORT)]
    pub routeros_port: u16,

    /// TCP port of the API-SSL listeners (served with --routeros-tls-cert and --routeros-tls-key).
    #[arg(long = "routeros-tls-port", env = "ISPMONITOR_SIM_ROUTEROS_TLS_PORT",
          default_value_t = crate::simulator::routeros::server::DEFAULT_TLS_PORT)]
    pub routeros_tls_port: u16,

    /// PEM certificate (chain) of API-SSL.
    #[arg(long = "routeros-tls-cert", env = "ISPMONITOR_SIM_ROUTEROS_TLS_CERT")]
    pub routeros_tls_cert: Option<PathBuf>,

    /// PEM private key of API-SSL.
    #[arg(long = "routeros-tls-key", env = "ISPMONITOR_SIM_ROUTEROS_TLS_KEY")]
    pub routeros_tls_key: Option<PathBuf>,
}

/// What the simulated agents accept. Defaults are the documented ones; values are never logged.
#[derive(Debug, Args)]
pub struct SimCredentialArgs {
    /// SNMPv1/v2c community (default in docs/simulator.md: secrets never show in --help).
    #[arg(long = "community", env = "ISPMONITOR_SIM_COMMUNITY", hide_env_values = true, hide_default_value = true,
          default_value = crate::simulator::credentials::DEFAULT_COMMUNITY, value_parser = parse_secret)]
    pub community: crate::config::Secret,

    /// SNMPv3 user name.
    #[arg(long = "v3.username", env = "ISPMONITOR_SIM_V3_USERNAME",
          default_value = crate::simulator::credentials::DEFAULT_V3_USER)]
    pub v3_username: String,

    /// SNMPv3 authentication protocol.
    #[arg(
        long = "v3.auth-protocol",
        env = "ISPMONITOR_SIM_V3_AUTH_PROTOCOL",
        value_enum,
        default_value = "sha"
    )]
    pub v3_auth_protocol: crate::simulator::credentials::SimAuth,

    /// SNMPv3 authentication password, at least 8 characters (default in docs/simulator.md).
    #[arg(long = "v3.auth-password", env = "ISPMONITOR_SIM_V3_AUTH_PASSWORD", hide_env_values = true, hide_default_value = true,
          default_value = crate::simulator::credentials::DEFAULT_AUTH_PASSWORD, value_parser = parse_secret)]
    pub v3_auth_password: crate::config::Secret,

    /// SNMPv3 privacy protocol (none: authNoPriv).
    #[arg(
        long = "v3.priv-protocol",
        env = "ISPMONITOR_SIM_V3_PRIV_PROTOCOL",
        value_enum,
        default_value = "aes"
    )]
    pub v3_priv_protocol: crate::simulator::credentials::SimPriv,

    /// SNMPv3 privacy password, at least 8 characters (default in docs/simulator.md).
    #[arg(long = "v3.priv-password", env = "ISPMONITOR_SIM_V3_PRIV_PASSWORD", hide_env_values = true, hide_default_value = true,
          default_value = crate::simulator::credentials::DEFAULT_PRIV_PASSWORD, value_parser = parse_secret)]
    pub v3_priv_password: crate::config::Secret,

    /// RouterOS API password of the MikroTik devices; the user is --v3.username (default in
    /// docs/simulator.md).
    #[arg(long = "routeros-password", env = "ISPMONITOR_SIM_ROUTEROS_PASSWORD", hide_env_values = true, hide_default_value = true,
          default_value = crate::simulator::credentials::DEFAULT_ROUTEROS_PASSWORD, value_parser = parse_secret)]
    pub routeros_password: crate::config::Secret,
}

/// `ispmonitor simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    #[command(flatten)]
    pub fleet: FleetArgs,

    /// Scenario at start (switch later with PUT /scenario or SIGUSR1).
    #[arg(
        long = "scenario",
        env = "ISPMONITOR_SIM_SCENARIO",
        value_enum,
        default_value = "healthy"
    )]
    pub scenario: crate::simulator::scenario::ScenarioKind,

    /// Share of devices the scenario affects, 0-1 (default 0.25, at least one device).
    #[arg(long = "scenario.fraction", env = "ISPMONITOR_SIM_SCENARIO_FRACTION")]
    pub scenario_fraction: Option<f64>,

    /// Exactly these devices (0-based, comma-separated) instead of a fraction.
    #[arg(
        long = "scenario.devices",
        env = "ISPMONITOR_SIM_SCENARIO_DEVICES",
        value_delimiter = ','
    )]
    pub scenario_devices: Vec<u32>,

    /// slow-agent: response delay (default 500ms).
    #[arg(long = "scenario.delay", env = "ISPMONITOR_SIM_SCENARIO_DELAY", value_parser = parse_delay)]
    pub scenario_delay: Option<std::time::Duration>,

    /// packet-loss: share of requests dropped, 0-1 (default 0.3).
    #[arg(long = "scenario.loss", env = "ISPMONITOR_SIM_SCENARIO_LOSS")]
    pub scenario_loss: Option<f64>,

    /// flapping-interface: half-period (default 7s); reboot: time between reboots (default:
    /// once); counter-wrap: time until the 64-bit edge (default 20s).
    #[arg(long = "scenario.period", env = "ISPMONITOR_SIM_SCENARIO_PERIOD", value_parser = parse_delay)]
    pub scenario_period: Option<std::time::Duration>,

    /// Write a poller config for the fleet (credentials and one target per device) to this file.
    #[arg(long = "write-config", env = "ISPMONITOR_SIM_WRITE_CONFIG")]
    pub write_config: Option<PathBuf>,

    /// Which credential the written targets use (mixed: even devices v2c, odd v3).
    #[arg(
        long = "write-config.snmp-version",
        env = "ISPMONITOR_SIM_WRITE_CONFIG_SNMP_VERSION",
        value_enum,
        default_value = "2c"
    )]
    pub write_config_version: crate::simulator::write_config::TargetVersion,

    /// Poll interval written to the config.
    #[arg(long = "write-config.interval", env = "ISPMONITOR_SIM_WRITE_CONFIG_INTERVAL",
          default_value = "15s", value_parser = parse_delay)]
    pub write_config_interval: std::time::Duration,

    /// Poll timeout written to the config (shorter than the interval).
    #[arg(long = "write-config.timeout", env = "ISPMONITOR_SIM_WRITE_CONFIG_TIMEOUT",
          default_value = "5s", value_parser = parse_delay)]
    pub write_config_timeout: std::time::Duration,
}

/// `ispmonitor demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Address for /metrics, /probe and health (repeatable, or comma-separated).
    #[arg(
        long = "web.listen-address",
        env = "ISPMONITOR_WEB_LISTEN_ADDRESS",
        value_delimiter = ',',
        default_value = "127.0.0.1:9090"
    )]
    pub listen_addresses: Vec<String>,

    /// Address of the inventory API, serving the demo's YAML inventory read-only; "none" for
    /// none.
    #[arg(
        long = "api.listen-address",
        env = "ISPMONITOR_DEMO_API_LISTEN_ADDRESS",
        default_value = "127.0.0.1:8080"
    )]
    pub api_listen_address: Option<String>,

    /// How many simulated routers (device 1 is down, 2 flaps a port, 3 has saturated uplinks).
    #[arg(long = "devices", env = "ISPMONITOR_DEMO_DEVICES", default_value_t = 12,
          value_parser = clap::value_parser!(u32).range(4..=10_000))]
    pub devices: u32,

    /// First loopback address of the fleet (device N on this address + N).
    #[arg(
        long = "listen",
        env = "ISPMONITOR_DEMO_LISTEN",
        default_value = "127.1.0.1"
    )]
    pub listen: std::net::IpAddr,

    /// UDP port of every simulated router (above 1023: no root needed).
    #[arg(long = "port", env = "ISPMONITOR_DEMO_PORT", default_value_t = 1161)]
    pub port: u16,

    /// Seed of the fleet.
    #[arg(long = "seed", env = "ISPMONITOR_DEMO_SEED", default_value_t = 1)]
    pub seed: u64,

    /// Poll interval (short, so changes show within a minute).
    #[arg(long = "interval", env = "ISPMONITOR_DEMO_INTERVAL", default_value = "10s", value_parser = parse_delay)]
    pub interval: std::time::Duration,

    /// Address of the simulator's control endpoint (GET/PUT /scenario); "none" for none.
    #[arg(
        long = "control.listen-address",
        env = "ISPMONITOR_DEMO_CONTROL_LISTEN_ADDRESS",
        default_value = "127.0.0.1:9161"
    )]
    pub control_listen_address: String,
}

fn parse_secret(text: &str) -> Result<crate::config::Secret, String> {
    if text.is_empty() {
        return Err("must not be empty".to_string());
    }
    Ok(crate::config::Secret::new(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flag_beats_environment() {
        // SAFETY of the test: env is process-global; this is the only test touching this var.
        std::env::set_var("ISPMONITOR_WEB_LISTEN_ADDRESS", "127.0.0.1:1111");
        let cli = Cli::parse_from(["ispmonitor", "serve", "--config", "x.yaml"]);
        let Command::Serve(from_env) = cli.command else {
            panic!("serve")
        };
        assert_eq!(from_env.listen_addresses, vec!["127.0.0.1:1111"]);
        let cli = Cli::parse_from([
            "ispmonitor",
            "serve",
            "--config",
            "x.yaml",
            "--web.listen-address",
            "127.0.0.1:2222,[::1]:3333",
        ]);
        std::env::remove_var("ISPMONITOR_WEB_LISTEN_ADDRESS");
        let Command::Serve(from_flag) = cli.command else {
            panic!("serve")
        };
        assert_eq!(
            from_flag.listen_addresses,
            vec!["127.0.0.1:2222", "[::1]:3333"]
        );
    }

    #[test]
    fn simulate_has_the_documented_defaults() {
        let cli = Cli::parse_from(["ispmonitor", "simulate", "--devices", "3"]);
        let Command::Simulate(args) = cli.command else {
            panic!("simulate")
        };
        assert_eq!(args.fleet.devices, 3);
        assert_eq!(args.fleet.port, 161);
        assert_eq!(args.fleet.interfaces, 48);
        assert_eq!(args.fleet.listen.to_string(), "127.1.0.1");
        assert_eq!(args.fleet.credentials.community.expose(), "public");
        assert_eq!(args.fleet.credentials.v3_username, "simuser");
        assert_eq!(
            args.fleet.credentials.v3_auth_password.expose(),
            "authpass123"
        );
        assert_eq!(
            args.fleet.credentials.v3_priv_password.expose(),
            "privpass123"
        );
        assert_eq!(
            args.scenario,
            crate::simulator::scenario::ScenarioKind::Healthy
        );
        assert_eq!(args.fleet.routeros.routeros_port, 8728);
        assert_eq!(args.fleet.routeros.routeros_tls_port, 8729);
        assert!(args.fleet.routeros.routeros_tls_cert.is_none());
        assert!(args.fleet.mikrotik_devices.is_empty());
        assert_eq!(
            args.fleet.credentials.routeros_password.expose(),
            "apipass123"
        );
    }

    #[test]
    fn secret_flags_never_print() {
        let cli = Cli::parse_from([
            "ispmonitor",
            "simulate",
            "--community",
            "c0mmunity-s3cret",
            "--v3.auth-password",
            "auth-s3cret-x",
            "--routeros-password",
            "api-s3cret-x",
            "--scenario",
            "link-saturation",
            "--scenario.devices",
            "1,2",
        ]);
        let text = format!("{cli:?}");
        assert!(!text.contains("s3cret"), "{text}");
        let Command::Simulate(args) = cli.command else {
            panic!("simulate")
        };
        assert_eq!(args.scenario_devices, vec![1, 2]);
        let mut help = Vec::new();
        Cli::command()
            .find_subcommand_mut("simulate")
            .unwrap()
            .write_long_help(&mut help)
            .unwrap();
        let help = String::from_utf8(help).unwrap();
        assert!(help.contains("--scenario.fraction"));
        assert!(help.contains("--routeros-tls-cert"));
        for secret in [
            "authpass123",
            "privpass123",
            "apipass123",
            "[default: public]",
        ] {
            assert!(!help.contains(secret), "{secret} in simulate --help");
        }
    }
}
