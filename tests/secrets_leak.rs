//! No secret leaks: a full run of `serve` at `--log.level trace` (text, then JSON logs) with
//! known unique secrets everywhere they can be (SNMP v2c community, v3 auth and privacy
//! passwords, SSH password, SSH key and its passphrase, RouterOS API passwords, the database
//! URL's password, the secret key, API tokens, credentials created through the API) polls real
//! snmpd, sshd and a simulated MikroTik's API, fails on purpose (wrong community, wrong SSH and
//! RouterOS passwords, a bad token), serves /metrics, /probe and every
//! GET API route; then every subcommand's `--help` and `diagnostics` run. Every byte they
//! printed is searched for every secret, as is and base64/URL-encoded: none may appear.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::api::{self, Api};
use common::http;
use common::ispmonitor::{binary, free_tcp_port};
use common::postgres::TestDb;
use common::snmpd::{free_udp_port, Snmpd, SnmpdOptions};
use common::sshd::{self, Sshd, SshdOptions, TEST_PASSWORD, TEST_USER};
use data_encoding::{BASE64, BASE64URL, BASE64URL_NOPAD, BASE64_NOPAD, HEXLOWER};
use serde_json::json;

const COMMUNITY: &str = "leak-v2c-community-a81F";
const WRONG_COMMUNITY: &str = "leak-wrong-community-c27B";
const AUTH_PASSWORD: &str = "leak-v3-auth-pw-d93K";
const PRIV_PASSWORD: &str = "leak-v3-priv-pw-e45M";
const KEY_PASSPHRASE: &str = "leak-ssh-passphrase-f16P";
const WRONG_SSH_PASSWORD: &str = "leak-wrong-ssh-pw-g58R";
const DB_PASSWORD: &str = "leak-db-password-h70T";
const API_COMMUNITY: &str = "leak-api-community-j32V";
const API_AUTH_PASSWORD: &str = "leak-api-auth-pw-k64X";
const API_SSH_PASSWORD: &str = "leak-api-ssh-pw-m86Z";
/// The simulated MikroTik's API password (given to it with --routeros-password) and a wrong one.
const API_ROUTEROS_PASSWORD: &str = "leak-api-routeros-pw-q38F";
const ROUTEROS_PASSWORD: &str = "leak-routeros-pw-n19B";
const WRONG_ROUTEROS_PASSWORD: &str = "leak-wrong-routeros-pw-p27D";

/// Every form a secret could leak in: as is, base64 (padded or not, standard or URL-safe),
/// hex, percent-encoded.
fn forms(secret: &str) -> Vec<String> {
    let bytes = secret.as_bytes();
    let mut forms = vec![
        secret.to_string(),
        BASE64.encode(bytes),
        BASE64_NOPAD.encode(bytes),
        BASE64URL.encode(bytes),
        BASE64URL_NOPAD.encode(bytes),
        HEXLOWER.encode(bytes),
        form_urlencoded::byte_serialize(bytes).collect(),
    ];
    forms.sort();
    forms.dedup();
    forms
}

/// Each (secret, form, where) found in the captured texts.
fn leaks(captured: &[(String, String)], secrets: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    for secret in secrets {
        for form in forms(secret) {
            for (source, text) in captured {
                if let Some(at) = text.find(&form) {
                    let start = text[..at]
                        .char_indices()
                        .rev()
                        .nth(80)
                        .map_or(0, |(i, _)| i);
                    let context: String = text[start..].chars().take(200).collect();
                    found.push(format!(
                        "{secret:?} as {form:?} in {source}: ...{context}..."
                    ));
                }
            }
        }
    }
    found
}

/// `serve` at trace level, its stderr in a file.
struct Server {
    child: Child,
    addr: String,
    api_addr: String,
    log: PathBuf,
}

