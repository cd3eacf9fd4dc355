//! The effective config as JSON for a support ticket: every secret written as `<secret>`.
//!
//! Secrets are rendered only through `Secret`'s `Display` (which prints `<secret>`), never
//! through `expose()`, so a field added later cannot leak by accident here: it either is a
//! `Secret` or it is not a secret.

use serde_json::{json, Map, Value};

use crate::config::duration::format_duration;
use crate::config::{
    Api, Config, Credential, Database, Global, HostKeyPolicy, KeyExtension, License, Module,
    ModuleKind, Rate, RouterOsCredential, Secret, SnmpCredential, SshAuth, SshCredential, Target,
};

/// How a secret is shown: always the same placeholder, whatever its value.
fn secret(value: &Secret) -> Value {
    Value::String(value.to_string())
}

fn optional_secret(value: Option<&Secret>) -> Value {
    value.map_or(Value::Null, secret)
}

/// Where the database settings came from, for the `database` section of the view.
pub struct DatabaseSources<'a> {
    /// The URL in force (the environment's or the file's).
    pub url: Option<&'a Secret>,
    /// `ISPMONITOR_DATABASE_URL` or `database.url`.
    pub url_source: &'static str,
    /// Whether a key sealing credential secrets is configured (`None`: it could not be read).
    pub secret_key: Option<bool>,
    pub secret_key_source: &'static str,
}

/// The whole effective config.
pub fn render(config: &Config, database: &DatabaseSources<'_>) -> Value {
    json!({
        "global": global(&config.global),
        "web": {"listen_addresses": config.web.listen_addresses},
        "database": database_view(&config.database, database),
        "api": api(&config.api),
        "license": license(&config.license),
        "credentials": config.credentials.iter()
            .map(|(name, c)| (name.clone(), credential(c)))
            .collect::<Map<String, Value>>(),
        "modules": config.modules.values()
            .map(|m| (m.name.clone(), module(m)))
            .collect::<Map<String, Value>>(),
        "targets": config.targets.iter().map(|t| target(t)).collect::<Vec<Value>>(),
    })
}

fn global(global: &Global) -> Value {
    let snmp = &global.snmp;
    json!({
        "interval": format_duration(global.interval),
        "timeout": format_duration(global.timeout),
        "max_concurrent_polls": global.max_concurrent_polls,
        "max_concurrent_per_target": global.max_concurrent_per_target,
        "snmp": {
            "max_repetitions": snmp.max_repetitions,
            "retries": snmp.retries,
            "max_oids_per_get": snmp.max_oids_per_get,
            "wrap_large_counters": snmp.wrap_large_counters,
            "max_message_size": snmp.max_message_size,
            "lookup_refresh": format_duration(snmp.lookup_refresh),
            "max_requests_in_flight": snmp.max_requests_in_flight,
        },
    })
}

/// The URL is shown as `<secret>` as a whole (it usually carries the password); its harmless
/// parts are shown beside it so a ticket still says which database was meant.
fn database_view(database: &Database, sources: &DatabaseSources<'_>) -> Value {
    let parts = sources.url.map(url_parts).unwrap_or(Value::Null);
    json!({
        "url": optional_secret(sources.url),
        "url_source": sources.url.map(|_| sources.url_source),
        "connection": parts,
        "secret_key": match sources.secret_key {
            Some(true) => Value::String("<secret>".into()),
            Some(false) => Value::Null,
            None => Value::String("unreadable".into()),
        },
        "secret_key_source": sources.secret_key.filter(|set| *set).map(|_| sources.secret_key_source),
        "secret_key_file": database.secret_key_file.as_ref().map(|p| p.display().to_string()),
        "pool_size": database.pool_size,
        "connect_timeout": format_duration(database.connect_timeout),
        "resync_interval": format_duration(database.resync_interval),
        "inventory_cache_file": database.inventory_cache_file.as_ref().map(|p| p.display().to_string()),
    })
}

