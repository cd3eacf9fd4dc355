//! What one RouterOS poll asks for (count-only prints where the menu has them) and how the
//! answers become families of the catalogue's RouterOS section. Pure: no socket here.

use std::collections::BTreeSet;

use super::connection::Answer;
use super::error::RouterOsError;
use super::word::{Command, Reply};
use crate::catalog::desc;
use crate::config::RouterOsSection;
use crate::poller::outcome::{FamilySamples, Sample, Value};

/// DHCP lease statuses RouterOS reports, each counted with its own count-only print.
pub const LEASE_STATUSES: [&str; 6] = [
    "bound",
    "waiting",
    "offered",
    "busy",
    "testing",
    "authorizing",
];

/// `/interface` properties read per row (`=.proplist=` keeps the answer small).
const INTERFACE_PROPERTIES: &str =
    "name,type,running,rx-byte,tx-byte,rx-packet,tx-packet,rx-error,tx-error,rx-drop,tx-drop";

/// One command of the poll and what its answer means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Query {
    PppoeSessions,
    Leases(&'static str),
    Connections,
    ConnectionTracking,
    Resource,
    Health,
    Interfaces,
}

/// The commands of one poll of `sections`, in a stable order.
pub fn plan(sections: &BTreeSet<RouterOsSection>) -> Vec<(Query, Command)> {
    let count_only = |path: &str| Command::new(path).attribute("count-only", "");
    let mut plan = Vec::new();
    for section in sections {
        match section {
            RouterOsSection::Pppoe => plan.push((
                Query::PppoeSessions,
                count_only("/ppp/active/print").query("service=pppoe"),
            )),
            RouterOsSection::Dhcp => {
                for status in LEASE_STATUSES {
                    plan.push((
                        Query::Leases(status),
                        count_only("/ip/dhcp-server/lease/print")
                            .query(&format!("status={status}")),
                    ));
                }
            }
            RouterOsSection::Firewall => {
                plan.push((
                    Query::Connections,
                    count_only("/ip/firewall/connection/print"),
                ));
                plan.push((
                    Query::ConnectionTracking,
                    Command::new("/ip/firewall/connection/tracking/print"),
                ));
            }
            RouterOsSection::Resource => {
                plan.push((Query::Resource, Command::new("/system/resource/print")))
            }
            RouterOsSection::Health => {
                plan.push((Query::Health, Command::new("/system/health/print")))
            }
            RouterOsSection::Interfaces => plan.push((
                Query::Interfaces,
                Command::new("/interface/print")
                    .attribute("stats", "")
                    .attribute(".proplist", INTERFACE_PROPERTIES),
            )),
        }
    }
    plan
}

/// The families of one poll plus the commands the router refused (each once).
#[derive(Debug, Default)]
pub struct Decoded {
    pub families: Vec<FamilySamples>,
    pub trapped: BTreeSet<String>,
}

/// Decodes every answer. A refused command leaves its families out (a router without the
/// DHCP package, a CHR without health sensors) except `/system/resource`, which every RouterOS
/// has: refusing it means the user cannot read anything, and the poll fails.
pub fn decode(plan: &[(Query, Command)], answers: &[Answer]) -> Result<Decoded, RouterOsError> {
    let mut decoded = Decoded::default();
    let mut builder = Families::default();
    for ((query, command), answer) in plan.iter().zip(answers) {
        if let Some(message) = &answer.trap {
            if *query == Query::Resource {
                return Err(RouterOsError::Trap {
                    command: command.path.clone(),
                    message: message.chars().take(200).collect(),
                });
            }
            decoded.trapped.insert(command.path.clone());
            continue;
        }
        builder.add(*query, &command.path, answer)?;
    }
    decoded.families = builder.finish();
    Ok(decoded)
}

/// Samples by family name, in the order families are first met.
#[derive(Default)]
struct Families {
    families: Vec<FamilySamples>,
}

impl Families {
    fn push(&mut self, name: &str, labels: &[(&str, &str)], value: Value) {
        let sample = Sample::new(labels.iter().copied(), value);
        match self.families.iter_mut().find(|f| &*f.desc.name == name) {
            Some(family) => family.samples.push(sample),
            None => self.families.push(FamilySamples {
                desc: desc(name),
                samples: vec![sample],
            }),
        }
    }

