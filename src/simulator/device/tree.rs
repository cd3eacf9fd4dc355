//! The ordered walk over a device's MIB without materialising it: a fixed list of nodes
//! (scalar groups and tables) in OID order, each answering GET and "first instance after" from
//! its shape, so one lookup costs O(nodes + log rows).

use std::cmp::Ordering;

use crate::simulator::mib::{Lookup, SimValue};

/// The shape of one node of the MIB.
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    /// Scalars `prefix.sub.0` for each sub-identifier (sorted).
    Scalars(&'static [u32]),
    /// A conceptual table: `prefix` is the entry, instances are `prefix.column.row-index`
    /// (columns sorted).
    Table(&'static [u32]),
}

/// One node of the MIB. Nodes are listed in OID order and do not overlap.
#[derive(Debug, Clone, Copy)]
pub struct Node {
    pub prefix: &'static [u32],
    pub shape: Shape,
}

/// What a device provides for its nodes: the row indices of each table (sorted) and the value
/// of each cell. A cell may be absent (`None`): the walk skips it.
pub trait Cells {
    /// The sorted row indices of table node `node` (unused for scalar nodes).
    fn rows(&self, node: usize) -> &[Vec<u32>];
    /// The value of `column` (or scalar sub-identifier) in row `row` (0 for scalars).
    fn cell(&self, node: usize, column: u32, row: usize) -> Option<SimValue>;
}

/// Where an OID lies relative to a node's prefix.
enum Position<'a> {
    /// Every instance of the node is after the OID.
    Before,
    /// The OID is inside the node: the rest after the prefix.
    Inside(&'a [u32]),
    /// Every instance of the node is before the OID.
    After,
}

fn position<'a>(oid: &'a [u32], prefix: &[u32]) -> Position<'a> {
    let common = oid.len().min(prefix.len());
    match oid[..common].cmp(&prefix[..common]) {
        Ordering::Less => Position::Before,
        Ordering::Greater => Position::After,
        // A proper prefix of the node's prefix sorts before all of its instances.
        Ordering::Equal if oid.len() < prefix.len() => Position::Before,
        Ordering::Equal => Position::Inside(&oid[prefix.len()..]),
    }
}

/// GET of one OID. Two scalar nodes may share a prefix (BGP4-MIB has scalars on both sides of
/// its peer table), so a node that does not know the object lets the next one try.
pub fn get(nodes: &[Node], cells: &dyn Cells, oid: &[u32]) -> Lookup {
    for (id, node) in nodes.iter().enumerate() {
        let Some(rest) = oid.strip_prefix(node.prefix) else {
            continue;
        };
        let lookup = match node.shape {
            Shape::Scalars(subs) => get_scalar(id, subs, cells, rest),
            Shape::Table(columns) => get_cell(id, columns, cells, rest),
        };
        if lookup != Lookup::NoSuchObject {
            return lookup;
        }
    }
    Lookup::NoSuchObject
}

fn get_scalar(id: usize, subs: &[u32], cells: &dyn Cells, rest: &[u32]) -> Lookup {
    let Some((&sub, instance)) = rest.split_first() else {
        return Lookup::NoSuchObject;
    };
    if !subs.contains(&sub) {
        return Lookup::NoSuchObject;
    }
    match (instance, cells.cell(id, sub, 0)) {
        ([0], Some(value)) => Lookup::Value(value),
        _ => Lookup::NoSuchInstance,
    }
}

fn get_cell(id: usize, columns: &[u32], cells: &dyn Cells, rest: &[u32]) -> Lookup {
    let Some((&column, index)) = rest.split_first() else {
        return Lookup::NoSuchObject;
    };
    if !columns.contains(&column) {
        return Lookup::NoSuchObject;
    }
    let rows = cells.rows(id);
    let value = rows
        .binary_search_by(|row| row.as_slice().cmp(index))
        .ok()
        .and_then(|row| cells.cell(id, column, row));
    match value {
        Some(value) => Lookup::Value(value),
        None => Lookup::NoSuchInstance,
    }
}

