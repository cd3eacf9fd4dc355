//! Config fixtures: every valid file loads, every invalid one fails with the error it expects.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ispmonitor::config::{
    load_file, load_str, ConfigErrors, Credential, CustomMetricType, KeyExtension, ModuleKind,
    SnmpCredential, SnmpModule,
};

fn fixture_dir(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(kind)
}

fn yaml_files(kind: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixture_dir(kind))
        .expect("fixture directory exists")
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures in {kind}");
    files
}

/// The `# expect: <substring>` line every invalid fixture starts with.
fn expected_message(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("fixture readable");
    let first_line = text.lines().next().unwrap_or_default();
    first_line
        .strip_prefix("# expect: ")
        .unwrap_or_else(|| panic!("{} must start with '# expect: '", path.display()))
        .to_string()
}

fn messages(errors: &ConfigErrors) -> Vec<String> {
    errors.problems.iter().map(ToString::to_string).collect()
}

#[test]
fn every_valid_fixture_loads() {
    for path in yaml_files("valid") {
        if let Err(errors) = load_file(&path) {
            panic!("{} should load:\n{errors}", path.display());
        }
    }
}

#[test]
fn every_invalid_fixture_fails_with_its_expected_message() {
    for path in yaml_files("invalid") {
        let expected = expected_message(&path);
        let errors = match load_file(&path) {
            Ok(_) => panic!("{} should fail to load", path.display()),
            Err(errors) => errors,
        };
        assert_eq!(
            errors.file.as_deref(),
            Some(path.display().to_string().as_str())
        );
        let found = messages(&errors);
        assert!(
            found.iter().any(|message| message.contains(&expected)),
            "{}: expected a problem containing {expected:?}, got {found:#?}",
            path.display()
        );
    }
}

#[test]
fn issue_example_builds_the_expected_model() {
    let config = load_file(&fixture_dir("valid").join("issue_example.yaml")).expect("loads");
    assert_eq!(config.global.interval, Duration::from_secs(60));
    assert_eq!(config.global.max_concurrent_polls, 1000);
    assert_eq!(config.global.snmp.max_repetitions, 25);
    assert_eq!(
        config.web.listen_addresses,
        vec!["0.0.0.0:9090".to_string()]
    );

    let core = &config.targets[0];
    assert_eq!((core.host.as_str(), core.port), ("10.0.0.1", Some(161)));
    assert_eq!(core.interval, Duration::from_secs(30));
    assert_eq!(core.timeout, Duration::from_secs(10));
    let module_names: Vec<&str> = core.modules.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(module_names, ["system", "if_mib", "bgp4", "temperature"]);
    assert_eq!(core.labels["site"], "ams1");
    match core.credential.as_deref() {
        Some(Credential::Snmp(SnmpCredential::V3(v3))) => {
            assert_eq!(v3.key_extension, Some(KeyExtension::Blumenthal));
            assert_eq!(
                v3.privacy.as_ref().map(|(_, s)| s.expose()),
                Some("priv-secret-1")
            );
        }
        other => panic!("expected a v3 credential, got {other:?}"),
    }

    let access = &config.targets[1];
    assert_eq!((access.host.as_str(), access.port), ("10.0.7.1", None));
    assert_eq!(access.credential_name.as_deref(), Some("public_v2"));

    let ModuleKind::Snmp(SnmpModule::Custom(temperature)) = &config.modules["temperature"].kind
    else {
        panic!("temperature should be a custom SNMP module");
    };
    let metric = &temperature.metrics[0];
    assert_eq!(metric.name, "ispmonitor_entity_temperature_celsius");
    assert_eq!(
        metric.help,
        "entity_temperature_celsius from OID 1.3.6.1.2.1.99.1.1.1.4"
    );
    assert_eq!(metric.metric_type, CustomMetricType::Gauge);
    assert_eq!(metric.index, ["sensor"]);
    assert!(
        config.modules.contains_key("host_resources"),
        "built-ins are always present"
    );
}

#[test]
fn secret_files_are_read_relative_to_the_config_and_trimmed() {
    let config = load_file(&fixture_dir("valid").join("full.yaml")).expect("loads");
    let Credential::Snmp(SnmpCredential::V2c { community }) = &*config.credentials["v2_from_file"]
    else {
        panic!("expected v2c");
    };
    assert_eq!(community.expose(), "file-community-1");
    let Credential::Snmp(SnmpCredential::V3(v3)) = &*config.credentials["v3_auth"] else {
        panic!("expected v3");
    };
    assert_eq!(
        v3.auth.as_ref().map(|(_, s)| s.expose()),
        Some("file-auth-pass-1")
    );
}

