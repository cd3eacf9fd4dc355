//! `ispmonitor diagnostics`: the effective config with every secret as `<secret>`, and whether
//! the database and each target answer, for support tickets.

mod config_view;
mod database;
mod targets;

use std::fmt::Write as _;

use anyhow::anyhow;
use serde::Serialize;

use crate::cli::{DiagnosticsArgs, InspectFormat};
use crate::config;
use database::DatabaseCheck;
use targets::TargetCheck;

/// Everything a diagnostics run found.
#[derive(Debug, Serialize)]
pub struct Report {
    pub version: String,
    pub config_file: String,
    /// Whether the database and every target answered.
    pub ok: bool,
    pub config: serde_json::Value,
    pub database: DatabaseCheck,
    pub targets: Vec<TargetCheck>,
    pub summary: Summary,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub checks: usize,
    pub reachable: usize,
    pub failed: usize,
}

/// Runs the checks and prints the report. `Ok(true)` when everything answered.
pub async fn run(args: DiagnosticsArgs) -> anyhow::Result<bool> {
    let report = collect(&args).await?;
    match args.output {
        InspectFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        InspectFormat::Text => print!("{}", text(&report)),
    }
    Ok(report.ok)
}

/// The report of `args.config`: the database first (its inventory adds targets), then every
/// target of the effective config.
pub async fn collect(args: &DiagnosticsArgs) -> anyhow::Result<Report> {
    let path = &args.config.config;
    let file = config::load_file(path).map_err(|e| anyhow!("{e}"))?;
    let url = database::url(&file);
    let key = database::secret_key(&file);
    let (database, inventory) = database::check(&file, url.as_ref(), &key, args.timeout).await;
    let effective = crate::inventory::effective(&file, inventory.as_ref()).config;
    let view = config_view::render(
        &effective,
        &config_view::DatabaseSources {
            url: url.as_ref(),
            url_source: database::url_source(),
            secret_key: key.set,
            secret_key_source: key.source,
        },
    );
    let targets = targets::check_all(&effective, args.timeout, usize::from(args.concurrency)).await;
    let reachable = targets.iter().filter(|t| t.ok).count();
    let failed = targets.len() - reachable + usize::from(!database.ok);
    Ok(Report {
        version: crate::build_info::long_version().to_string(),
        config_file: path.display().to_string(),
        ok: failed == 0,
        config: view,
        summary: Summary {
            checks: targets.len() + 1,
            reachable: reachable + usize::from(database.ok),
            failed,
        },
        database,
        targets,
    })
}

/// The human form: the config as YAML, then one line per check.
fn text(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "ispmonitor {}", report.version);
    let _ = writeln!(
        out,
        "\n# Effective config of {} (secrets shown as <secret>)\n",
        report.config_file
    );
    match serde_saphyr::to_string(&report.config) {
        Ok(yaml) => out.push_str(&yaml),
        Err(_) => out.push_str(&serde_json::to_string_pretty(&report.config).unwrap_or_default()),
    }
    let _ = writeln!(out, "\n# Reachability\n");
    let db = &report.database;
    let _ = writeln!(
        out,
        "{} database: {} ({})",
        mark(db.ok),
        db.status,
        db.message
    );
    for check in &report.targets {
        let _ = writeln!(
            out,
            "{} {} {} ({}, {}): {} in {:.2}s: {}",
            mark(check.ok),
            check.protocol,
            check.target,
            check.address,
            check.source,
            check.result,
            check.seconds,
            check.message
        );
    }
    let summary = &report.summary;
    let _ = writeln!(
        out,
        "\n{} of {} checks passed{}",
        summary.reachable,
        summary.checks,
        if report.ok {
            ""
        } else {
            "; see the lines marked FAIL"
        }
    );
    out
}

fn mark(ok: bool) -> &'static str {
    if ok {
        "ok  "
    } else {
        "FAIL"
    }
}
