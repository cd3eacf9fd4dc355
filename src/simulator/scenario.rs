//! Scenarios from the ISP world (a router down, a saturated uplink, a flapping port...), which
//! devices they affect, and their history: switching at run time appends an epoch, so counters
//! stay continuous across switches and every value is still computed from seed + time.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::seed::Stream;

/// The scenarios, in the order SIGUSR1 cycles through them.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum ScenarioKind {
    /// Every device answers, traffic follows its daily curve.
    Healthy,
    /// Affected devices stop answering.
    RouterDown,
    /// Affected devices' uplinks run near 100 % of ifHighSpeed.
    LinkSaturation,
    /// One access port per affected device goes up and down every `period`.
    FlappingInterface,
    /// Affected devices drop a fraction (`loss`) of requests.
    PacketLoss,
    /// Affected devices answer every request after `delay`.
    SlowAgent,
    /// Affected devices reboot when the scenario starts (and every `period` if given):
    /// sysUpTime and counters start again from zero.
    Reboot,
    /// Affected devices' 64-bit counters jump close to 2^53 or 2^64 and cross it `period` later;
    /// 32-bit counters wrap as they always do.
    CounterWrap,
    /// Affected devices' PPPoE sessions jump to 2-3 times normal (a mass reconnect after an
    /// outage elsewhere), and their conntrack tables fill towards max-entries with them.
    SessionSpike,
    /// Affected devices lose their uplinks (down, no traffic) and most subscribers: PPPoE
    /// sessions fall to 5-10 % of normal until the scenario ends.
    UpstreamOutage,
}

impl ScenarioKind {
    pub const ALL: [ScenarioKind; 10] = [
        ScenarioKind::Healthy,
        ScenarioKind::RouterDown,
        ScenarioKind::LinkSaturation,
        ScenarioKind::FlappingInterface,
        ScenarioKind::PacketLoss,
        ScenarioKind::SlowAgent,
        ScenarioKind::Reboot,
        ScenarioKind::CounterWrap,
        ScenarioKind::SessionSpike,
        ScenarioKind::UpstreamOutage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ScenarioKind::Healthy => "healthy",
            ScenarioKind::RouterDown => "router-down",
            ScenarioKind::LinkSaturation => "link-saturation",
            ScenarioKind::FlappingInterface => "flapping-interface",
            ScenarioKind::PacketLoss => "packet-loss",
            ScenarioKind::SlowAgent => "slow-agent",
            ScenarioKind::Reboot => "reboot",
            ScenarioKind::CounterWrap => "counter-wrap",
            ScenarioKind::SessionSpike => "session-spike",
            ScenarioKind::UpstreamOutage => "upstream-outage",
        }
    }

    /// The scenario after this one, for SIGUSR1.
    pub fn cycled(self) -> ScenarioKind {
        let at = ScenarioKind::ALL
            .iter()
            .position(|k| *k == self)
            .unwrap_or(0);
        ScenarioKind::ALL[(at + 1) % ScenarioKind::ALL.len()]
    }
}

impl fmt::Display for ScenarioKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Share of the fleet a scenario affects when neither `fraction` nor `devices` is given.
pub const DEFAULT_FRACTION: f64 = 0.25;
pub const DEFAULT_DELAY: Duration = Duration::from_millis(500);
pub const DEFAULT_LOSS: f64 = 0.3;
/// Half-period of a flapping port: not a divisor of common poll intervals, so consecutive polls
/// see it change.
pub const DEFAULT_FLAP_PERIOD: Duration = Duration::from_secs(7);
/// How long after `counter-wrap` starts the 64-bit counters cross their edge.
pub const DEFAULT_WRAP_AFTER: Duration = Duration::from_secs(20);
/// Longest accepted `delay` (a poll timeout is usually well below it).
const MAX_DELAY: Duration = Duration::from_secs(60);
/// Shortest accepted `period` (a shorter one would flap faster than anyone polls).
const MIN_PERIOD: Duration = Duration::from_millis(100);

/// What to run, as given by `--scenario` flags or `PUT /scenario` (JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioRequest {
    pub name: ScenarioKind,
    /// Share of devices affected (0-1); at least one device when above 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fraction: Option<f64>,
    /// Exactly these devices (0-based, in address order) instead of a fraction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices: Option<Vec<u32>>,
    /// slow-agent: response delay in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// packet-loss: share of requests dropped (0-1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<f64>,
    /// flapping-interface: half-period; reboot: time between reboots (default: once);
    /// counter-wrap: time until the 64-bit edge is crossed. Milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_ms: Option<u64>,
    /// Per-device scenarios on top of the fleet-wide one (device index -> scenario with its
    /// default parameters), as the demo uses.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub overrides: BTreeMap<u32, ScenarioKind>,
}

