//! Reads the whole database inventory (every device with its modules, labels and credential
//! name, every credential) and turns it into the config's raw shapes, secrets opened.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio_postgres::{GenericClient, IsolationLevel};

use super::credential_fields;
use super::secret_box::SecretKey;
use super::StoreError;
use crate::config::{RawCredential, RawTarget};

/// One `credentials` row. `sealed` is what `credential_fields::seal` stored.
/// Serializable for the on-disk inventory cache: `sealed` stays encrypted there too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredCredential {
    pub name: String,
    pub credential_type: String,
    pub params: Map<String, Value>,
    pub sealed: Option<Vec<u8>>,
}

/// One `devices` row with its modules (in position order), labels and credential name.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StoredDevice {
    pub kind: String,
    pub name: String,
    pub address: String,
    pub credential: Option<String>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub host_key: Option<String>,
    pub modules: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

/// The inventory as stored, ordered by name (credentials) and by kind then name (devices).
/// Compared as a whole to tell whether anything changed since the last load.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StoredInventory {
    pub credentials: Vec<StoredCredential>,
    pub devices: Vec<StoredDevice>,
}

const CREDENTIALS: &str = "SELECT name, type, params, secrets FROM credentials ORDER BY name";

const DEVICES: &str = "\
SELECT d.kind, d.name, d.address, COALESCE(c.name, d.file_credential), d.interval, d.timeout, d.host_key,
       COALESCE((SELECT array_agg(m.module ORDER BY m.position, m.module)
                   FROM device_modules m WHERE m.device_id = d.id), '{}'::text[]),
       COALESCE((SELECT jsonb_object_agg(l.name, l.value)
                   FROM device_labels l WHERE l.device_id = d.id), '{}'::jsonb)
  FROM devices d LEFT JOIN credentials c ON c.id = d.credential_id
 ORDER BY d.kind, d.name";

/// Loads everything in one read-only, repeatable-read transaction, so devices and the
/// credentials they name come from the same moment.
pub async fn load(client: &mut tokio_postgres::Client) -> Result<StoredInventory, StoreError> {
    let tx = client
        .build_transaction()
        .read_only(true)
        .isolation_level(IsolationLevel::RepeatableRead)
        .start()
        .await?;
    let inventory = read(&tx).await?;
    tx.commit().await?;
    Ok(inventory)
}

async fn read(client: &impl GenericClient) -> Result<StoredInventory, StoreError> {
    let credentials = client
        .query(CREDENTIALS, &[])
        .await?
        .iter()
        .map(|row| StoredCredential {
            name: row.get(0),
            credential_type: row.get(1),
            params: match row.get::<_, Value>(2) {
                Value::Object(map) => map,
                _ => Map::new(),
            },
            sealed: row.get(3),
        })
        .collect();
    let devices = client
        .query(DEVICES, &[])
        .await?
        .iter()
        .map(|row| StoredDevice {
            kind: row.get(0),
            name: row.get(1),
            address: row.get(2),
            credential: row.get(3),
            interval: row.get(4),
            timeout: row.get(5),
            host_key: row.get(6),
            modules: row.get(7),
            labels: labels(row.get(8)),
        })
        .collect();
    Ok(StoredInventory {
        credentials,
        devices,
    })
}

/// Label values are text in the table; anything else would be a bug elsewhere, shown as JSON.
fn labels(value: Value) -> BTreeMap<String, String> {
    let Value::Object(map) = value else {
        return BTreeMap::new();
    };
    map.into_iter()
        .map(|(name, value)| match value {
            Value::String(text) => (name, text),
            other => (name, other.to_string()),
        })
        .collect()
}

/// A database entry the poller cannot use, and why. Never holds a secret: `message` comes from
/// the config validator or names the credential whose secrets did not open.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct InvalidEntry {
    /// `router`, `server`, `host` or `credential`.
    pub kind: String,
    pub name: String,
    /// The field at fault (`address`, `modules[0]`, `credential`...), as the API names it.
    pub field: String,
    pub message: String,
}

impl InvalidEntry {
    pub fn is_device(&self) -> bool {
        self.kind != "credential"
    }
}

impl fmt::Display for InvalidEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {:?}: {}: {}",
            self.kind, self.name, self.field, self.message
        )
    }
}

/// The inventory in the YAML file's shapes, secrets opened, ready for `config::validate_extra`.
/// Deliberately not `Debug`: the credentials hold clear secrets.
#[derive(Default)]
pub struct RawInventory {
    pub credentials: BTreeMap<String, RawCredential>,
    /// Every device whose credential could be read, in `StoredInventory` order.
    pub targets: Vec<RawTarget>,
    /// Credentials whose secrets did not open or whose fields are not a credential, and the
    /// devices left out because of them.
    pub unreadable: Vec<InvalidEntry>,
}

/// Opens every credential's secrets with `key` (`None`: no key configured, so only credentials
/// without secrets are usable) and builds the raw targets. A credential that cannot be read
/// leaves out the devices using it, each reported.
pub fn open(stored: &StoredInventory, key: Option<&SecretKey>) -> RawInventory {
    let mut inventory = RawInventory::default();
    let mut broken = BTreeSet::new();
    for credential in &stored.credentials {
        match open_credential(credential, key) {
            Ok(raw) => {
                inventory.credentials.insert(credential.name.clone(), raw);
            }
            Err(entry) => {
                broken.insert(credential.name.as_str());
                inventory.unreadable.push(entry);
            }
        }
    }
    for device in &stored.devices {
        match device.credential.as_deref() {
            Some(name) if broken.contains(name) => inventory.unreadable.push(InvalidEntry {
                kind: device.kind.clone(),
                name: device.name.clone(),
                field: "credential".into(),
                message: format!("the credential {name:?} cannot be read (see its own problem)"),
            }),
            _ => inventory.targets.push(raw_target(device)),
        }
    }
    inventory
}