#[test]
fn reports_every_problem_at_once() {
    let yaml = r#"
global: {interval: 10}
credentials:
  v2: {type: snmp, version: 2c}
targets:
  - {name: a, address: "10.0.0.1:0", kind: router, modules: [system], credential: v2}
"#;
    let errors = load_str(yaml, Path::new(".")).expect_err("three problems");
    let found = messages(&errors);
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(found[0].starts_with("global.interval: "), "{found:#?}");
    assert!(
        found[1].starts_with("credentials.v2.community: missing"),
        "{found:#?}"
    );
    assert!(found[2].starts_with("targets[0].address: "), "{found:#?}");
}

#[test]
fn a_missing_config_file_is_one_problem_naming_the_file() {
    let path = fixture_dir("valid").join("does-not-exist.yaml");
    let errors = load_file(&path).expect_err("missing file");
    assert_eq!(errors.problems.len(), 1);
    assert!(
        errors.to_string().contains("does-not-exist.yaml"),
        "{errors}"
    );
}

/// Secret values written in the fixtures and in the YAML below; none may appear in a message.
const SECRETS: [&str; 10] = [
    "inline-community-1",
    "file-community-1",
    "auth-pass-1",
    "priv-pass-1",
    "sh0rt7!",
    "leaky-community-9",
    "leaky-auth-pass-9",
    "leaky-priv-pass-9",
    "tiny9",
    "fixture-routeros-secret",
];

#[test]
fn no_error_message_contains_a_secret_value() {
    let yaml = r#"
credentials:
  v3_with_community: {type: snmp, version: 3, username: u, security_level: noAuthNoPriv,
                      community: leaky-community-9}
  v2_with_password: {type: snmp, version: 2c, community: leaky-community-9,
                     auth_password: leaky-auth-pass-9, priv_password: leaky-priv-pass-9}
  both: {type: snmp, version: 3, username: u, security_level: authPriv, auth_protocol: SHA,
         auth_password: leaky-auth-pass-9, auth_password_file: ../secrets/community.txt,
         priv_protocol: AES, priv_password: tiny9}
  wrong_level: {type: snmp, version: 3, username: u, security_level: noAuthNoPriv,
                auth_password: leaky-auth-pass-9, priv_password: leaky-priv-pass-9}
  typo: {type: snmp, version: 2c, comunity: leaky-community-9}
"#;
    let mut all_messages = Vec::new();
    let errors = load_str(yaml, &fixture_dir("invalid")).expect_err("invalid");
    all_messages.extend(messages(&errors));
    // The typo is a parse error, which stops the parse: check it on its own as well.
    let without_typo = yaml.replace(
        "  typo: {type: snmp, version: 2c, comunity: leaky-community-9}\n",
        "",
    );
    let errors = load_str(&without_typo, &fixture_dir("invalid")).expect_err("invalid");
    assert!(errors.problems.len() >= 6, "{errors}");
    all_messages.extend(messages(&errors));
    for path in yaml_files("invalid") {
        if let Err(errors) = load_file(&path) {
            all_messages.push(errors.to_string());
        }
    }
    for message in &all_messages {
        for secret in SECRETS {
            assert!(
                !message.contains(secret),
                "secret {secret:?} leaked in {message:?}"
            );
        }
    }
}

#[test]
fn icmp_modules_build_the_expected_model() {
    use ispmonitor::config::{IcmpModule, IpProtocol};
    use ispmonitor::poller::Protocol;
    let config = load_file(&fixture_dir("valid").join("icmp.yaml")).expect("loads");
    let icmp = |name: &str| match &config.modules[name].kind {
        ModuleKind::Icmp(icmp) => icmp.clone(),
        other => panic!("{name} should be an ICMP module, got {other:?}"),
    };
    let defaults = IcmpModule {
        count: 5,
        interval: Duration::from_secs(1),
        timeout: Duration::from_secs(1),
        payload_size: 56,
        ip_protocol: IpProtocol::PreferIpv4,
        source_address: None,
    };
    assert_eq!(icmp("icmp"), defaults, "the built-in module");
    assert_eq!(icmp("ping"), defaults, "count: 5 is the default too");
    let fast = icmp("ping_v6_fast");
    assert_eq!(fast.count, 20);
    assert_eq!(fast.interval, Duration::from_millis(100));
    assert_eq!(fast.timeout, Duration::from_secs(2));
    assert_eq!(fast.payload_size, 1400);
    assert_eq!(fast.ip_protocol, IpProtocol::Ipv6);
    assert_eq!(fast.source_address, Some("::1".parse().unwrap()));
    let server = &config.targets[1];
    assert_eq!((server.host.as_str(), server.port), ("10.1.0.5", Some(22)));
    assert_eq!(server.protocols(), [Protocol::Icmp]);
    assert!(server.credential.is_none(), "ICMP needs no credential");
}