    fn finish(self) -> Vec<FamilySamples> {
        self.families
    }

    fn add(&mut self, query: Query, path: &str, answer: &Answer) -> Result<(), RouterOsError> {
        match query {
            Query::PppoeSessions => {
                let count = count(path, answer)?;
                self.push("ispmonitor_routeros_pppoe_sessions", &[], Value::Int(count));
            }
            Query::Leases(status) => {
                let count = count(path, answer)?;
                self.push(
                    "ispmonitor_routeros_dhcp_leases",
                    &[("status", status)],
                    Value::Int(count),
                );
            }
            Query::Connections => {
                let count = count(path, answer)?;
                self.push(
                    "ispmonitor_routeros_firewall_connections",
                    &[],
                    Value::Int(count),
                );
            }
            Query::ConnectionTracking => {
                if let Some(max) = first_row_int(path, answer, "max-entries")? {
                    self.push(
                        "ispmonitor_routeros_firewall_connections_max",
                        &[],
                        Value::Int(max),
                    );
                }
            }
            Query::Resource => self.resource(path, answer)?,
            Query::Health => self.health(answer),
            Query::Interfaces => {
                for row in &answer.rows {
                    self.interface(path, row)?;
                }
            }
        }
        Ok(())
    }

    fn resource(&mut self, path: &str, answer: &Answer) -> Result<(), RouterOsError> {
        let row = answer.rows.first().ok_or_else(|| RouterOsError::Parse {
            command: path.to_string(),
            value: String::new(),
            what: "row (the answer was empty)",
        })?;
        if let Some(load) = optional_int(path, row, "cpu-load")? {
            self.push(
                "ispmonitor_routeros_cpu_load_ratio",
                &[],
                Value::Float(load as f64 / 100.0),
            );
        }
        let gauges = [
            ("cpu-count", "ispmonitor_routeros_cpus"),
            ("total-memory", "ispmonitor_routeros_memory_total_bytes"),
            ("free-memory", "ispmonitor_routeros_memory_free_bytes"),
        ];
        for (property, family) in gauges {
            if let Some(value) = optional_int(path, row, property)? {
                self.push(family, &[], Value::Int(value));
            }
        }
        if let Some(text) = row.get("uptime") {
            let seconds =
                parse_duration(text).ok_or_else(|| parse_error(path, text, "duration"))?;
            self.push(
                "ispmonitor_routeros_uptime_seconds",
                &[],
                Value::Float(seconds),
            );
        }
        let info = [
            ("version", row.get("version").unwrap_or_default()),
            ("board", row.get("board-name").unwrap_or_default()),
            (
                "architecture",
                row.get("architecture-name").unwrap_or_default(),
            ),
        ];
        self.push("ispmonitor_routeros_system_info", &info, Value::Int(1));
        Ok(())
    }

    /// RouterOS 7 answers one row per sensor (`name`, `value`, `type` C or V); RouterOS 6 one
    /// row whose attributes are the sensors (`temperature=45`, `voltage=24.1`). A sensor whose
    /// value is not a number (a board reporting a state, or nothing yet) is left out, not an
    /// error: health readings vary by board and firmware.
    fn health(&mut self, answer: &Answer) {
        for row in &answer.rows {
            if let (Some(name), Some(value)) = (row.get("name"), row.get("value")) {
                let family = match row.get("type") {
                    Some("C") => "ispmonitor_routeros_temperature_celsius",
                    Some("V") => "ispmonitor_routeros_voltage_volts",
                    _ => continue,
                };
                if let Some(value) = sensor_value(value) {
                    self.push(family, &[("sensor", name)], Value::Float(value));
                }
                continue;
            }
            for (name, value) in &row.attributes {
                let family = if name.contains("temperature") {
                    "ispmonitor_routeros_temperature_celsius"
                } else if name.contains("voltage") {
                    "ispmonitor_routeros_voltage_volts"
                } else {
                    continue;
                };
                if let Some(value) = sensor_value(value) {
                    self.push(family, &[("sensor", name)], Value::Float(value));
                }
            }
        }
    }