impl ScenarioRequest {
    pub fn new(name: ScenarioKind) -> ScenarioRequest {
        ScenarioRequest {
            name,
            fraction: None,
            devices: None,
            delay_ms: None,
            loss: None,
            period_ms: None,
            overrides: BTreeMap::new(),
        }
    }
}

/// A scenario request that cannot run, with the field at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScenarioError {
    #[error("fraction must be between 0 and 1, got {0}")]
    Fraction(f64),
    #[error("loss must be between 0 and 1, got {0}")]
    Loss(f64),
    #[error("device {device} does not exist (the fleet has devices 0 to {last})")]
    Device { device: u32, last: u32 },
    #[error("delay_ms must be at most {} ms", MAX_DELAY.as_millis())]
    Delay,
    #[error("period_ms must be at least {} ms", MIN_PERIOD.as_millis())]
    Period,
    #[error("give either fraction or devices, not both")]
    FractionAndDevices,
}

/// How one device behaves under a scenario.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Condition {
    pub kind: ScenarioKind,
    pub delay: Duration,
    pub loss: f64,
    /// Flap half-period, reboot interval, or time to the counter edge (see `ScenarioRequest`).
    pub period: Option<Duration>,
}

impl Condition {
    fn from_request(request: &ScenarioRequest) -> Condition {
        Condition {
            kind: request.name,
            delay: request
                .delay_ms
                .map(Duration::from_millis)
                .unwrap_or(DEFAULT_DELAY),
            loss: request.loss.unwrap_or(DEFAULT_LOSS),
            period: request.period_ms.map(Duration::from_millis),
        }
    }

    fn with_defaults(kind: ScenarioKind) -> Condition {
        Condition::from_request(&ScenarioRequest::new(kind))
    }

    /// The flapping half-period.
    pub fn flap_period(&self) -> Duration {
        self.period.unwrap_or(DEFAULT_FLAP_PERIOD)
    }

    /// How long after the start the counters cross their edge.
    pub fn wrap_after(&self) -> Duration {
        self.period.unwrap_or(DEFAULT_WRAP_AFTER)
    }
}

/// Which devices one scenario affects, decided once when it starts.
#[derive(Debug, Clone)]
pub struct Plan {
    pub request: ScenarioRequest,
    fleet: Condition,
    /// Bit set of the devices the fleet-wide scenario affects.
    affected: Vec<u64>,
    overrides: BTreeMap<u32, Condition>,
}

impl Plan {
    /// Checks a request and chooses its devices.
    pub fn new(request: ScenarioRequest, fleet: FleetShape) -> Result<Plan, ScenarioError> {
        check_request(&request, fleet.devices)?;
        let chosen = match (&request.devices, request.name) {
            (_, ScenarioKind::Healthy) => Vec::new(),
            (Some(devices), _) => devices.clone(),
            (None, kind) => {
                let fraction = request.fraction.unwrap_or(DEFAULT_FRACTION);
                choose_devices(fleet, kind, fraction)
            }
        };
        let mut affected = vec![0u64; (fleet.devices as usize).div_ceil(64)];
        for device in chosen {
            affected[device as usize / 64] |= 1 << (device % 64);
        }
        let overrides = request
            .overrides
            .iter()
            .map(|(&device, &kind)| (device, Condition::with_defaults(kind)))
            .collect();
        Ok(Plan {
            fleet: Condition::from_request(&request),
            request,
            affected,
            overrides,
        })
    }

    /// How `device` behaves under this plan (`None`: healthy).
    pub fn condition(&self, device: u32) -> Option<&Condition> {
        let condition = match self.overrides.get(&device) {
            Some(own) => own,
            None if self.is_affected(device) => &self.fleet,
            None => return None,
        };
        (condition.kind != ScenarioKind::Healthy).then_some(condition)
    }

    fn is_affected(&self, device: u32) -> bool {
        self.affected
            .get(device as usize / 64)
            .is_some_and(|word| word & (1 << (device % 64)) != 0)
    }

    /// The devices not healthy under this plan, in order.
    pub fn affected_devices(&self, devices: u32) -> Vec<u32> {
        (0..devices)
            .filter(|&d| self.condition(d).is_some())
            .collect()
    }
}