/// Host, port, user and database name of a PostgreSQL URL (or key=value string); the
/// password only as `<secret>`.
fn url_parts(url: &Secret) -> Value {
    let Ok(parsed) = url.expose().parse::<tokio_postgres::Config>() else {
        return Value::String("not a valid PostgreSQL URL".into());
    };
    let hosts: Vec<String> = parsed
        .get_hosts()
        .iter()
        .map(|host| match host {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    json!({
        "hosts": hosts,
        "ports": parsed.get_ports(),
        "user": parsed.get_user(),
        "dbname": parsed.get_dbname(),
        "password": parsed.get_password().map(|_| "<secret>"),
    })
}

fn api(api: &Api) -> Value {
    let rate = |rate: &Option<Rate>| match rate {
        Some(rate) => json!({"requests_per_second": rate.requests_per_second, "burst": rate.burst}),
        None => Value::String("unlimited".into()),
    };
    json!({
        "listen_address": api.listen_address,
        "max_body_bytes": api.max_body_bytes,
        "audit_retention": format_duration(api.audit_retention),
        "alert_retention": format_duration(api.alert_retention),
        "rate_limit": {
            "per_token": rate(&api.rate_limit.per_token),
            "per_address": rate(&api.rate_limit.per_address),
        },
    })
}

fn license(license: &License) -> Value {
    let keys: Vec<Value> = license
        .trusted_keys
        .iter()
        .map(|key| json!({"fingerprint": key.fingerprint(), "origin": key.origin.to_string()}))
        .collect();
    json!({
        "file": license.file.as_ref().map(|p| p.display().to_string()),
        "trusted_keys": keys,
        "online": license.online.as_ref().map(|online| json!({
            "server_url": without_url_password(&online.server_url),
            "interval": format_duration(online.interval),
            "grace_period": format_duration(online.grace_period),
            "timeout": format_duration(online.timeout),
        })),
    })
}

/// A URL whose user info may hold a password: the password becomes `<secret>`.
fn without_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            if userinfo.contains(':') {
                format!("{scheme}://{user}:<secret>@{host}{path}")
            } else {
                format!("{scheme}://{user}@{host}{path}")
            }
        }
        None => url.to_string(),
    }
}

fn credential(credential: &Credential) -> Value {
    match credential {
        Credential::Snmp(snmp) => snmp_credential(snmp),
        Credential::Ssh(ssh) => ssh_credential(ssh),
        Credential::RouterOs(routeros) => routeros_credential(routeros),
    }
}

fn routeros_credential(credential: &RouterOsCredential) -> Value {
    let tls = credential.tls.as_ref();
    json!({
        "type": "routeros",
        "username": credential.username,
        "password": secret(&credential.password),
        "tls": tls.is_some(),
        "ca_certificates": tls.map(|t| t.ca_certificates.len()),
        "server_name": tls.and_then(|t| t.server_name.clone()),
        "insecure_skip_verify": tls.map(|t| t.insecure_skip_verify),
    })
}

fn snmp_credential(credential: &SnmpCredential) -> Value {
    match credential {
        SnmpCredential::V1 { community } => {
            json!({"type": "snmp", "version": "1", "community": secret(community)})
        }
        SnmpCredential::V2c { community } => {
            json!({"type": "snmp", "version": "2c", "community": secret(community)})
        }
        SnmpCredential::V3(v3) => json!({
            "type": "snmp",
            "version": "3",
            "username": v3.username,
            "security_level": v3.security_level.config_name(),
            "auth_protocol": v3.auth.as_ref().map(|(p, _)| p.config_name()),
            "auth_password": optional_secret(v3.auth.as_ref().map(|(_, s)| s)),
            "priv_protocol": v3.privacy.as_ref().map(|(p, _)| p.config_name()),
            "priv_password": optional_secret(v3.privacy.as_ref().map(|(_, s)| s)),
            "key_extension": v3.key_extension.map(KeyExtension::config_name),
            "context_name": v3.context_name,
        }),
    }
}

fn ssh_credential(credential: &SshCredential) -> Value {
    let mut view = json!({"type": "ssh", "username": credential.username});
    let fields = view.as_object_mut().expect("an object");
    match &credential.auth {
        SshAuth::PrivateKey { key, passphrase } => {
            fields.insert("private_key".into(), secret(key));
            fields.insert("passphrase".into(), optional_secret(passphrase.as_ref()));
        }
        SshAuth::Password(password) => {
            fields.insert("password".into(), secret(password));
        }
        SshAuth::Agent => {
            fields.insert("agent".into(), Value::Bool(true));
        }
    }
    match &credential.host_key {
        HostKeyPolicy::KnownHosts { file, accept_new } => {
            fields.insert("known_hosts_file".into(), json!(file.display().to_string()));
            fields.insert("accept_new_host_keys".into(), json!(accept_new));
        }
        // A public key: not a secret, and what an operator compares against the server's.
        HostKeyPolicy::Pinned(key) => {
            fields.insert("host_key".into(), json!(key));
        }
    }
    view
}

