//! The if_mib interface lookup cache (pure): ifDescr, ifName and ifAlias kept between polls, and
//! the rules that say when they must be walked again.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::poller::snmp::value::Oid;
use crate::poller::snmp::walk::ColumnRows;

/// What the poll's opening GET read about the device: enough to tell a reboot or a changed
/// interface list without walking.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceClock {
    /// sysUpTime.0 in hundredths of a second.
    pub uptime_ticks: Option<u32>,
    /// ifNumber.0.
    pub if_number: Option<i64>,
}

/// Why the lookups had to be walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissReason {
    /// `lookup_refresh` is zero.
    Disabled,
    /// Nothing cached yet (first poll, or the last refill failed).
    Empty,
    /// `lookup_refresh` has passed since they were walked.
    Expired,
    /// sysUpTime went backwards: the agent restarted and may have renumbered its interfaces.
    Rebooted,
    /// ifNumber changed.
    InterfaceCountChanged,
    /// The walked rows have other ifIndex values than when the lookups were walked.
    IndexChanged,
}

/// The three label columns, as walked; shared, so a cache hit copies no row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LookupColumns {
    pub descr: Arc<ColumnRows>,
    pub name: Arc<ColumnRows>,
    pub alias: Arc<ColumnRows>,
}

/// Lookups just walked, with the row indices of the other columns walked in the same poll.
#[derive(Debug, Clone)]
pub struct WalkedLookups {
    pub counter_indices: BTreeSet<Oid>,
    pub columns: LookupColumns,
}

#[derive(Debug, Clone)]
struct Filled {
    at: Instant,
    if_number: Option<i64>,
    /// The row indices of the other walked columns when the lookups were walked.
    counter_indices: BTreeSet<Oid>,
    columns: LookupColumns,
}

/// One target's cached lookups.
#[derive(Debug, Clone)]
pub struct IfLookupCache {
    refresh: Duration,
    filled: Option<Filled>,
    /// sysUpTime at the previous poll, to see it go backwards.
    last_uptime: Option<u32>,
}

impl IfLookupCache {
    pub fn new(refresh: Duration) -> Self {
        IfLookupCache {
            refresh,
            filled: None,
            last_uptime: None,
        }
    }

    /// False when `lookup_refresh` is zero: the lookups are walked on every poll.
    pub fn is_enabled(&self) -> bool {
        !self.refresh.is_zero()
    }

    /// Before the walk: may the lookups be left out of it? Remembers the uptime for the next
    /// poll either way, and forgets the lookups on a miss, so a refill that fails can never
    /// leave outdated ones behind as valid.
    pub fn check(&mut self, now: Instant, clock: DeviceClock) -> Result<(), MissReason> {
        let previous_uptime = std::mem::replace(&mut self.last_uptime, clock.uptime_ticks);
        let verdict = self.verdict(now, clock, previous_uptime);
        if verdict.is_err() {
            self.filled = None;
        }
        verdict
    }

    fn verdict(
        &self,
        now: Instant,
        clock: DeviceClock,
        previous_uptime: Option<u32>,
    ) -> Result<(), MissReason> {
        if !self.is_enabled() {
            return Err(MissReason::Disabled);
        }
        let Some(filled) = &self.filled else {
            return Err(MissReason::Empty);
        };
        if let (Some(before), Some(now_ticks)) = (previous_uptime, clock.uptime_ticks) {
            if now_ticks < before {
                return Err(MissReason::Rebooted);
            }
        }
        if now.saturating_duration_since(filled.at) >= self.refresh {
            return Err(MissReason::Expired);
        }
        if clock.if_number != filled.if_number {
            return Err(MissReason::InterfaceCountChanged);
        }
        Ok(())
    }

    /// After a walk without the lookups: the cached ones when the walked rows have exactly
    /// the indices seen when they were walked (then labels equal a full walk's); otherwise
    /// `IndexChanged`, and the cache is emptied.
    pub fn lookups_for(
        &mut self,
        counter_indices: &BTreeSet<Oid>,
    ) -> Result<&LookupColumns, MissReason> {
        let matches = self
            .filled
            .as_ref()
            .is_some_and(|filled| &filled.counter_indices == counter_indices);
        if !matches {
            self.filled = None;
        }
        match &self.filled {
            Some(filled) if matches => Ok(&filled.columns),
            _ => Err(MissReason::IndexChanged),
        }
    }