fn open_credential(
    credential: &StoredCredential,
    key: Option<&SecretKey>,
) -> Result<RawCredential, InvalidEntry> {
    let problem = |field: &str, message: String| InvalidEntry {
        kind: "credential".into(),
        name: credential.name.clone(),
        field: field.into(),
        message,
    };
    let secrets = match (key, credential.sealed.as_deref()) {
        (_, None) => Map::new(),
        (None, Some(_)) => return Err(problem(
            "secrets",
            "no secret key is configured (ISPMONITOR_SECRET_KEY or ISPMONITOR_SECRET_KEY_FILE), \
                 so its secrets cannot be opened"
                .into(),
        )),
        (Some(key), sealed) => {
            credential_fields::open(key, &credential.name, sealed).map_err(|_| {
                problem(
                    "secrets",
                    "the secrets do not open with this ISPMONITOR_SECRET_KEY (was the key changed?)"
                        .into(),
                )
            })?
        }
    };
    credential_fields::to_raw(&credential.credential_type, &credential.params, &secrets).map_err(
        |message| {
            // serde quotes the offending value; a secret of the wrong type must not be echoed.
            let leaks = secrets.values().any(|v| {
                let text = v
                    .as_str()
                    .map(String::from)
                    .unwrap_or_else(|| v.to_string());
                !text.is_empty() && message.contains(&text)
            });
            let message = if leaks {
                "a secret field has the wrong type".to_string()
            } else {
                message
            };
            problem("params", message)
        },
    )
}

fn raw_target(device: &StoredDevice) -> RawTarget {
    RawTarget {
        name: Some(device.name.clone()),
        address: Some(device.address.clone()),
        kind: Some(device.kind.clone()),
        modules: Some(device.modules.clone()),
        credential: device.credential.clone(),
        interval: device.interval.clone(),
        timeout: device.timeout.clone(),
        labels: Some(device.labels.clone()),
        host_key: device.host_key.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(byte: &str) -> SecretKey {
        SecretKey::parse(&byte.repeat(32), "test").unwrap()
    }

    fn sealed_v2c(key: &SecretKey, name: &str) -> StoredCredential {
        let Value::Object(secrets) = json!({"community": "s3cret-community"}) else {
            unreachable!()
        };
        let Value::Object(params) = json!({"version": "2c"}) else {
            unreachable!()
        };
        StoredCredential {
            name: name.into(),
            credential_type: "snmp".into(),
            params,
            sealed: credential_fields::seal(key, name, &secrets),
        }
    }

    fn device(name: &str, credential: Option<&str>) -> StoredDevice {
        StoredDevice {
            kind: "router".into(),
            name: name.into(),
            address: "10.0.0.1".into(),
            credential: credential.map(String::from),
            modules: vec!["system".into()],
            ..StoredDevice::default()
        }
    }

    #[test]
    fn secrets_open_into_raw_credentials_and_devices_into_raw_targets() {
        let key = key("11");
        let stored = StoredInventory {
            credentials: vec![sealed_v2c(&key, "v2")],
            devices: vec![device("r1", Some("v2"))],
        };
        let raw = open(&stored, Some(&key));
        assert!(raw.unreadable.is_empty());
        assert_eq!(
            raw.credentials["v2"].community.as_deref(),
            Some("s3cret-community")
        );
        assert_eq!(raw.targets.len(), 1);
        assert_eq!(raw.targets[0].kind.as_deref(), Some("router"));
        assert_eq!(raw.targets[0].credential.as_deref(), Some("v2"));
    }

    #[test]
    fn a_wrong_or_missing_key_leaves_out_the_credential_and_its_devices() {
        let stored = StoredInventory {
            credentials: vec![sealed_v2c(&key("11"), "v2")],
            devices: vec![device("r1", Some("v2")), device("r2", None)],
        };
        for key in [Some(key("22")), None] {
            let raw = open(&stored, key.as_ref());
            assert!(raw.credentials.is_empty());
            let names: Vec<_> = raw.targets.iter().map(|t| t.name.clone()).collect();
            assert_eq!(names, vec![Some("r2".to_string())]);
            let entries: Vec<String> = raw.unreadable.iter().map(|e| e.to_string()).collect();
            assert_eq!(entries.len(), 2, "{entries:?}");
            assert!(entries[0].starts_with("credential \"v2\": secrets: "));
            assert!(entries[1].starts_with("router \"r1\": credential: "));
            assert!(!entries.concat().contains("s3cret-community"));
        }
    }

    #[test]
    fn params_that_are_not_a_credential_are_reported_on_params() {
        let Value::Object(params) = json!({"version": "2c", "colour": "red"}) else {
            unreachable!()
        };
        let stored = StoredInventory {
            credentials: vec![StoredCredential {
                name: "odd".into(),
                credential_type: "snmp".into(),
                params,
                sealed: None,
            }],
            devices: vec![],
        };
        let raw = open(&stored, None);
        assert_eq!(raw.unreadable[0].field, "params");
        assert!(raw.unreadable[0].message.contains("colour"));
    }
}
