//! Which targets this poller owns when several pollers split one inventory: rendezvous
//! (highest-random-weight) hashing of target names over shard ordinals.
//!
//! Every poller computes the same answer from the target's name alone (no coordination), and
//! a change of the shard count moves only the targets that must move: growing from M to M+1
//! moves about 1/(M+1) of them, all onto the new shard; shrinking moves only the removed
//! shard's targets.

use sha2::{Digest, Sha256};

use crate::config::Config;

/// This process's part of the inventory: shard `ordinal` of `total` (0 of 1 = everything).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub ordinal: u32,
    pub total: u32,
}

/// A shard setting that cannot work; the message names the flag to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    #[error("--total-shards must be at least 1 (got 0)")]
    NoShards,
    #[error("--shard {ordinal} is out of range: it must be less than --total-shards ({total})")]
    OrdinalOutOfRange { ordinal: u32, total: u32 },
    #[error(
        "--shard is not set and the pod name {pod:?} gives shard {ordinal}, which is out of \
         range: it must be less than --total-shards ({total})"
    )]
    PodOrdinalOutOfRange {
        pod: String,
        ordinal: u32,
        total: u32,
    },
    #[error(
        "--shard is not set and cannot be derived: --total-shards {total} needs --shard N \
         (ISPMONITOR_SHARD) or a pod name ending in -N in POD_NAME or HOSTNAME (found {found})"
    )]
    NotDerivable { total: u32, found: String },
}

/// What the command line and the environment say about sharding.
#[derive(Debug, Clone, Default)]
pub struct ShardSettings<'a> {
    /// `--shard` / `ISPMONITOR_SHARD`.
    pub ordinal: Option<u32>,
    /// `--total-shards` / `ISPMONITOR_TOTAL_SHARDS`.
    pub total: Option<u32>,
    /// `POD_NAME`, else `HOSTNAME`: a StatefulSet pod's name ends in its ordinal.
    pub pod_name: Option<&'a str>,
}

impl Shard {
    /// No sharding: this process owns every target.
    pub const ALL: Shard = Shard {
        ordinal: 0,
        total: 1,
    };

    /// Validates the settings. Without `--shard` but with more than one shard, the ordinal comes
    /// from the pod name (`ispmonitor-poller-2` is shard 2).
    pub fn resolve(settings: &ShardSettings) -> Result<Shard, ShardError> {
        let total = settings.total.unwrap_or(1);
        if total == 0 {
            return Err(ShardError::NoShards);
        }
        match settings.ordinal {
            Some(ordinal) if ordinal >= total => {
                Err(ShardError::OrdinalOutOfRange { ordinal, total })
            }
            Some(ordinal) => Ok(Shard { ordinal, total }),
            None if total == 1 => Ok(Shard::ALL),
            None => Self::from_pod_name(settings.pod_name, total),
        }
    }

    /// The ordinal a StatefulSet gave this pod, checked against the shard count.
    fn from_pod_name(pod_name: Option<&str>, total: u32) -> Result<Shard, ShardError> {
        let Some(pod) = pod_name else {
            let found = "neither".to_string();
            return Err(ShardError::NotDerivable { total, found });
        };
        match ordinal_from_pod_name(pod) {
            None => Err(ShardError::NotDerivable {
                total,
                found: format!("{pod:?}"),
            }),
            Some(ordinal) if ordinal >= total => Err(ShardError::PodOrdinalOutOfRange {
                pod: pod.to_string(),
                ordinal,
                total,
            }),
            Some(ordinal) => Ok(Shard { ordinal, total }),
        }
    }

    /// Whether this shard polls the target called `name`.
    pub fn owns(&self, name: &str) -> bool {
        self.total <= 1 || owner(name, self.total) == self.ordinal
    }

    /// The config with only this shard's targets (everything else unchanged).
    pub fn filter(&self, config: &Config) -> Config {
        let mut mine = config.clone();
        if self.total > 1 {
            mine.targets.retain(|t| self.owns(&t.name));
        }
        mine
    }
}

/// The shard (0..total) that owns `name`: the one with the highest weight for it.
pub fn owner(name: &str, total: u32) -> u32 {
    // Invariant: `total >= 1` for a validated shard; 0 shards would own nothing, so say 0.
    (0..total)
        .max_by_key(|&ordinal| (weight(name, ordinal), ordinal))
        .unwrap_or(0)
}