    /// Keeps freshly walked lookups (nothing when disabled).
    pub fn fill(&mut self, now: Instant, clock: DeviceClock, walked: WalkedLookups) {
        if !self.is_enabled() {
            return;
        }
        self.filled = Some(Filled {
            at: now,
            if_number: clock.if_number,
            counter_indices: walked.counter_indices,
            columns: walked.columns,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::poller::snmp::value::SnmpValue;

    const REFRESH: Duration = Duration::from_secs(900);

    fn clock(uptime_ticks: u32, if_number: i64) -> DeviceClock {
        DeviceClock {
            uptime_ticks: Some(uptime_ticks),
            if_number: Some(if_number),
        }
    }

    fn indices(list: &[u32]) -> BTreeSet<Oid> {
        list.iter().map(|&i| vec![i]).collect()
    }

    fn columns() -> LookupColumns {
        let text = |s: &str| SnmpValue::OctetString(s.as_bytes().to_vec());
        LookupColumns {
            descr: [(vec![1], text("lo")), (vec![2], text("eth0"))]
                .into_iter()
                .collect::<ColumnRows>()
                .into(),
            name: [(vec![1], text("lo")), (vec![2], text("eth0"))]
                .into_iter()
                .collect::<ColumnRows>()
                .into(),
            alias: [(vec![2], text("uplink"))]
                .into_iter()
                .collect::<ColumnRows>()
                .into(),
        }
    }

    fn walked(counter_indices: &[u32]) -> WalkedLookups {
        WalkedLookups {
            counter_indices: indices(counter_indices),
            columns: columns(),
        }
    }

    /// A cache filled at `start` from a device with uptime 1000 and 2 interfaces.
    fn filled(start: Instant) -> IfLookupCache {
        let mut cache = IfLookupCache::new(REFRESH);
        assert_eq!(cache.check(start, clock(1000, 2)), Err(MissReason::Empty));
        cache.fill(start, clock(1000, 2), walked(&[1, 2]));
        cache
    }

    #[test]
    fn a_filled_cache_is_reused_while_nothing_changed() {
        let start = Instant::now();
        let mut cache = filled(start);
        let later = start + Duration::from_secs(60);
        assert_eq!(cache.check(later, clock(7000, 2)), Ok(()));
        assert_eq!(cache.lookups_for(&indices(&[1, 2])), Ok(&columns()));
    }

    #[test]
    fn the_refresh_time_expires_it() {
        let start = Instant::now();
        let mut cache = filled(start);
        assert_eq!(
            cache.check(start + REFRESH, clock(91_000, 2)),
            Err(MissReason::Expired)
        );
        // Forgotten: the next poll refills even if it comes soon after.
        assert_eq!(
            cache.check(start + REFRESH, clock(91_001, 2)),
            Err(MissReason::Empty)
        );
    }

    #[test]
    fn uptime_going_backwards_is_a_reboot() {
        let start = Instant::now();
        let mut cache = filled(start);
        let soon = start + Duration::from_secs(1);
        assert_eq!(cache.check(soon, clock(1100, 2)), Ok(()));
        assert_eq!(cache.check(soon, clock(50, 2)), Err(MissReason::Rebooted));
    }

    #[test]
    fn a_reboot_seen_by_a_poll_that_then_failed_is_not_forgotten() {
        let start = Instant::now();
        let mut cache = filled(start);
        let soon = start + Duration::from_secs(1);
        // The reboot is seen, then the refill walk fails (no fill): the next poll sees uptime
        // growing again but must not trust the lookups from before the reboot.
        assert_eq!(cache.check(soon, clock(50, 2)), Err(MissReason::Rebooted));
        assert_eq!(cache.check(soon, clock(60, 2)), Err(MissReason::Empty));
    }

    #[test]
    fn a_changed_if_number_invalidates() {
        let start = Instant::now();
        let mut cache = filled(start);
        let soon = start + Duration::from_secs(1);
        assert_eq!(
            cache.check(soon, clock(1100, 3)),
            Err(MissReason::InterfaceCountChanged)
        );
    }

    #[test]
    fn an_unknown_or_missing_index_invalidates() {
        let start = Instant::now();
        let soon = start + Duration::from_secs(1);
        let mut cache = filled(start);
        assert_eq!(cache.check(soon, clock(1100, 2)), Ok(()));
        assert_eq!(
            cache.lookups_for(&indices(&[1, 2, 3])),
            Err(MissReason::IndexChanged)
        );
        let mut cache = filled(start);
        assert_eq!(cache.check(soon, clock(1100, 2)), Ok(()));
        assert_eq!(
            cache.lookups_for(&indices(&[1])),
            Err(MissReason::IndexChanged)
        );
        assert_eq!(cache.check(soon, clock(1200, 2)), Err(MissReason::Empty));
    }

    #[test]
    fn zero_refresh_disables_it() {
        let start = Instant::now();
        let mut cache = IfLookupCache::new(Duration::ZERO);
        cache.fill(start, clock(1000, 2), walked(&[1, 2]));
        assert_eq!(
            cache.check(start, clock(1000, 2)),
            Err(MissReason::Disabled)
        );
    }

    #[test]
    fn an_agent_without_uptime_still_expires() {
        let start = Instant::now();
        let mut cache = IfLookupCache::new(REFRESH);
        let no_uptime = DeviceClock {
            uptime_ticks: None,
            if_number: Some(2),
        };
        cache.fill(start, no_uptime, walked(&[1]));
        assert_eq!(cache.check(start, no_uptime), Ok(()));
        assert_eq!(
            cache.check(start + REFRESH, no_uptime),
            Err(MissReason::Expired)
        );
    }
}
