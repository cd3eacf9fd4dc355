//! Fetching: GET of scalars (several per PDU) and walks of table columns (GETBULK, or GETNEXT on
//! v1), with the pure column-walk bookkeeping kept apart from the I/O.

use std::collections::BTreeMap;

use super::error::SnmpError;
use super::session::{Request, Response, Session, SnmpVersion};
use super::sizing::{plan, varbind_wire_len, BulkSizing, ColumnCost, WireTally};
use super::value::{Oid, SnmpValue, Varbind};
use crate::config::oid::format_oid;

/// A walk stops a column after this many rows: a guard against agents that never end a table.
pub const MAX_ROWS_PER_COLUMN: usize = 100_000;

/// A walk fails once its replies add up to this many bytes of varbinds: with the row cap alone,
/// an agent answering 64 KB datagrams of long strings could make one poll hold gigabytes before
/// its deadline. The largest real tables (20,000 interfaces, every if_mib column) stay under
/// 20 MiB.
pub const MAX_WALK_BYTES: usize = 64 << 20;

/// error-status tooBig: the reply would not fit in one message.
const TOO_BIG: u32 = 1;

/// SNMPv1 error-status noSuchName: the v1 way of saying "absent" or "end of the MIB".
const NO_SUCH_NAME: u32 = 2;

pub use super::rows::ColumnRows;

/// The progress of walking one column.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnWalk {
    root: Oid,
    last: Oid,
    done: bool,
    rows: ColumnRows,
    /// What the varbinds routed to this column cost on the wire in this walk.
    wire: WireTally,
    /// What earlier walks taught about this column.
    expected: ColumnCost,
}

impl ColumnWalk {
    pub fn new(root: Oid) -> Self {
        let expected = BulkSizing::default().column_cost(&root);
        Self::with_expected(root, expected)
    }

    fn with_expected(root: Oid, expected: ColumnCost) -> Self {
        ColumnWalk {
            last: root.clone(),
            root,
            done: false,
            rows: ColumnRows::new(),
            wire: WireTally::default(),
            expected,
        }
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Where the next GETNEXT/GETBULK for this column starts.
    pub fn cursor(&self) -> &Oid {
        &self.last
    }

    pub fn into_rows(self) -> ColumnRows {
        self.rows
    }

    /// Takes one varbind the agent returned for this column.
    pub fn accept(&mut self, oid: Oid, value: SnmpValue) -> Result<(), SnmpError> {
        if self.done {
            return Ok(());
        }
        let inside = oid.len() > self.root.len() && oid.starts_with(&self.root);
        if !inside || value.is_absent() {
            self.done = true;
            return Ok(());
        }
        if oid <= self.last {
            // An agent bug: following it would loop forever.
            self.done = true;
            return Err(SnmpError::Protocol(format!(
                "OIDs not increasing after {}",
                format_oid(&self.last)
            )));
        }
        // The cursor is overwritten in place and the OID becomes the row's index by moving its
        // suffix down: no allocation per varbind beyond the one the decoder made.
        self.last.clear();
        self.last.extend_from_slice(&oid);
        let mut index = oid;
        index.drain(..self.root.len());
        self.rows.push(index, value);
        if self.rows.len() >= MAX_ROWS_PER_COLUMN {
            tracing::warn!(
                column = format_oid(&self.root),
                rows = self.rows.len(),
                "snmp walk stopped: too many rows"
            );
            self.done = true;
        }
        Ok(())
    }

    /// A number that grows whenever the walk makes progress.
    fn progress(&self) -> usize {
        self.rows.len() + usize::from(self.done)
    }

    /// The cost of this column's next varbinds: this walk's average once it has one, else what
    /// earlier walks taught; rows left count down from the last walk's total.
    fn cost(&self) -> ColumnCost {
        ColumnCost {
            varbind_bytes: self.wire.average().unwrap_or(self.expected.varbind_bytes),
            rows_left: self
                .expected
                .rows_left
                .map(|rows| rows.saturating_sub(self.rows.len())),
        }
    }
}

/// Applies a GETBULK/GETNEXT response: varbind `i` belongs to `active[i % active.len()]`
/// (GETBULK interleaves the repeated columns row by row).
pub fn apply_response(
    columns: &mut [ColumnWalk],
    active: &[usize],
    varbinds: Vec<Varbind>,
) -> Result<(), SnmpError> {
    if active.is_empty() {
        return Ok(());
    }
    for (position, (oid, value)) in varbinds.into_iter().enumerate() {
        let column = active[position % active.len()];
        if let Some(walk) = columns.get_mut(column) {
            walk.wire.add(varbind_wire_len(&oid, &value));
            walk.accept(oid, value)?;
        }
    }
    Ok(())
}

fn total_progress(columns: &[ColumnWalk]) -> usize {
    columns.iter().map(ColumnWalk::progress).sum()
}

/// What a walk needs from a session: its SNMP version and one request at a time. A trait so the
/// fuzz target (`crate::fuzzing`) can feed scripted, hostile replies through this very loop.
pub trait Transport {
    fn version(&self) -> SnmpVersion;
    fn request(
        &mut self,
        request: Request<'_>,
    ) -> impl std::future::Future<Output = Result<Response, SnmpError>>;
}

impl Transport for Session {
    fn version(&self) -> SnmpVersion {
        Session::version(self)
    }

