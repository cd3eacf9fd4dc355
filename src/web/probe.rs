//! `GET /probe?target=&module=&credential=`: polls one target once, during the request, and
//! answers with only that target's metrics (the multi-target exporter pattern).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{exposition, header_str, negotiate, WebState};
use crate::config::address::parse_target_address;
use crate::config::{Config, Module, Target, TargetKind};
use crate::metrics::collector::render_probe;
use crate::poller::job::new_poller;
use crate::poller::outcome::{FailureReason, PollOutcome, PollRecord};

/// Time kept back from Prometheus' scrape timeout so the answer arrives before it gives up.
const SCRAPE_TIMEOUT_MARGIN: Duration = Duration::from_millis(500);

/// Prometheus tells every target how long it will wait for the answer.
const SCRAPE_TIMEOUT_HEADER: HeaderName =
    HeaderName::from_static("x-prometheus-scrape-timeout-seconds");

/// The query parameters of a probe; `module` may repeat or hold a comma-separated list.
#[derive(Debug, Default)]
struct ProbeQuery {
    target: Vec<String>,
    modules: Vec<String>,
    credential: Option<String>,
}

fn parse_query(raw: Option<&str>) -> ProbeQuery {
    let mut q = ProbeQuery::default();
    for (key, value) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        match &*key {
            "target" => q.target.push(value.into_owned()),
            "module" => q.modules.extend(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                    .map(String::from),
            ),
            "credential" | "auth" => q.credential = Some(value.into_owned()),
            _ => {}
        }
    }
    q
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, format!("{message}\n")).into_response()
}

pub async fn probe(
    State(state): State<WebState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let query = parse_query(raw.as_deref());
    let config = state.current_config();
    let target = match probe_target(&config, &query) {
        Ok(t) => t,
        Err(message) => return bad_request(message),
    };
    let timeout = probe_timeout(target.timeout, header_str(&headers, SCRAPE_TIMEOUT_HEADER));
    let target = Arc::new(Target { timeout, ..target });
    let mut records = Vec::new();
    for protocol in target.protocols() {
        let record = poll_once(&target, protocol, &config).await;
        records.push((protocol, record));
    }
    let format = negotiate::choose_format(header_str(&headers, axum::http::header::ACCEPT));
    exposition(
        format,
        render_probe(format, &target.name, &records),
        &headers,
    )
}

/// The probe's timeout: the target's own, shortened to fit Prometheus' scrape timeout.
fn probe_timeout(own: Duration, scrape_timeout_header: Option<&str>) -> Duration {
    let scrape = scrape_timeout_header
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(Duration::from_secs_f64);
    match scrape {
        Some(s) => own.min(
            s.saturating_sub(SCRAPE_TIMEOUT_MARGIN)
                .max(Duration::from_millis(100)),
        ),
        None => own,
    }
}

/// Resolves the query against the config: an inventory target (by name, then by address) lends
/// its credential and modules; any other address needs both in the query.
fn probe_target(config: &Config, query: &ProbeQuery) -> Result<Target, String> {
    let name = match query.target.as_slice() {
        [one] if !one.is_empty() => one,
        [] | [_] => return Err("parameter \"target\" is required".into()),
        _ => return Err("parameter \"target\" must be given once".into()),
    };
    let known = config
        .targets
        .iter()
        .find(|t| &t.name == name)
        .or_else(|| config.targets.iter().find(|t| &t.address == name));
    let mut target = match known {
        Some(t) => Target {
            name: name.clone(),
            ..(**t).clone()
        },
        None => ad_hoc_target(config, name)?,
    };
    if !query.modules.is_empty() {
        target.modules = resolve_modules(config, &query.modules)?;
    }
    if target.modules.is_empty() {
        return Err(format!(
            "parameter \"module\" is required for \"{name}\" (it is not in the inventory)"
        ));
    }
    if let Some(cred) = &query.credential {
        let found = config.credentials.get(cred);
        let found = found.ok_or_else(|| format!("unknown credential \"{cred}\""))?;
        target.credential = Some(found.clone());
        target.credential_name = Some(cred.clone());
    }
    // ICMP needs no credential; every other protocol does.
    let needs_credential = target
        .modules
        .iter()
        .any(|m| m.protocol() != crate::poller::Protocol::Icmp);
    if target.credential.is_none() && needs_credential {
        return Err(format!(
            "parameter \"credential\" is required for \"{name}\" (it is not in the inventory)"
        ));
    }
    Ok(target)
}

fn ad_hoc_target(config: &Config, address: &str) -> Result<Target, String> {
    let parsed = parse_target_address(address).map_err(|e| format!("target \"{address}\": {e}"))?;
    Ok(Target {
        name: address.to_string(),
        address: address.to_string(),
        host: parsed.host,
        port: parsed.port,
        kind: TargetKind::Router,
        modules: Vec::new(),
        credential_name: None,
        credential: None,
        interval: config.global.interval,
        timeout: config.global.timeout,
        labels: BTreeMap::new(),
        source: Default::default(),
    })
}

fn resolve_modules(config: &Config, names: &[String]) -> Result<Vec<Arc<Module>>, String> {
    names
        .iter()
        .map(|n| {
            config
                .modules
                .get(n)
                .cloned()
                .ok_or_else(|| format!("unknown module \"{n}\""))
        })
        .collect()
}

async fn poll_once(
    target: &Arc<Target>,
    protocol: crate::poller::Protocol,
    config: &Config,
) -> PollRecord {
    let started = Instant::now();
    let outcome = match new_poller(target, protocol, &config.global) {
        Ok(mut poller) => {
            // The protocol pollers keep their own deadline; this one only guards against a bug.
            let guard = target.timeout + Duration::from_millis(500);
            tokio::time::timeout(guard, poller.poll())
                .await
                .unwrap_or_else(|_| PollOutcome::failed(FailureReason::Timeout))
        }
        Err(e) => {
            tracing::warn!("probe of {}: {e}", target.name);
            PollOutcome::failed(FailureReason::ProtocolError)
        }
    };
    let now = SystemTime::now();
    let last_success = outcome.result.is_ok().then_some(now);
    PollRecord {
        outcome,
        finished_at: now,
        duration: started.elapsed(),
        last_success,
        schedule_lag: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_may_repeat_or_be_comma_separated() {
        let q = parse_query(Some(
            "target=10.0.0.1&module=system,if_mib&module=bgp4&credential=c",
        ));
        assert_eq!(q.target, vec!["10.0.0.1"]);
        assert_eq!(q.modules, vec!["system", "if_mib", "bgp4"]);
        assert_eq!(q.credential.as_deref(), Some("c"));
    }

    #[test]
    fn scrape_timeout_header_shortens_the_probe() {
        let own = Duration::from_secs(10);
        assert_eq!(probe_timeout(own, None), own);
        assert_eq!(probe_timeout(own, Some("5")), Duration::from_millis(4500));
        assert_eq!(probe_timeout(own, Some("30")), own);
        assert_eq!(probe_timeout(own, Some("junk")), own);
    }
}
