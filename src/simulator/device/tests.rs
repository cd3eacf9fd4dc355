//! Unit tests of the simulated router: determinism, ordered walks, counters and scenarios.

use super::*;
use crate::simulator::scenario::{FleetShape, ScenarioRequest};

const IF_HC_IN_OCTETS: [u32; 10] = [1, 3, 6, 1, 2, 1, 31, 1, 1, 1];

fn state(kind: ScenarioKind, devices: u32) -> Arc<ScenarioState> {
    let fleet = FleetShape { seed: 1, devices };
    let mut request = ScenarioRequest::new(kind);
    request.fraction = Some(1.0);
    Arc::new(ScenarioState::new(fleet, request).unwrap())
}

fn device_with(seed: u64, index: u32, scenarios: Arc<ScenarioState>) -> Device {
    let spec = DeviceSpec {
        seed,
        index,
        interfaces: DEFAULT_INTERFACES,
    };
    Device::new(spec, scenarios)
}

fn healthy(seed: u64, index: u32) -> Device {
    device_with(seed, index, state(ScenarioKind::Healthy, 16))
}

fn walk(device: &dyn MibView, at: Duration) -> Vec<(Vec<u32>, SimValue)> {
    let mut out = Vec::new();
    let mut oid = vec![];
    while let Some((next, value)) = device.next(&oid, at) {
        oid = next.clone();
        out.push((next, value));
    }
    out
}

fn column(entry: &[u32], column: u32, index: u32) -> Vec<u32> {
    let mut oid = entry.to_vec();
    oid.extend([column, index]);
    oid
}

fn counter64(device: &Device, column_id: u32, if_index: u32, at: Duration) -> u64 {
    match device.get(&column(&IF_HC_IN_OCTETS, column_id, if_index), at) {
        Lookup::Value(SimValue::Counter64(n)) => n,
        other => panic!("not a Counter64: {other:?}"),
    }
}

fn integer(device: &Device, oid: &[u32], at: Duration) -> i32 {
    match device.get(oid, at) {
        Lookup::Value(SimValue::Integer(n)) => n,
        other => panic!("not an integer: {other:?}"),
    }
}

fn uptime(device: &Device, at: Duration) -> u32 {
    match device.get(&[1, 3, 6, 1, 2, 1, 1, 3, 0], at) {
        Lookup::Value(SimValue::TimeTicks(t)) => t,
        other => panic!("no uptime: {other:?}"),
    }
}

const T1: Duration = Duration::from_secs(100);

#[test]
fn the_same_seed_builds_the_same_fleet_and_another_seed_another() {
    let a = walk(&healthy(42, 3), T1);
    let b = walk(&healthy(42, 3), T1);
    assert_eq!(a, b);
    assert_ne!(a, walk(&healthy(43, 3), T1));
    assert_ne!(a, walk(&healthy(42, 4), T1));
}

#[test]
fn a_full_walk_is_strictly_increasing_and_get_agrees_with_it() {
    for index in 0..10 {
        let device = healthy(9, index);
        let objects = walk(&device, T1);
        // system 8 + ifNumber + 48 x (22 + 19) + BGP + HR.
        assert!(objects.len() > 48 * 41, "{}", objects.len());
        for pair in objects.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{:?} !< {:?}", pair[0].0, pair[1].0);
        }
        for (oid, value) in &objects {
            assert_eq!(device.get(oid, T1), Lookup::Value(value.clone()), "{oid:?}");
        }
    }
}

#[test]
fn next_from_inside_and_between_objects_lands_on_the_following_one() {
    let device = healthy(1, 0);
    let objects = walk(&device, T1);
    for pair in objects.windows(2) {
        // An OID just after the first (a child of it) is still before the second.
        let mut child = pair[0].0.clone();
        child.push(0);
        let found = device.next(&child, T1).map(|(oid, _)| oid);
        assert_eq!(found.as_ref(), Some(&pair[1].0));
    }
    assert_eq!(device.next(&[1, 3, 6, 1, 2, 1, 99], T1), None);
    assert_eq!(
        device.get(&[1, 3, 6, 1, 2, 1, 1, 9, 0], T1),
        Lookup::NoSuchObject
    );
    assert_eq!(
        device.get(&column(&IF_HC_IN_OCTETS, 6, 999), T1),
        Lookup::NoSuchInstance
    );
    assert_eq!(
        device.get(&[1, 3, 6, 1, 2, 1, 15, 4, 0], T1),
        Lookup::Value(SimValue::IpAddress([10, 0, 0, 0]))
    );
}

