//! Faults the poller's tests switch on at run time through `PUT /routeros/faults`: commands
//! that trap, replies cut in the middle, logins refused, the other uptime notation.

use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

use super::model::UptimeFormat;

/// The faults in force (the default: none).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    /// Command paths (`/system/health/print`) answered with `!trap` + `!done`.
    #[serde(default)]
    pub trap_commands: Vec<String>,
    /// Every command after login gets half of its first reply sentence, then the connection
    /// closes.
    #[serde(default)]
    pub cut_mid_reply: bool,
    /// Every `/login` fails as with a wrong password (a password changed on the router).
    #[serde(default)]
    pub reject_logins: bool,
    /// How `/system/resource` writes `uptime`.
    #[serde(default)]
    pub uptime_format: UptimeFormat,
    /// The devices (0-based fleet positions) the faults apply to; absent: every MikroTik.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices: Option<Vec<u32>>,
}

/// A faults request that cannot apply, naming its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultsError {
    #[error("trap_commands: {0:?} is not a command path (it must start with '/')")]
    NotAPath(String),
    #[error("devices: device {0} does not serve the RouterOS API (MikroTik devices: {1:?})")]
    NotMikrotik(u32, Vec<u32>),
}

impl Faults {
    /// Whether the faults apply to `device`.
    pub fn covers(&self, device: u32) -> bool {
        self.devices
            .as_ref()
            .is_none_or(|list| list.contains(&device))
    }

    pub fn traps(&self, path: &str) -> bool {
        self.trap_commands.iter().any(|p| p == path)
    }
}

/// The faults of a running fleet, swapped whole by the control endpoint.
#[derive(Debug)]
pub struct FaultState {
    current: RwLock<Arc<Faults>>,
    /// Devices serving the API, in order: what `devices` may name.
    mikrotik: Vec<u32>,
}

impl FaultState {
    pub fn new(mikrotik: Vec<u32>) -> FaultState {
        FaultState {
            current: RwLock::new(Arc::new(Faults::default())),
            mikrotik,
        }
    }

    pub fn current(&self) -> Arc<Faults> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Checks and installs `faults`; connections read them on their next command.
    pub fn set(&self, faults: Faults) -> Result<Arc<Faults>, FaultsError> {
        if let Some(path) = faults.trap_commands.iter().find(|p| !p.starts_with('/')) {
            return Err(FaultsError::NotAPath(path.clone()));
        }
        let listed = faults.devices.iter().flatten();
        if let Some(&device) = listed.into_iter().find(|d| !self.mikrotik.contains(d)) {
            return Err(FaultsError::NotMikrotik(device, self.mikrotik.clone()));
        }
        let faults = Arc::new(faults);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = faults.clone();
        Ok(faults)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_checked_and_name_their_field() {
        let state = FaultState::new(vec![2, 5]);
        let bad_path = Faults {
            trap_commands: vec!["system/health/print".into()],
            ..Faults::default()
        };
        let message = state.set(bad_path).unwrap_err().to_string();
        assert!(message.starts_with("trap_commands:"), "{message}");
        let bad_device = Faults {
            devices: Some(vec![5, 3]),
            ..Faults::default()
        };
        let message = state.set(bad_device).unwrap_err().to_string();
        assert!(message.contains("devices: device 3"), "{message}");
        assert_eq!(*state.current(), Faults::default());
        let good = Faults {
            devices: Some(vec![5]),
            cut_mid_reply: true,
            ..Faults::default()
        };
        state.set(good.clone()).unwrap();
        assert_eq!(*state.current(), good);
        assert!(good.covers(5) && !good.covers(2));
        assert!(Faults::default().covers(2));
    }

    #[test]
    fn json_has_defaults_and_refuses_unknown_fields() {
        let faults: Faults =
            serde_json::from_str(r#"{"trap_commands": ["/system/health/print"]}"#).unwrap();
        assert!(faults.traps("/system/health/print") && !faults.traps("/interface/print"));
        assert_eq!(faults.uptime_format, UptimeFormat::Letters);
        let clock: Faults = serde_json::from_str(r#"{"uptime_format": "clock"}"#).unwrap();
        assert_eq!(clock.uptime_format, UptimeFormat::Clock);
        assert!(serde_json::from_str::<Faults>(r#"{"cut": true}"#).is_err());
    }
}
