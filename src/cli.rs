//! Command-line interface: global logging flags and the subcommands. Every flag has an
//! `ISPMONITOR_*` environment twin; the flag wins over the environment, which wins over the file.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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

    /// How long /ready answers 503 before the listener closes on SIGTERM, so load balancers and
    /// Kubernetes endpoints notice first (e.g. 5s).
    #[arg(long = "web.shutdown-delay", env = "ISPMONITOR_WEB_SHUTDOWN_DELAY", default_value = "0s", value_parser = parse_delay)]
    pub shutdown_delay: std::time::Duration,
}

fn parse_delay(text: &str) -> Result<std::time::Duration, String> {
    if text == "0" || text == "0s" {
        return Ok(std::time::Duration::ZERO);
    }
    crate::config::duration::parse_duration(text)
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
}