/// The first instance strictly after `oid` (GETNEXT), or `None` past the end of the MIB.
pub fn next(nodes: &[Node], cells: &dyn Cells, oid: &[u32]) -> Option<(Vec<u32>, SimValue)> {
    for (id, node) in nodes.iter().enumerate() {
        let here = NodeAt { id, node, cells };
        let found = match (position(oid, node.prefix), node.shape) {
            (Position::After, _) => None,
            (Position::Before, Shape::Scalars(subs)) => here.scalar_from(subs, 0),
            (Position::Before, Shape::Table(columns)) => here.cell_from(columns, (0, 0)),
            (Position::Inside(rest), Shape::Scalars(subs)) => {
                here.scalar_from(subs, first_scalar_after(subs, rest))
            }
            (Position::Inside(rest), Shape::Table(columns)) => {
                here.cell_from(columns, first_cell_after(columns, cells.rows(id), rest))
            }
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

/// Position (in `subs`) of the first scalar instance `sub.0` after `rest`.
fn first_scalar_after(subs: &[u32], rest: &[u32]) -> usize {
    match rest.split_first() {
        None => 0,
        Some((&sub, tail)) => {
            let at = subs.partition_point(|&s| s < sub);
            // `sub` itself comes after `rest` only if rest is exactly `sub` (then `sub.0` > it).
            if subs.get(at) == Some(&sub) && !tail.is_empty() {
                at + 1
            } else {
                at
            }
        }
    }
}

/// (column position, row position) of the first cell after `rest` (relative to the entry).
fn first_cell_after(columns: &[u32], rows: &[Vec<u32>], rest: &[u32]) -> (usize, usize) {
    let Some((&column, index)) = rest.split_first() else {
        return (0, 0);
    };
    let at = columns.partition_point(|&c| c < column);
    if columns.get(at) == Some(&column) {
        (at, rows.partition_point(|row| row.as_slice() <= index))
    } else {
        (at, 0)
    }
}

/// One node being walked, with the device's cells.
struct NodeAt<'a> {
    id: usize,
    node: &'a Node,
    cells: &'a dyn Cells,
}

impl NodeAt<'_> {
    fn scalar_from(&self, subs: &[u32], start: usize) -> Option<(Vec<u32>, SimValue)> {
        subs.iter().skip(start).find_map(|&sub| {
            let value = self.cells.cell(self.id, sub, 0)?;
            let mut oid = self.node.prefix.to_vec();
            oid.extend([sub, 0]);
            Some((oid, value))
        })
    }

    /// The first present cell at or after (column position, row position), column by column.
    fn cell_from(
        &self,
        columns: &[u32],
        (column_at, row_at): (usize, usize),
    ) -> Option<(Vec<u32>, SimValue)> {
        let rows = self.cells.rows(self.id);
        for (offset, &column) in columns.iter().enumerate().skip(column_at) {
            let first_row = if offset == column_at { row_at } else { 0 };
            for (row_position, index) in rows.iter().enumerate().skip(first_row) {
                if let Some(value) = self.cells.cell(self.id, column, row_position) {
                    let prefix = self.node.prefix;
                    let mut oid = Vec::with_capacity(prefix.len() + 1 + index.len());
                    oid.extend_from_slice(prefix);
                    oid.push(column);
                    oid.extend_from_slice(index);
                    return Some((oid, value));
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODES: &[Node] = &[
        Node {
            prefix: &[1, 3, 1],
            shape: Shape::Scalars(&[1, 2, 5]),
        },
        Node {
            prefix: &[1, 3, 2, 1],
            shape: Shape::Table(&[1, 3]),
        },
    ];

    struct Fixture {
        rows: Vec<Vec<u32>>,
    }

    impl Cells for Fixture {
        fn rows(&self, _node: usize) -> &[Vec<u32>] {
            &self.rows
        }
        fn cell(&self, node: usize, column: u32, row: usize) -> Option<SimValue> {
            // Scalar 2 and cell (column 3, row 0) are absent.
            match (node, column, row) {
                (0, 2, _) | (1, 3, 0) => None,
                _ => Some(SimValue::Integer(
                    (node * 100 + column as usize * 10 + row) as i32,
                )),
            }
        }
    }

    fn fixture() -> Fixture {
        Fixture {
            rows: vec![vec![1], vec![2, 5], vec![10]],
        }
    }

    fn walk(f: &Fixture) -> Vec<Vec<u32>> {
        let mut oid = vec![];
        let mut out = vec![];
        while let Some((next_oid, _)) = next(NODES, f, &oid) {
            out.push(next_oid.clone());
            oid = next_oid;
        }
        out
    }

    #[test]
    fn walk_visits_present_instances_in_order() {
        let oids = walk(&fixture());
        assert_eq!(
            oids,
            vec![
                vec![1, 3, 1, 1, 0],
                vec![1, 3, 1, 5, 0],
                vec![1, 3, 2, 1, 1, 1],
                vec![1, 3, 2, 1, 1, 2, 5],
                vec![1, 3, 2, 1, 1, 10],
                vec![1, 3, 2, 1, 3, 2, 5],
                vec![1, 3, 2, 1, 3, 10],
            ]
        );
    }

    #[test]
    fn next_from_arbitrary_points() {
        let f = fixture();
        let at = |oid: &[u32]| next(NODES, &f, oid).map(|(o, _)| o);
        assert_eq!(at(&[1, 3, 1, 1]), Some(vec![1, 3, 1, 1, 0]));
        assert_eq!(at(&[1, 3, 1, 1, 0, 7]), Some(vec![1, 3, 1, 5, 0]));
        assert_eq!(at(&[1, 3, 1, 3]), Some(vec![1, 3, 1, 5, 0]));
        assert_eq!(at(&[1, 3, 1, 9]), Some(vec![1, 3, 2, 1, 1, 1]));
        assert_eq!(at(&[1, 3, 2, 1, 1, 2]), Some(vec![1, 3, 2, 1, 1, 2, 5]));
        assert_eq!(at(&[1, 3, 2, 1, 1, 2, 5, 0]), Some(vec![1, 3, 2, 1, 1, 10]));
        assert_eq!(at(&[1, 3, 2, 1, 2]), Some(vec![1, 3, 2, 1, 3, 2, 5]));
        assert_eq!(at(&[1, 3, 2, 1, 3, 10]), None);
        assert_eq!(at(&[2]), None);
        assert_eq!(at(&[0]), Some(vec![1, 3, 1, 1, 0]));
    }

    #[test]
    fn get_distinguishes_objects_and_instances() {
        let f = fixture();
        assert_eq!(
            get(NODES, &f, &[1, 3, 1, 5, 0]),
            Lookup::Value(SimValue::Integer(50))
        );
        assert_eq!(get(NODES, &f, &[1, 3, 1, 5, 1]), Lookup::NoSuchInstance);
        assert_eq!(get(NODES, &f, &[1, 3, 1, 2, 0]), Lookup::NoSuchInstance);
        assert_eq!(get(NODES, &f, &[1, 3, 1, 4, 0]), Lookup::NoSuchObject);
        assert_eq!(
            get(NODES, &f, &[1, 3, 2, 1, 3, 2, 5]),
            Lookup::Value(SimValue::Integer(131))
        );
        assert_eq!(get(NODES, &f, &[1, 3, 2, 1, 3, 1]), Lookup::NoSuchInstance);
        assert_eq!(get(NODES, &f, &[1, 3, 2, 1, 3, 7]), Lookup::NoSuchInstance);
        assert_eq!(get(NODES, &f, &[1, 3, 2, 1, 2, 1]), Lookup::NoSuchObject);
        assert_eq!(get(NODES, &f, &[1, 3, 9]), Lookup::NoSuchObject);
    }
}
