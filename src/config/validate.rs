//! Raw YAML mirror to the validated `Config`, collecting every problem with its YAML path.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::Path;
use std::time::Duration;

use super::credential::validate_credentials;
use super::duration::{format_duration, parse_duration, parse_positive_duration};
use super::model::{Config, Global, SnmpGlobal, Web};
use super::module::validate_modules;
use super::raw::{OneOrMany, RawConfig, RawGlobal, RawSnmpGlobal, RawWeb};
use super::server_sections::{validate_api, validate_database, validate_license};
use super::target::{validate_targets, References};
use super::ConfigProblem;

const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_LISTEN_ADDRESS: &str = "0.0.0.0:9090";

/// The problems found so far, in the order they were found.
#[derive(Debug, Default)]
pub struct Problems(Vec<ConfigProblem>);

impl Problems {
    pub fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigProblem {
            path: path.into(),
            message: message.into(),
        });
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_vec(self) -> Vec<ConfigProblem> {
        self.0
    }
}

/// Validates the whole file. Every section is checked even when an earlier one failed, so the
/// user sees all problems in one run.
pub fn validate(raw: &RawConfig, base_dir: &Path) -> Result<Config, Vec<ConfigProblem>> {
    let mut problems = Problems::default();
    let global = validate_global(raw.global.as_ref(), &mut problems);
    let web = validate_web(raw.web.as_ref(), &mut problems);
    let database = validate_database(raw.database.as_ref(), base_dir, &mut problems);
    let api = validate_api(raw.api.as_ref(), &mut problems);
    let license = validate_license(raw.license.as_ref(), base_dir, &mut problems);
    let (no_credentials, no_modules) = (BTreeMap::new(), BTreeMap::new());
    let raw_credentials = raw.credentials.as_ref().unwrap_or(&no_credentials);
    let raw_modules = raw.modules.as_ref().unwrap_or(&no_modules);
    let credentials = validate_credentials(raw_credentials, base_dir, &mut problems);
    let modules = validate_modules(raw_modules, &mut problems);
    let references = References {
        global: &global,
        credentials: &credentials,
        declared_credentials: raw_credentials,
        modules: &modules,
        declared_modules: raw_modules,
    };
    let targets = validate_targets(
        raw.targets.as_deref().unwrap_or_default(),
        &references,
        &mut problems,
    );
    if !problems.is_empty() {
        return Err(problems.into_vec());
    }
    Ok(Config {
        global,
        web,
        database,
        api,
        license,
        credentials,
        modules,
        targets,
    })
}

fn validate_global(raw: Option<&RawGlobal>, problems: &mut Problems) -> Global {
    let default = RawGlobal::default();
    let raw = raw.unwrap_or(&default);
    let interval = optional_duration("global.interval", raw.interval.as_deref(), problems);
    let timeout = optional_duration("global.timeout", raw.timeout.as_deref(), problems);
    let interval = interval.unwrap_or(DEFAULT_INTERVAL);
    let timeout = timeout.unwrap_or(DEFAULT_TIMEOUT);
    check_timeout_shorter(
        "global.timeout",
        &Shown::new(timeout, raw.timeout.as_deref()),
        &Shown::new(interval, raw.interval.as_deref()),
        problems,
    );
    Global {
        interval,
        timeout,
        max_concurrent_polls: int_or(
            "global.max_concurrent_polls",
            raw.max_concurrent_polls,
            1..=i64::from(u32::MAX),
            problems,
        )
        .unwrap_or(1000),
        max_concurrent_per_target: int_or(
            "global.max_concurrent_per_target",
            raw.max_concurrent_per_target,
            1..=i64::from(u32::MAX),
            problems,
        )
        .unwrap_or(1),
        snmp: validate_snmp_global(raw.snmp.as_ref(), problems),
    }
}