    async fn request(&mut self, request: Request<'_>) -> Result<Response, SnmpError> {
        Session::request(self, request).await
    }
}

/// Walks several columns (or any subtrees) together and returns their rows in request order,
/// with requests sized to the default message size. Targets polled again and again use
/// [`walk_sized`] with their own [`BulkSizing`], which learns from each walk.
pub async fn walk(
    session: &mut Session,
    roots: &[Oid],
    max_repetitions: u32,
) -> Result<Vec<ColumnRows>, SnmpError> {
    walk_sized(session, roots, &mut BulkSizing::default(), max_repetitions).await
}

/// Walks several columns together, each GETBULK carrying as many columns and repetitions as fit
/// in the agent's message size (never more than `max_repetitions` repetitions), and teaches
/// `sizing` what the columns cost for the next walk.
pub async fn walk_sized<T: Transport>(
    session: &mut T,
    roots: &[Oid],
    sizing: &mut BulkSizing,
    max_repetitions: u32,
) -> Result<Vec<ColumnRows>, SnmpError> {
    let mut columns: Vec<ColumnWalk> = roots
        .iter()
        .map(|root| ColumnWalk::with_expected(root.clone(), sizing.column_cost(root)))
        .collect();
    let mut budget = sizing.varbind_budget(session.version());
    loop {
        let active = columns_most_behind_first(&columns);
        if active.is_empty() {
            break;
        }
        let before = total_progress(&columns);
        if session.version() == SnmpVersion::V1 {
            walk_step_getnext(session, &mut columns, &active).await?;
        } else {
            let costs: Vec<ColumnCost> = active.iter().map(|&i| columns[i].cost()).collect();
            let request = plan(&costs, budget, max_repetitions.max(1));
            let chosen = &active[..request.columns];
            let step =
                walk_step_getbulk(session, &mut columns, chosen, request.repetitions).await?;
            if step == BulkStep::TooBig {
                // Agents should truncate GETBULK replies themselves; some answer tooBig instead.
                if request.columns == 1 && request.repetitions == 1 {
                    return Err(SnmpError::Protocol("tooBig even for one repetition".into()));
                }
                budget /= 2;
                continue;
            }
        }
        if total_progress(&columns) == before {
            return Err(SnmpError::Protocol("walk made no progress".into()));
        }
        check_walk_bytes(&columns)?;
    }
    for column in &columns {
        sizing.learn(&column.root, column.rows.len(), column.wire);
    }
    Ok(columns.into_iter().map(ColumnWalk::into_rows).collect())
}

/// Fails the walk once its replies exceed [`MAX_WALK_BYTES`], naming the column that brought
/// the most.
fn check_walk_bytes(columns: &[ColumnWalk]) -> Result<(), SnmpError> {
    let total: usize = columns.iter().map(|column| column.wire.bytes).sum();
    if total <= MAX_WALK_BYTES {
        return Ok(());
    }
    let biggest = columns
        .iter()
        .max_by_key(|column| column.wire.bytes)
        .map(|column| format_oid(&column.root))
        .unwrap_or_default();
    Err(SnmpError::Protocol(format!(
        "walk stopped after {total} bytes of replies (limit {} MiB), most in column {biggest}",
        MAX_WALK_BYTES >> 20
    )))
}

/// The unfinished columns, those with the fewest rows first (request order among equals), so
/// a request that cannot carry every column lets the others catch up next time.
fn columns_most_behind_first(columns: &[ColumnWalk]) -> Vec<usize> {
    let mut active: Vec<usize> = (0..columns.len())
        .filter(|&i| !columns[i].is_done())
        .collect();
    active.sort_by_key(|&i| columns[i].rows.len());
    active
}

/// What one GETBULK step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BulkStep {
    Applied,
    TooBig,
}