fn check_request(request: &ScenarioRequest, devices: u32) -> Result<(), ScenarioError> {
    if let Some(fraction) = request.fraction {
        if !(0.0..=1.0).contains(&fraction) {
            return Err(ScenarioError::Fraction(fraction));
        }
        if request.devices.is_some() {
            return Err(ScenarioError::FractionAndDevices);
        }
    }
    if let Some(loss) = request.loss.filter(|l| !(0.0..=1.0).contains(l)) {
        return Err(ScenarioError::Loss(loss));
    }
    if request.delay_ms.map(Duration::from_millis) > Some(MAX_DELAY) {
        return Err(ScenarioError::Delay);
    }
    if request
        .period_ms
        .is_some_and(|p| Duration::from_millis(p) < MIN_PERIOD)
    {
        return Err(ScenarioError::Period);
    }
    let listed = request.devices.iter().flatten();
    let overridden = request.overrides.keys();
    match listed.chain(overridden).find(|&&d| d >= devices) {
        Some(&device) => Err(ScenarioError::Device {
            device,
            last: devices.saturating_sub(1),
        }),
        None => Ok(()),
    }
}

/// The fleet a plan is made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FleetShape {
    pub seed: u64,
    pub devices: u32,
}

/// `ceil(fraction * devices)` devices (at least one when the fraction is above 0), the same
/// ones for the same seed and scenario: those that rank first in a seeded shuffle.
fn choose_devices(fleet: FleetShape, kind: ScenarioKind, fraction: f64) -> Vec<u32> {
    if fraction <= 0.0 || fleet.devices == 0 {
        return Vec::new();
    }
    let count =
        ((fraction * f64::from(fleet.devices)).ceil() as usize).clamp(1, fleet.devices as usize);
    let stream = Stream::new(fleet.seed).child(kind.as_str(), 0);
    let mut ranked: Vec<(u64, u32)> = (0..fleet.devices)
        .map(|d| (stream.u64(u64::from(d)), d))
        .collect();
    if count < ranked.len() {
        ranked.select_nth_unstable(count);
        ranked.truncate(count);
    }
    let mut chosen: Vec<u32> = ranked.into_iter().map(|(_, d)| d).collect();
    chosen.sort_unstable();
    chosen
}

/// One scenario in force from `start` (simulated time) until the next epoch's start.
#[derive(Debug, Clone)]
pub struct Epoch {
    pub start: Duration,
    pub plan: Arc<Plan>,
}

/// The scenario history of a fleet, shared by its devices and the control endpoint.
#[derive(Debug)]
pub struct ScenarioState {
    fleet: FleetShape,
    history: RwLock<Arc<Vec<Epoch>>>,
}

/// How many switches the history keeps; older epochs keep shaping counters, so the history is
/// bounded rather than trimmed.
pub const MAX_EPOCHS: usize = 10_000;

impl ScenarioState {
    /// A fleet that runs `initial` from time zero.
    pub fn new(
        fleet: FleetShape,
        initial: ScenarioRequest,
    ) -> Result<ScenarioState, ScenarioError> {
        let plan = Plan::new(initial, fleet)?;
        Ok(ScenarioState {
            fleet,
            history: RwLock::new(Arc::new(vec![Epoch {
                start: Duration::ZERO,
                plan: Arc::new(plan),
            }])),
        })
    }

    pub fn fleet(&self) -> FleetShape {
        self.fleet
    }

