//! The latest poll record of every (target, protocol): written by the scheduler's tasks through
//! a per-(target, protocol) slot handle, read by the collector on every scrape.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use super::label_set::LabelInterner;
use super::outcome::{PollRecord, Protocol};
use crate::config::Target;

/// One target as the results store knows it (a snapshot: records are copied out of the slots).
#[derive(Debug, Clone)]
pub struct TargetResults {
    pub target: Arc<Target>,
    /// Identifies the scheduling of this target that may write here: a task of a removed or
    /// replaced target cannot overwrite its successor's results.
    pub generation: u64,
    /// The protocols the target is polled with; `None` until the first poll of that protocol ends.
    pub records: BTreeMap<Protocol, Option<Arc<PollRecord>>>,
}

/// Which (target, protocol) a finished poll belongs to, and the scheduling that ran it.
#[derive(Debug, Clone, Copy)]
pub struct RecordKey<'a> {
    pub target: &'a str,
    pub generation: u64,
    pub protocol: Protocol,
}

/// Where one (target, protocol) of one registration keeps its latest record.
#[derive(Debug, Default)]
struct SlotCell {
    state: Mutex<SlotState>,
    /// The label sets of the last poll: a new poll's samples share their text instead of each
    /// keeping a copy. Apart from `state` so interning never holds up a scrape.
    interner: Mutex<LabelInterner>,
}

#[derive(Debug, Default)]
struct SlotState {
    record: Option<Arc<PollRecord>>,
    /// Set when the target is removed or registered again: a late poll writes nothing.
    retired: bool,
}

/// A scheduled (target, protocol)'s handle on its own slot: recording a poll takes no lookup
/// by name and no store-wide lock. A handle of a removed or replaced registration writes
/// nothing, so a late poll never shows up in its successor's results.
#[derive(Debug, Clone)]
pub struct ResultSlot {
    cell: Arc<SlotCell>,
}

impl ResultSlot {
    /// Stores a finished poll, its label sets first shared with the previous poll's.
    pub fn record(&self, mut record: PollRecord) {
        let label_sets = record
            .outcome
            .families
            .iter_mut()
            .flat_map(|family| family.samples.iter_mut().map(|sample| &mut sample.labels));
        self.cell
            .interner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .share(label_sets);
        self.store(record);
    }

    /// Stores a finished poll whose label sets are already shared (process-wide constants,
    /// as ICMP's are): interning them again would only cost hashing.
    pub fn record_shared(&self, record: PollRecord) {
        self.store(record);
    }

    fn store(&self, record: PollRecord) {
        let record = Arc::new(record);
        let previous = {
            let mut state = self.state();
            if state.retired {
                return;
            }
            state.record.replace(record)
        };
        // The previous poll's samples are freed here, outside the lock a scrape takes.
        drop(previous);
    }

    /// The last success time, to carry across failed polls.
    pub fn last_success(&self) -> Option<SystemTime> {
        self.state().record.as_ref()?.last_success
    }

    /// True once the target was removed or registered again.
    pub fn is_retired(&self) -> bool {
        self.state().retired
    }

    fn latest(&self) -> Option<Arc<PollRecord>> {
        self.state().record.clone()
    }

    fn retire(&self) {
        let previous = {
            let mut state = self.state();
            state.retired = true;
            state.record.take()
        };
        drop(previous);
    }

    fn state(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.cell.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A registered target: its config, generation and one slot per protocol.
#[derive(Debug)]
struct Registered {
    target: Arc<Target>,
    generation: u64,
    slots: BTreeMap<Protocol, ResultSlot>,
}

impl Registered {
    fn retire(&self) {
        self.slots.values().for_each(ResultSlot::retire);
    }
}

/// Latest results, keyed by target name (the snapshot's order).
#[derive(Debug, Default)]
pub struct Results {
    targets: RwLock<BTreeMap<String, Registered>>,
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
        let slots = target
            .protocols()
            .into_iter()
            .map(|p| (p, ResultSlot::new()))
            .collect();
        let entry = Registered {
            target: target.clone(),
            generation,
            slots,
        };
        if let Some(previous) = self.write().insert(target.name.clone(), entry) {
            previous.retire();
        }
        generation
    }

    /// The slot of a (target, protocol) of the current registration, if it still exists.
    pub fn slot(&self, key: RecordKey<'_>) -> Option<ResultSlot> {
        let targets = self.targets.read().unwrap_or_else(|e| e.into_inner());
        let entry = targets.get(key.target)?;
        if entry.generation != key.generation {
            return None;
        }
        entry.slots.get(&key.protocol).cloned()
    }

    /// Forgets a target: its series disappear from the next scrape.
    pub fn remove(&self, name: &str) {
        if let Some(previous) = self.write().remove(name) {
            previous.retire();
        }
    }

    /// Stores a finished poll found by name, unless the target was removed or re-registered
    /// meanwhile. The scheduler records through its `ResultSlot` instead.
    pub fn record(&self, key: RecordKey<'_>, record: PollRecord) {
        if let Some(slot) = self.slot(key) {
            slot.record(record);
        }
    }

    /// The last success time of a (target, protocol), to carry across failed polls.
    pub fn last_success(&self, name: &str, protocol: Protocol) -> Option<SystemTime> {
        let targets = self.targets.read().unwrap_or_else(|e| e.into_inner());
        targets.get(name)?.slots.get(&protocol)?.last_success()
    }

    /// A cheap copy (Arcs) of everything, so encoding happens outside the lock and never
    /// blocks the pollers.
    pub fn snapshot(&self) -> Vec<TargetResults> {
        let targets = self.targets.read().unwrap_or_else(|e| e.into_inner());
        targets
            .values()
            .map(|entry| TargetResults {
                target: entry.target.clone(),
                generation: entry.generation,
                records: entry
                    .slots
                    .iter()
                    .map(|(protocol, slot)| (*protocol, slot.latest()))
                    .collect(),
            })
            .collect()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Registered>> {
        self.targets.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl ResultSlot {
    fn new() -> Self {
        ResultSlot {
            cell: Arc::default(),
        }
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
            schedule_lag: None,
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

    #[test]
    fn a_replaced_or_removed_registration_never_writes_into_its_successor() {
        let results = Results::new();
        let first = results.register(target());
        let key = |generation| RecordKey {
            target: "r1",
            generation,
            protocol: Protocol::Snmp,
        };
        let old_slot = results.slot(key(first)).expect("slot of the registration");
        let second = results.register(target());
        assert!(
            results.slot(key(first)).is_none(),
            "old generation has no slot"
        );
        assert!(old_slot.is_retired());
        old_slot.record(poll(&["late"]));
        assert!(results.snapshot()[0].records[&Protocol::Snmp].is_none());

        let new_slot = results.slot(key(second)).expect("slot");
        new_slot.record(poll(&["eth0"]));
        assert!(results.snapshot()[0].records[&Protocol::Snmp].is_some());
        results.remove("r1");
        assert!(new_slot.is_retired());
        new_slot.record(poll(&["after-removal"]));
        assert!(results.snapshot().is_empty());
        results.register(target());
        assert!(
            results.snapshot()[0].records[&Protocol::Snmp].is_none(),
            "a removed target's results do not reappear"
        );
    }
}