#[test]
fn the_poller_modules_find_every_object_they_read() {
    let device = healthy(5, 2);
    for oid in crate::poller::snmp::modules::system::oids() {
        assert!(matches!(device.get(&oid, T1), Lookup::Value(_)), "{oid:?}");
    }
    let entries: [(&[u32], &[u32]); 5] = [
        (
            &crate::poller::snmp::modules::if_mib::IF_ENTRY,
            &crate::poller::snmp::modules::if_mib::IF_COLUMNS,
        ),
        (
            &crate::poller::snmp::modules::if_mib::IF_X_ENTRY,
            &crate::poller::snmp::modules::if_mib::IF_X_COLUMNS,
        ),
        (
            &crate::poller::snmp::modules::host_resources::HR_PROCESSOR_ENTRY,
            &crate::poller::snmp::modules::host_resources::HR_PROCESSOR_COLUMNS,
        ),
        (
            &crate::poller::snmp::modules::host_resources::HR_STORAGE_ENTRY,
            &crate::poller::snmp::modules::host_resources::HR_STORAGE_COLUMNS,
        ),
        (
            &crate::poller::snmp::modules::bgp4::BGP_PEER_ENTRY,
            &crate::poller::snmp::modules::bgp4::BGP_PEER_COLUMNS,
        ),
    ];
    for (entry, columns) in entries {
        for &c in columns {
            let mut prefix = entry.to_vec();
            prefix.push(c);
            let (first, _) = device.next(&prefix, T1).unwrap();
            assert!(first.starts_with(&prefix), "column {prefix:?} is empty");
        }
    }
}

#[test]
fn identity_names_vendor_model_and_interfaces() {
    let vendors: std::collections::BTreeSet<&str> =
        (0..40).map(|i| Identity::new(3, i).vendor.vendor).collect();
    assert_eq!(
        vendors.len(),
        VENDORS.len(),
        "40 devices cover every vendor"
    );
    let device = healthy(3, 0);
    assert_eq!(device.interface_names().len(), 48);
    assert_eq!(device.uplinks(), vec![3, 4]);
    let names = device.interface_names();
    let unique: std::collections::BTreeSet<&&str> = names.iter().collect();
    assert_eq!(unique.len(), 48, "{names:?}");
}

#[test]
fn counters_only_grow_and_32_bit_columns_are_the_64_bit_ones_mod_2_pow_32() {
    let device = healthy(11, 1);
    let mut last = [0u64; 49];
    for step in 0..200u64 {
        let at = Duration::from_millis(step * 1_537);
        for if_index in 1..=48 {
            let now = counter64(&device, 6, if_index, at);
            assert!(
                now >= last[if_index as usize],
                "if {if_index} went back at {at:?}"
            );
            last[if_index as usize] = now;
            let legacy = device.get(&column(&[1, 3, 6, 1, 2, 1, 2, 2, 1], 10, if_index), at);
            assert_eq!(legacy, Lookup::Value(SimValue::Counter32(now as u32)));
        }
    }
    // A 100G uplink at 25-55 % moves more than 2^32 bytes in a minute: ifInOctets wraps.
    let a = counter64(&device, 6, 3, Duration::from_secs(0));
    let b = counter64(&device, 6, 3, Duration::from_secs(60));
    assert!(b - a > 1 << 32, "{}", b - a);
}

#[test]
fn uptime_advances_in_hundredths() {
    let device = healthy(2, 0);
    let a = uptime(&device, Duration::from_secs(10));
    let b = uptime(&device, Duration::from_secs(20));
    assert_eq!(b - a, 1_000);
    assert!(a > 3 * 86_400 * 100, "booted days before the fleet started");
}

#[test]
fn router_down_drops_packet_loss_drops_some_slow_agent_delays() {
    let down = device_with(1, 0, state(ScenarioKind::RouterDown, 4));
    assert_eq!(down.reaction(T1), Reaction::Drop);
    let slow = device_with(1, 0, state(ScenarioKind::SlowAgent, 4));
    assert_eq!(
        slow.reaction(T1),
        Reaction::Delay(crate::simulator::scenario::DEFAULT_DELAY)
    );
    let lossy = device_with(1, 0, state(ScenarioKind::PacketLoss, 4));
    let dropped = (0..2_000)
        .filter(|_| lossy.reaction(T1) == Reaction::Drop)
        .count();
    // 30 % of 2000, with a wide margin for chance.
    assert!((450..750).contains(&dropped), "{dropped}");
    assert_eq!(healthy(1, 0).reaction(T1), Reaction::Answer);
}

