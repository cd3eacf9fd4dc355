//! Pure building blocks for turning fetched SNMP values into samples: tables, families, labels.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::value::{Oid, SnmpValue};
use super::walk::ColumnRows;
use crate::catalog;
use crate::config::oid::format_oid;
use crate::poller::outcome::{FamilyDesc, FamilySamples, LabelSet, Sample, Value};

/// What decoding one module produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decoded {
    /// Families with at least one sample.
    pub families: Vec<FamilySamples>,
    /// Values that were present but of a type that cannot be the wanted number or label.
    pub skipped: usize,
}

impl Decoded {
    pub fn sample_count(&self) -> usize {
        self.families.iter().map(|f| f.samples.len()).sum()
    }

    /// Adds a finished family, dropping it when it has no samples (an empty table is not an
    /// error, and an empty family carries nothing).
    pub fn push(&mut self, family: FamilyBuilder) {
        let family = family.finish();
        if !family.samples.is_empty() {
            self.families.push(family);
        }
    }

    pub fn extend(&mut self, other: Decoded) {
        self.families.extend(other.families);
        self.skipped += other.skipped;
    }
}

/// Collects the samples of one family.
#[derive(Debug, Clone)]
pub struct FamilyBuilder {
    desc: Arc<FamilyDesc>,
    label_names: Vec<Arc<str>>,
    samples: Vec<Sample>,
}

impl FamilyBuilder {
    pub fn new(desc: Arc<FamilyDesc>, label_names: &[&str]) -> Self {
        FamilyBuilder {
            desc,
            label_names: label_names.iter().map(|&name| Arc::from(name)).collect(),
            samples: Vec::new(),
        }
    }

    /// A builder for a catalogue family: descriptor and label names (all but `target`, which
    /// the encoder adds) come from `crate::catalog`.
    pub fn catalog(name: &str) -> Self {
        let labels: Vec<&str> = catalog::spec(name)
            .labels
            .iter()
            .copied()
            .filter(|l| *l != "target")
            .collect();
        Self::new(catalog::desc(name), &labels)
    }

    /// Adds one sample; `label_values` follow the order of the label names. The labels are
    /// rendered (escaped) here, once; the results store later shares equal label sets.
    pub fn push(&mut self, label_values: Vec<String>, value: Value) {
        let labels = LabelSet::from_names_values(&self.label_names, &label_values);
        self.samples.push(Sample { labels, value });
    }

    /// Adds one sample whose labels are already rendered: for label sets several families
    /// share (an interface's `interface="..."` is the same for its status, speed and eight
    /// counters), rendered once instead of once per family. `labels` must hold exactly this
    /// family's label names, in order.
    pub fn push_rendered(&mut self, labels: LabelSet, value: Value) {
        self.samples.push(Sample { labels, value });
    }

    pub fn finish(mut self) -> FamilySamples {
        // The samples are kept until the next poll: do not keep the growth slack with them.
        self.samples.shrink_to_fit();
        FamilySamples {
            desc: self.desc,
            samples: self.samples,
        }
    }
}

/// A walked table: columns (by column number) of rows (by index). Columns are shared, so the
/// cached if_mib lookup columns join a poll's table without being copied.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    columns: BTreeMap<u32, Arc<ColumnRows>>,
}

impl Table {
    /// The OIDs to walk for some columns of a table entry (`...Entry` OID + column number).
    pub fn column_oids(entry: &[u32], columns: &[u32]) -> Vec<Oid> {
        columns
            .iter()
            .map(|&column| {
                let mut oid = entry.to_vec();
                oid.push(column);
                oid
            })
            .collect()
    }

    /// Builds a table from the rows of walked columns, given in the same order.
    pub fn from_columns(columns: &[u32], rows: Vec<ColumnRows>) -> Table {
        Self::from_shared_columns(columns, rows.into_iter().map(Arc::new).collect())
    }

    /// Builds a table from shared columns, given in the same order.
    pub fn from_shared_columns(columns: &[u32], rows: Vec<Arc<ColumnRows>>) -> Table {
        Table {
            columns: columns.iter().copied().zip(rows).collect(),
        }
    }

    /// Builds a table from (column, index, value) triples; handy in tests.
    pub fn from_cells(cells: &[(u32, &[u32], SnmpValue)]) -> Table {
        let mut table = Table::default();
        for (column, index, value) in cells {
            Arc::make_mut(table.columns.entry(*column).or_default())
                .insert(index.to_vec(), value.clone());
        }
        table
    }

    /// A present value (absent markers read as `None`).
    pub fn value(&self, column: u32, index: &Oid) -> Option<&SnmpValue> {
        self.columns
            .get(&column)?
            .get(index)
            .filter(|value| !value.is_absent())
    }

    /// Every row index seen in any column.
    pub fn indices(&self) -> BTreeSet<Oid> {
        union_of_indices(self.columns.values().map(|rows| &**rows))
    }