fn validate_snmp_global(raw: Option<&RawSnmpGlobal>, problems: &mut Problems) -> SnmpGlobal {
    let empty = RawSnmpGlobal::default();
    let raw = raw.unwrap_or(&empty);
    let default = SnmpGlobal::default();
    SnmpGlobal {
        max_repetitions: int_or(
            "global.snmp.max_repetitions",
            raw.max_repetitions,
            1..=1000,
            problems,
        )
        .unwrap_or(default.max_repetitions),
        retries: int_or("global.snmp.retries", raw.retries, 0..=10, problems)
            .unwrap_or(default.retries),
        max_oids_per_get: int_or(
            "global.snmp.max_oids_per_get",
            raw.max_oids_per_get,
            1..=256,
            problems,
        )
        .unwrap_or(default.max_oids_per_get),
        wrap_large_counters: raw
            .wrap_large_counters
            .unwrap_or(default.wrap_large_counters),
        // 484 is the size every SNMP agent must accept (RFC 3417); 65507 the largest UDP payload.
        max_message_size: int_or(
            "global.snmp.max_message_size",
            raw.max_message_size,
            484..=65507,
            problems,
        )
        .unwrap_or(default.max_message_size),
        lookup_refresh: raw
            .lookup_refresh
            .as_deref()
            .and_then(|text| {
                parse_duration(text)
                    .map_err(|message| problems.add("global.snmp.lookup_refresh", message))
                    .ok()
            })
            .unwrap_or(default.lookup_refresh),
        // One request at a time by default: what an agent on a busy control plane expects
        // from a poller (net-snmp's tools and snmp_exporter do the same). Raise it for big
        // routers, where a walk is thousands of round trips in a row.
        max_requests_in_flight: int_or(
            "global.snmp.max_requests_in_flight",
            raw.max_requests_in_flight,
            1..=64,
            problems,
        )
        .unwrap_or(default.max_requests_in_flight),
    }
}

/// An optional integer: `None` when absent or out of range (then a problem is recorded).
fn int_or<T: TryFrom<i64>>(
    path: &str,
    value: Option<i64>,
    range: RangeInclusive<i64>,
    problems: &mut Problems,
) -> Option<T> {
    int_in_range(path, value?, range, problems)
}

/// Checks an integer against its allowed range and converts it to the model's type.
pub fn int_in_range<T: TryFrom<i64>>(
    path: &str,
    value: i64,
    range: RangeInclusive<i64>,
    problems: &mut Problems,
) -> Option<T> {
    let converted = range
        .contains(&value)
        .then(|| T::try_from(value).ok())
        .flatten();
    if converted.is_none() {
        problems.add(
            path,
            format!(
                "{value} is out of range ({} to {})",
                range.start(),
                range.end()
            ),
        );
    }
    converted
}

/// Parses an interval or timeout if given; a problem is recorded when it is invalid.
pub fn optional_duration(
    path: &str,
    text: Option<&str>,
    problems: &mut Problems,
) -> Option<Duration> {
    parse_positive_duration(text?)
        .map_err(|message| problems.add(path, message))
        .ok()
}

/// A duration and how to show it in a message: as the user wrote it (`60s` stays `60s`), or
/// formatted when it is a default.
pub struct Shown {
    pub value: Duration,
    pub text: String,
}

impl Shown {
    pub fn new(value: Duration, written: Option<&str>) -> Self {
        let text = written.map_or_else(|| format_duration(value), str::to_string);
        Shown { value, text }
    }
}

/// A poll must end before the next one starts, or polls of one target would pile up.
pub fn check_timeout_shorter(
    path: &str,
    timeout: &Shown,
    interval: &Shown,
    problems: &mut Problems,
) {
    if timeout.value >= interval.value {
        problems.add(
            path,
            format!(
                "{} must be shorter than the interval {}",
                timeout.text, interval.text
            ),
        );
    }
}

fn validate_web(raw: Option<&RawWeb>, problems: &mut Problems) -> Web {
    let addresses = match raw.and_then(|web| web.listen_address.as_ref()) {
        Some(OneOrMany(addresses)) => addresses.clone(),
        None => vec![DEFAULT_LISTEN_ADDRESS.to_string()],
    };
    if addresses.is_empty() {
        problems.add(
            "web.listen_address",
            "is empty; give at least one host:port",
        );
    }
    for (i, address) in addresses.iter().enumerate() {
        let path = if addresses.len() == 1 {
            "web.listen_address".to_string()
        } else {
            format!("web.listen_address[{i}]")
        };
        if address.parse::<SocketAddr>().is_err() {
            problems.add(
                path,
                format!("{address:?} is not a socket address (use e.g. 0.0.0.0:9090 or [::]:9090)"),
            );
        }
    }
    Web {
        listen_addresses: addresses,
    }
}
