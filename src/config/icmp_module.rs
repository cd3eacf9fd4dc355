//! `type: icmp` modules: their fields, defaults and limits, the built-in `icmp` module, and the
//! target-level check that a probe fits in the target's poll timeout.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::duration::format_duration;
use super::model::{IcmpModule, IpProtocol, Module, ModuleKind};
use super::raw::RawModule;
use super::validate::{int_in_range, optional_duration, Problems};

/// The name of the built-in ICMP module (`modules: [icmp]` works without declaring it).
pub const BUILT_IN_NAME: &str = "icmp";

/// Echo requests per probe: five, like `ping -c 5`, enough to see partial loss in one poll.
pub const DEFAULT_COUNT: u32 = 5;
/// One second between echo requests, as `ping` does: polite to routers' ICMP policers.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
/// How long one reply is waited for. With the defaults a probe lasts at most 5 s, which fits
/// the default 10 s poll timeout and a 5 s one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
/// 56 payload bytes, `ping`'s default (64 bytes of ICMP).
pub const DEFAULT_PAYLOAD_SIZE: usize = 56;

/// 100 echo requests per probe resolve loss to 1 %; more would make one poll last long and hold
/// a concurrency slot for it.
const COUNT_RANGE: std::ops::RangeInclusive<i64> = 1..=100;
/// Below 10 ms, echo requests arrive as a burst that routers' control-plane policers (CoPP)
/// drop, so the loss measured would be the policer's, not the path's; tokio's timers also
/// have 1 ms granularity, so spacing much finer than this would not be kept.
const MIN_INTERVAL: Duration = Duration::from_millis(10);
/// An IPv4 datagram carries at most 65535 - 20 (IP header) - 8 (ICMP header) = 65507 payload
/// bytes, IPv6 without jumbograms 65535 - 8 = 65527. 65000 fits both with room for IPv4
/// options and IPv6 extension headers, so one limit holds for either family.
const PAYLOAD_RANGE: std::ops::RangeInclusive<i64> = 0..=65000;

/// The built-in `icmp` module, with every default.
pub fn built_in() -> Arc<Module> {
    module(BUILT_IN_NAME, default_module())
}

/// Wraps a validated ICMP module under its name.
pub fn module(name: &str, icmp: IcmpModule) -> Arc<Module> {
    Arc::new(Module {
        name: name.to_string(),
        kind: ModuleKind::Icmp(icmp),
    })
}

fn default_module() -> IcmpModule {
    IcmpModule {
        count: DEFAULT_COUNT,
        interval: DEFAULT_INTERVAL,
        timeout: DEFAULT_TIMEOUT,
        payload_size: DEFAULT_PAYLOAD_SIZE,
        ip_protocol: IpProtocol::PreferIpv4,
        source_address: None,
    }
}

/// The ICMP fields written on a module entry, to refuse them on modules of another type.
pub fn fields_set(raw: &RawModule) -> Vec<&'static str> {
    [
        ("count", raw.count.is_some()),
        ("interval", raw.interval.is_some()),
        ("timeout", raw.timeout.is_some()),
        ("payload_size", raw.payload_size.is_some()),
        ("ip_protocol", raw.ip_protocol.is_some()),
        ("source_address", raw.source_address.is_some()),
    ]
    .into_iter()
    .filter_map(|(field, set)| set.then_some(field))
    .collect()
}

/// Validates the fields of a `type: icmp` entry (the caller checked its name).
pub fn validate_icmp_module(
    path: &str,
    raw: &RawModule,
    problems: &mut Problems,
) -> Option<IcmpModule> {
    let before = problems.len();
    refuse_snmp_fields(path, raw, problems);
    let defaults = default_module();
    let count = raw
        .count
        .and_then(|value| int_in_range(&format!("{path}.count"), value, COUNT_RANGE, problems))
        .unwrap_or(defaults.count);
    let interval = icmp_interval(path, raw.interval.as_deref(), problems);
    let timeout = optional_duration(&format!("{path}.timeout"), raw.timeout.as_deref(), problems)
        .unwrap_or(defaults.timeout);
    let payload_size = raw
        .payload_size
        .and_then(|value| {
            int_in_range(
                &format!("{path}.payload_size"),
                value,
                PAYLOAD_RANGE,
                problems,
            )
        })
        .unwrap_or(defaults.payload_size);
    let ip_protocol = ip_protocol(path, raw.ip_protocol.as_deref(), problems);
    let source_address = source_address(path, raw.source_address.as_deref(), ip_protocol, problems);
    (problems.len() == before).then_some(IcmpModule {
        count,
        interval,
        timeout,
        payload_size,
        ip_protocol,
        source_address,
    })
}