    /// The indices of one column.
    pub fn column_indices(&self, column: u32) -> Vec<Oid> {
        self.columns
            .get(&column)
            .map(|rows| rows.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// Every index of some columns. Columns mostly share their indices, and each column's rows are
/// already sorted: a column is merged into the union by one linear pass, and a column that adds
/// nothing (the usual case) costs one comparison per row instead of a tree lookup; each index
/// is cloned once, at the end (tree lookups and clones were a tenth of a poll's CPU).
pub fn union_of_indices<'a>(columns: impl IntoIterator<Item = &'a ColumnRows>) -> BTreeSet<Oid> {
    let mut union: Vec<&Oid> = Vec::new();
    for rows in columns {
        if !is_sorted_subset(rows.keys(), &union) {
            union = merge_sorted(&union, rows.keys());
        }
    }
    union.into_iter().cloned().collect()
}

/// True when every item of the sorted `items` is in the sorted `union`.
fn is_sorted_subset<'a>(items: impl Iterator<Item = &'a Oid>, union: &[&Oid]) -> bool {
    let mut position = 0;
    for item in items {
        while position < union.len() && union[position] < item {
            position += 1;
        }
        if position == union.len() || union[position] != item {
            return false;
        }
    }
    true
}

/// The sorted, duplicate-free union of two sorted sequences.
fn merge_sorted<'a>(union: &[&'a Oid], items: impl Iterator<Item = &'a Oid>) -> Vec<&'a Oid> {
    let mut merged = Vec::with_capacity(union.len());
    let mut rest = union.iter().copied().peekable();
    for item in items {
        while let Some(existing) = rest.next_if(|existing| *existing < item) {
            merged.push(existing);
        }
        if rest.peek() == Some(&item) {
            rest.next();
        }
        merged.push(item);
    }
    merged.extend(rest);
    merged
}

/// Makes names unique per row: a name shared by several rows gets `_<index>` appended on every
/// such row (not only the later ones), so the result does not depend on walk order; rows with
/// a name of their own keep it unchanged.
pub fn unique_names(names: BTreeMap<Oid, String>) -> BTreeMap<Oid, String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for name in names.values() {
        *counts.entry(name.as_str()).or_default() += 1;
    }
    let shared: BTreeSet<String> = counts
        .into_iter()
        .filter(|&(_, count)| count > 1)
        .map(|(name, _)| name.to_string())
        .collect();
    names
        .into_iter()
        .map(|(index, name)| {
            if shared.contains(&name) {
                let suffixed = format!("{name}_{}", format_oid(&index));
                (index, suffixed)
            } else {
                (index, name)
            }
        })
        .collect()
}

/// A label value from a table cell, or "" when it is absent.
pub fn label_or_empty(value: Option<&SnmpValue>) -> String {
    value.and_then(SnmpValue::as_label).unwrap_or_default()
}

/// A non-empty text label from a cell.
pub fn non_empty_label(value: Option<&SnmpValue>) -> Option<String> {
    value
        .and_then(SnmpValue::as_label)
        .filter(|text| !text.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_names_get_their_index_appended_on_every_row() {
        let names = BTreeMap::from([
            (vec![1], "eth0".to_string()),
            (vec![2], "eth0".to_string()),
            (vec![3], "lo".to_string()),
        ]);
        let unique = unique_names(names);
        assert_eq!(unique[&vec![1]], "eth0_1");
        assert_eq!(unique[&vec![2]], "eth0_2");
        assert_eq!(unique[&vec![3]], "lo");
    }

    #[test]
    fn empty_families_are_dropped() {
        let mut decoded = Decoded::default();
        decoded.push(FamilyBuilder::catalog("ispmonitor_snmp_uptime_seconds"));
        assert!(decoded.families.is_empty());
    }

    #[test]
    fn the_union_of_indices_is_sorted_and_complete() {
        let column = |indices: &[u32]| -> ColumnRows {
            indices
                .iter()
                .map(|&i| (vec![i], SnmpValue::Integer(1)))
                .collect()
        };
        let columns = [
            column(&[2, 4, 6]),
            column(&[2, 4, 6]),
            column(&[1, 4, 7]),
            column(&[]),
            column(&[6, 8]),
        ];
        let union: Vec<Oid> = union_of_indices(&columns).into_iter().collect();
        let expected: Vec<Oid> = [1, 2, 4, 6, 7, 8].iter().map(|&i| vec![i]).collect();
        assert_eq!(union, expected);
        assert!(union_of_indices(&[]).is_empty());
    }

    #[test]
    fn absent_cells_read_as_none() {
        let table = Table::from_cells(&[(1, &[5], SnmpValue::Absent)]);
        assert_eq!(table.value(1, &vec![5]), None);
        assert_eq!(table.indices().len(), 1);
    }
}