async fn walk_step_getbulk<T: Transport>(
    session: &mut T,
    columns: &mut [ColumnWalk],
    active: &[usize],
    max_repetitions: u32,
) -> Result<BulkStep, SnmpError> {
    let cursors: Vec<Oid> = active
        .iter()
        .map(|&i| columns[i].cursor().clone())
        .collect();
    let response = session
        .request(Request::GetBulk {
            oids: &cursors,
            max_repetitions,
        })
        .await?;
    if response.error_status == TOO_BIG {
        return Ok(BulkStep::TooBig);
    }
    check_error_status(&response)?;
    apply_response(columns, active, response.varbinds)?;
    Ok(BulkStep::Applied)
}

/// SNMPv1 has no GETBULK and snmp2's GETNEXT takes one OID: one request per column and row.
async fn walk_step_getnext<T: Transport>(
    session: &mut T,
    columns: &mut [ColumnWalk],
    active: &[usize],
) -> Result<(), SnmpError> {
    for &column in active {
        let cursor = columns[column].cursor().clone();
        let response = session.request(Request::GetNext(&cursor)).await?;
        if response.error_status == NO_SUCH_NAME {
            columns[column].done = true;
            continue;
        }
        check_error_status(&response)?;
        apply_response(columns, &[column], response.varbinds)?;
    }
    Ok(())
}

fn check_error_status(response: &Response) -> Result<(), SnmpError> {
    if response.error_status == 0 {
        Ok(())
    } else {
        Err(SnmpError::ErrorStatus {
            status: response.error_status,
            index: response.error_index,
        })
    }
}

/// GETs scalars, up to `max_per_pdu` OIDs per request. Missing values come back as `Absent`.
/// A PDU the agent calls tooBig is split in halves and asked again.
pub async fn get(
    session: &mut Session,
    oids: &[Oid],
    max_per_pdu: usize,
) -> Result<BTreeMap<Oid, SnmpValue>, SnmpError> {
    let mut values = BTreeMap::new();
    let mut chunks: Vec<Vec<Oid>> = oids
        .chunks(max_per_pdu.max(1))
        .map(<[Oid]>::to_vec)
        .collect();
    chunks.reverse();
    while let Some(chunk) = chunks.pop() {
        if let ChunkStep::TooBig = get_chunk(session, &chunk, &mut values).await? {
            let (first, second) = chunk.split_at(chunk.len() / 2);
            chunks.push(second.to_vec());
            chunks.push(first.to_vec());
        }
    }
    Ok(values)
}

/// What one GET of a chunk did.
enum ChunkStep {
    Done,
    TooBig,
}

async fn get_chunk(
    session: &mut Session,
    chunk: &[Oid],
    values: &mut BTreeMap<Oid, SnmpValue>,
) -> Result<ChunkStep, SnmpError> {
    let mut pending = chunk.to_vec();
    while !pending.is_empty() {
        let response = session.request(Request::Get(&pending)).await?;
        if response.error_status == NO_SUCH_NAME && session.version() == SnmpVersion::V1 {
            // v1 fails the whole PDU for one missing OID: note it absent and ask for the rest.
            let missing = remove_reported_oid(&mut pending, response.error_index)?;
            values.insert(missing, SnmpValue::Absent);
            continue;
        }
        if response.error_status == TOO_BIG && pending.len() > 1 {
            return Ok(ChunkStep::TooBig);
        }
        check_error_status(&response)?;
        record_get_response(&pending, response.varbinds, values)?;
        break;
    }
    Ok(ChunkStep::Done)
}

fn remove_reported_oid(pending: &mut Vec<Oid>, error_index: u32) -> Result<Oid, SnmpError> {
    let position = usize::try_from(error_index)
        .ok()
        .and_then(|index| index.checked_sub(1))
        .filter(|&position| position < pending.len())
        .ok_or_else(|| SnmpError::Protocol("noSuchName with a bad error-index".into()))?;
    Ok(pending.remove(position))
}