impl Server {
    fn start(config: &Path, log_format: &str, env: &[(&str, &str)], log: PathBuf) -> Server {
        let addr = format!("127.0.0.1:{}", free_tcp_port());
        let api_addr = format!("127.0.0.1:{}", free_tcp_port());
        let child = Command::new(binary())
            .args([
                "--log.level",
                "trace",
                "--log.format",
                log_format,
                "serve",
                "--config",
            ])
            .arg(config)
            .args([
                "--web.listen-address",
                &addr,
                "--api.listen-address",
                &api_addr,
            ])
            .env_remove("RUST_LOG")
            .envs(env.iter().copied())
            .stdout(Stdio::from(
                std::fs::File::create(log.with_extension("out")).unwrap(),
            ))
            .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
            .spawn()
            .expect("start ispmonitor serve");
        let mut server = Server {
            child,
            addr,
            api_addr,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while http::get(&server.addr, "/ready").map(|r| r.status).ok() != Some(200) {
            assert!(Instant::now() < deadline, "not ready: {}", server.logs());
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("serve exited with {status}: {}", server.logs());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn logs(&self) -> String {
        let out = std::fs::read_to_string(self.log.with_extension("out")).unwrap_or_default();
        std::fs::read_to_string(&self.log).unwrap_or_default() + &out
    }

    fn get(&self, path: &str) -> String {
        let r = http::get(&self.addr, path).unwrap_or_else(|e| panic!("GET {path}: {e}"));
        format!("{} {:?}\n{}", r.status, r.headers, r.text())
    }

    /// SIGTERM, then everything it printed.
    fn stop(mut self) -> String {
        // SAFETY: kill(2) on the PID of the child this test started.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().unwrap().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.logs()
    }
}

/// Peers, database and config shared by both runs.
struct World {
    _agent: Snmpd,
    _mikrotik: common::simulator::Simulator,
    _sshd: Sshd,
    _db: TestDb,
    dir: tempfile::TempDir,
    config: PathBuf,
    url: String,
}

fn world() -> World {
    let agent = Snmpd::start_with(SnmpdOptions {
        extra_config: vec![
            format!("rocommunity {COMMUNITY} 127.0.0.1"),
            format!("createUser leakuser SHA \"{AUTH_PASSWORD}\" AES \"{PRIV_PASSWORD}\""),
            "rouser leakuser priv".into(),
        ],
        scripts: Vec::new(),
    });
    let sshd = Sshd::start(SshdOptions::default());
    let mikrotik = common::simulator::Simulator::start(
        1,
        &[
            "--mikrotik-devices",
            "0",
            "--routeros-password",
            ROUTEROS_PASSWORD,
        ],
    );
    let api_address = mikrotik.routeros_endpoints()[0]["address"]
        .as_str()
        .expect("the MikroTik's API address")
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let key = sshd::keygen(dir.path(), "id_ed25519", "ed25519", KEY_PASSPHRASE);
    sshd.authorize(&key);
    let private_key = std::fs::read_to_string(&key).unwrap();
    let db = TestDb::new();
    // Trust authentication ignores the password, but the process holds it like any other.
    let url = db
        .url()
        .replace("postgres@", &format!("postgres:{DB_PASSWORD}@"));
    api::migrate(&url);
    std::fs::write(dir.path().join("community"), format!("{COMMUNITY}\n")).unwrap();
    let config = dir.path().join("config.yaml");
    let host_key = sshd.host_key();
    let yaml = format!(
        r#"
global: {{interval: 1s, timeout: 800ms}}
database: {{url: "{url}"}}
credentials:
  v2: {{type: snmp, version: 2c, community_file: community}}
  v2_wrong: {{type: snmp, version: 2c, community: {WRONG_COMMUNITY}}}
  v3: {{type: snmp, version: "3", username: leakuser, security_level: authPriv,
       auth_protocol: SHA, auth_password: {AUTH_PASSWORD}, priv_protocol: AES,
       priv_password: {PRIV_PASSWORD}}}
  ssh_password: {{type: ssh, username: {TEST_USER}, password: {TEST_PASSWORD}, host_key: "{host_key}"}}
  ssh_wrong: {{type: ssh, username: {TEST_USER}, password: {WRONG_SSH_PASSWORD}, host_key: "{host_key}"}}
  routeros: {{type: routeros, username: simuser, password: {ROUTEROS_PASSWORD}}}
  routeros_wrong: {{type: routeros, username: simuser, password: {WRONG_ROUTEROS_PASSWORD}}}
  ssh_key: {{type: ssh, username: {TEST_USER}, private_key_file: id_ed25519,
            passphrase: {KEY_PASSPHRASE}, host_key: "{host_key}"}}
modules:
  ping: {{type: icmp, count: 2, interval: 10ms, timeout: 300ms}}
targets:
  - {{name: loopback, kind: host, address: 127.0.0.1, modules: [ping]}}
  - {{name: snmp-v2, kind: router, address: "127.0.0.1:{port}", modules: [system, if_mib], credential: v2}}
  - {{name: snmp-v3, kind: router, address: "127.0.0.1:{port}", modules: [system], credential: v3}}
  - {{name: snmp-wrong, kind: router, address: "127.0.0.1:{port}", modules: [system], credential: v2_wrong}}
  - {{name: snmp-dead, kind: router, address: "127.0.0.1:{dead}", modules: [system], credential: v3}}
  - {{name: ssh-password, kind: server, address: "127.0.0.1:{ssh}", modules: [linux], credential: ssh_password}}
  - {{name: ssh-key, kind: server, address: "127.0.0.1:{ssh}", modules: [linux], credential: ssh_key,
       interval: 5s, timeout: 4s}}
  - {{name: ssh-wrong, kind: server, address: "127.0.0.1:{ssh}", modules: [linux], credential: ssh_wrong}}
  - {{name: routeros-ok, kind: router, address: "{api_address}", modules: [routeros], credential: routeros}}
  - {{name: routeros-wrong, kind: router, address: "{api_address}", modules: [routeros], credential: routeros_wrong}}
"#,
        port = agent.port,
        dead = free_udp_port(),
        ssh = sshd.port,
    );
    std::fs::write(&config, yaml).unwrap();
    // Sanity: the secrets really are what the process is given (else finding none proves nothing).
    let given = std::fs::read_to_string(&config).unwrap()
        + &std::fs::read_to_string(dir.path().join("community")).unwrap();
    for secret in [
        WRONG_COMMUNITY,
        AUTH_PASSWORD,
        PRIV_PASSWORD,
        COMMUNITY,
        DB_PASSWORD,
        TEST_PASSWORD,
        ROUTEROS_PASSWORD,
        WRONG_ROUTEROS_PASSWORD,
    ] {
        assert!(
            given.contains(secret),
            "{secret} is not in the config given to serve"
        );
    }
    assert!(private_key.contains("OPENSSH PRIVATE KEY"));
    World {
        _agent: agent,
        _mikrotik: mikrotik,
        _sshd: sshd,
        _db: db,
        dir,
        config,
        url,
    }
}

/// Everything one run of `serve` printed and answered, labelled by where it came from.
fn exercise(world: &World, log_format: &str) -> (Vec<(String, String)>, Vec<String>) {
    let env = [("ISPMONITOR_SECRET_KEY", api::SECRET_KEY)];
    let log = world.dir.path().join(format!("serve-{log_format}.log"));
    let server = Server::start(&world.config, log_format, &env, log);
    let mut captured = Vec::new();
    let mut tokens = Vec::new();
    let admin_token = api::create_token(&world.url, "admin", &format!("admin-{log_format}"));
    tokens.push(admin_token.clone());
    let admin = Api::new(&server.api_addr, Some(&admin_token));

    // Credentials and devices through the API, secrets included.
    let suffix = log_format;
    let credentials = [
        json!({"name": format!("api_v2_{suffix}"), "type": "snmp", "version": "2c", "community": API_COMMUNITY}),
        json!({"name": format!("api_v3_{suffix}"), "type": "snmp", "version": "3", "username": "leakuser",
               "security_level": "authPriv", "auth_protocol": "SHA", "auth_password": API_AUTH_PASSWORD,
               "priv_protocol": "AES", "priv_password": PRIV_PASSWORD}),
        json!({"name": format!("api_ssh_{suffix}"), "type": "ssh", "username": TEST_USER,
               "password": API_SSH_PASSWORD, "host_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAVf+L8TZtb4SJUZiuUXinOj3BsK/zpFpUPBivvU6Bix"}),
        json!({"name": format!("api_routeros_{suffix}"), "type": "routeros", "username": "monitor",
               "password": API_ROUTEROS_PASSWORD, "tls": true, "insecure_skip_verify": true}),
    ];
    for credential in &credentials {
        let r = admin.post("/api/v1/credentials", credential);
        assert_eq!(r.status, 201, "{}", r.text());
        captured.push(("POST /api/v1/credentials".to_string(), r.text()));
    }
    let router = json!({"name": format!("api-router-{suffix}"), "address": "127.0.0.1:9",
                        "credential": format!("api_v2_{suffix}"), "modules": ["system"]});
    let r = admin.post("/api/v1/routers", &router);
    assert_eq!(r.status, 201, "{}", r.text());
    // Errors are where secrets leak: bad bodies that carry secrets.
    for bad in [
        json!({"name": "bad1", "type": "snmp", "version": "9", "community": API_COMMUNITY}),
        json!({"name": "bad2", "type": "snmp", "version": "2c", "community": API_COMMUNITY, "colour": API_AUTH_PASSWORD}),
        json!({"name": "bad3", "type": "snmp", "version": "3", "username": "u", "security_level": "authPriv",
               "auth_protocol": "SHA", "auth_password": "short", "priv_protocol": "AES", "priv_password": API_AUTH_PASSWORD}),
        json!({"name": "bad4", "type": "ssh", "username": "u", "password": API_SSH_PASSWORD, "private_key": API_SSH_PASSWORD}),
    ] {
        let r = admin.post("/api/v1/credentials", &bad);
        assert!((400..500).contains(&r.status), "{}", r.text());
        captured.push((format!("POST bad credential {}", bad["name"]), r.text()));
    }
    let r = admin.request(
        "POST",
        "/api/v1/credentials",
        (
            "application/json",
            format!("{{\"community\": \"{API_COMMUNITY}\"").as_bytes(),
        ),
    );
    captured.push(("POST malformed credential".into(), r.text()));
    // A token created through the API is a secret from then on.
    let r = admin.post(
        "/api/v1/tokens",
        &json!({"name": format!("viewer-{suffix}"), "role": "viewer"}),
    );
    assert_eq!(r.status, 201);
    tokens.push(r.json()["token"].as_str().unwrap().to_string());
    // A failed login with a made-up token.
    let bogus = format!("ispm_leak-bogus-token-{suffix}");
    tokens.push(bogus.clone());
    let r = Api::new(&server.api_addr, Some(&bogus)).get("/api/v1/routers");
    assert_eq!(r.status, 401);
    captured.push(("bogus token".into(), r.text()));

    // Every target polled (failures included): wait until each shows the state it must.
    let expected = [
        ("snmp-v2", true),
        ("snmp-v3", true),
        ("ssh-password", true),
        ("ssh-key", true),
        ("loopback", true),
        ("snmp-wrong", false),
        ("ssh-wrong", false),
        ("snmp-dead", false),
        ("routeros-ok", true),
        ("routeros-wrong", false),
    ];
    let deadline = Instant::now() + Duration::from_secs(30);
    let metrics = loop {
        let metrics = server.get("/metrics");
        let state = |target: &str| {
            metrics
                .lines()
                .find(|l| {
                    l.starts_with("ispmonitor_target_up{")
                        && l.contains(&format!("target=\"{target}\""))
                })
                .map(|l| l.ends_with(" 1"))
        };
        let wrong: Vec<_> = expected
            .iter()
            .filter(|(target, up)| state(target) != Some(*up))
            .collect();
        if wrong.is_empty() {
            break metrics;
        }
        assert!(
            Instant::now() < deadline,
            "targets not in their expected state {wrong:?}: the run must really poll and really fail\n{}",
            server.logs().lines().filter(|l| l.contains("ssh")).take(20).collect::<Vec<_>>().join("\n")
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    captured.push(("/metrics".into(), metrics));
    for path in [
        "/probe?target=snmp-v2",
        "/probe?target=snmp-v3",
        "/probe?target=snmp-wrong",
        "/probe?target=ssh-key",
        "/probe?target=ssh-wrong",
        "/probe?target=127.0.0.1:1&module=system&credential=v3",
        "/probe?target=snmp-v2&credential=nope",
        "/health",
        "/",
    ] {
        captured.push((path.to_string(), server.get(path)));
    }
    // Every GET route of the API, path parameters filled with existing objects.
    let names = [
        ("{name}", format!("api_v2_{suffix}")),
        ("{id}", "1".to_string()),
    ];
    for route in ispmonitor::api::routes::all_routes() {
        if route.method != axum::http::Method::GET {
            continue;
        }
        let mut path = route.path.to_string();
        for (param, value) in &names {
            path = path.replace(param, value);
        }
        if path.contains("/routers/") {
            path = format!("/api/v1/routers/api-router-{suffix}");
        }
        let r = admin.get(&path);
        assert!(r.status < 500, "GET {path}: {}", r.status);
        captured.push((format!("GET {path}"), r.text()));
        for query in ["?format=csv", "?format=json"] {
            if path.ends_with("/export") {
                let r = admin.get(&format!("{path}{query}"));
                captured.push((format!("GET {path}{query}"), r.text()));
            }
        }
    }
    let logs = server.stop();
    assert!(
        logs.contains("TRACE") || logs.contains("\"level\":\"TRACE\""),
        "no trace lines: the run was not at trace level"
    );
    captured.push((format!("serve logs ({log_format})"), logs));
    (captured, tokens)
}

/// Every subcommand path, from the CLI definition.
fn subcommands(command: &clap::Command, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    out.push(prefix.clone());
    for sub in command.get_subcommands() {
        let mut path = prefix.clone();
        path.push(sub.get_name().to_string());
        subcommands(sub, path, out);
    }
}

fn run(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new(binary())
        .args(args)
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn no_secret_appears_in_logs_metrics_api_answers_help_or_diagnostics() {
    let world = world();
    let mut captured = Vec::new();
    let mut secrets: Vec<String> = [
        COMMUNITY,
        WRONG_COMMUNITY,
        AUTH_PASSWORD,
        PRIV_PASSWORD,
        KEY_PASSPHRASE,
        WRONG_SSH_PASSWORD,
        TEST_PASSWORD,
        DB_PASSWORD,
        API_COMMUNITY,
        API_AUTH_PASSWORD,
        API_SSH_PASSWORD,
        ROUTEROS_PASSWORD,
        WRONG_ROUTEROS_PASSWORD,
        API_ROUTEROS_PASSWORD,
        api::SECRET_KEY,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // The private key's base64 body lines are secrets too.
    let private_key = std::fs::read_to_string(world.dir.path().join("id_ed25519")).unwrap();
    secrets.extend(
        private_key
            .lines()
            .filter(|l| !l.starts_with("-----") && l.len() > 40)
            .map(str::to_string),
    );
    for format in ["text", "json"] {
        let (run_captured, tokens) = exercise(&world, format);
        captured.extend(run_captured);
        secrets.extend(tokens);
    }
    let env = [
        ("ISPMONITOR_DATABASE_URL", world.url.as_str()),
        ("ISPMONITOR_SECRET_KEY", api::SECRET_KEY),
    ];
    let mut paths = Vec::new();
    subcommands(
        &<ispmonitor::cli::Cli as clap::CommandFactory>::command(),
        Vec::new(),
        &mut paths,
    );
    assert!(paths.iter().any(|p| p == &["diagnostics"]));
    for path in &paths {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        captured.push((format!("{} --help", path.join(" ")), run(&args, &env)));
    }
    let config = world.config.to_str().unwrap();
    for output in ["text", "json"] {
        let report = run(
            &[
                "--log.level",
                "trace",
                "diagnostics",
                "--timeout",
                "1s",
                "--output",
                output,
                "--config",
                config,
            ],
            &env,
        );
        assert!(report.contains("<secret>"), "{report}");
        assert!(report.contains("snmp-v3"), "{report}");
        captured.push((format!("diagnostics --output {output}"), report));
    }
    let check = run(&["check-config", "--config", config], &env);
    captured.push(("check-config".into(), check));

    // The search must be able to fail: a planted value, base64-encoded, is found.
    let planted = vec![(
        "planted".to_string(),
        format!("x {} y", BASE64.encode(AUTH_PASSWORD.as_bytes())),
    )];
    assert!(
        !leaks(&planted, &secrets).is_empty(),
        "the leak search missed a planted secret"
    );
    let clean = vec![("clean".to_string(), "community: <secret>".to_string())];
    assert!(leaks(&clean, &secrets).is_empty());

    let found = leaks(&captured, &secrets);
    let bytes: usize = captured.iter().map(|(_, text)| text.len()).sum();
    println!(
        "searched {} outputs ({bytes} bytes) for {} secrets in {} forms each",
        captured.len(),
        secrets.len(),
        forms(COMMUNITY).len()
    );
    assert!(found.is_empty(), "secrets leaked:\n{}", found.join("\n"));
}
