//! Walks with several requests in flight to one agent: the columns of a walk are split into
//! groups, and each group is walked by its own chain of GETBULKs on its own lane (a session
//! with its own socket and request ids), all under the poll's deadline. A GETBULK walk is
//! sequential by nature (each request starts where the last reply ended), so columns are the
//! unit that can run side by side; a big router's long walk then takes a fraction of the
//! round trips in a row.

use std::ops::Range;

use futures_util::future::try_join_all;

use super::error::SnmpError;
use super::session::{Session, SnmpVersion};
use super::sizing::BulkSizing;
use super::value::Oid;
use super::walk::{self, ColumnRows};

/// Walks `roots` like [`walk::walk_sized`], with up to the session's `max_in_flight` chains at
/// once. The rows are the same as a sequential walk's, in request order. Each chain plans its
/// requests with a copy of `sizing`, and what the chains learned is kept for the next walk.
pub async fn walk(
    session: &mut Session,
    roots: &[Oid],
    sizing: &mut BulkSizing,
    max_repetitions: u32,
) -> Result<Vec<ColumnRows>, SnmpError> {
    let groups = column_groups(roots.len(), chains_for(session, roots.len()));
    if groups.len() <= 1 {
        return walk::walk_sized(session, roots, sizing, max_repetitions).await;
    }
    let mut lanes = session.take_lanes(groups.len() - 1);
    if lanes.len() + 1 != groups.len() {
        return Err(SnmpError::Protocol("fewer walk lanes than groups".into()));
    }
    let repetitions =
        |group: &Range<usize>| chain_repetitions(max_repetitions, roots.len(), group.len());
    let mut chain_sizing: Vec<BulkSizing> = groups.iter().map(|_| sizing.clone()).collect();
    let results = {
        let mut plans = chain_sizing.iter_mut().zip(&groups);
        let mut chains = Vec::with_capacity(groups.len());
        if let Some((first_sizing, first)) = plans.next() {
            chains.push(walk::walk_sized(
                session,
                &roots[first.clone()],
                first_sizing,
                repetitions(first),
            ));
        }
        for (lane, (lane_sizing, group)) in lanes.iter_mut().zip(plans) {
            chains.push(walk::walk_sized(
                lane,
                &roots[group.clone()],
                lane_sizing,
                repetitions(group),
            ));
        }
        // The first failure ends the walk: the other chains are dropped mid-request.
        try_join_all(chains).await
    };
    match results {
        Ok(rows) => {
            session.return_lanes(lanes);
            for (learned, group) in chain_sizing.iter().zip(&groups) {
                sizing.absorb(learned, &roots[group.clone()]);
            }
            Ok(rows.into_iter().flatten().collect())
        }
        Err(error) => {
            // Dropped chains may have replies on their way: start every lane afresh.
            session.discard();
            Err(error)
        }
    }
}

/// How many chains a walk of `columns` columns runs: SNMPv1 walks one column per request
/// anyway (GETNEXT), so it stays on one lane.
fn chains_for(session: &Session, columns: usize) -> usize {
    if session.version() == SnmpVersion::V1 {
        return 1;
    }
    session.max_in_flight().min(columns).max(1)
}

/// max-repetitions for a chain of `chain_columns` of a walk of `all_columns`: scaled up so each
/// request asks for as many varbinds as one request of the whole walk would. Otherwise N chains
/// would send N times the requests; agents trim a GETBULK reply to their message size anyway.
pub fn chain_repetitions(max_repetitions: u32, all_columns: usize, chain_columns: usize) -> u32 {
    let varbinds = u64::from(max_repetitions.max(1)) * all_columns as u64;
    let per_column = varbinds.div_ceil(chain_columns.max(1) as u64);
    u32::try_from(per_column.min(MAX_CHAIN_REPETITIONS)).unwrap_or(u32::MAX)
}

/// A bound on the scaled max-repetitions (an agent answers at most a datagram anyway).
const MAX_CHAIN_REPETITIONS: u64 = 10_000;

/// Splits `columns` into `chains` contiguous groups of nearly equal size (the first groups take
/// one more when it does not divide). Columns of one table have the same rows, so equal
/// counts mean chains that finish together.
pub fn column_groups(columns: usize, chains: usize) -> Vec<Range<usize>> {
    let chains = chains.clamp(1, columns.max(1));
    let (base, extra) = (columns / chains, columns % chains);
    let mut groups = Vec::with_capacity(chains);
    let mut start = 0;
    for chain in 0..chains {
        let size = base + usize::from(chain < extra);
        groups.push(start..start + size);
        start += size;
    }
    groups.retain(|group| !group.is_empty());
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_split_into_near_equal_contiguous_groups() {
        assert_eq!(column_groups(26, 4), vec![0..7, 7..14, 14..20, 20..26]);
        assert_eq!(column_groups(3, 8), vec![0..1, 1..2, 2..3]);
        assert_eq!(column_groups(5, 1), vec![0..5]);
        assert_eq!(column_groups(0, 3), Vec::<Range<usize>>::new());
    }

    #[test]
    fn chains_ask_for_as_many_varbinds_per_request_as_the_whole_walk() {
        assert_eq!(chain_repetitions(25, 26, 7), 93);
        assert_eq!(chain_repetitions(25, 26, 26), 25);
        assert_eq!(chain_repetitions(5, 10, 3), 17);
        assert_eq!(chain_repetitions(1000, 1000, 1), 10_000);
    }

    #[test]
    fn every_column_lands_in_exactly_one_group_in_order() {
        for columns in 1..40 {
            for chains in 1..10 {
                let flattened: Vec<usize> = column_groups(columns, chains)
                    .into_iter()
                    .flatten()
                    .collect();
                assert_eq!(flattened, (0..columns).collect::<Vec<_>>());
            }
        }
    }
}