    /// The epochs so far, oldest first (never empty).
    pub fn history(&self) -> Arc<Vec<Epoch>> {
        self.history
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The epoch in force now.
    pub fn current(&self) -> Epoch {
        let history = self.history();
        // Invariant: the history starts with one epoch and only grows.
        history.last().cloned().expect("history is never empty")
    }

    /// Starts `request` at simulated time `at`. A switch at an earlier time than the last one
    /// (clocks do not go back; this only guards against misuse) starts at the last one.
    pub fn switch(&self, request: ScenarioRequest, at: Duration) -> Result<Epoch, ScenarioError> {
        let plan = Arc::new(Plan::new(request, self.fleet)?);
        let mut guard = self.history.write().unwrap_or_else(|e| e.into_inner());
        let mut epochs: Vec<Epoch> = guard.as_ref().clone();
        let start = epochs.last().map_or(at, |last| last.start.max(at));
        if epochs.len() >= MAX_EPOCHS {
            // Merging would need per-counter state; the oldest epoch goes (its effect on the
            // counters of long-running devices shifts, which a run this long tolerates).
            epochs.remove(1.min(epochs.len() - 1));
        }
        let epoch = Epoch { start, plan };
        epochs.push(epoch.clone());
        *guard = Arc::new(epochs);
        Ok(epoch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLEET: FleetShape = FleetShape {
        seed: 7,
        devices: 100,
    };

    fn request(kind: ScenarioKind) -> ScenarioRequest {
        ScenarioRequest::new(kind)
    }

    #[test]
    fn a_fraction_chooses_the_same_devices_for_the_same_seed() {
        let plan = |seed| {
            let fleet = FleetShape { seed, devices: 100 };
            Plan::new(request(ScenarioKind::RouterDown), fleet)
                .unwrap()
                .affected_devices(100)
        };
        assert_eq!(plan(7), plan(7));
        assert_eq!(plan(7).len(), 25);
        assert_ne!(plan(7), plan(8));
    }

    #[test]
    fn a_small_fraction_still_affects_one_device_and_zero_none() {
        let small = FleetShape {
            seed: 1,
            devices: 3,
        };
        let mut r = request(ScenarioKind::RouterDown);
        r.fraction = Some(0.01);
        assert_eq!(
            Plan::new(r.clone(), small)
                .unwrap()
                .affected_devices(3)
                .len(),
            1
        );
        r.fraction = Some(0.0);
        assert!(Plan::new(r, small).unwrap().affected_devices(3).is_empty());
    }

    #[test]
    fn listed_devices_and_overrides() {
        let mut r = request(ScenarioKind::SlowAgent);
        r.devices = Some(vec![3, 9]);
        r.delay_ms = Some(1500);
        r.overrides.insert(4, ScenarioKind::RouterDown);
        r.overrides.insert(9, ScenarioKind::Healthy);
        let plan = Plan::new(r, FLEET).unwrap();
        assert_eq!(plan.affected_devices(100), vec![3, 4]);
        let slow = plan.condition(3).unwrap();
        assert_eq!(slow.delay, Duration::from_millis(1500));
        assert_eq!(plan.condition(4).unwrap().kind, ScenarioKind::RouterDown);
        assert!(plan.condition(9).is_none());
    }

    #[test]
    fn bad_requests_name_their_field() {
        let mut r = request(ScenarioKind::PacketLoss);
        r.loss = Some(1.5);
        assert_eq!(Plan::new(r, FLEET).unwrap_err(), ScenarioError::Loss(1.5));
        let mut r = request(ScenarioKind::RouterDown);
        r.devices = Some(vec![100]);
        assert!(Plan::new(r, FLEET)
            .unwrap_err()
            .to_string()
            .contains("device 100 does not exist"));
        let mut r = request(ScenarioKind::RouterDown);
        r.fraction = Some(-0.1);
        assert!(Plan::new(r, FLEET).is_err());
        let mut r = request(ScenarioKind::SlowAgent);
        r.delay_ms = Some(61_000);
        assert_eq!(Plan::new(r, FLEET).unwrap_err(), ScenarioError::Delay);
    }

    #[test]
    fn json_uses_kebab_case_names_and_refuses_unknown_fields() {
        let r: ScenarioRequest =
            serde_json::from_str(r#"{"name":"link-saturation","fraction":0.5}"#).unwrap();
        assert_eq!(r.name, ScenarioKind::LinkSaturation);
        assert!(serde_json::from_str::<ScenarioRequest>(r#"{"name":"meltdown"}"#).is_err());
        assert!(serde_json::from_str::<ScenarioRequest>(r#"{"name":"healthy","x":1}"#).is_err());
    }

    #[test]
    fn switching_appends_epochs_in_time_order() {
        let state = ScenarioState::new(FLEET, request(ScenarioKind::Healthy)).unwrap();
        state
            .switch(request(ScenarioKind::RouterDown), Duration::from_secs(10))
            .unwrap();
        let late = state
            .switch(request(ScenarioKind::Reboot), Duration::from_secs(5))
            .unwrap();
        assert_eq!(late.start, Duration::from_secs(10));
        let history = state.history();
        assert_eq!(history.len(), 3);
        assert_eq!(state.current().plan.request.name, ScenarioKind::Reboot);
    }

    #[test]
    fn cycling_visits_every_scenario() {
        let mut kind = ScenarioKind::Healthy;
        let mut seen = vec![kind];
        for _ in 1..ScenarioKind::ALL.len() {
            kind = kind.cycled();
            seen.push(kind);
        }
        assert_eq!(seen, ScenarioKind::ALL.to_vec());
        assert_eq!(kind.cycled(), ScenarioKind::Healthy);
    }
}
