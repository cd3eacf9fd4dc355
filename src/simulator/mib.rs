//! The boundary between the SNMP agent and the simulated devices: a read-only, ordered view of
//! one device's MIB at a point in simulated time, plus how the device reacts to a request.

use std::collections::BTreeMap;
use std::time::Duration;

/// A value as the agent encodes it on the wire (SMIv2 application types included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimValue {
    Integer(i32),
    OctetString(Vec<u8>),
    ObjectId(Vec<u32>),
    IpAddress([u8; 4]),
    Counter32(u32),
    Gauge32(u32),
    TimeTicks(u32),
    Counter64(u64),
}

/// The answer to an exact lookup (GET).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Value(SimValue),
    /// No object of that type exists here (SNMPv2 noSuchObject).
    NoSuchObject,
    /// The object type exists but not this instance (SNMPv2 noSuchInstance).
    NoSuchInstance,
}

/// What the device does with one incoming request, decided before it is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaction {
    Answer,
    /// Say nothing (a dead router, or a lost packet).
    Drop,
    /// Answer after this long (a slow agent).
    Delay(Duration),
}

/// One simulated device as the agent sees it. `at` is the simulated time since the fleet
/// started; the agent reads it once per request, so every varbind of one response is
/// consistent. Implementations compute values on demand (no per-OID storage), so 10,000 devices
/// fit in little memory.
pub trait MibView: Send + Sync {
    /// Exact lookup, for GET.
    fn get(&self, oid: &[u32], at: Duration) -> Lookup;

    /// The first object strictly after `oid` in lexicographic order, for GETNEXT and GETBULK;
    /// `None` past the last object (endOfMibView).
    fn next(&self, oid: &[u32], at: Duration) -> Option<(Vec<u32>, SimValue)>;

    /// How the device reacts to a request arriving now. Healthy devices always answer.
    fn reaction(&self, _at: Duration) -> Reaction {
        Reaction::Answer
    }
}

/// A fixed table of objects: for agent tests and small fixtures.
#[derive(Debug, Clone, Default)]
pub struct StaticMib {
    objects: BTreeMap<Vec<u32>, SimValue>,
}

impl StaticMib {
    pub fn new(objects: impl IntoIterator<Item = (Vec<u32>, SimValue)>) -> Self {
        StaticMib {
            objects: objects.into_iter().collect(),
        }
    }
}

impl MibView for StaticMib {
    fn get(&self, oid: &[u32], _at: Duration) -> Lookup {
        if let Some(value) = self.objects.get(oid) {
            return Lookup::Value(value.clone());
        }
        // An object type is the OID without its last sub-identifier: if anything lives under
        // that prefix, the type exists and only the instance is missing.
        let type_exists = oid.len() > 1
            && self
                .objects
                .range(oid[..oid.len() - 1].to_vec()..)
                .next()
                .is_some_and(|(key, _)| key.starts_with(&oid[..oid.len() - 1]));
        if type_exists {
            Lookup::NoSuchInstance
        } else {
            Lookup::NoSuchObject
        }
    }

    fn next(&self, oid: &[u32], _at: Duration) -> Option<(Vec<u32>, SimValue)> {
        use std::ops::Bound::{Excluded, Unbounded};
        self.objects
            .range::<[u32], _>((Excluded(oid), Unbounded))
            .next()
            .map(|(key, value)| (key.clone(), value.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mib() -> StaticMib {
        StaticMib::new([
            (
                vec![1, 3, 6, 1, 2, 1, 1, 1, 0],
                SimValue::OctetString(b"router".to_vec()),
            ),
            (vec![1, 3, 6, 1, 2, 1, 2, 2, 1, 1, 1], SimValue::Integer(1)),
            (vec![1, 3, 6, 1, 2, 1, 2, 2, 1, 1, 2], SimValue::Integer(2)),
        ])
    }

    #[test]
    fn get_distinguishes_missing_instance_from_missing_object() {
        let at = Duration::ZERO;
        assert_eq!(
            mib().get(&[1, 3, 6, 1, 2, 1, 2, 2, 1, 1, 9], at),
            Lookup::NoSuchInstance
        );
        assert_eq!(
            mib().get(&[1, 3, 6, 1, 2, 1, 9, 9, 0], at),
            Lookup::NoSuchObject
        );
        assert_eq!(
            mib().get(&[1, 3, 6, 1, 2, 1, 2, 2, 1, 1, 2], at),
            Lookup::Value(SimValue::Integer(2))
        );
    }

    #[test]
    fn next_is_strictly_after_and_ends() {
        let at = Duration::ZERO;
        let (oid, _) = mib().next(&[1, 3, 6, 1, 2, 1, 1], at).unwrap();
        assert_eq!(oid, vec![1, 3, 6, 1, 2, 1, 1, 1, 0]);
        let (oid, _) = mib().next(&[1, 3, 6, 1, 2, 1, 2, 2, 1, 1, 1], at).unwrap();
        assert_eq!(oid, vec![1, 3, 6, 1, 2, 1, 2, 2, 1, 1, 2]);
        assert_eq!(mib().next(&[1, 3, 6, 1, 2, 1, 2, 2, 1, 1, 2], at), None);
    }
}
