//! SNMPv2c GETBULK load generator against external agents; prints one key=value line.
//
// `cargo run --release --example snmp_load -- --first 127.3.0.1:1161 --count 100 \
//      --root 1.3.6.1.2.1.2.2 --walkers 32 --seconds 10 --max-repetitions 50`
// Used by scripts/bench.sh against `ispmonitor simulate` and net-snmp's snmpd.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use ispmonitor::simulator::agent::load::{run_load, walk_each_once, LoadReport, LoadSettings};

/// Concurrent v2c GETBULK walks of one subtree against agents on UDP.
#[derive(Debug, Parser)]
struct Args {
    /// An agent to load (ADDRESS:PORT); repeat for several.
    #[arg(long = "targets")]
    targets: Vec<SocketAddr>,
    /// First of `--count` agents on consecutive IPv4 addresses, same port.
    #[arg(long)]
    first: Option<SocketAddr>,
    #[arg(long, default_value_t = 1)]
    count: u32,
    /// The subtree to walk, numeric.
    #[arg(long, default_value = "1.3.6.1.2.1.2.2")]
    root: String,
    /// Walkers in flight (one outstanding request each), spread over the targets round-robin.
    #[arg(long, default_value_t = 32)]
    walkers: usize,
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    #[arg(long, default_value_t = 50)]
    max_repetitions: u32,
    #[arg(long, default_value = "public")]
    community: String,
    /// Per-request timeout.
    #[arg(long, default_value_t = 1000)]
    timeout_ms: u64,
    /// Walk every target once and stop (ignores --seconds).
    #[arg(long)]
    once: bool,
}

fn parse_oid(text: &str) -> anyhow::Result<Vec<u32>> {
    text.trim_start_matches('.')
        .split('.')
        .map(|arc| arc.parse().with_context(|| format!("bad OID {text:?}")))
        .collect()
}

/// `--targets`, then `--count` consecutive addresses from `--first` (across octets).
fn targets(args: &Args) -> anyhow::Result<Vec<SocketAddr>> {
    let mut targets = args.targets.clone();
    if let Some(first) = args.first {
        let IpAddr::V4(start) = first.ip() else {
            bail!("--first must be an IPv4 address");
        };
        for offset in 0..args.count {
            let Some(next) = u32::from(start).checked_add(offset) else {
                bail!("--first + --count runs past 255.255.255.255");
            };
            targets.push(SocketAddr::new(Ipv4Addr::from(next).into(), first.port()));
        }
    }
    if targets.is_empty() {
        bail!("no targets: give --targets or --first");
    }
    Ok(targets)
}

/// This process's CPU time (user + system), from /proc/self/stat.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_comm = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (per_second > 0).then(|| ticks as f64 / per_second as f64)
}

fn print_report(report: &LoadReport, cpu: f64) {
    let varbinds_per_request = report.varbinds as f64 / report.requests.max(1) as f64;
    println!(
        "requests={} varbinds={} walks={} timeouts={} elapsed={:.3} varbinds_per_s={:.0} \
         varbinds_per_request={:.1} load_cpu_s={:.2}",
        report.requests,
        report.varbinds,
        report.walks,
        report.timeouts,
        report.elapsed.as_secs_f64(),
        report.varbinds_per_second(),
        varbinds_per_request,
        cpu
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let settings = LoadSettings {
        targets: targets(&args)?,
        community: args.community.clone(),
        root: parse_oid(&args.root)?,
        max_repetitions: args.max_repetitions,
        concurrency: args.walkers,
        duration: Duration::from_secs_f64(args.seconds.max(0.0)),
        timeout: Duration::from_millis(args.timeout_ms),
    };
    let cpu_before = cpu_seconds().unwrap_or(0.0);
    let report = if args.once {
        walk_each_once(settings).await?
    } else {
        run_load(settings).await?
    };
    print_report(&report, cpu_seconds().unwrap_or(0.0) - cpu_before);
    Ok(())
}
