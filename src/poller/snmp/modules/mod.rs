//! The built-in and custom collection modules: what each fetches (I/O) and how it decodes (pure).

pub mod bgp4;
pub mod custom;
pub mod host_resources;
pub mod if_lookups;
pub mod if_mib;
pub mod system;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use crate::config::{CustomSnmpModule, Module, ModuleKind, SnmpGlobal, SnmpModule};

use self::if_lookups::{DeviceClock, IfLookupCache, LookupColumns, WalkedLookups};
use super::decode::{union_of_indices, Decoded, Table};
use super::error::SnmpError;
use super::pipeline::walk;
use super::session::Session;
use super::sizing::BulkSizing;
use super::stats::SnmpTargetStats;
use super::value::{Oid, SnmpValue};
use super::walk::{get, ColumnRows};

/// snmpEngineMaxMessageSize.0 (SNMP-FRAMEWORK-MIB): the largest message the agent handles.
pub const SNMP_ENGINE_MAX_MESSAGE_SIZE: [u32; 11] = [1, 3, 6, 1, 6, 3, 10, 2, 1, 4, 0];

/// What one target's modules keep between polls.
#[derive(Debug)]
pub struct TargetState {
    /// GETBULK sizing learned from the agent.
    pub sizing: BulkSizing,
    pub if_lookups: IfLookupCache,
    stats: Arc<SnmpTargetStats>,
    /// Whether snmpEngineMaxMessageSize was asked yet (once per target and process).
    message_size_asked: bool,
    /// What this poll's opening GET read.
    opening: BTreeMap<Oid, SnmpValue>,
}

impl TargetState {
    pub fn new(settings: &SnmpGlobal, stats: Arc<SnmpTargetStats>) -> Self {
        TargetState {
            sizing: BulkSizing::new(settings.max_message_size),
            if_lookups: IfLookupCache::new(settings.lookup_refresh),
            stats,
            message_size_asked: false,
            opening: BTreeMap::new(),
        }
    }

    fn clock(&self) -> DeviceClock {
        let uptime_ticks = match self.opening.get(&system::SYS_UPTIME[..]) {
            Some(SnmpValue::Timeticks(ticks)) => Some(*ticks),
            _ => None,
        };
        let if_number = match self.opening.get(&if_mib::IF_NUMBER[..]) {
            Some(SnmpValue::Integer(n)) => Some(*n),
            _ => None,
        };
        DeviceClock {
            uptime_ticks,
            if_number,
        }
    }
}

/// The one GET that opens a poll, so scalars that several parts need cost one request: the
/// system module's scalars, sysUpTime.0 and ifNumber.0 for the if_mib lookup cache, and on the
/// first poll the agent's maximum message size.
pub async fn open_poll(
    session: &mut Session,
    modules: &[Arc<Module>],
    settings: &SnmpGlobal,
    state: &mut TargetState,
) -> Result<(), SnmpError> {
    let oids = opening_oids(modules, state);
    state.opening = if oids.is_empty() {
        BTreeMap::new()
    } else {
        get(session, &oids, settings.max_oids_per_get).await?
    };
    if !state.message_size_asked {
        state.message_size_asked = true;
        let announced = state
            .opening
            .get(&SNMP_ENGINE_MAX_MESSAGE_SIZE[..])
            .and_then(SnmpValue::as_unsigned)
            .and_then(|size| usize::try_from(size).ok());
        if let Some(size) = announced {
            state.sizing.set_max_message_size(size);
        }
    }
    Ok(())
}

fn opening_oids(modules: &[Arc<Module>], state: &TargetState) -> Vec<Oid> {
    let uses = |wanted: fn(&SnmpModule) -> bool| {
        modules
            .iter()
            .any(|module| matches!(&module.kind, ModuleKind::Snmp(kind) if wanted(kind)))
    };
    let mut oids: Vec<Oid> = Vec::new();
    if uses(|kind| matches!(kind, SnmpModule::System)) {
        oids.extend(system::oids());
    }
    if uses(|kind| matches!(kind, SnmpModule::IfMib)) && state.if_lookups.is_enabled() {
        oids.push(system::SYS_UPTIME.to_vec());
        oids.push(if_mib::IF_NUMBER.to_vec());
    }
    if !state.message_size_asked {
        oids.push(SNMP_ENGINE_MAX_MESSAGE_SIZE.to_vec());
    }
    let mut seen = BTreeSet::new();
    oids.retain(|oid| seen.insert(oid.clone()));
    oids
}

