//! GETBULK sizing (pure): how many columns and repetitions fit in the agent's maximum message
//! size, judged from what each column's varbinds cost on the wire in earlier responses.

use std::collections::HashMap;

use super::session::SnmpVersion;
use super::value::{Oid, SnmpValue};

/// The message size assumed until the agent tells its own (and the `max_message_size` default):
/// an Ethernet MTU minus IP and UDP headers.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 1472;

/// RFC 3417: every agent accepts messages of at least 484 bytes.
pub const SMALLEST_MESSAGE_SIZE: usize = 484;

/// The largest UDP payload over IPv4.
pub const LARGEST_MESSAGE_SIZE: usize = 65507;

/// The cost assumed for a varbind of a column never seen: a 12-arc OID and a 4-byte counter.
const UNKNOWN_VARBIND_BYTES: usize = 24;

/// Response bytes around the varbinds of a v1/v2c message: framing (about 26 bytes: sequence
/// headers, version, request id, error fields) and a community of up to about 14 characters. A
/// longer community only makes the agent trim the last varbinds, which GETBULK allows; a
/// larger margin would cost requests on every poll.
const COMMUNITY_OVERHEAD: usize = 40;

/// The same for v3: global data, engine id, user, 12-48 bytes of authentication parameters,
/// privacy salt and the scoped PDU's context (about 140 bytes with a 17-byte engine id and
/// SHA-1).
const USM_OVERHEAD: usize = 160;

/// What a target's walks learned about its agent, kept between polls.
#[derive(Debug, Clone)]
pub struct BulkSizing {
    max_message_size: usize,
    /// Average encoded bytes of one varbind of each column (by column OID), from its last walk.
    column_bytes: HashMap<Oid, usize>,
    /// How many rows each column had in its last walk: asking for more repetitions than that
    /// only walks past the end of the table.
    column_rows: HashMap<Oid, usize>,
}

impl Default for BulkSizing {
    fn default() -> Self {
        BulkSizing::new(DEFAULT_MAX_MESSAGE_SIZE)
    }
}

/// What the sizing knows about one column when planning a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnCost {
    /// Expected encoded bytes of one of its varbinds.
    pub varbind_bytes: usize,
    /// Rows expected before its end, when known from an earlier walk.
    pub rows_left: Option<usize>,
}

/// One GETBULK: the first `columns` candidates, `repetitions` rows each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkPlan {
    pub columns: usize,
    pub repetitions: u32,
}

impl BulkSizing {
    pub fn new(max_message_size: usize) -> Self {
        BulkSizing {
            max_message_size: clamp_message_size(max_message_size),
            column_bytes: HashMap::new(),
            column_rows: HashMap::new(),
        }
    }

    /// The agent's maximum message size in use.
    pub fn max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// Records the size the agent announced (snmpEngineMaxMessageSize).
    pub fn set_max_message_size(&mut self, size: usize) {
        self.max_message_size = clamp_message_size(size);
    }

    /// Bytes available for varbinds in one response.
    pub fn varbind_budget(&self, version: SnmpVersion) -> usize {
        let overhead = match version {
            SnmpVersion::V3 => USM_OVERHEAD,
            SnmpVersion::V1 | SnmpVersion::V2c => COMMUNITY_OVERHEAD,
        };
        self.max_message_size.saturating_sub(overhead)
    }

    /// What an earlier walk taught about a column.
    pub fn column_cost(&self, column: &[u32]) -> ColumnCost {
        ColumnCost {
            varbind_bytes: self
                .column_bytes
                .get(column)
                .copied()
                .unwrap_or(UNKNOWN_VARBIND_BYTES),
            rows_left: self.column_rows.get(column).copied(),
        }
    }

    /// Remembers a finished column walk: its rows and the average size of its varbinds.
    pub fn learn(&mut self, column: &[u32], rows: usize, wire: WireTally) {
        if let Some(average) = wire.average() {
            self.column_bytes.insert(column.to_vec(), average);
        }
        self.column_rows.insert(column.to_vec(), rows);
    }
}

impl BulkSizing {
    /// Takes what `other` (a copy walked on another lane) learned about `columns`.
    pub fn absorb(&mut self, other: &BulkSizing, columns: &[Oid]) {
        for column in columns {
            if let Some(&bytes) = other.column_bytes.get(column) {
                self.column_bytes.insert(column.clone(), bytes);
            }
            if let Some(&rows) = other.column_rows.get(column) {
                self.column_rows.insert(column.clone(), rows);
            }
        }
    }
}

