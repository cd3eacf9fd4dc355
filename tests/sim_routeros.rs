//! The simulator's RouterOS API against a small client written here on the shared word codec,
//! over real TCP and TLS to the real `ispmonitor simulate`: login, tags, pipelining, queries,
//! every scenario and fault knob, and agreement with what net-snmp reads over SNMP.

mod common;

use common::certs::self_signed;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::ispmonitor::sample_value;
use common::simulator::Simulator;
use ispmonitor::poller::routeros::word::{take_sentence, Command, Reply, ReplyKind};

const USER: &str = "simuser";
const PASSWORD: &str = "apipass123";

trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

/// A RouterOS API client: sends commands, reads reply sentences.
struct Api {
    stream: Box<dyn Stream>,
    buffer: Vec<u8>,
}

/// What reading one reply gave.
#[derive(Debug)]
enum Read1 {
    Reply(Reply),
    /// The router closed the connection; bytes of an unfinished sentence, if any.
    Closed(Vec<u8>),
    TimedOut,
}

impl Api {
    fn plain(address: &str) -> Api {
        let stream = TcpStream::connect(address).unwrap_or_else(|e| panic!("{address}: {e}"));
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Api {
            stream: Box::new(stream),
            buffer: Vec::new(),
        }
    }

    fn tls(address: &str, trusted: &Path) -> std::io::Result<Api> {
        let config = client_config(trusted);
        let ip: std::net::IpAddr = address.rsplit_once(':').unwrap().0.parse().unwrap();
        let name = rustls::pki_types::ServerName::IpAddress(ip.into());
        let connection = rustls::ClientConnection::new(config, name).unwrap();
        let tcp = TcpStream::connect(address)?;
        tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut stream = rustls::StreamOwned::new(connection, tcp);
        // Finish the handshake now, so a refused certificate shows here.
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock)?;
        }
        Ok(Api {
            stream: Box::new(stream),
            buffer: Vec::new(),
        })
    }

    fn send(&mut self, command: &Command) {
        self.stream.write_all(&command.encode()).unwrap();
        self.stream.flush().unwrap();
    }

    fn next(&mut self) -> Read1 {
        let mut chunk = [0u8; 16_384];
        loop {
            if let Some(words) = take_sentence(&mut self.buffer).unwrap() {
                if words.is_empty() {
                    continue;
                }
                return Read1::Reply(Reply::parse(&words).unwrap());
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return Read1::Closed(std::mem::take(&mut self.buffer)),
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Read1::TimedOut
                }
                Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                    return Read1::Closed(std::mem::take(&mut self.buffer))
                }
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    fn reply(&mut self) -> Reply {
        match self.next() {
            Read1::Reply(reply) => reply,
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    /// Every sentence up to and including the `!done` (or a `!fatal`).
    fn until_done(&mut self) -> Vec<Reply> {
        let mut replies = Vec::new();
        loop {
            let reply = self.reply();
            let last = matches!(reply.kind, ReplyKind::Done | ReplyKind::Fatal);
            replies.push(reply);
            if last {
                return replies;
            }
        }
    }

    fn run(&mut self, command: Command) -> Vec<Reply> {
        self.send(&command);
        self.until_done()
    }

    fn login(&mut self, user: &str, password: &str) -> Vec<Reply> {
        self.run(
            Command::new("/login")
                .attribute("name", user)
                .attribute("password", password),
        )
    }

    fn logged_in(address: &str) -> Api {
        let mut api = Api::plain(address);
        let replies = api.login(USER, PASSWORD);
        assert_eq!(kinds(&replies), [ReplyKind::Done], "{replies:?}");
        api
    }

    /// `print =count-only=` with queries.
    fn count(&mut self, path: &str, queries: &[&str]) -> u64 {
        let mut command = Command::new(path).attribute("count-only", "");
        for query in queries {
            command = command.query(query);
        }
        let replies = self.run(command);
        assert_eq!(kinds(&replies), [ReplyKind::Done], "{path}: {replies:?}");
        replies[0].get("ret").unwrap().parse().unwrap()
    }

    /// The rows of a print.
    fn rows(&mut self, command: Command) -> Vec<Reply> {
        let mut replies = self.run(command);
        assert_eq!(replies.pop().map(|r| r.kind), Some(ReplyKind::Done));
        assert!(
            replies.iter().all(|r| r.kind == ReplyKind::Re),
            "{replies:?}"
        );
        replies
    }

    fn resource(&mut self) -> Reply {
        let mut rows = self.rows(Command::new("/system/resource/print"));
        assert_eq!(rows.len(), 1);
        rows.remove(0)
    }

    fn pppoe(&mut self) -> u64 {
        self.count("/ppp/active/print", &["service=pppoe"])
    }
}

fn kinds(replies: &[Reply]) -> Vec<ReplyKind> {
    replies.iter().map(|r| r.kind).collect()
}

fn client_config(trusted: &Path) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_file_iter(trusted).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// RouterOS's `3w2d4h5m6s` in seconds.
fn uptime_seconds(text: &str) -> u64 {
    let mut total = 0;
    let mut number = 0;
    for c in text.chars() {
        match c {
            '0'..='9' => number = number * 10 + u64::from(c.to_digit(10).unwrap()),
            'w' | 'd' | 'h' | 'm' | 's' => {
                let unit = match c {
                    'w' => 604_800,
                    'd' => 86_400,
                    'h' => 3_600,
                    'm' => 60,
                    _ => 1,
                };
                total += number * unit;
                number = 0;
            }
            other => panic!("unexpected {other:?} in uptime {text:?}"),
        }
    }
    total
}

/// The API address of fleet device `device`, from `GET /routeros`.
fn api_address(sim: &Simulator, device: u64, key: &str) -> String {
    sim.routeros_endpoints()
        .iter()
        .find(|e| e["device"] == device)
        .unwrap_or_else(|| {
            panic!(
                "device {device} serves no API: {:?}",
                sim.routeros_endpoints()
            )
        })[key]
        .as_str()
        .unwrap()
        .to_string()
}

fn untyped(value: &str) -> String {
    value
        .split_once(": ")
        .map_or(value, |(_, rest)| rest)
        .trim()
        .to_string()
}

fn simulator_metric(sim: &Simulator, name: &str) -> f64 {
    let metrics = sim.metrics();
    sample_value(&metrics, name).unwrap_or_else(|| panic!("no {name} in\n{metrics}"))
}

#[test]
fn login_tags_pipelining_queries_and_quit() {
    let sim = Simulator::start(3, &["--mikrotik-devices", "1", "--freeze-time", "2000s"]);
    let endpoints = sim.routeros_endpoints();
    assert_eq!(endpoints.len(), 1, "{endpoints:?}");
    assert_eq!(endpoints[0]["name"], sim.devices[1].0.as_str());
    let address = api_address(&sim, 1, "address");
    let snmp_ip = sim.devices[1].1.rsplit_once(':').unwrap().0.to_string();
    assert!(address.starts_with(&format!("{snmp_ip}:")), "{address}");

    let mut api = Api::plain(&address);
    // Nothing is answered before a login.
    let early = api.run(Command::new("/system/resource/print").tagged("early"));
    assert_eq!(kinds(&early), [ReplyKind::Trap, ReplyKind::Done]);
    assert_eq!(early[0].get("message"), Some("not logged in"));
    assert!(early.iter().all(|r| r.tag.as_deref() == Some("early")));
    // A wrong password: a trap and a done, and the connection stays usable for /login.
    let refused = api.login(USER, "wrong-password");
    assert_eq!(kinds(&refused), [ReplyKind::Trap, ReplyKind::Done]);
    assert_eq!(
        refused[0].get("message"),
        Some("invalid user name or password (6)")
    );
    assert_eq!(kinds(&api.login("admin", PASSWORD))[0], ReplyKind::Trap);
    assert_eq!(kinds(&api.login(USER, PASSWORD)), [ReplyKind::Done]);

    // Four tagged commands in one write; the answers come in order, each sentence tagged.
    let commands = [
        Command::new("/ppp/active/print")
            .attribute("count-only", "")
            .query("service=pppoe")
            .tagged("a"),
        Command::new("/ppp/active/print")
            .attribute(".proplist", "name,service")
            .query("service=pppoe")
            .tagged("b"),
        Command::new("/no/such/print").tagged("c"),
        Command::new("/system/resource/print").tagged("d"),
    ];
    let bytes: Vec<u8> = commands.iter().flat_map(Command::encode).collect();
    api.stream.write_all(&bytes).unwrap();
    let mut answers = Vec::new();
    for _ in &commands {
        answers.push(api.until_done());
    }
    for (answer, tag) in answers.iter().zip(["a", "b", "c", "d"]) {
        assert!(
            answer.iter().all(|r| r.tag.as_deref() == Some(tag)),
            "{tag}: {answer:?}"
        );
    }
    let counted: usize = answers[0][0].get("ret").unwrap().parse().unwrap();
    let rows = &answers[1][..answers[1].len() - 1];
    assert!(counted >= 100, "{counted} PPPoE sessions");
    assert_eq!(rows.len(), counted);
    assert!(rows
        .iter()
        .all(|r| r.get("service") == Some("pppoe") && r.attributes.len() == 2));
    assert_eq!(kinds(&answers[2]), [ReplyKind::Trap, ReplyKind::Done]);
    assert_eq!(answers[2][0].get("message"), Some("no such command prefix"));
    let resource = &answers[3][0];
    assert_eq!(resource.get("board-name"), Some("CCR2004-1G-12S+2XS"));
    assert_eq!(resource.get("architecture-name"), Some("arm64"));
    assert_eq!(resource.get("cpu-count"), Some("4"));
    let version = resource.get("version").unwrap();
    assert!(
        version.starts_with("7.") && version.ends_with(" (stable)"),
        "{version}"
    );
    let load: u32 = resource.get("cpu-load").unwrap().parse().unwrap();
    assert!(load <= 100);
    let free: u64 = resource.get("free-memory").unwrap().parse().unwrap();
    let total: u64 = resource.get("total-memory").unwrap().parse().unwrap();
    assert!(free < total && total == 4_194_304 * 1024);

    // Every session is in the full print; the others are not PPPoE.
    let all = api.rows(Command::new("/ppp/active/print"));
    assert!(all.len() > counted);
    let pppoe = all.iter().filter(|r| r.get("service") == Some("pppoe"));
    assert_eq!(pppoe.count(), counted);

    // DHCP leases: each status's count-only matches its rows, bound is most of them.
    let mut sum = 0;
    for status in ispmonitor::poller::routeros::collect::LEASE_STATUSES {
        let query = format!("status={status}");
        let count = api.count("/ip/dhcp-server/lease/print", &[&query]);
        let rows = api.rows(Command::new("/ip/dhcp-server/lease/print").query(&query));
        assert_eq!(rows.len() as u64, count, "{status}");
        assert!(rows.iter().all(|r| r.get("status") == Some(status)));
        sum += count;
    }
    let leases = api.count("/ip/dhcp-server/lease/print", &[]);
    assert_eq!(sum, leases);
    let bound = api.count("/ip/dhcp-server/lease/print", &["status=bound"]);
    assert!(bound as f64 > 0.9 * leases as f64 && bound < leases);

    // Conntrack: the count is the tracking table's total, below its limit.
    let connections = api.count("/ip/firewall/connection/print", &[]);
    let tracking = api.rows(Command::new("/ip/firewall/connection/tracking/print"));
    let total: u64 = tracking[0].get("total-entries").unwrap().parse().unwrap();
    let max: u64 = tracking[0].get("max-entries").unwrap().parse().unwrap();
    assert_eq!(connections, total);
    assert!(connections > 40 * counted as u64 && connections < max);

    // Health in RouterOS 7 rows, the identity is the sysName.
    let health = api.rows(Command::new("/system/health/print"));
    let sensor = |name: &str| health.iter().find(|r| r.get("name") == Some(name)).unwrap();
    assert_eq!(sensor("temperature").get("type"), Some("C"));
    assert_eq!(sensor("cpu-temperature").get("type"), Some("C"));
    assert_eq!(sensor("voltage").get("type"), Some("V"));
    let identity = api.rows(Command::new("/system/identity/print"));
    assert_eq!(identity[0].get("name"), Some(sim.devices[1].0.as_str()));

    // An unsupported query operator is refused, not ignored.
    let refused = api.run(Command::new("/ppp/active/print").query("#|"));
    assert_eq!(kinds(&refused), [ReplyKind::Trap, ReplyKind::Done]);

    api.send(&Command::new("/quit"));
    let fatal = api.reply();
    assert_eq!(fatal.kind, ReplyKind::Fatal);
    assert_eq!(
        fatal.fatal_message.as_deref(),
        Some("session terminated on request")
    );
    assert!(matches!(api.next(), Read1::Closed(rest) if rest.is_empty()));

    assert!(simulator_metric(&sim, "ispmonitor_simulator_routeros_connections_total") >= 1.0);
    assert!(simulator_metric(&sim, "ispmonitor_simulator_routeros_logins_total") >= 1.0);
    assert!(simulator_metric(&sim, "ispmonitor_simulator_routeros_login_failures_total") >= 2.0);
    assert!(simulator_metric(&sim, "ispmonitor_simulator_routeros_commands_total") >= 20.0);
    assert_eq!(
        simulator_metric(&sim, "ispmonitor_simulator_routeros_devices"),
        1.0
    );
    assert!(!sim.log().contains(PASSWORD), "the API password is logged");
}

#[test]
fn snmp_and_the_api_agree_on_interfaces_and_uptime() {
    let sim = Simulator::start(2, &["--mikrotik-devices", "0", "--freeze-time", "5000s"]);
    let snmp = sim.devices[0].1.clone();
    let mut api = Api::logged_in(&api_address(&sim, 0, "address"));
    // Values without net-snmp's type prefix (`Counter64: 123` -> `123`).
    let walk = |oid: &str| -> Vec<String> {
        Simulator::net_snmp("snmpbulkwalk", &["-v2c", "-c", "public", &snmp, oid])
            .into_iter()
            .map(|(_, value)| untyped(&value))
            .collect()
    };
    let names = walk("1.3.6.1.2.1.31.1.1.1.1");
    let rx = walk("1.3.6.1.2.1.31.1.1.1.6");
    let tx = walk("1.3.6.1.2.1.31.1.1.1.10");
    let oper = walk("1.3.6.1.2.1.2.2.1.8");
    let rows = api.rows(
        Command::new("/interface/print")
            .attribute("stats", "")
            .attribute(".proplist", "name,type,running,disabled,rx-byte,tx-byte,rx-packet,tx-packet,rx-error,tx-error,rx-drop,tx-drop"),
    );
    assert_eq!(rows.len(), names.len());
    assert!(rows.len() >= 10);
    for (position, row) in rows.iter().enumerate() {
        // net-snmp with -Ox shows strings as hex: compare the bytes.
        let snmp_name: Vec<u8> = names[position]
            .split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect();
        assert_eq!(row.get("name").unwrap().as_bytes(), snmp_name.as_slice());
        assert_eq!(row.get("rx-byte"), Some(rx[position].as_str()), "{row:?}");
        assert_eq!(row.get("tx-byte"), Some(tx[position].as_str()), "{row:?}");
        let running = oper[position] == "1";
        assert_eq!(
            row.get("running"),
            Some(if running { "true" } else { "false" })
        );
        assert_eq!(row.attributes.len(), 12, "{row:?}");
    }
    let sys_up_time = Simulator::net_snmp(
        "snmpget",
        &["-v2c", "-c", "public", &snmp, "1.3.6.1.2.1.1.3.0"],
    );
    let ticks: u64 = untyped(&sys_up_time[0].1).parse().unwrap();
    let uptime = api.resource().get("uptime").unwrap().to_string();
    assert_eq!(
        uptime_seconds(&uptime),
        ticks / 100,
        "{uptime} vs {ticks} ticks"
    );
    assert!(ticks / 100 > 3 * 86_400);
}

#[test]
fn scenarios_move_the_api_numbers_the_right_way() {
    let sim = Simulator::start(2, &["--mikrotik-devices", "0,1", "--freeze-time", "3000s"]);
    let first = api_address(&sim, 0, "address");
    let second = api_address(&sim, 1, "address");
    let mut api = Api::logged_in(&first);
    let mut other = Api::logged_in(&second);
    let sessions = api.pppoe();
    let bystander = other.pppoe();
    let connections = api.count("/ip/firewall/connection/print", &[]);
    let running_uplinks = |api: &mut Api| {
        api.rows(Command::new("/interface/print").query("running=true"))
            .iter()
            .filter(|r| r.get("name").unwrap().starts_with("sfp28-"))
            .count()
    };
    assert_eq!(running_uplinks(&mut api), 2);

    let switch = |json: &str| {
        let (status, body) = sim.put_scenario(json);
        assert_eq!(status, 200, "{body}");
    };
    switch(r#"{"name": "session-spike", "devices": [0]}"#);
    let spiked = api.pppoe();
    assert!(
        spiked >= 2 * sessions - 1 && spiked <= 3 * sessions + 1,
        "{sessions} -> {spiked}"
    );
    let spiked_connections = api.count("/ip/firewall/connection/print", &[]);
    assert!(
        spiked_connections > connections,
        "{connections} -> {spiked_connections}"
    );
    assert_eq!(other.pppoe(), bystander);

    switch(r#"{"name": "upstream-outage", "devices": [0]}"#);
    let cut = api.pppoe();
    assert!(
        (cut as f64) < 0.11 * sessions as f64 && (cut as f64) > 0.04 * sessions as f64,
        "{sessions} -> {cut}"
    );
    assert_eq!(running_uplinks(&mut api), 0);
    assert!(api.count("/ip/firewall/connection/print", &[]) < connections / 5);
    assert_eq!(other.pppoe(), bystander);

    switch(r#"{"name": "healthy"}"#);
    // The clock is frozen: back to the very same numbers.
    assert_eq!(api.pppoe(), sessions);
    assert_eq!(running_uplinks(&mut api), 2);

    switch(r#"{"name": "slow-agent", "devices": [0], "delay_ms": 700}"#);
    let started = Instant::now();
    api.pppoe();
    assert!(started.elapsed() >= Duration::from_millis(700));
    let started = Instant::now();
    other.pppoe();
    assert!(started.elapsed() < Duration::from_millis(500));

    switch(r#"{"name": "router-down", "devices": [0]}"#);
    // The connection is accepted, the login never answered.
    let tcp = TcpStream::connect(&first).unwrap();
    tcp.set_read_timeout(Some(Duration::from_millis(800)))
        .unwrap();
    let mut dead = Api {
        stream: Box::new(tcp),
        buffer: Vec::new(),
    };
    dead.send(
        &Command::new("/login")
            .attribute("name", USER)
            .attribute("password", PASSWORD),
    );
    assert!(matches!(dead.next(), Read1::TimedOut));
    assert!(simulator_metric(&sim, "ispmonitor_simulator_routeros_dropped_total") >= 1.0);
    assert_eq!(other.pppoe(), bystander);

    switch(r#"{"name": "reboot", "devices": [0]}"#);
    let mut rebooted = Api::logged_in(&first);
    let uptime = rebooted.resource().get("uptime").unwrap().to_string();
    assert_eq!(uptime, "0s");
    // Nobody has reconnected the instant the router is back.
    assert_eq!(rebooted.pppoe(), 0);
    assert!(other.resource().get("uptime").unwrap().contains('w'));
}

#[test]
fn fault_knobs_trap_cut_refuse_and_reformat() {
    let sim = Simulator::start(2, &["--mikrotik-devices", "0,1"]);
    let first = api_address(&sim, 0, "address");
    let second = api_address(&sim, 1, "address");
    let read_back = || {
        common::http::get(&sim.control, "/routeros/faults")
            .unwrap()
            .json()
    };
    assert_eq!(read_back()["trap_commands"], serde_json::json!([]));
    assert_eq!(read_back()["cut_mid_reply"], false);

    let (status, body) = sim.put(
        "/routeros/faults",
        r#"{"trap_commands": ["/system/health/print"], "devices": [0]}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(read_back()["devices"], serde_json::json!([0]));
    let mut faulty = Api::logged_in(&first);
    let trapped = faulty.run(Command::new("/system/health/print").tagged("h"));
    assert_eq!(kinds(&trapped), [ReplyKind::Trap, ReplyKind::Done]);
    assert!(trapped[0]
        .get("message")
        .unwrap()
        .starts_with("action timed out"));
    assert!(trapped.iter().all(|r| r.tag.as_deref() == Some("h")));
    // Other commands on the same device, and the same command elsewhere, still answer.
    assert!(faulty.pppoe() > 0);
    let mut healthy = Api::logged_in(&second);
    assert!(healthy.rows(Command::new("/system/health/print")).len() >= 3);

    let (status, _) = sim.put(
        "/routeros/faults",
        r#"{"cut_mid_reply": true, "devices": [0]}"#,
    );
    assert_eq!(status, 200);
    let mut cut = Api::logged_in(&first);
    cut.send(&Command::new("/system/resource/print"));
    match cut.next() {
        Read1::Closed(partial) => assert!(!partial.is_empty(), "nothing was written"),
        other => panic!("expected a cut reply, got {other:?}"),
    }
    assert!(healthy.pppoe() > 0);

    let (status, _) = sim.put("/routeros/faults", r#"{"reject_logins": true}"#);
    assert_eq!(status, 200);
    let mut refused = Api::plain(&second);
    let replies = refused.login(USER, PASSWORD);
    assert_eq!(kinds(&replies), [ReplyKind::Trap, ReplyKind::Done]);
    assert_eq!(
        replies[0].get("message"),
        Some("invalid user name or password (6)")
    );

    let (status, _) = sim.put("/routeros/faults", r#"{"uptime_format": "clock"}"#);
    assert_eq!(status, 200);
    let uptime = healthy.resource().get("uptime").unwrap().to_string();
    assert!(
        uptime.contains('w') && uptime.matches(':').count() == 2,
        "{uptime}"
    );

    let (status, body) = sim.put("/routeros/faults", r#"{"devices": [5]}"#);
    assert_eq!(status, 400);
    assert!(body.contains("devices: device 5"), "{body}");
    let (status, _) = sim.put("/routeros/faults", r#"{"trap_everything": true}"#);
    assert!(status >= 400);
    // The refused requests left the last good one in force.
    assert_eq!(read_back()["uptime_format"], "clock");

    let (status, _) = sim.put("/routeros/faults", "{}");
    assert_eq!(status, 200);
    let mut again = Api::logged_in(&first);
    assert!(again.rows(Command::new("/system/health/print")).len() >= 3);
    assert!(simulator_metric(&sim, "ispmonitor_simulator_routeros_cut_replies_total") >= 1.0);
    assert!(simulator_metric(&sim, "ispmonitor_simulator_routeros_traps_total") >= 2.0);
}

#[test]
fn api_ssl_serves_the_same_api_to_clients_that_trust_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    self_signed(dir.path(), "api", "IP:127.1.0.1");
    self_signed(dir.path(), "stranger", "IP:127.1.0.1");
    let cert = dir.path().join("api.crt");
    let key = dir.path().join("api.key");
    let sim = Simulator::start(
        1,
        &[
            "--mikrotik-devices",
            "0",
            "--routeros-tls-cert",
            cert.to_str().unwrap(),
            "--routeros-tls-key",
            key.to_str().unwrap(),
        ],
    );
    let tls_address = api_address(&sim, 0, "tls_address");
    let plain_address = api_address(&sim, 0, "address");
    assert_ne!(tls_address, plain_address);

    let mut api = Api::tls(&tls_address, &cert).expect("TLS handshake");
    assert_eq!(
        kinds(&api.login(USER, "wrong-password"))[0],
        ReplyKind::Trap
    );
    assert_eq!(kinds(&api.login(USER, PASSWORD)), [ReplyKind::Done]);
    assert_eq!(api.resource().get("board-name"), Some("CCR2004-1G-12S+2XS"));
    assert!(api.pppoe() > 0);

    // A client that trusts another certificate refuses this one.
    let error = Api::tls(&tls_address, &dir.path().join("stranger.crt"))
        .err()
        .expect("a handshake with an untrusted certificate must fail");
    assert!(
        error.to_string().to_lowercase().contains("certificate"),
        "{error}"
    );
    // The plain API is still there, next to API-SSL.
    assert!(Api::logged_in(&plain_address).pppoe() > 0);
    let deadline = Instant::now() + Duration::from_secs(5);
    while simulator_metric(
        &sim,
        "ispmonitor_simulator_routeros_tls_handshake_failures_total",
    ) < 1.0
    {
        assert!(
            Instant::now() < deadline,
            "the failed handshake was not counted"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn half_a_tls_configuration_is_refused_naming_the_flags() {
    let output = std::process::Command::new(common::ispmonitor::binary())
        .args([
            "simulate",
            "--devices",
            "1",
            "--port",
            "0",
            "--control.listen-address",
            "none",
            "--routeros-tls-cert",
            "/nonexistent/cert.pem",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--routeros-tls-key"), "{stderr}");
}
