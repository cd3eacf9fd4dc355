//! Measures the simulator agent's throughput: serves N devices (one socket each) and runs
//! concurrent v2c GETBULK walks against them in the same process, then prints varbinds/s.
//!
//! `cargo run --release --example sim_agent_load -- [DEVICES] [WALKERS] [SECONDS] [REPETITIONS]`

use std::sync::Arc;
use std::time::Duration;

use ispmonitor::config::Secret;
use ispmonitor::simulator::agent::load::{run_load, LoadSettings};
use ispmonitor::simulator::agent::{self, AgentSecurity, AgentSettings, Endpoint};
use ispmonitor::simulator::mib::{MibView, SimValue, StaticMib};
use tokio_util::sync::CancellationToken;

const ROOT: [u32; 9] = [1, 3, 6, 1, 2, 1, 2, 2, 1];

/// An ifTable-like table: 22 columns of 48 interfaces with typical value types.
fn interface_table() -> StaticMib {
    let mut objects = Vec::new();
    for column in 1..=22u32 {
        for row in 1..=48u32 {
            let mut oid = ROOT.to_vec();
            oid.extend_from_slice(&[column, row]);
            let value = match column {
                2 => SimValue::OctetString(format!("GigabitEthernet0/{row}").into_bytes()),
                6 => SimValue::OctetString(vec![0, 0x1b, 0x21, 0, 0, row as u8]),
                10 | 16 => SimValue::Counter32(row * 1_000_003),
                5 => SimValue::Gauge32(1_000_000_000),
                9 => SimValue::TimeTicks(row * 100),
                22 => SimValue::ObjectId(vec![0, 0]),
                _ => SimValue::Integer(row as i32),
            };
            objects.push((oid, value));
        }
    }
    StaticMib::new(objects)
}

fn arg(index: usize, default: u64) -> u64 {
    std::env::args()
        .nth(index)
        .and_then(|text| text.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let devices = arg(1, 100) as u32;
    let walkers = arg(2, 64) as usize;
    let seconds = arg(3, 10);
    let repetitions = arg(4, 50) as u32;
    let mib: Arc<dyn MibView> = Arc::new(interface_table());
    let endpoints = (0..devices)
        .map(|index| Endpoint {
            addr: "127.0.0.1:0".parse().expect("address"),
            device: Arc::clone(&mib),
            engine_id: agent::engine_id_for(index),
        })
        .collect();
    let settings = AgentSettings::new(AgentSecurity {
        community: Secret::new("public"),
        users: Vec::new(),
    });
    let agent = agent::bind(endpoints, Arc::new(settings)).await?;
    let targets = agent.local_addrs();
    let stats = agent.stats();
    let shutdown = CancellationToken::new();
    let serving = tokio::spawn(agent.run(shutdown.clone()));
    let report = run_load(LoadSettings {
        targets,
        community: "public".into(),
        root: ROOT.to_vec(),
        max_repetitions: repetitions,
        concurrency: walkers,
        duration: Duration::from_secs(seconds),
        timeout: Duration::from_secs(1),
    })
    .await?;
    shutdown.cancel();
    serving.await?;
    println!(
        "devices={devices} walkers={walkers} max_repetitions={repetitions} seconds={:.1}",
        report.elapsed.as_secs_f64()
    );
    println!(
        "requests={} varbinds={} walks={} timeouts={} -> {:.0} varbinds/s, {:.0} requests/s",
        report.requests,
        report.varbinds,
        report.walks,
        report.timeouts,
        report.varbinds_per_second(),
        report.requests as f64 / report.elapsed.as_secs_f64()
    );
    println!("agent: {:?}", stats.snapshot());
    Ok(())
}