/// Fetches and decodes one module.
pub async fn collect(
    session: &mut Session,
    module: &SnmpModule,
    settings: &SnmpGlobal,
    state: &mut TargetState,
) -> Result<Decoded, SnmpError> {
    let max_repetitions = settings.max_repetitions;
    match module {
        SnmpModule::System => {
            let wanted = system::oids();
            let values = if wanted.iter().all(|oid| state.opening.contains_key(oid)) {
                state.opening.clone()
            } else {
                get(session, &wanted, settings.max_oids_per_get).await?
            };
            Ok(system::decode(&values))
        }
        SnmpModule::IfMib => collect_if_mib(session, settings, state).await,
        SnmpModule::HostResources => collect_host_resources(session, settings, state).await,
        SnmpModule::Bgp4 => {
            let peers = walk_table(
                session,
                (&bgp4::BGP_PEER_ENTRY, &bgp4::BGP_PEER_COLUMNS),
                &mut state.sizing,
                max_repetitions,
            )
            .await?;
            Ok(bgp4::decode(&peers))
        }
        SnmpModule::Custom(custom) => collect_custom(session, custom, settings, state).await,
    }
}

/// Walks some columns (entry OID, column numbers) of one table together.
async fn walk_table(
    session: &mut Session,
    (entry, columns): (&[u32], &[u32]),
    sizing: &mut BulkSizing,
    max_repetitions: u32,
) -> Result<Table, SnmpError> {
    let roots = Table::column_oids(entry, columns);
    let rows = walk(session, &roots, sizing, max_repetitions).await?;
    Ok(Table::from_columns(columns, rows))
}

/// The roots of the if_mib columns walked on every poll, ifTable's then ifXTable's.
fn if_mib_polled_roots() -> Vec<Oid> {
    let mut roots = Table::column_oids(&if_mib::IF_ENTRY, &if_mib::IF_POLLED_COLUMNS);
    roots.extend(Table::column_oids(
        &if_mib::IF_X_ENTRY,
        &if_mib::IF_X_POLLED_COLUMNS,
    ));
    roots
}

/// The roots of the lookup columns: ifDescr, ifName, ifAlias.
fn if_mib_lookup_roots() -> Vec<Oid> {
    let mut roots = Table::column_oids(&if_mib::IF_ENTRY, &if_mib::IF_LOOKUP_COLUMNS);
    roots.extend(Table::column_oids(
        &if_mib::IF_X_ENTRY,
        &if_mib::IF_X_LOOKUP_COLUMNS,
    ));
    roots
}

/// Rows of the lookup roots, in `if_mib_lookup_roots` order.
fn lookup_columns(mut rows: Vec<ColumnRows>) -> LookupColumns {
    let mut next = || Arc::new(rows.pop().unwrap_or_default());
    let alias = next();
    let name = next();
    let descr = next();
    LookupColumns { descr, name, alias }
}

/// Walks ifTable and ifXTable columns in shared GETBULK requests. The label columns (ifDescr,
/// ifName, ifAlias) come from the lookup cache while it is valid (see `if_lookups`).
async fn collect_if_mib(
    session: &mut Session,
    settings: &SnmpGlobal,
    state: &mut TargetState,
) -> Result<Decoded, SnmpError> {
    let now = Instant::now();
    let clock = state.clock();
    let max_repetitions = settings.max_repetitions;
    let cache_valid = state.if_lookups.check(now, clock).is_ok();

    let mut roots = if_mib_polled_roots();
    let polled_count = roots.len();
    if !cache_valid {
        // Walked together with the other columns: the misses cost no extra request.
        roots.extend(if_mib_lookup_roots());
    }
    let mut polled = walk(session, &roots, &mut state.sizing, max_repetitions).await?;
    let walked_lookups = polled.split_off(polled_count);
    let indices = union_of_indices(&polled);

    let cached = if cache_valid {
        state.if_lookups.lookups_for(&indices).ok().cloned()
    } else {
        None
    };
    let lookups = match cached {
        Some(cached) => {
            SnmpTargetStats::bump(&state.stats.lookup_cache_hits);
            cached
        }
        None => {
            SnmpTargetStats::bump(&state.stats.lookup_cache_misses);
            let rows = if cache_valid {
                // The rows changed under a valid cache: walk the lookups on their own now.
                let roots = if_mib_lookup_roots();
                walk(session, &roots, &mut state.sizing, max_repetitions).await?
            } else {
                walked_lookups
            };
            let fresh = lookup_columns(rows);
            let walked = WalkedLookups {
                counter_indices: indices,
                columns: fresh.clone(),
            };
            state.if_lookups.fill(now, clock, walked);
            fresh
        }
    };
    let (if_table, if_x_table) = if_mib_tables(polled, lookups);
    Ok(if_mib::decode(
        &if_table,
        &if_x_table,
        settings.wrap_large_counters,
    ))
}

