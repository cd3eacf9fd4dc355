//! The batched prober's agenda: events filed by tick (a few milliseconds), never due early.
//!
//! A binary heap of 20,000 pending events (a start and a reply timeout per target and second)
//! cost the prober a cache-missing sift on every pop, 12 % of its CPU. tokio's timer fires on
//! millisecond boundaries anyway, so events are grouped by the tick they fall in: one ordered
//! map entry per tick holds every event of that tick, taken out in one piece.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

/// Events by the tick they are due in, counted from `base`.
pub struct Timeline<E> {
    base: Instant,
    tick: Duration,
    ticks: BTreeMap<u64, Vec<E>>,
    /// Emptied vectors kept for reuse: no allocation per tick once warm.
    spare: Vec<Vec<E>>,
}

impl<E> Timeline<E> {
    /// A timeline whose ticks (at least 1 ms) start at `base`.
    pub fn new(base: Instant, tick: Duration) -> Self {
        Timeline {
            base,
            tick: tick.max(Duration::from_millis(1)),
            ticks: BTreeMap::new(),
            spare: Vec::new(),
        }
    }

    /// Files `event` in the first tick at or after `at` (rounded up: never early).
    pub fn push(&mut self, at: Instant, event: E) {
        let tick = self.tick_at_or_after(at);
        let spare = &mut self.spare;
        self.ticks
            .entry(tick)
            .or_insert_with(|| spare.pop().unwrap_or_default())
            .push(event);
    }

    /// When the earliest event is due.
    pub fn next(&self) -> Option<Instant> {
        let (tick, _) = self.ticks.first_key_value()?;
        Some(self.instant_of(*tick))
    }

    /// The first tick boundary at or after `at`: a time planned there is due without rounding.
    pub fn boundary_at_or_after(&self, at: Instant) -> Instant {
        self.instant_of(self.tick_at_or_after(at))
    }

    /// The tick length.
    pub fn tick(&self) -> Duration {
        self.tick
    }

    /// Moves every event due by `now` into `due`, earliest tick first.
    pub fn take_due(&mut self, now: Instant, due: &mut Vec<E>) {
        let elapsed = now.saturating_duration_since(self.base);
        let now_tick = (elapsed.as_nanos() / self.tick.as_nanos()) as u64;
        while let Some(entry) = self.ticks.first_entry() {
            if *entry.key() > now_tick {
                break;
            }
            let mut events = entry.remove();
            due.append(&mut events);
            self.spare.push(events);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.ticks.is_empty()
    }

    fn tick_at_or_after(&self, at: Instant) -> u64 {
        let since = at.saturating_duration_since(self.base);
        since.as_nanos().div_ceil(self.tick.as_nanos()) as u64
    }

    fn instant_of(&self, tick: u64) -> Instant {
        self.base + Duration::from_nanos(tick.saturating_mul(self.tick.as_nanos() as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_come_out_by_tick_and_never_early() {
        let base = Instant::now();
        let ms = Duration::from_millis;
        let mut timeline = Timeline::new(base, ms(1));
        timeline.push(base + ms(5), "five");
        timeline.push(base + ms(2) + Duration::from_micros(10), "just after two");
        timeline.push(base + ms(2), "two");
        timeline.push(base, "now");
        assert_eq!(timeline.next(), Some(base));
        let mut due = Vec::new();
        timeline.take_due(base + ms(2), &mut due);
        assert_eq!(due, vec!["now", "two"], "2.01 ms is not due at 2 ms");
        assert_eq!(timeline.next(), Some(base + ms(3)), "rounded up");
        due.clear();
        timeline.take_due(base + ms(10), &mut due);
        assert_eq!(due, vec!["just after two", "five"]);
        assert!(timeline.is_empty());
        assert_eq!(timeline.next(), None);
    }

    #[test]
    fn coarser_ticks_group_more_and_boundaries_need_no_rounding() {
        let base = Instant::now();
        let ms = Duration::from_millis;
        let mut timeline = Timeline::new(base, ms(4));
        assert_eq!(timeline.boundary_at_or_after(base + ms(5)), base + ms(8));
        assert_eq!(timeline.boundary_at_or_after(base + ms(8)), base + ms(8));
        timeline.push(base + ms(5), 1);
        timeline.push(base + ms(8), 2);
        timeline.push(base + ms(9), 3);
        assert_eq!(timeline.next(), Some(base + ms(8)));
        let mut due = Vec::new();
        timeline.take_due(base + ms(11), &mut due);
        assert_eq!(due, vec![1, 2]);
        timeline.take_due(base + ms(12), &mut due);
        assert_eq!(due, vec![1, 2, 3]);
    }
}