fn clamp_message_size(size: usize) -> usize {
    size.clamp(SMALLEST_MESSAGE_SIZE, LARGEST_MESSAGE_SIZE)
}

/// The encoded bytes of the varbinds one column received.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WireTally {
    pub bytes: usize,
    pub varbinds: usize,
}

impl WireTally {
    pub fn add(&mut self, bytes: usize) {
        self.bytes += bytes;
        self.varbinds += 1;
    }

    /// Average bytes per varbind, rounded up; `None` before the first.
    pub fn average(&self) -> Option<usize> {
        (self.varbinds > 0).then(|| self.bytes.div_ceil(self.varbinds))
    }
}

/// Chooses the request that brings back the most useful varbinds within `budget` bytes.
/// `candidates` are the unfinished columns, most behind first; the plan takes a prefix of them.
/// Repetitions stay within `max_repetitions` and, when every candidate's row count is known,
/// within the rows left plus one (the varbind past the end that tells the column is over).
pub fn plan(candidates: &[ColumnCost], budget: usize, max_repetitions: u32) -> BulkPlan {
    let mut best = BulkPlan {
        columns: 1,
        repetitions: 1,
    };
    let mut best_useful = 0;
    let rows_limit = candidates
        .iter()
        .map(|cost| cost.rows_left.map(|rows| rows + 1))
        .try_fold(0usize, |limit, rows| rows.map(|rows| limit.max(rows)));
    let repetitions_limit = rows_limit.map_or(max_repetitions, |rows| {
        u32::try_from(rows).unwrap_or(u32::MAX).min(max_repetitions)
    });
    for repetitions in 1..=repetitions_limit.max(1) {
        let per_row = usize::try_from(repetitions).unwrap_or(usize::MAX);
        let columns = columns_that_fit(candidates, budget, per_row);
        if columns == 0 {
            break;
        }
        let useful: usize = candidates[..columns]
            .iter()
            .map(|cost| cost.rows_left.map_or(per_row, |rows| per_row.min(rows + 1)))
            .sum();
        if useful > best_useful {
            best_useful = useful;
            best = BulkPlan {
                columns,
                repetitions,
            };
        }
    }
    best
}

/// How many leading candidates fit when each brings `repetitions` varbinds.
fn columns_that_fit(candidates: &[ColumnCost], budget: usize, repetitions: usize) -> usize {
    let mut used = 0usize;
    let mut count = 0;
    for cost in candidates {
        used = used.saturating_add(cost.varbind_bytes.saturating_mul(repetitions));
        if used > budget {
            break;
        }
        count += 1;
    }
    count
}

/// The BER-encoded size of one varbind: SEQUENCE { name OID, value }.
pub fn varbind_wire_len(oid: &[u32], value: &SnmpValue) -> usize {
    tlv_len(tlv_len(oid_content_len(oid)) + tlv_len(value_content_len(value)))
}

/// Tag, length and content bytes for a content of `content` bytes.
fn tlv_len(content: usize) -> usize {
    let length_bytes = match content {
        0..=127 => 1,
        128..=255 => 2,
        256..=65535 => 3,
        _ => 4,
    };
    1 + length_bytes + content
}

/// The first two arcs share one sub-identifier (40 x first + second); each sub-identifier takes
/// 7 bits per byte.
fn oid_content_len(oid: &[u32]) -> usize {
    let Some((first, rest)) = oid.split_first() else {
        return 0;
    };
    let Some((second, rest)) = rest.split_first() else {
        return base128_len(u64::from(*first) * 40);
    };
    let head = base128_len(u64::from(*first) * 40 + u64::from(*second));
    head + rest
        .iter()
        .map(|&arc| base128_len(u64::from(arc)))
        .sum::<usize>()
}

fn base128_len(value: u64) -> usize {
    let bits = (64 - value.leading_zeros()).max(1) as usize;
    bits.div_ceil(7)
}

/// Minimal two's-complement bytes of an unsigned value (a leading zero keeps it positive).
fn unsigned_len(value: u64) -> usize {
    (64 - value.leading_zeros()) as usize / 8 + 1
}

fn signed_len(value: i64) -> usize {
    let significant = if value < 0 {
        64 - value.leading_ones()
    } else {
        64 - value.leading_zeros()
    };
    significant as usize / 8 + 1
}

