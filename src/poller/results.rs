//! The latest poll record of every (target, protocol): written by the scheduler's tasks, read
//! by the collector on every scrape.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use super::label_set::LabelInterner;
use super::outcome::{PollRecord, Protocol};
use crate::config::Target;

/// One target as the results store knows it.
#[derive(Debug, Clone)]
pub struct TargetResults {
    pub target: Arc<Target>,
    /// Identifies the scheduling of this target that may write here: a task of a removed or
    /// replaced target cannot overwrite its successor's results.
    pub generation: u64,
    /// The protocols the target is polled with; `None` until the first poll of that protocol ends.
    pub records: BTreeMap<Protocol, Option<Arc<PollRecord>>>,
    /// Per protocol, the label sets of its last poll: a new poll's samples share their text
    /// instead of each keeping a copy. Lives as long as this registration.
    interners: BTreeMap<Protocol, Arc<Mutex<LabelInterner>>>,
}

/// Which (target, protocol) a finished poll belongs to, and the scheduling that ran it.
#[derive(Debug, Clone, Copy)]
pub struct RecordKey<'a> {
    pub target: &'a str,
    pub generation: u64,
    pub protocol: Protocol,
}

/// Latest results, keyed by target name.
#[derive(Debug, Default)]
pub struct Results {
    targets: RwLock<BTreeMap<String, TargetResults>>,
    next_generation: AtomicU64,
}

impl Results {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts (or restarts) tracking a target and returns the generation its tasks must pass to
    /// `record`. Earlier results of the same name are dropped: its config changed.
    pub fn register(&self, target: Arc<Target>) -> u64 {
        let generation = self.next_generation.fetch_add(1, Ordering::Relaxed) + 1;
        let protocols = target.protocols();
        let records = protocols.iter().map(|p| (*p, None)).collect();
        let interners = protocols.iter().map(|p| (*p, Arc::default())).collect();
        let entry = TargetResults {
            target: target.clone(),
            generation,
            records,
            interners,
        };
        self.write().insert(target.name.clone(), entry);
        generation
    }

    /// Forgets a target: its series disappear from the next scrape.
    pub fn remove(&self, name: &str) {
        self.write().remove(name);
    }

    /// Stores a finished poll, unless the target was removed or re-registered meanwhile. Its
    /// label sets are first shared with the previous poll's (outside the store's lock).
    pub fn record(&self, key: RecordKey<'_>, mut record: PollRecord) {
        let Some(interner) = self.interner(key) else {
            return;
        };
        let label_sets = record
            .outcome
            .families
            .iter_mut()
            .flat_map(|family| family.samples.iter_mut().map(|sample| &mut sample.labels));
        interner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .share(label_sets);
        let mut targets = self.write();
        if let Some(entry) = targets.get_mut(key.target) {
            if entry.generation == key.generation {
                entry.records.insert(key.protocol, Some(Arc::new(record)));
            }
        }
    }

    /// The interner of a (target, protocol) of the current registration, if it still exists.
    fn interner(&self, key: RecordKey<'_>) -> Option<Arc<Mutex<LabelInterner>>> {
        let targets = self.targets.read().unwrap_or_else(|e| e.into_inner());
        let entry = targets.get(key.target)?;
        if entry.generation != key.generation {
            return None;
        }
        // A protocol the target was not registered with still shares within its own poll.
        Some(
            entry
                .interners
                .get(&key.protocol)
                .cloned()
                .unwrap_or_default(),
        )
    }

    /// The last success time of a (target, protocol), to carry across failed polls.
    pub fn last_success(&self, name: &str, protocol: Protocol) -> Option<std::time::SystemTime> {
        let targets = self.targets.read().unwrap_or_else(|e| e.into_inner());
        let record = targets.get(name)?.records.get(&protocol)?.as_ref()?;
        record.last_success
    }

    /// A cheap copy (Arcs) of everything, so encoding happens outside the lock and never
    /// blocks the pollers.
    pub fn snapshot(&self) -> Vec<TargetResults> {
        let targets = self.targets.read().unwrap_or_else(|e| e.into_inner());
        targets.values().cloned().collect()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, TargetResults>> {
        self.targets.write().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::config::{Target, TargetKind};
    use crate::poller::outcome::{FamilyDesc, FamilySamples, MetricType, PollOutcome, Sample};
    use crate::poller::outcome::{LabelSet, Value};

    fn target() -> Arc<Target> {
        Arc::new(Target {
            name: "r1".into(),
            address: "10.0.0.1".into(),
            host: "10.0.0.1".into(),
            port: None,
            kind: TargetKind::Router,
            modules: vec![Arc::new(crate::config::Module {
                name: "system".into(),
                kind: crate::config::ModuleKind::Snmp(crate::config::SnmpModule::System),
            })],
            credential_name: None,
            credential: None,
            interval: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
            labels: Default::default(),
            source: Default::default(),
        })
    }

    /// Two families with the same interface labels, as if_mib produces them.
    fn poll(interfaces: &[&str]) -> PollRecord {
        let family = |name: &str| FamilySamples {
            desc: FamilyDesc::new(name, "help", MetricType::Gauge),
            samples: interfaces
                .iter()
                .map(|i| Sample::new([("interface", *i)], Value::Int(1)))
                .collect(),
        };
        PollRecord {
            outcome: PollOutcome {
                result: Ok(()),
                families: vec![family("ispmonitor_a"), family("ispmonitor_b")],
            },
            finished_at: SystemTime::now(),
            duration: Duration::ZERO,
            last_success: None,
        }
    }

    fn stored_labels(results: &Results) -> Vec<Vec<LabelSet>> {
        let snapshot = results.snapshot();
        let record = snapshot[0].records[&Protocol::Snmp].as_ref().unwrap();
        let families = &record.outcome.families;
        families
            .iter()
            .map(|f| f.samples.iter().map(|s| s.labels.clone()).collect())
            .collect()
    }

    #[test]
    fn recorded_label_sets_are_shared_between_families_and_successive_polls() {
        let results = Results::new();
        let generation = results.register(target());
        let key = RecordKey {
            target: "r1",
            generation,
            protocol: Protocol::Snmp,
        };
        results.record(key, poll(&["eth0", "eth1"]));
        let first = stored_labels(&results);
        assert!(first[0][0].shares_text_with(&first[1][0]));
        assert!(first[0][1].shares_text_with(&first[1][1]));
        assert!(!first[0][0].shares_text_with(&first[0][1]));

        results.record(key, poll(&["eth0", "eth1"]));
        let second = stored_labels(&results);
        assert!(second[0][0].shares_text_with(&first[0][0]));
        assert!(second[1][1].shares_text_with(&first[1][1]));
    }
}