fn refuse_snmp_fields(path: &str, raw: &RawModule, problems: &mut Problems) {
    let snmp_fields = [
        ("max_repetitions", raw.max_repetitions.is_some()),
        ("metrics", raw.metrics.is_some()),
    ];
    for (field, set) in snmp_fields {
        if set {
            problems.add(
                format!("{path}.{field}"),
                "is an SNMP field; not allowed on type: icmp",
            );
        }
    }
}

fn icmp_interval(path: &str, text: Option<&str>, problems: &mut Problems) -> Duration {
    let field = format!("{path}.interval");
    let Some(interval) = optional_duration(&field, text, problems) else {
        return DEFAULT_INTERVAL;
    };
    if interval < MIN_INTERVAL {
        problems.add(
            field,
            format!(
                "{} is below the minimum {}: faster bursts are dropped by routers' ICMP policers and \
                 would be measured as loss",
                text.unwrap_or_default(),
                format_duration(MIN_INTERVAL)
            ),
        );
    }
    interval
}

fn ip_protocol(path: &str, text: Option<&str>, problems: &mut Problems) -> IpProtocol {
    match text {
        None | Some("prefer_ipv4") => IpProtocol::PreferIpv4,
        Some("prefer_ipv6") => IpProtocol::PreferIpv6,
        Some("ipv4") => IpProtocol::Ipv4,
        Some("ipv6") => IpProtocol::Ipv6,
        Some(other) => {
            problems.add(
                format!("{path}.ip_protocol"),
                format!(
                    "unknown ip_protocol {other:?} (use ipv4, ipv6, prefer_ipv4 or prefer_ipv6)"
                ),
            );
            IpProtocol::PreferIpv4
        }
    }
}

/// A literal IP of the family the module pings with. A source address pins the family, so
/// `prefer_*` takes it as the only family (there is nothing to fall back to).
fn source_address(
    path: &str,
    text: Option<&str>,
    ip_protocol: IpProtocol,
    problems: &mut Problems,
) -> Option<IpAddr> {
    let field = format!("{path}.source_address");
    let address: IpAddr = match text?.parse() {
        Ok(address) => address,
        Err(_) => {
            problems.add(
                field,
                format!("{:?} is not an IP address", text.unwrap_or_default()),
            );
            return None;
        }
    };
    let wants_v4 = matches!(ip_protocol, IpProtocol::Ipv4 | IpProtocol::PreferIpv4);
    if address.is_ipv4() != wants_v4 {
        let family = if wants_v4 { "IPv4" } else { "IPv6" };
        problems.add(
            field,
            format!("{address} is not an {family} address, as ip_protocol requires"),
        );
        return None;
    }
    Some(address)
}

/// How long one probe can last: the last echo request leaves (count - 1) intervals after the
/// first and is waited for one timeout.
pub fn worst_case_duration(icmp: &IcmpModule) -> Duration {
    icmp.interval.saturating_mul(icmp.count.saturating_sub(1)) + icmp.timeout
}

