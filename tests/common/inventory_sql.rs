//! SQL that writes database inventory rows directly (for tests that must not depend on the
//! CRUD routes), with credential secrets sealed exactly as the API seals them.

use ispmonitor::store::credential_fields;
use ispmonitor::store::SecretKey;

/// A SQL string literal.
pub fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// One device row with its modules (in order) and labels.
pub struct Device<'a> {
    pub kind: &'a str,
    pub name: &'a str,
    pub address: &'a str,
    pub credential: Option<&'a str>,
    pub modules: &'a [&'a str],
    pub labels: &'a [(&'a str, &'a str)],
}

impl Device<'_> {
    /// The statements inserting the device; psql runs them in one transaction.
    pub fn insert_sql(&self) -> String {
        let credential = match self.credential {
            Some(name) => format!("(SELECT id FROM credentials WHERE name = {})", quote(name)),
            None => "NULL".into(),
        };
        let this = format!(
            "FROM devices WHERE kind = {} AND name = {}",
            quote(self.kind),
            quote(self.name)
        );
        let mut sql = format!(
            "INSERT INTO devices (kind, name, address, credential_id) VALUES ({}, {}, {}, {credential});",
            quote(self.kind),
            quote(self.name),
            quote(self.address)
        );
        for (position, module) in self.modules.iter().enumerate() {
            sql.push_str(&format!(
                "INSERT INTO device_modules (device_id, module, position) SELECT id, {}, {position} {this};",
                quote(module)
            ));
        }
        for (name, value) in self.labels {
            sql.push_str(&format!(
                "INSERT INTO device_labels (device_id, name, value) SELECT id, {}, {} {this};",
                quote(name),
                quote(value)
            ));
        }
        sql
    }
}

pub fn delete_device_sql(kind: &str, name: &str) -> String {
    format!(
        "DELETE FROM devices WHERE kind = {} AND name = {};",
        quote(kind),
        quote(name)
    )
}

/// An SNMP v2c credential whose community is sealed with `key` (base64 or hex, as in
/// `ISPMONITOR_SECRET_KEY`).
pub fn v2c_credential_sql(key: &str, name: &str, community: &str) -> String {
    let key = SecretKey::parse(key, "test").expect("a valid test key");
    let serde_json::Value::Object(secrets) = serde_json::json!({ "community": community }) else {
        unreachable!("a JSON object")
    };
    let sealed = credential_fields::seal(&key, name, &secrets).expect("a secret to seal");
    let hex: String = sealed.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "INSERT INTO credentials (name, type, params, secrets) \
         VALUES ({}, 'snmp', '{{\"version\": \"2c\"}}', decode('{hex}', 'hex'));",
        quote(name)
    )
}