#[test]
fn reboot_resets_uptime_and_counters_at_the_switch() {
    let scenarios = state(ScenarioKind::Healthy, 4);
    let device = device_with(1, 0, scenarios.clone());
    let before = Duration::from_secs(50);
    let octets_before = counter64(&device, 6, 3, before);
    let uptime_before = uptime(&device, before);
    let mut reboot = ScenarioRequest::new(ScenarioKind::Reboot);
    reboot.devices = Some(vec![0]);
    scenarios.switch(reboot, Duration::from_secs(60)).unwrap();
    let after = Duration::from_secs(70);
    assert_eq!(uptime(&device, after), 1_000);
    let octets_after = counter64(&device, 6, 3, after);
    assert!(
        octets_after < octets_before,
        "{octets_after} !< {octets_before}"
    );
    assert!(octets_after > 0);
    assert!(uptime(&device, after) < uptime_before);
    // Counters keep growing after the reboot.
    assert!(counter64(&device, 6, 3, Duration::from_secs(80)) > octets_after);
}

#[test]
fn link_saturation_runs_uplinks_near_their_speed_and_back() {
    let scenarios = state(ScenarioKind::Healthy, 4);
    let device = device_with(4, 0, scenarios.clone());
    let speed_bytes = |if_index| {
        let speed = device.get(&column(&IF_HC_IN_OCTETS, 15, if_index), T1);
        let Lookup::Value(SimValue::Gauge32(mbps)) = speed else {
            panic!("{speed:?}")
        };
        f64::from(mbps) * 1e6 / 8.0
    };
    let rate = |if_index, from: u64, to: u64| {
        let a = counter64(&device, 6, if_index, Duration::from_secs(from));
        let b = counter64(&device, 6, if_index, Duration::from_secs(to));
        (b - a) as f64 / (to - from) as f64 / speed_bytes(if_index)
    };
    assert!(rate(3, 0, 60) < 0.8, "{}", rate(3, 0, 60));
    let mut saturate = ScenarioRequest::new(ScenarioKind::LinkSaturation);
    saturate.devices = Some(vec![0]);
    scenarios
        .switch(saturate, Duration::from_secs(100))
        .unwrap();
    for uplink in device.uplinks() {
        let utilisation = rate(uplink, 110, 170);
        assert!((0.95..=1.0).contains(&utilisation), "{utilisation}");
    }
    scenarios
        .switch(
            ScenarioRequest::new(ScenarioKind::Healthy),
            Duration::from_secs(200),
        )
        .unwrap();
    let back = rate(3, 210, 270);
    assert!(back < 0.8, "{back}");
    // Continuous across both switches: no step back.
    assert!(
        counter64(&device, 6, 3, Duration::from_secs(200))
            >= counter64(&device, 6, 3, Duration::from_secs(199))
    );
}

#[test]
fn flapping_port_changes_between_polls_and_others_stay_up() {
    let device = device_with(6, 0, state(ScenarioKind::FlappingInterface, 4));
    let port = device.flapping_port().unwrap();
    let oper = |if_index, secs| {
        integer(
            &device,
            &column(&[1, 3, 6, 1, 2, 1, 2, 2, 1], 8, if_index),
            Duration::from_secs(secs),
        )
    };
    let states: Vec<i32> = (0..6).map(|poll| oper(port, poll * 10)).collect();
    assert!(states.contains(&1) && states.contains(&2), "{states:?}");
    assert!((0..6).all(|poll| oper(3, poll * 10) == 1));
    let healthy_states: Vec<i32> = (0..6).map(|p| oper(port, p * 10)).collect();
    assert_ne!(healthy_states, vec![1; 6]);
    let calm = healthy(6, 0);
    let calm_oper = integer(
        &calm,
        &column(&[1, 3, 6, 1, 2, 1, 2, 2, 1], 8, port),
        Duration::from_secs(0),
    );
    assert_eq!(calm_oper, 1);
}

