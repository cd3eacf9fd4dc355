//! User-defined SNMP metrics: scalars (GET) and table columns (walked), with index labels.

use crate::config::oid::format_oid;
use crate::config::{CustomMetric, CustomMetricType};
use crate::poller::outcome::{FamilyDesc, MetricType, Value};
use crate::poller::snmp::decode::{Decoded, FamilyBuilder};
use crate::poller::snmp::value::{Oid, SnmpValue};
use crate::poller::snmp::walk::ColumnRows;

/// A metric without index labels is a scalar.
pub fn is_scalar(metric: &CustomMetric) -> bool {
    metric.index.is_empty()
}

/// The instance OID of a scalar: `oid.0`, unless the configured OID already ends in `.0`.
pub fn scalar_oid(metric: &CustomMetric) -> Oid {
    let mut oid = metric.oid.clone();
    if oid.last() != Some(&0) {
        oid.push(0);
    }
    oid
}

/// Label values from a row index: one sub-identifier per label, the last label takes the rest
/// joined with dots. `None` when the index is shorter than the labels.
pub fn index_labels(label_count: usize, index: &[u32]) -> Option<Vec<String>> {
    if label_count == 0 || index.len() < label_count {
        return None;
    }
    let (single, rest) = index.split_at(label_count - 1);
    let mut values: Vec<String> = single.iter().map(u32::to_string).collect();
    values.push(format_oid(rest));
    Some(values)
}

/// The sample value of one SNMP value: gauges take any numeric type; counters take Counter32,
/// Counter64 and Unsigned32.
fn sample_value(metric_type: CustomMetricType, value: &SnmpValue, wrap: bool) -> Option<Value> {
    match metric_type {
        CustomMetricType::Gauge => value.as_gauge(wrap),
        CustomMetricType::Counter => value.as_counter(wrap).map(Value::Int),
    }
}

fn builder(metric: &CustomMetric) -> FamilyBuilder {
    let metric_type = match metric.metric_type {
        CustomMetricType::Gauge => MetricType::Gauge,
        CustomMetricType::Counter => MetricType::Counter,
    };
    let label_names: Vec<&str> = metric.index.iter().map(String::as_str).collect();
    FamilyBuilder::new(
        FamilyDesc::new(&metric.name, &metric.help, metric_type),
        &label_names,
    )
}

/// Decodes a scalar metric's GET result (`None` or absent: no sample).
pub fn decode_scalar(metric: &CustomMetric, value: Option<&SnmpValue>, wrap: bool) -> Decoded {
    let mut decoded = Decoded::default();
    let mut family = builder(metric);
    if let Some(value) = value.filter(|value| !value.is_absent()) {
        match sample_value(metric.metric_type, value, wrap) {
            Some(sample) => family.push(vec![], sample),
            None => decoded.skipped += 1,
        }
    }
    decoded.push(family);
    decoded
}

/// Decodes a walked table column.
pub fn decode_column(metric: &CustomMetric, rows: &ColumnRows, wrap: bool) -> Decoded {
    let mut decoded = Decoded::default();
    let mut family = builder(metric);
    for (index, value) in rows {
        let sample = sample_value(metric.metric_type, value, wrap);
        let labels = index_labels(metric.index.len(), index);
        match (labels, sample) {
            (Some(labels), Some(sample)) => family.push(labels, sample),
            _ => decoded.skipped += 1,
        }
    }
    decoded.push(family);
    decoded
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(metric_type: CustomMetricType, index: &[&str]) -> CustomMetric {
        CustomMetric {
            name: "ispmonitor_custom_thing".into(),
            help: "thing".into(),
            oid: vec![1, 3, 6, 1, 4, 1, 99_999, 1],
            metric_type,
            index: index.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn scalars_get_dot_zero_once() {
        let mut m = metric(CustomMetricType::Gauge, &[]);
        assert_eq!(scalar_oid(&m), vec![1, 3, 6, 1, 4, 1, 99_999, 1, 0]);
        m.oid.push(0);
        assert_eq!(scalar_oid(&m), vec![1, 3, 6, 1, 4, 1, 99_999, 1, 0]);
    }

    #[test]
    fn the_last_index_label_takes_the_remaining_sub_identifiers() {
        assert_eq!(
            index_labels(2, &[7, 10, 0, 0, 1]),
            Some(vec!["7".to_string(), "10.0.0.1".to_string()])
        );
        assert_eq!(index_labels(1, &[3]), Some(vec!["3".to_string()]));
        assert_eq!(index_labels(3, &[3, 4]), None);
    }

    #[test]
    fn counter64_above_2_pow_53_is_exact_or_wrapped() {
        let m = metric(CustomMetricType::Counter, &[]);
        let value = SnmpValue::Counter64(u64::MAX);
        let exact = decode_scalar(&m, Some(&value), false);
        assert_eq!(exact.families[0].samples[0].value, Value::Int(u64::MAX));
        let wrapped = decode_scalar(&m, Some(&value), true);
        assert_eq!(
            wrapped.families[0].samples[0].value,
            Value::Int(u64::MAX % (1 << 53))
        );
    }

    #[test]
    fn counters_refuse_integers_and_strings() {
        let m = metric(CustomMetricType::Counter, &["ix"]);
        let rows: ColumnRows = ColumnRows::from([
            (vec![1], SnmpValue::Integer(5)),
            (vec![2], SnmpValue::Counter32(6)),
            (vec![3], SnmpValue::OctetString(b"7".to_vec())),
        ]);
        let decoded = decode_column(&m, &rows, false);
        assert_eq!(decoded.skipped, 2);
        assert_eq!(decoded.families[0].samples.len(), 1);
        assert_eq!(decoded.families[0].samples[0].value, Value::Int(6));
    }
}