fn module(module: &Module) -> Value {
    match &module.kind {
        ModuleKind::Snmp(_) => json!({"type": "snmp"}),
        ModuleKind::Ssh(ssh) => json!({"type": "ssh", "max_output_bytes": ssh.max_output_bytes}),
        ModuleKind::RouterOs(routeros) => json!({
            "type": "routeros",
            "collect": routeros.collect.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        }),
        ModuleKind::Icmp(icmp) => json!({
            "type": "icmp",
            "count": icmp.count,
            "interval": format_duration(icmp.interval),
            "timeout": format_duration(icmp.timeout),
            "payload_size": icmp.payload_size,
            "source_address": icmp.source_address.map(|a| a.to_string()),
        }),
    }
}

fn target(target: &Target) -> Value {
    json!({
        "name": target.name,
        "kind": target.kind.as_str(),
        "source": target.source.as_str(),
        "address": target.address,
        "modules": target.modules.iter().map(|m| m.name.clone()).collect::<Vec<_>>(),
        "credential": target.credential_name,
        "interval": format_duration(target.interval),
        "timeout": format_duration(target.timeout),
        "labels": target.labels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_passwords_become_placeholders() {
        assert_eq!(
            without_url_password("https://u:hunter2@lic.example/v1?x=1"),
            "https://u:<secret>@lic.example/v1?x=1"
        );
        assert_eq!(
            without_url_password("https://lic.example/a@b"),
            "https://lic.example/a@b"
        );
        assert_eq!(
            without_url_password("https://u@lic.example"),
            "https://u@lic.example"
        );
    }

    #[test]
    fn database_url_parts_keep_the_password_out() {
        let url = Secret::new("postgres://ispm:Pa55-x@db.example:6543/inv");
        let parts = url_parts(&url).to_string();
        assert!(!parts.contains("Pa55-x"), "{parts}");
        assert!(
            parts.contains("db.example") && parts.contains("6543"),
            "{parts}"
        );
        assert!(parts.contains("<secret>"), "{parts}");
        let key_value = Secret::new("host=db user=ispm password=Pa55-y dbname=inv");
        let parts = url_parts(&key_value).to_string();
        assert!(
            !parts.contains("Pa55-y") && parts.contains("\"inv\""),
            "{parts}"
        );
    }

    #[test]
    fn every_secret_of_a_loaded_config_is_a_placeholder() {
        let yaml = r#"
database: {url: "postgres://u:db-S3cret@h/d"}
credentials:
  v2: {type: snmp, version: 2c, community: comm-S3cret}
  v3: {type: snmp, version: "3", username: mon, security_level: authPriv,
       auth_protocol: SHA, auth_password: auth-S3cret, priv_protocol: AES,
       priv_password: priv-S3cret}
  s: {type: ssh, username: u, password: ssh-S3cret,
      host_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAVf+L8TZtb4SJUZiuUXinOj3BsK/zpFpUPBivvU6Bix"}
targets:
  - {name: r1, kind: router, address: 192.0.2.1, modules: [system], credential: v3}
"#;
        let config = crate::config::load_str(yaml, std::path::Path::new(".")).unwrap();
        let view = render(
            &config,
            &DatabaseSources {
                url: config.database.url.as_ref(),
                url_source: "database.url",
                secret_key: Some(false),
                secret_key_source: "",
            },
        );
        let text = view.to_string();
        assert!(!text.contains("S3cret"), "{text}");
        assert_eq!(view["credentials"]["v2"]["community"], "<secret>");
        assert_eq!(view["credentials"]["v3"]["priv_password"], "<secret>");
        assert_eq!(view["credentials"]["s"]["password"], "<secret>");
        assert_eq!(view["database"]["url"], "<secret>");
        assert_eq!(view["targets"][0]["credential"], "v3");
    }
}