#[test]
fn counter_wrap_crosses_2_pow_53_and_2_pow_64_after_the_period() {
    let device = device_with(8, 0, state(ScenarioKind::CounterWrap, 4));
    let wrap = crate::simulator::scenario::DEFAULT_WRAP_AFTER;
    let before = wrap - Duration::from_secs(2);
    let after = wrap + Duration::from_secs(2);
    // ifIndex 3 (odd): just below 2^53, then just above it.
    let odd_before = counter64(&device, 6, 3, before);
    let odd_after = counter64(&device, 6, 3, after);
    assert!(
        odd_before < 1 << 53 && odd_before > (1 << 53) - (1 << 40),
        "{odd_before}"
    );
    assert!(odd_after >= 1 << 53, "{odd_after}");
    // ifIndex 4 (even): near 2^64, then wrapped to a small number.
    let even_before = counter64(&device, 6, 4, before);
    let even_after = counter64(&device, 6, 4, after);
    assert!(even_before > u64::MAX - (1 << 40), "{even_before}");
    assert!(even_after < 1 << 40, "{even_after}");
}

#[test]
fn frozen_clock_ignores_the_agents_time() {
    let frozen = FrozenClock {
        inner: healthy(1, 0),
        at: T1,
    };
    assert_eq!(
        walk(&frozen, Duration::from_secs(1)),
        walk(&frozen, Duration::from_secs(999))
    );
}

#[test]
fn a_device_is_small() {
    // Per-device memory is its interface plan, not its MIB: 10,000 devices in well under 1 GiB.
    let device = healthy(1, 0);
    let strings: usize = device
        .interfaces
        .iter()
        .map(|i| i.name.capacity() + i.alias.capacity())
        .sum();
    let approx = std::mem::size_of::<Device>()
        + device.interfaces.capacity() * std::mem::size_of::<Interface>()
        + strings
        + device.rows.iter().map(|r| r.len() * 40).sum::<usize>();
    assert!(approx < 32 * 1024, "{approx} bytes");
}

#[test]
fn upstream_outage_takes_the_uplinks_down_and_back() {
    let scenarios = state(ScenarioKind::Healthy, 4);
    let device = device_with(9, 0, scenarios.clone());
    let uplinks = device.uplinks();
    assert!(!uplinks.is_empty());
    let oper = |if_index, at| integer(&device, &[1, 3, 6, 1, 2, 1, 2, 2, 1, 8, if_index], at);
    let mut outage = ScenarioRequest::new(ScenarioKind::UpstreamOutage);
    outage.devices = Some(vec![0]);
    scenarios.switch(outage, Duration::from_secs(100)).unwrap();
    for &uplink in &uplinks {
        assert_eq!(oper(uplink, Duration::from_secs(99)), 1);
        assert_eq!(oper(uplink, Duration::from_secs(120)), 2);
        // No traffic while cut off: the counter stands still.
        assert_eq!(
            counter64(&device, 6, uplink, Duration::from_secs(110)),
            counter64(&device, 6, uplink, Duration::from_secs(190))
        );
    }
    // The management port is not an uplink and keeps going.
    assert_eq!(oper(2, Duration::from_secs(120)), 1);
    scenarios
        .switch(
            ScenarioRequest::new(ScenarioKind::Healthy),
            Duration::from_secs(200),
        )
        .unwrap();
    for &uplink in &uplinks {
        assert_eq!(oper(uplink, Duration::from_secs(210)), 1);
        assert!(
            counter64(&device, 6, uplink, Duration::from_secs(260))
                > counter64(&device, 6, uplink, Duration::from_secs(210))
        );
    }
}

#[test]
fn the_api_view_shows_the_snmp_counters_and_uptime() {
    let spec = DeviceSpec {
        seed: 1,
        index: 3,
        interfaces: DEFAULT_INTERFACES,
    };
    let device = Device::of_vendor(spec, state(ScenarioKind::Healthy, 16), Some(MIKROTIK));
    assert_eq!(device.identity().vendor.vendor, "mikrotik");
    // Forcing the vendor keeps the seed's name and site.
    assert_eq!(
        device.identity().sys_name,
        healthy(1, 3).identity().sys_name
    );
    let view = device.api_view(T1);
    assert_eq!(view.uptime_seconds, u64::from(uptime(&device, T1)) / 100);
    assert_eq!(view.interfaces.len(), DEFAULT_INTERFACES as usize);
    for (position, row) in view.interfaces.iter().enumerate() {
        let if_index = position as u32 + 1;
        assert_eq!(row.name, device.interface_names()[position]);
        assert_eq!(row.rx_bytes, counter64(&device, 6, if_index, T1));
        assert_eq!(row.tx_bytes, counter64(&device, 10, if_index, T1));
        let up = integer(&device, &[1, 3, 6, 1, 2, 1, 2, 2, 1, 8, if_index], T1) == 1;
        assert_eq!(row.running, up, "{}", row.name);
    }
    assert!(view.memory_free < view.memory_total);
    assert!(view.cpu_load <= 100 && view.cpus == 4);
}
