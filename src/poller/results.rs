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
