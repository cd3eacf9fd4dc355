//! The `system` module: sysUpTime as uptime, and sysName/sysDescr/sysObjectID as an info family.

use std::collections::BTreeMap;

use crate::poller::outcome::Value;
use crate::poller::snmp::decode::{label_or_empty, Decoded, FamilyBuilder};
use crate::poller::snmp::value::{Oid, SnmpValue};

pub const SYS_DESCR: [u32; 9] = [1, 3, 6, 1, 2, 1, 1, 1, 0];
pub const SYS_OBJECT_ID: [u32; 9] = [1, 3, 6, 1, 2, 1, 1, 2, 0];
pub const SYS_UPTIME: [u32; 9] = [1, 3, 6, 1, 2, 1, 1, 3, 0];
pub const SYS_NAME: [u32; 9] = [1, 3, 6, 1, 2, 1, 1, 5, 0];

/// The scalars this module GETs (in one PDU).
pub fn oids() -> Vec<Oid> {
    vec![
        SYS_DESCR.to_vec(),
        SYS_OBJECT_ID.to_vec(),
        SYS_UPTIME.to_vec(),
        SYS_NAME.to_vec(),
    ]
}

/// Decodes the GET results.
pub fn decode(values: &BTreeMap<Oid, SnmpValue>) -> Decoded {
    let mut decoded = Decoded::default();
    let present = |oid: &[u32]| values.get(oid).filter(|value| !value.is_absent());

    let mut uptime = FamilyBuilder::catalog("ispmonitor_snmp_uptime_seconds");
    match present(&SYS_UPTIME) {
        Some(SnmpValue::Timeticks(ticks)) => {
            uptime.push(vec![], Value::Float(f64::from(*ticks) / 100.0));
        }
        Some(_) => decoded.skipped += 1,
        None => {}
    }
    decoded.push(uptime);

    let mut info = FamilyBuilder::catalog("ispmonitor_snmp_system_info");
    let identity = [&SYS_NAME, &SYS_DESCR, &SYS_OBJECT_ID].map(|oid| present(oid));
    if identity.iter().any(Option::is_some) {
        info.push(identity.map(label_or_empty).to_vec(), Value::Int(1));
    }
    decoded.push(info);
    decoded
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::poller::outcome::Value;

    fn values(pairs: &[(&[u32], SnmpValue)]) -> BTreeMap<Oid, SnmpValue> {
        pairs
            .iter()
            .map(|(oid, v)| (oid.to_vec(), v.clone()))
            .collect()
    }

    #[test]
    fn uptime_is_ticks_over_100_and_info_has_identity_labels() {
        let decoded = decode(&values(&[
            (&SYS_UPTIME, SnmpValue::Timeticks(12_345)),
            (&SYS_NAME, SnmpValue::OctetString(b"core1".to_vec())),
            (&SYS_DESCR, SnmpValue::OctetString(b"Linux".to_vec())),
            (
                &SYS_OBJECT_ID,
                SnmpValue::ObjectIdentifier(vec![1, 3, 6, 1, 4, 1, 8072]),
            ),
        ]));
        assert_eq!(decoded.families.len(), 2);
        assert_eq!(decoded.families[0].samples[0].value, Value::Float(123.45));
        let labels: Vec<String> = decoded.families[1].samples[0]
            .labels
            .pairs()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        assert_eq!(
            labels,
            [
                "sys_name=core1",
                "sys_descr=Linux",
                "sys_object_id=1.3.6.1.4.1.8072"
            ]
        );
    }

    #[test]
    fn a_non_timeticks_uptime_is_skipped_not_fatal() {
        let decoded = decode(&values(&[
            (&SYS_UPTIME, SnmpValue::OctetString(b"x".to_vec())),
            (&SYS_NAME, SnmpValue::OctetString(b"core1".to_vec())),
        ]));
        assert_eq!(decoded.skipped, 1);
        assert_eq!(decoded.families.len(), 1);
    }

    #[test]
    fn nothing_present_means_no_families() {
        let decoded = decode(&values(&[(&SYS_UPTIME, SnmpValue::Absent)]));
        assert!(decoded.families.is_empty());
        assert_eq!(decoded.skipped, 0);
    }
}