/// Pairs a GET response with the request: the agent must answer each OID, in order.
pub fn record_get_response(
    requested: &[Oid],
    varbinds: Vec<Varbind>,
    values: &mut BTreeMap<Oid, SnmpValue>,
) -> Result<(), SnmpError> {
    if varbinds.len() != requested.len() {
        return Err(SnmpError::Protocol(format!(
            "GET of {} OIDs answered with {} varbinds",
            requested.len(),
            varbinds.len()
        )));
    }
    for (wanted, (oid, value)) in requested.iter().zip(varbinds) {
        if &oid != wanted {
            return Err(SnmpError::Protocol(format!(
                "GET answered {} for {}",
                format_oid(&oid),
                format_oid(wanted)
            )));
        }
        values.insert(oid, value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(root: &[u32]) -> ColumnWalk {
        ColumnWalk::new(root.to_vec())
    }

    #[test]
    fn bulk_response_is_split_across_columns_row_by_row() {
        let mut columns = vec![column(&[1, 3, 1]), column(&[1, 3, 2])];
        let varbinds = vec![
            (vec![1, 3, 1, 1], SnmpValue::Integer(10)),
            (vec![1, 3, 2, 1], SnmpValue::Integer(20)),
            (vec![1, 3, 1, 2], SnmpValue::Integer(11)),
            (vec![1, 3, 2, 2], SnmpValue::Integer(21)),
            // Column 1 has ended: the agent moved on to column 2.
            (vec![1, 3, 2, 1], SnmpValue::Integer(20)),
            (vec![1, 3, 3, 1], SnmpValue::Integer(30)),
        ];
        apply_response(&mut columns, &[0, 1], varbinds).expect("valid walk");
        assert!(columns.iter().all(ColumnWalk::is_done));
        let rows: Vec<ColumnRows> = columns.into_iter().map(ColumnWalk::into_rows).collect();
        assert_eq!(rows[0].get(&[2]), Some(&SnmpValue::Integer(11)));
        assert_eq!(rows[1].len(), 2);
    }

    #[test]
    fn end_of_mib_view_ends_a_column() {
        let mut walk = column(&[1, 3]);
        walk.accept(vec![1, 3, 1], SnmpValue::Integer(1))
            .expect("row");
        walk.accept(vec![1, 3, 2], SnmpValue::EndOfMibView)
            .expect("end");
        assert!(walk.is_done());
        assert_eq!(walk.into_rows().len(), 1);
    }

    #[test]
    fn non_increasing_oids_are_a_protocol_error() {
        let mut walk = column(&[1, 3]);
        walk.accept(vec![1, 3, 5], SnmpValue::Integer(1))
            .expect("row");
        let error = walk.accept(vec![1, 3, 4], SnmpValue::Integer(1));
        assert!(matches!(error, Err(SnmpError::Protocol(_))));
        assert!(walk.is_done());
    }

    #[test]
    fn runaway_columns_are_capped() {
        let mut walk = column(&[1, 3]);
        for i in 0..(MAX_ROWS_PER_COLUMN as u32 + 10) {
            walk.accept(vec![1, 3, i + 1], SnmpValue::Integer(1))
                .expect("row");
        }
        assert!(walk.is_done());
        assert_eq!(walk.into_rows().len(), MAX_ROWS_PER_COLUMN);
    }

    #[test]
    fn walks_bringing_too_many_bytes_fail_naming_the_column() {
        let mut columns = vec![column(&[1, 3, 1]), column(&[1, 3, 2])];
        columns[1].wire.bytes = MAX_WALK_BYTES;
        assert!(check_walk_bytes(&columns).is_ok());
        columns[0].wire.bytes = 1;
        let error = check_walk_bytes(&columns).expect_err("over the limit");
        assert!(error.to_string().contains("column 1.3.2"), "{error}");
    }

    #[test]
    fn get_responses_must_answer_what_was_asked() {
        let mut values = BTreeMap::new();
        let asked = vec![vec![1, 3, 1, 0]];
        let wrong = vec![(vec![1, 3, 2, 0], SnmpValue::Integer(1))];
        assert!(record_get_response(&asked, wrong, &mut values).is_err());
        let right = vec![(vec![1, 3, 1, 0], SnmpValue::Absent)];
        record_get_response(&asked, right, &mut values).expect("matching answer");
        assert_eq!(values.get(&asked[0]), Some(&SnmpValue::Absent));
    }

    #[test]
    fn v1_no_such_name_index_is_validated() {
        let mut pending = vec![vec![1, 3], vec![1, 4]];
        assert_eq!(
            remove_reported_oid(&mut pending, 2).expect("valid"),
            vec![1, 4]
        );
        assert!(remove_reported_oid(&mut pending, 0).is_err());
        assert!(remove_reported_oid(&mut pending, 5).is_err());
    }
}