    fn interface(&mut self, path: &str, row: &Reply) -> Result<(), RouterOsError> {
        let Some(name) = row.get("name") else {
            return Ok(());
        };
        let kind = row.get("type").unwrap_or_default();
        if is_subscriber_interface(kind) {
            return Ok(());
        }
        self.push(
            "ispmonitor_routeros_interface_info",
            &[("interface", name), ("interface_type", kind)],
            Value::Int(1),
        );
        if let Some(running) = row.get("running") {
            let up = u64::from(running == "true");
            self.push(
                "ispmonitor_routeros_interface_running",
                &[("interface", name)],
                Value::Int(up),
            );
        }
        let counters = [
            (
                "rx-byte",
                "ispmonitor_routeros_interface_receive_bytes_total",
            ),
            (
                "tx-byte",
                "ispmonitor_routeros_interface_transmit_bytes_total",
            ),
            (
                "rx-packet",
                "ispmonitor_routeros_interface_receive_packets_total",
            ),
            (
                "tx-packet",
                "ispmonitor_routeros_interface_transmit_packets_total",
            ),
            (
                "rx-error",
                "ispmonitor_routeros_interface_receive_errors_total",
            ),
            (
                "tx-error",
                "ispmonitor_routeros_interface_transmit_errors_total",
            ),
            (
                "rx-drop",
                "ispmonitor_routeros_interface_receive_drops_total",
            ),
            (
                "tx-drop",
                "ispmonitor_routeros_interface_transmit_drops_total",
            ),
        ];
        for (property, family) in counters {
            if let Some(value) = optional_int(path, row, property)? {
                self.push(family, &[("interface", name)], Value::Int(value));
            }
        }
        Ok(())
    }
}

/// The dynamic server side of one subscriber's tunnel (`pppoe-in`, `l2tp-in`, `pptp-in`,
/// `sstp-in`, `ovpn-in`...): a BRAS has thousands, which would be ten series each.
fn is_subscriber_interface(kind: &str) -> bool {
    kind.ends_with("-in")
}

fn parse_error(path: &str, value: &str, what: &'static str) -> RouterOsError {
    RouterOsError::Parse {
        command: path.to_string(),
        value: value.chars().take(64).collect(),
        what,
    }
}

/// The count of a count-only print (`!done =ret=N`).
fn count(path: &str, answer: &Answer) -> Result<u64, RouterOsError> {
    let ret = answer.ret.as_deref().unwrap_or_default();
    ret.parse()
        .map_err(|_| parse_error(path, ret, "count (count-only answers !done =ret=N)"))
}

fn optional_int(path: &str, row: &Reply, property: &str) -> Result<Option<u64>, RouterOsError> {
    row.get(property)
        .map(|text| text.parse().map_err(|_| parse_error(path, text, "number")))
        .transpose()
}

fn first_row_int(
    path: &str,
    answer: &Answer,
    property: &str,
) -> Result<Option<u64>, RouterOsError> {
    match answer.rows.first() {
        Some(row) => optional_int(path, row, property),
        None => Ok(None),
    }
}

fn sensor_value(text: &str) -> Option<f64> {
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// A RouterOS duration: `1w2d03:04:05` (RouterOS 6), `1w2d3h4m5s` (RouterOS 7), also with
/// `ms`/`us` parts or a fractional seconds field; `None` for anything else.
pub fn parse_duration(text: &str) -> Option<f64> {
    if text.is_empty() {
        return None;
    }
    let mut total = 0.0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let (number, after) = rest.split_at(digits);
        if after.starts_with(':') || after.starts_with('.') || after.is_empty() {
            // The clock part `HH:MM:SS(.fff)` ends the text.
            return Some(total + parse_clock(rest)?);
        }
        let value: f64 = number.parse().ok()?;
        let unit_len = after
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(after.len());
        let seconds_per_unit = match &after[..unit_len] {
            "w" => 604_800.0,
            "d" => 86_400.0,
            "h" => 3_600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            "us" => 0.000_001,
            _ => return None,
        };
        total += value * seconds_per_unit;
        rest = &after[unit_len..];
    }
    Some(total)
}

