//! The built-in and custom collection modules: what each fetches (I/O) and how it decodes (pure).

pub mod bgp4;
pub mod custom;
pub mod host_resources;
pub mod if_mib;
pub mod system;

use crate::config::{CustomSnmpModule, SnmpGlobal, SnmpModule};

use super::decode::{Decoded, Table};
use super::error::SnmpError;
use super::pipeline::walk;
use super::session::Session;
use super::walk::get;

/// Fetches and decodes one module.
pub async fn collect(
    session: &mut Session,
    module: &SnmpModule,
    settings: &SnmpGlobal,
) -> Result<Decoded, SnmpError> {
    match module {
        SnmpModule::System => {
            let values = get(session, &system::oids(), settings.max_oids_per_get).await?;
            Ok(system::decode(&values))
        }
        SnmpModule::IfMib => collect_if_mib(session, settings).await,
        SnmpModule::HostResources => collect_host_resources(session, settings).await,
        SnmpModule::Bgp4 => {
            let peers = walk_table(
                session,
                &bgp4::BGP_PEER_ENTRY,
                &bgp4::BGP_PEER_COLUMNS,
                settings.max_repetitions,
            )
            .await?;
            Ok(bgp4::decode(&peers))
        }
        SnmpModule::Custom(custom) => collect_custom(session, custom, settings).await,
    }
}

/// Walks some columns of one table entry together.
async fn walk_table(
    session: &mut Session,
    entry: &[u32],
    columns: &[u32],
    max_repetitions: u32,
) -> Result<Table, SnmpError> {
    let rows = walk(
        session,
        &Table::column_oids(entry, columns),
        max_repetitions,
    )
    .await?;
    Ok(Table::from_columns(columns, rows))
}

/// Walks ifTable and ifXTable columns in the same GETBULK requests.
async fn collect_if_mib(
    session: &mut Session,
    settings: &SnmpGlobal,
) -> Result<Decoded, SnmpError> {
    let mut roots = Table::column_oids(&if_mib::IF_ENTRY, &if_mib::IF_COLUMNS);
    roots.extend(Table::column_oids(
        &if_mib::IF_X_ENTRY,
        &if_mib::IF_X_COLUMNS,
    ));
    let mut rows = walk(session, &roots, settings.max_repetitions).await?;
    let x_rows = rows.split_off(if_mib::IF_COLUMNS.len());
    let if_table = Table::from_columns(&if_mib::IF_COLUMNS, rows);
    let if_x_table = Table::from_columns(&if_mib::IF_X_COLUMNS, x_rows);
    Ok(if_mib::decode(
        &if_table,
        &if_x_table,
        settings.wrap_large_counters,
    ))
}

async fn collect_host_resources(
    session: &mut Session,
    settings: &SnmpGlobal,
) -> Result<Decoded, SnmpError> {
    let processors = walk_table(
        session,
        &host_resources::HR_PROCESSOR_ENTRY,
        &host_resources::HR_PROCESSOR_COLUMNS,
        settings.max_repetitions,
    )
    .await?;
    let storage = walk_table(
        session,
        &host_resources::HR_STORAGE_ENTRY,
        &host_resources::HR_STORAGE_COLUMNS,
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
        walk(session, &column_oids, max_repetitions).await?
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