/// ifTable and ifXTable from the polled columns (in `if_mib_polled_roots` order) and the
/// lookups.
fn if_mib_tables(mut polled: Vec<ColumnRows>, lookups: LookupColumns) -> (Table, Table) {
    let x_polled: Vec<Arc<ColumnRows>> = polled
        .split_off(if_mib::IF_POLLED_COLUMNS.len())
        .into_iter()
        .map(Arc::new)
        .collect();
    let mut if_rows: Vec<Arc<ColumnRows>> = polled.into_iter().map(Arc::new).collect();
    let mut if_columns = if_mib::IF_POLLED_COLUMNS.to_vec();
    if_columns.extend(if_mib::IF_LOOKUP_COLUMNS);
    if_rows.push(lookups.descr);
    let mut x_columns = if_mib::IF_X_POLLED_COLUMNS.to_vec();
    x_columns.extend(if_mib::IF_X_LOOKUP_COLUMNS);
    let mut x_rows = x_polled;
    x_rows.push(lookups.name);
    x_rows.push(lookups.alias);
    (
        Table::from_shared_columns(&if_columns, if_rows),
        Table::from_shared_columns(&x_columns, x_rows),
    )
}

async fn collect_host_resources(
    session: &mut Session,
    settings: &SnmpGlobal,
    state: &mut TargetState,
) -> Result<Decoded, SnmpError> {
    let processors = walk_table(
        session,
        (
            &host_resources::HR_PROCESSOR_ENTRY,
            &host_resources::HR_PROCESSOR_COLUMNS,
        ),
        &mut state.sizing,
        settings.max_repetitions,
    )
    .await?;
    let storage = walk_table(
        session,
        (
            &host_resources::HR_STORAGE_ENTRY,
            &host_resources::HR_STORAGE_COLUMNS,
        ),
        &mut state.sizing,
        settings.max_repetitions,
    )
    .await?;
    Ok(host_resources::decode(&processors, &storage))
}

/// GETs every scalar metric in shared PDUs and walks every column metric together.
async fn collect_custom(
    session: &mut Session,
    module: &CustomSnmpModule,
    settings: &SnmpGlobal,
    state: &mut TargetState,
) -> Result<Decoded, SnmpError> {
    let wrap = settings.wrap_large_counters;
    let (scalars, columns): (Vec<_>, Vec<_>) = module
        .metrics
        .iter()
        .partition(|metric| custom::is_scalar(metric));

    let scalar_oids: Vec<_> = scalars
        .iter()
        .map(|metric| custom::scalar_oid(metric))
        .collect();
    let values = if scalar_oids.is_empty() {
        Default::default()
    } else {
        get(session, &scalar_oids, settings.max_oids_per_get).await?
    };

    let column_oids: Vec<_> = columns.iter().map(|metric| metric.oid.clone()).collect();
    let max_repetitions = module.max_repetitions.unwrap_or(settings.max_repetitions);
    let rows = if column_oids.is_empty() {
        Vec::new()
    } else {
        walk(session, &column_oids, &mut state.sizing, max_repetitions).await?
    };

    let mut decoded = Decoded::default();
    for (metric, oid) in scalars.iter().zip(&scalar_oids) {
        decoded.extend(custom::decode_scalar(metric, values.get(oid), wrap));
    }
    for (metric, rows) in columns.iter().zip(&rows) {
        decoded.extend(custom::decode_column(metric, rows, wrap));
    }
    Ok(decoded)
}
