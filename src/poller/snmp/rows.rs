//! A walked column's rows: kept in the index order the walk returns them, in one vector.

use super::value::{Oid, SnmpValue};

/// The rows of one column, sorted by index (the OID suffix after the column) with no index
/// twice. A walk appends rows in increasing order, so building costs one push per varbind; a
/// tree map cost a node search and allocations per varbind (a tenth of a poll's CPU in perf).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ColumnRows {
    rows: Vec<(Oid, SnmpValue)>,
}

impl ColumnRows {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a row whose index comes after every index so far (walk order). Anything else is
    /// inserted in its place, so the order holds whatever the caller does.
    pub fn push(&mut self, index: Oid, value: SnmpValue) {
        match self.rows.last() {
            Some((last, _)) if *last >= index => {
                self.insert(index, value);
            }
            _ => self.rows.push((index, value)),
        }
    }

    /// Sets the value of an index, in order; returns the value it replaced.
    pub fn insert(&mut self, index: Oid, value: SnmpValue) -> Option<SnmpValue> {
        match self.position(&index) {
            Ok(at) => Some(std::mem::replace(&mut self.rows[at].1, value)),
            Err(at) => {
                self.rows.insert(at, (index, value));
                None
            }
        }
    }

    pub fn get(&self, index: &[u32]) -> Option<&SnmpValue> {
        self.position(index).ok().map(|at| &self.rows[at].1)
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The indices, in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &Oid> + ExactSizeIterator {
        self.rows.iter().map(|(index, _)| index)
    }

    /// The values, in index order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &SnmpValue> + ExactSizeIterator {
        self.rows.iter().map(|(_, value)| value)
    }

    /// (index, value) pairs, in index order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&Oid, &SnmpValue)> + ExactSizeIterator {
        self.rows.iter().map(|(index, value)| (index, value))
    }

    fn position(&self, index: &[u32]) -> Result<usize, usize> {
        self.rows
            .binary_search_by(|(row, _)| row.as_slice().cmp(index))
    }
}

/// Collects rows in any order; a repeated index keeps its last value (as a map insert would).
impl FromIterator<(Oid, SnmpValue)> for ColumnRows {
    fn from_iter<I: IntoIterator<Item = (Oid, SnmpValue)>>(rows: I) -> Self {
        let mut column = ColumnRows::new();
        for (index, value) in rows {
            column.push(index, value);
        }
        column
    }
}

impl<const N: usize> From<[(Oid, SnmpValue); N]> for ColumnRows {
    fn from(rows: [(Oid, SnmpValue); N]) -> Self {
        rows.into_iter().collect()
    }
}

impl IntoIterator for ColumnRows {
    type Item = (Oid, SnmpValue);
    type IntoIter = std::vec::IntoIter<(Oid, SnmpValue)>;

    fn into_iter(self) -> Self::IntoIter {
        self.rows.into_iter()
    }
}

impl<'a> IntoIterator for &'a ColumnRows {
    type Item = (&'a Oid, &'a SnmpValue);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (Oid, SnmpValue)>,
        fn(&'a (Oid, SnmpValue)) -> (&'a Oid, &'a SnmpValue),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.rows.iter().map(|(index, value)| (index, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(n: i64) -> SnmpValue {
        SnmpValue::Integer(n)
    }

    #[test]
    fn rows_stay_sorted_and_unique_whatever_the_order() {
        let mut rows = ColumnRows::new();
        rows.push(vec![1, 5], int(5));
        rows.push(vec![2], int(2));
        rows.push(vec![1, 10], int(10));
        rows.push(vec![2], int(22));
        let keys: Vec<&Oid> = rows.keys().collect();
        assert_eq!(keys, [&vec![1, 5], &vec![1, 10], &vec![2]]);
        assert_eq!(rows.get(&[2]), Some(&int(22)), "the last value wins");
        assert_eq!(rows.get(&[1]), None);
        assert_eq!(rows.insert(vec![1, 5], int(0)), Some(int(5)));
        assert_eq!(rows.len(), 3);
    }

    #[test]
    fn collecting_sorts_like_a_map() {
        let rows: ColumnRows = [(vec![3], int(3)), (vec![1], int(1)), (vec![3], int(33))].into();
        let pairs: Vec<(Oid, SnmpValue)> = rows.into_iter().collect();
        assert_eq!(pairs, vec![(vec![1], int(1)), (vec![3], int(33))]);
    }
}