/// A target pings with at most one ICMP module, and its probe must end within the target's poll
/// timeout. Refused rather than clamped: a silently shortened probe would report loss that
/// the network did not cause.
pub fn check_target_icmp(
    path: &str,
    modules: &[Arc<Module>],
    poll_timeout: Duration,
    problems: &mut Problems,
) {
    let icmp: Vec<(usize, &str, &IcmpModule)> = modules
        .iter()
        .enumerate()
        .filter_map(|(i, module)| match &module.kind {
            ModuleKind::Icmp(icmp) => Some((i, module.name.as_str(), icmp)),
            _ => None,
        })
        .collect();
    if let [_, (i, name, _), ..] = icmp.as_slice() {
        problems.add(
            format!("{path}.modules[{i}]"),
            format!("{name:?} is a second ICMP module; a target pings with one"),
        );
    }
    let Some((i, name, module)) = icmp.first() else {
        return;
    };
    let needed = worst_case_duration(module);
    if needed > poll_timeout {
        problems.add(
            format!("{path}.modules[{i}]"),
            format!(
                "ICMP module {name:?} needs up to {} per probe ((count - 1) x interval + timeout), \
                 longer than the target's poll timeout {}; lower count, interval or timeout, or \
                 raise the timeout",
                format_duration(needed),
                format_duration(poll_timeout)
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validate(raw: RawModule) -> (Option<IcmpModule>, Vec<String>) {
        let mut problems = Problems::default();
        let module = validate_icmp_module("modules.p", &raw, &mut problems);
        let messages = problems
            .into_vec()
            .iter()
            .map(ToString::to_string)
            .collect();
        (module, messages)
    }

    #[test]
    fn an_empty_entry_takes_every_default() {
        let (module, problems) = validate(RawModule::default());
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(module, Some(default_module()));
        assert_eq!(
            worst_case_duration(&default_module()),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn every_field_is_read() {
        let raw = RawModule {
            count: Some(100),
            interval: Some("10ms".into()),
            timeout: Some("2s".into()),
            payload_size: Some(65000),
            ip_protocol: Some("ipv6".into()),
            source_address: Some("::1".into()),
            ..RawModule::default()
        };
        let (module, problems) = validate(raw);
        assert!(problems.is_empty(), "{problems:?}");
        let module = module.expect("valid");
        assert_eq!(module.count, 100);
        assert_eq!(module.interval, Duration::from_millis(10));
        assert_eq!(module.payload_size, 65000);
        assert_eq!(module.ip_protocol, IpProtocol::Ipv6);
        assert_eq!(module.source_address, Some("::1".parse().unwrap()));
        assert_eq!(worst_case_duration(&module), Duration::from_millis(2990));
    }

    #[test]
    fn limits_are_enforced() {
        for (raw, expected) in [
            (
                RawModule {
                    count: Some(0),
                    ..RawModule::default()
                },
                "modules.p.count: 0 is out of range",
            ),
            (
                RawModule {
                    count: Some(101),
                    ..RawModule::default()
                },
                "modules.p.count: 101 is out of range",
            ),
            (
                RawModule {
                    interval: Some("9ms".into()),
                    ..RawModule::default()
                },
                "below the minimum 10ms",
            ),
            (
                RawModule {
                    timeout: Some("0s".into()),
                    ..RawModule::default()
                },
                "must be greater than zero",
            ),
            (
                RawModule {
                    payload_size: Some(65001),
                    ..RawModule::default()
                },
                "65001 is out of range",
            ),
            (
                RawModule {
                    ip_protocol: Some("ip4".into()),
                    ..RawModule::default()
                },
                "unknown ip_protocol",
            ),
            (
                RawModule {
                    source_address: Some("lo".into()),
                    ..RawModule::default()
                },
                "is not an IP address",
            ),
            (
                RawModule {
                    source_address: Some("::1".into()),
                    ..RawModule::default()
                },
                "not an IPv4 address",
            ),
            (
                RawModule {
                    metrics: Some(vec![]),
                    ..RawModule::default()
                },
                "is an SNMP field",
            ),
        ] {
            let (module, problems) = validate(raw);
            assert!(module.is_none());
            assert!(
                problems.iter().any(|p| p.contains(expected)),
                "{expected}: {problems:?}"
            );
        }
    }

    #[test]
    fn a_probe_longer_than_the_poll_timeout_is_refused() {
        let long = module(
            "long",
            IcmpModule {
                count: 10,
                ..default_module()
            },
        );
        let mut problems = Problems::default();
        check_target_icmp(
            "targets[0]",
            std::slice::from_ref(&long),
            Duration::from_secs(10),
            &mut problems,
        );
        assert!(problems.is_empty());
        check_target_icmp("targets[0]", &[long], Duration::from_secs(9), &mut problems);
        let messages: Vec<String> = problems
            .into_vec()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(messages.len(), 1);
        assert!(
            messages[0].starts_with("targets[0].modules[0]: ICMP module \"long\" needs up to 10s")
        );
    }

    #[test]
    fn two_icmp_modules_on_one_target_are_refused() {
        let mut problems = Problems::default();
        check_target_icmp(
            "t",
            &[built_in(), built_in()],
            Duration::from_secs(10),
            &mut problems,
        );
        assert_eq!(problems.len(), 1);
    }
}