#[test]
fn ssh_fixture_builds_the_expected_model() {
    use ispmonitor::config::{HostKeyPolicy, SshAuth};
    let config = load_file(&fixture_dir("valid").join("ssh.yaml")).expect("loads");
    let Credential::Ssh(locked) = &*config.credentials["key_locked"] else {
        panic!("ssh credential expected");
    };
    let SshAuth::PrivateKey { passphrase, .. } = &locked.auth else {
        panic!("private key auth expected");
    };
    assert_eq!(
        passphrase.as_ref().map(|p| p.expose()),
        Some("fixture-passphrase-1")
    );
    let Credential::Ssh(by_agent) = &*config.credentials["by_agent"] else {
        panic!("ssh credential expected");
    };
    assert_eq!(by_agent.auth, SshAuth::Agent);
    let web4 = config.targets.iter().find(|t| t.name == "web-4").unwrap();
    let Some(Credential::Ssh(web4_credential)) = web4.credential.as_deref() else {
        panic!("ssh credential expected");
    };
    assert_eq!(
        web4_credential.host_key,
        HostKeyPolicy::Pinned(
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIRDwva/0XYDRR+xlisjFemGtFX0/YcFLHkRX/1mAzRj"
                .into()
        ),
        "the target's own host_key wins over the credential's"
    );
    let web1 = config.targets.iter().find(|t| t.name == "web-1").unwrap();
    assert_eq!(web1.protocols(), [ispmonitor::poller::Protocol::Ssh]);
    let ModuleKind::Ssh(data) = &config.modules["linux_data"].kind else {
        panic!("ssh module expected");
    };
    assert_eq!(data.max_output_bytes, 1048576);
    assert_eq!(data.filesystems.include_fstypes, ["ext4", "xfs"]);
    assert!(
        data.filesystems
            .exclude_fstypes
            .contains(&"tmpfs".to_string()),
        "unset lists keep their defaults"
    );
}

#[test]
fn ssh_error_messages_never_quote_passwords_passphrases_or_keys() {
    let key = std::fs::read_to_string(fixture_dir("secrets").join("ssh_id_ed25519_locked"))
        .expect("fixture key");
    let key_body = key.lines().nth(2).expect("key body").to_string();
    let yaml = format!(
        "credentials:\n  inline_key:\n    type: ssh\n    username: u\n    passphrase: leaky-passphrase-9\n    host_key: \"ssh-ed25519 AAAA\"\n    private_key: |\n{}",
        key.lines().map(|l| format!("      {l}\n")).collect::<String>()
    );
    let mut all = messages(&load_str(&yaml, &fixture_dir("invalid")).expect_err("invalid"));
    for path in yaml_files("invalid") {
        if let Err(errors) = load_file(&path) {
            all.push(errors.to_string());
        }
    }
    assert!(
        all.iter()
            .any(|m| m.contains("credentials.inline_key.passphrase")),
        "{all:#?}"
    );
    for message in &all {
        for secret in [
            "leaky-passphrase-9",
            "ssh-pass-1",
            "not-the-passphrase",
            "fixture-passphrase-1",
            "pp-1",
            key_body.as_str(),
        ] {
            assert!(
                !message.contains(secret),
                "{secret:?} leaked in {message:?}"
            );
        }
    }
}

#[test]
fn routeros_fixture_builds_the_expected_model() {
    use ispmonitor::config::{RouterOsSection, Target};
    use ispmonitor::poller::Protocol;
    let config = load_file(&fixture_dir("valid").join("routeros.yaml")).expect("loads");
    let routeros = |name: &str| match &*config.credentials[name] {
        Credential::RouterOs(c) => c.clone(),
        other => panic!("{name}: routeros credential expected, got {other:?}"),
    };
    let plain = routeros("mikrotik");
    assert_eq!(plain.username, "monitor");
    assert_eq!(plain.password.expose(), "fixture-routeros-password-1");
    assert_eq!(plain.tls, None, "the plain API unless tls: true");
    let pinned = routeros("mikrotik_tls");
    assert_eq!(
        pinned.password.expose(),
        "fixture-routeros-password-2",
        "password_file is read relative to the config and trimmed"
    );
    let tls = pinned.tls.expect("tls settings");
    assert_eq!(
        tls.ca_certificates.len(),
        1,
        "the PEM file's one certificate"
    );
    assert_eq!(tls.server_name.as_deref(), Some("edge-1.example"));
    assert!(!tls.insecure_skip_verify, "verification is on by default");
    assert!(routeros("mikrotik_lab").tls.unwrap().insecure_skip_verify);
    let target =
        |name: &str| -> &Target { config.targets.iter().find(|t| t.name == name).unwrap() };
    assert_eq!(target("edge-1-api").protocols(), [Protocol::RouterOs]);
    assert_eq!(target("edge-2-api").port, Some(8729));
    let ModuleKind::RouterOs(subscribers) = &config.modules["subscribers"].kind else {
        panic!("routeros module expected");
    };
    assert_eq!(
        subscribers.collect.iter().copied().collect::<Vec<_>>(),
        [RouterOsSection::Pppoe, RouterOsSection::Dhcp]
    );
    let ModuleKind::RouterOs(built_in) = &config.modules["routeros"].kind else {
        panic!("the built-in routeros module");
    };
    assert_eq!(built_in.collect.len(), RouterOsSection::ALL.len());
}