/// A stable pseudo-random weight of (name, shard): the first 8 bytes of SHA-256 over the
/// ordinal and the name. Stable across processes, builds and platforms (never RandomState).
fn weight(name: &str, ordinal: u32) -> u64 {
    let digest = Sha256::new()
        .chain_update(ordinal.to_be_bytes())
        .chain_update(name.as_bytes())
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// The trailing `-<N>` of a StatefulSet pod name (`ispmonitor-poller-2` -> 2).
pub fn ordinal_from_pod_name(name: &str) -> Option<u32> {
    let (_, suffix) = name.trim().rsplit_once('-')?;
    if suffix.is_empty() || !suffix.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    suffix.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("router-{i:05}.example.net"))
            .collect()
    }

    fn owners(names: &[String], total: u32) -> Vec<u32> {
        names.iter().map(|n| owner(n, total)).collect()
    }

    #[test]
    fn every_name_has_exactly_one_owning_shard() {
        for name in names(500) {
            let shards: Vec<Shard> = (0..5).map(|ordinal| Shard { ordinal, total: 5 }).collect();
            let owning = shards.iter().filter(|s| s.owns(&name)).count();
            assert_eq!(owning, 1, "{name} is owned by {owning} shards");
        }
    }

    #[test]
    fn the_weight_is_stable_across_runs_and_builds() {
        // A changed hash would reshuffle every fleet on upgrade. The expected values were
        // computed outside Rust (Python hashlib: sha256(be32(ordinal) + name)[:8]).
        assert_eq!(weight("core-1", 0), 0x83ac_be97_0d91_453f);
        let names = ["core-1", "edge-7", "ping-3", "srv-42", "sw-9", "ap-11"];
        let pinned: Vec<u32> = names.iter().map(|n| owner(n, 3)).collect();
        assert_eq!(pinned, [1, 1, 2, 1, 1, 1]);
    }

    #[test]
    fn growing_from_3_to_4_moves_about_a_quarter_only_onto_the_new_shard() {
        let names = names(10_000);
        let (before, after) = (owners(&names, 3), owners(&names, 4));
        let moved: Vec<usize> = (0..names.len())
            .filter(|&i| before[i] != after[i])
            .collect();
        for &i in &moved {
            assert_eq!(after[i], 3, "{} moved between old shards", names[i]);
        }
        let share = moved.len() as f64 / names.len() as f64;
        assert!(
            (0.22..=0.28).contains(&share),
            "moved {share:.3} of the names"
        );
    }

    #[test]
    fn shrinking_from_4_to_3_moves_only_the_removed_shards_names() {
        let names = names(10_000);
        let (before, after) = (owners(&names, 4), owners(&names, 3));
        for i in 0..names.len() {
            if before[i] != 3 {
                assert_eq!(before[i], after[i], "{} moved off a kept shard", names[i]);
            }
        }
        assert!(before.contains(&3));
    }

    #[test]
    fn ten_thousand_names_split_evenly() {
        let names = names(10_000);
        for total in [2u32, 3, 4, 7] {
            let mut counts = vec![0usize; total as usize];
            for o in owners(&names, total) {
                counts[o as usize] += 1;
            }
            let fair = names.len() as f64 / f64::from(total);
            for (shard, &count) in counts.iter().enumerate() {
                let off = (count as f64 - fair).abs() / fair;
                assert!(
                    off < 0.05,
                    "shard {shard} of {total} holds {count} (fair {fair:.0})"
                );
            }
        }
    }

    #[test]
    fn pod_names_give_their_ordinal() {
        assert_eq!(ordinal_from_pod_name("ispmonitor-poller-2"), Some(2));
        assert_eq!(ordinal_from_pod_name("poller-10"), Some(10));
        assert_eq!(ordinal_from_pod_name("ispmonitor-poller"), None);
        assert_eq!(ordinal_from_pod_name("poller-"), None);
        assert_eq!(ordinal_from_pod_name("poller-2a"), None);
        assert_eq!(ordinal_from_pod_name("7"), None);
    }

    fn resolve(
        ordinal: Option<u32>,
        total: Option<u32>,
        pod: Option<&str>,
    ) -> Result<Shard, ShardError> {
        Shard::resolve(&ShardSettings {
            ordinal,
            total,
            pod_name: pod,
        })
    }

    #[test]
    fn settings_resolve_or_name_the_flag() {
        assert_eq!(resolve(None, None, Some("x-5")), Ok(Shard::ALL));
        assert_eq!(
            resolve(Some(1), Some(3), None),
            Ok(Shard {
                ordinal: 1,
                total: 3
            })
        );
        assert_eq!(
            resolve(None, Some(3), Some("ispmonitor-poller-2")),
            Ok(Shard {
                ordinal: 2,
                total: 3
            })
        );
        // The flag wins over the pod name.
        assert_eq!(
            resolve(Some(0), Some(3), Some("p-2")),
            Ok(Shard {
                ordinal: 0,
                total: 3
            })
        );
        let text = |r: Result<Shard, ShardError>| r.unwrap_err().to_string();
        assert!(text(resolve(None, Some(0), None)).contains("--total-shards"));
        assert!(text(resolve(Some(3), Some(3), None)).starts_with("--shard 3"));
        assert!(text(resolve(Some(1), None, None)).starts_with("--shard 1"));
        assert!(text(resolve(None, Some(3), Some("p-3"))).contains("\"p-3\" gives shard 3"));
        assert!(text(resolve(None, Some(3), Some("poller"))).contains("\"poller\""));
        assert!(text(resolve(None, Some(3), None)).starts_with("--shard is not set"));
    }
}