/// `HH:MM:SS` with optional fractional seconds.
fn parse_clock(text: &str) -> Option<f64> {
    let mut parts = text.split(':');
    let (hours, minutes, seconds) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || hours.is_empty() || minutes.len() != 2 {
        return None;
    }
    let hours: u64 = hours.parse().ok()?;
    let minutes: u64 = minutes.parse().ok()?;
    let seconds: f64 = seconds
        .parse()
        .ok()
        .filter(|s: &f64| s.is_finite() && *s >= 0.0)?;
    if minutes > 59 || seconds >= 60.0 || !seconds_digits_ok(text) {
        return None;
    }
    Some(hours as f64 * 3_600.0 + minutes as f64 * 60.0 + seconds)
}

/// Only digits and one optional '.' in the seconds field (f64 parsing also takes "inf", "1e3").
fn seconds_digits_ok(text: &str) -> bool {
    let seconds = text.rsplit(':').next().unwrap_or_default();
    seconds.chars().all(|c| c.is_ascii_digit() || c == '.') && seconds.matches('.').count() <= 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(words: &[&str]) -> Reply {
        Reply::parse(
            &words
                .iter()
                .map(|w| w.as_bytes().to_vec())
                .collect::<Vec<_>>(),
        )
        .unwrap()
    }

    fn value_of(families: &[FamilySamples], name: &str, labels: &str) -> Option<Value> {
        let family = families.iter().find(|f| &*f.desc.name == name)?;
        family
            .samples
            .iter()
            .find(|s| s.labels.as_str() == labels)
            .map(|s| s.value.clone())
    }

    #[test]
    fn durations_of_both_routeros_generations_parse() {
        assert_eq!(parse_duration("1w2d03:04:05"), Some(788_645.0));
        assert_eq!(parse_duration("1w2d3h4m5s"), Some(788_645.0));
        assert_eq!(parse_duration("00:00:07"), Some(7.0));
        assert_eq!(parse_duration("5s"), Some(5.0));
        assert_eq!(parse_duration("2m30s500ms"), Some(150.5));
        assert_eq!(parse_duration("3d00:00:01.5"), Some(259_201.5));
        for bad in [
            "",
            "w",
            "1x",
            "1w2",
            "01:60:00",
            "1:2",
            "-5s",
            "1:00:inf",
            "00:00:1e3",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_plan_uses_count_only_and_a_query_per_lease_status() {
        let plan = plan(&RouterOsSection::ALL.into_iter().collect());
        let words: Vec<Vec<String>> = plan.iter().map(|(_, c)| c.words()).collect();
        assert!(words.contains(&vec![
            "/ppp/active/print".to_string(),
            "=count-only=".into(),
            "?service=pppoe".into()
        ]));
        let lease_counts = words
            .iter()
            .filter(|w| w[0] == "/ip/dhcp-server/lease/print" && w[1] == "=count-only=")
            .count();
        assert_eq!(lease_counts, LEASE_STATUSES.len());
        let only_pppoe = super::plan(&[RouterOsSection::Pppoe].into_iter().collect());
        assert_eq!(only_pppoe.len(), 1);
    }

    #[test]
    fn answers_become_the_catalogue_families() {
        let plan = plan(
            &[
                RouterOsSection::Pppoe,
                RouterOsSection::Resource,
                RouterOsSection::Health,
                RouterOsSection::Interfaces,
            ]
            .into_iter()
            .collect(),
        );
        let answers = vec![
            Answer {
                ret: Some("1234".into()),
                ..Answer::default()
            },
            Answer {
                rows: vec![reply(&[
                    "!re",
                    "=uptime=2d00:00:10",
                    "=cpu-load=37",
                    "=cpu-count=4",
                    "=free-memory=1000",
                    "=total-memory=4000",
                    "=version=7.16.2 (stable)",
                    "=board-name=CCR2004-1G-12S+2XS",
                    "=architecture-name=arm64",
                ])],
                ..Answer::default()
            },
            Answer {
                rows: vec![
                    reply(&["!re", "=name=temperature", "=value=41", "=type=C"]),
                    reply(&["!re", "=name=voltage", "=value=24.1", "=type=V"]),
                    reply(&["!re", "=name=fan1-speed", "=value=4000", "=type=RPM"]),
                ],
                ..Answer::default()
            },
            Answer {
                rows: vec![
                    reply(&[
                        "!re",
                        "=name=sfp-sfpplus1",
                        "=type=ether",
                        "=running=true",
                        "=rx-byte=18446744073709551615",
                        "=tx-byte=7",
                    ]),
                    reply(&["!re", "=name=<pppoe-alice>", "=type=pppoe-in", "=rx-byte=5"]),
                ],
                ..Answer::default()
            },
        ];
        let decoded = decode(&plan, &answers).unwrap();
        let f = &decoded.families;
        assert_eq!(
            value_of(f, "ispmonitor_routeros_pppoe_sessions", ""),
            Some(Value::Int(1234))
        );
        assert_eq!(
            value_of(f, "ispmonitor_routeros_cpu_load_ratio", ""),
            Some(Value::Float(0.37))
        );
        assert_eq!(
            value_of(f, "ispmonitor_routeros_uptime_seconds", ""),
            Some(Value::Float(172_810.0))
        );
        assert_eq!(
            value_of(
                f,
                "ispmonitor_routeros_system_info",
                r#"version="7.16.2 (stable)",board="CCR2004-1G-12S+2XS",architecture="arm64""#
            ),
            Some(Value::Int(1))
        );
        assert_eq!(
            value_of(
                f,
                "ispmonitor_routeros_voltage_volts",
                r#"sensor="voltage""#
            ),
            Some(Value::Float(24.1))
        );
        assert!(value_of(
            f,
            "ispmonitor_routeros_temperature_celsius",
            r#"sensor="fan1-speed""#
        )
        .is_none());
        assert_eq!(
            value_of(
                f,
                "ispmonitor_routeros_interface_receive_bytes_total",
                r#"interface="sfp-sfpplus1""#
            ),
            Some(Value::Int(u64::MAX))
        );
        assert!(
            !f.iter()
                .flat_map(|f| &f.samples)
                .any(|s| s.labels.as_str().contains("pppoe-alice")),
            "subscriber tunnels are left out"
        );
        assert!(decoded.trapped.is_empty());
    }

    #[test]
    fn routeros_6_health_is_one_row_of_sensors() {
        let plan = plan(&[RouterOsSection::Health].into_iter().collect());
        let answers = vec![Answer {
            rows: vec![reply(&[
                "!re",
                "=voltage=12.1",
                "=temperature=38",
                "=fan-mode=auto",
            ])],
            ..Answer::default()
        }];
        let f = decode(&plan, &answers).unwrap().families;
        assert_eq!(
            value_of(
                f.as_slice(),
                "ispmonitor_routeros_temperature_celsius",
                r#"sensor="temperature""#
            ),
            Some(Value::Float(38.0))
        );
        assert_eq!(f.len(), 2);
    }

    #[test]
    fn a_trap_leaves_out_its_families_but_a_refused_resource_fails_the_poll() {
        let plan = plan(
            &[RouterOsSection::Pppoe, RouterOsSection::Resource]
                .into_iter()
                .collect(),
        );
        let trapped = Answer {
            trap: Some("no such command prefix".into()),
            ..Answer::default()
        };
        let resource = Answer {
            rows: vec![reply(&["!re", "=cpu-load=1"])],
            ..Answer::default()
        };
        let decoded = decode(&plan, &[trapped.clone(), resource]).unwrap();
        assert_eq!(
            decoded.trapped.into_iter().collect::<Vec<_>>(),
            ["/ppp/active/print"]
        );
        assert!(value_of(&decoded.families, "ispmonitor_routeros_pppoe_sessions", "").is_none());
        let ok_pppoe = Answer {
            ret: Some("3".into()),
            ..Answer::default()
        };
        let error = decode(&plan, &[ok_pppoe, trapped]).unwrap_err();
        assert!(matches!(error, RouterOsError::Trap { .. }), "{error}");
    }

    #[test]
    fn a_count_that_is_not_a_number_is_a_parse_error_naming_the_command() {
        let plan = plan(&[RouterOsSection::Firewall].into_iter().collect());
        let answers = vec![
            Answer {
                ret: Some("lots".into()),
                ..Answer::default()
            },
            Answer::default(),
        ];
        let error = decode(&plan, &answers).unwrap_err();
        assert_eq!(
            error.to_string(),
            "/ip/firewall/connection/print answered \"lots\", which is not a count (count-only answers !done =ret=N)"
        );
    }
}