fn value_content_len(value: &SnmpValue) -> usize {
    match value {
        SnmpValue::Integer(n) => signed_len(*n),
        SnmpValue::OctetString(bytes) => bytes.len(),
        SnmpValue::ObjectIdentifier(oid) => oid_content_len(oid),
        SnmpValue::IpAddress(_) => 4,
        SnmpValue::Counter32(n) | SnmpValue::Unsigned32(n) | SnmpValue::Timeticks(n) => {
            unsigned_len(u64::from(*n))
        }
        SnmpValue::Counter64(n) => unsigned_len(*n),
        SnmpValue::Null | SnmpValue::Absent | SnmpValue::EndOfMibView | SnmpValue::Other => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost(varbind_bytes: usize, rows_left: Option<usize>) -> ColumnCost {
        ColumnCost {
            varbind_bytes,
            rows_left,
        }
    }

    #[test]
    fn varbind_sizes_match_ber() {
        // 30 0f 06 0a 2b 06 01 02 01 02 02 01 0a 01 41 01 05: ifInOctets.1 = Counter32 5
        let if_in_octets = [1, 3, 6, 1, 2, 1, 2, 2, 1, 10, 1];
        assert_eq!(
            varbind_wire_len(&if_in_octets, &SnmpValue::Counter32(5)),
            2 + 12 + 3
        );
        // Counter32 with the top bit set needs a leading zero byte.
        assert_eq!(
            varbind_wire_len(&if_in_octets, &SnmpValue::Counter32(u32::MAX)),
            2 + 12 + 7
        );
        // Arcs of 128 and more take two bytes; 2^32-1 takes five.
        assert_eq!(oid_content_len(&[1, 3, 6, 1, 4, 1, 2636]), 7);
        assert_eq!(oid_content_len(&[1, 3, u32::MAX]), 6);
        assert_eq!(signed_len(-1), 1);
        assert_eq!(signed_len(-129), 2);
        assert_eq!(signed_len(128), 2);
        assert_eq!(unsigned_len(0), 1);
        // A 200-byte string has a two-byte length, and so has the varbind around it.
        let text = SnmpValue::OctetString(vec![b'x'; 200]);
        assert_eq!(varbind_wire_len(&[1, 3], &text), 3 + 3 + 203);
    }

    #[test]
    fn columns_and_repetitions_fill_the_budget() {
        // 23 columns of 24 bytes in 1408 bytes: 2 rows of all (46 varbinds) fill less than
        // 3 rows of the first 19 (57 varbinds).
        let candidates = vec![cost(24, None); 23];
        let plan = plan(&candidates, 1408, 25);
        assert_eq!(
            plan,
            BulkPlan {
                columns: 19,
                repetitions: 3
            }
        );
    }

    #[test]
    fn max_repetitions_caps_a_lone_column() {
        let plan = plan(&[cost(20, None)], 1408, 25);
        assert_eq!(plan.columns, 1);
        assert_eq!(plan.repetitions, 25);
        let big = super::plan(&[cost(20, None)], 65000, 1000);
        assert_eq!(big.repetitions, 1000);
    }

    #[test]
    fn known_row_counts_stop_walking_past_the_end() {
        // Two rows left in each: three repetitions see the end; more would be wasted.
        let candidates = vec![cost(20, Some(2)); 4];
        let plan = plan(&candidates, 1408, 25);
        assert_eq!(
            plan,
            BulkPlan {
                columns: 4,
                repetitions: 3
            }
        );
    }

    #[test]
    fn a_column_too_big_for_the_budget_still_gets_one_varbind() {
        let plan = plan(&[cost(5000, None)], 1408, 25);
        assert_eq!(
            plan,
            BulkPlan {
                columns: 1,
                repetitions: 1
            }
        );
    }

    #[test]
    fn learned_costs_replace_the_guess_and_sizes_are_clamped() {
        let mut sizing = BulkSizing::new(10);
        assert_eq!(sizing.max_message_size(), SMALLEST_MESSAGE_SIZE);
        sizing.set_max_message_size(1 << 20);
        assert_eq!(sizing.max_message_size(), LARGEST_MESSAGE_SIZE);
        let column = [1, 3, 6, 1, 2, 1, 2, 2, 1, 2];
        assert_eq!(
            sizing.column_cost(&column),
            cost(UNKNOWN_VARBIND_BYTES, None)
        );
        sizing.learn(
            &column,
            48,
            WireTally {
                bytes: 100,
                varbinds: 3,
            },
        );
        assert_eq!(sizing.column_cost(&column), cost(34, Some(48)));
        assert!(sizing.varbind_budget(SnmpVersion::V3) < sizing.varbind_budget(SnmpVersion::V2c));
    }
}
