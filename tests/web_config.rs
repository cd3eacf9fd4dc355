//! `--web.config.file` against the real binary with real clients: certificates from the openssl
//! CLI, requests with reqwest (rustls), promtool and a real Prometheus scraping over TLS with
//! basic auth.

mod common;

use common::certs::openssl;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::ispmonitor::{binary, free_tcp_port, sample_value};

const PASSWORD: &str = "scrape-Pa55word";
const CONFIG: &str = "global: {interval: 1s, timeout: 800ms}\ntargets: []\n";

// ---------------------------------------------------------------------------------------------
// Certificates (openssl CLI)

/// A CA `{name}.crt`/`{name}.key` in `dir`.
fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

/// A server certificate for 127.0.0.1 and localhost.
const SERVER: (&str, &str) = ("IP:127.0.0.1,DNS:localhost", "serverAuth");
/// A client certificate for prometheus.test.
const CLIENT: (&str, &str) = ("DNS:prometheus.test", "clientAuth");

/// A leaf `{name}.crt`/`{name}.key` signed by `ca`, with a SAN and extended key usage.
fn make_leaf(dir: &Path, ca: &str, name: &str, (san, usage): (&str, &str)) {
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={name}"),
        ],
    );
    let ext = format!("{name}.ext");
    std::fs::write(
        dir.join(&ext),
        format!("subjectAltName={san}\nextendedKeyUsage={usage}\nbasicConstraints=CA:FALSE\n"),
    )
    .unwrap();
    let serial = format!("0x{:x}", rand::random::<u64>());
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.crt"),
            "-CAkey",
            &format!("{ca}.key"),
            "-set_serial",
            &serial,
            "-days",
            "2",
            "-out",
            &format!("{name}.crt"),
            "-extfile",
            &ext,
        ],
    );
}

/// A directory with CA `ca`, server `server` (127.0.0.1) and client `client` certificates.
fn pki() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    make_ca(dir.path(), "ca");
    make_leaf(dir.path(), "ca", "server", SERVER);
    make_leaf(dir.path(), "ca", "client", CLIENT);
    dir
}

fn read(dir: &Path, file: &str) -> Vec<u8> {
    std::fs::read(dir.join(file)).unwrap()
}

/// Replaces a file the way a Secret volume or cert-manager does: a new file renamed over it.
fn replace(path: &Path, contents: &[u8]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn bcrypt_hash(password: &str) -> String {
    // Cost 10, as htpasswd -B and exporter-toolkit's docs use: checks cost tens of ms.
    bcrypt::hash(password, 10).unwrap()
}

// ---------------------------------------------------------------------------------------------
// The server under test

struct Server {
    child: Child,
    addr: String,
    api_addr: String,
    dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap()
            .success());
    }
}

/// Starts `ispmonitor serve --web.config.file web_config`; returns once `ready` says so.
fn start(web_config: &Path, extra: &[&str], ready: impl Fn(&str) -> bool) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, CONFIG).unwrap();
    let addr = format!("127.0.0.1:{}", free_tcp_port());
    let api_addr = format!("127.0.0.1:{}", free_tcp_port());
    let log = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
    let child = Command::new(binary())
        .args(["--log.level", "debug", "serve", "--config"])
        .arg(&config)
        .args([
            "--web.listen-address",
            &addr,
            "--api.listen-address",
            &api_addr,
        ])
        .arg("--web.config.file")
        .arg(web_config)
        .args(extra)
        .env_remove("ISPMONITOR_DATABASE_URL")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("start ispmonitor");
    let mut server = Server {
        child,
        addr,
        api_addr,
        dir,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if ready(&server.addr) {
            return server;
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("ispmonitor exited with {status}: {}", server.logs());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("ispmonitor never became ready: {}", server.logs());
}

/// Runs ispmonitor with a web config that must be refused; returns its exit code and stderr.
fn start_refused(web_config: &Path) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, CONFIG).unwrap();
    let addr = format!("127.0.0.1:{}", free_tcp_port());
    let out = Command::new(binary())
        .args(["serve", "--config"])
        .arg(&config)
        .args([
            "--web.listen-address",
            &addr,
            "--api.listen-address",
            "none",
        ])
        .arg("--web.config.file")
        .arg(web_config)
        .env_remove("ISPMONITOR_DATABASE_URL")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

// ---------------------------------------------------------------------------------------------
// Clients

/// An HTTPS client trusting `ca_pem` only, with an optional client identity; a fresh
/// connection per request (no pool), so each request sees the certificate in force.
struct Client {
    inner: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Client {
    fn new(ca_pem: &[u8], identity_pem: Option<Vec<u8>>) -> Client {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(ca_pem).unwrap())
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(10));
        if let Some(pem) = identity_pem {
            builder = builder.identity(reqwest::Identity::from_pem(&pem).unwrap());
        }
        Client {
            inner: builder.build().unwrap(),
            runtime,
        }
    }

    fn get(&self, url: &str, auth: Option<(&str, &str)>) -> Result<Reply, String> {
        self.runtime.block_on(async {
            let mut request = self.inner.get(url);
            if let Some((user, password)) = auth {
                request = request.basic_auth(user, Some(password));
            }
            let response = request.send().await.map_err(|e| format!("{e:?}"))?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = response.text().await.map_err(|e| format!("{e:?}"))?;
            Ok(Reply {
                status,
                headers,
                body,
            })
        })
    }

    fn status(&self, url: &str, auth: Option<(&str, &str)>) -> u16 {
        match self.get(url, auth) {
            Ok(reply) => reply.status,
            Err(e) => panic!("GET {url}: {e}"),
        }
    }

    fn ready(&self, addr: &str) -> bool {
        self.get(&format!("https://{addr}/ready"), None)
            .is_ok_and(|r| r.status == 200)
    }
}

/// The web config file in `dir`: TLS with `server.crt`, one bcrypt user, and `extra` YAML.
fn write_web_config(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("web.yml");
    std::fs::write(
        &path,
        format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n{extra}\
             basic_auth_users:\n  prometheus: {}\n",
            bcrypt_hash(PASSWORD)
        ),
    )
    .unwrap();
    path
}

fn promtool_check_web_config(path: &Path) {
    let out = Command::new("promtool")
        .args(["check", "web-config"])
        .arg(path)
        .output()
        .expect("promtool is installed by scripts/install-peers.sh");
    assert!(
        out.status.success(),
        "promtool check web-config {}: {}{}",
        path.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A raw plain-HTTP request to a TLS port: whatever comes back must not be an HTTP answer.
fn plain_http_answer(addr: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = stream.write_all(b"GET /live HTTP/1.0\r\nHost: x\r\n\r\n");
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    String::from_utf8_lossy(&raw).into_owned()
}

// ---------------------------------------------------------------------------------------------
// Tests

/// TLS, basic auth on everything but the health endpoints, the configured headers, the API
/// over TLS with its own bearer auth, promtool's verdict on the same file, secrets kept out
/// of logs and metrics, and /ready going 503 over TLS on SIGTERM.
#[test]
fn tls_and_basic_auth_guard_metrics_and_probe_but_not_health() {
    let pki = pki();
    let web = write_web_config(
        pki.path(),
        "http_server_config:\n  headers:\n    X-Frame-Options: deny\n",
    );
    promtool_check_web_config(&web);
    let client = Client::new(&read(pki.path(), "ca.crt"), None);
    let server = start(&web, &["--web.shutdown-delay", "3s"], |a| client.ready(a));
    let base = format!("https://{}", server.addr);
    let right = Some(("prometheus", PASSWORD));

    for path in [
        "/metrics",
        "/probe?target=nowhere&module=if_mib",
        "/",
        "/-/reload",
    ] {
        let url = format!("{base}{path}");
        let missing = client.get(&url, None).unwrap();
        assert_eq!(missing.status, 401, "{path} without a password");
        assert_eq!(missing.headers["www-authenticate"], "Basic", "{path}");
        assert_eq!(
            client.status(&url, Some(("prometheus", "wrong"))),
            401,
            "{path}"
        );
        assert_eq!(
            client.status(&url, Some(("nobody", PASSWORD))),
            401,
            "{path}"
        );
    }
    let metrics = client.get(&format!("{base}/metrics"), right).unwrap();
    assert_eq!(metrics.status, 200);
    assert_eq!(metrics.headers["x-frame-options"], "deny");
    // The right password reaches /probe itself (which refuses the unknown target).
    let probe = client.status(&format!("{base}/probe?target=nowhere&module=if_mib"), right);
    assert_eq!(probe, 400);
    for path in ["/live", "/-/healthy", "/ready", "/-/ready", "/health"] {
        let reply = client.get(&format!("{base}{path}"), None).unwrap();
        assert_eq!(reply.status, 200, "{path} must not need a password");
        assert_eq!(reply.headers["x-frame-options"], "deny", "{path}");
    }
    let failures = "ispmonitor_web_basic_auth_failures_total{listener=\"web\"}";
    let body = client.get(&format!("{base}/metrics"), right).unwrap().body;
    assert_eq!(sample_value(&body, failures), Some(12.0), "{body}");

    // Plain HTTP to the TLS port gets no HTTP answer, and counts as a failed handshake.
    let answer = plain_http_answer(&server.addr);
    assert!(
        !answer.starts_with("HTTP/"),
        "plain HTTP was answered: {answer}"
    );
    let body = client.get(&format!("{base}/metrics"), right).unwrap().body;
    let handshakes = "ispmonitor_web_tls_handshake_failures_total{listener=\"web\"}";
    assert!(sample_value(&body, handshakes) >= Some(1.0), "{body}");

    // The API speaks TLS too. basic_auth_users do not apply to it: its bearer tokens do, and
    // without a database (as here) its reads are open and need no password at all.
    let api = format!("https://{}", server.api_addr);
    assert_eq!(
        client.status(&format!("{api}/api/v1/openapi.json"), None),
        200
    );
    assert_eq!(client.status(&format!("{api}/api/v1/routers"), None), 200);
    let plain = plain_http_answer(&server.api_addr);
    assert!(
        !plain.starts_with("HTTP/"),
        "plain HTTP API was answered: {plain}"
    );

    // No secret in what the process said or exposes.
    let key = String::from_utf8(read(pki.path(), "server.key")).unwrap();
    let key_body: String = key.lines().filter(|l| !l.starts_with("-----")).collect();
    let hash = std::fs::read_to_string(&web).unwrap();
    let hash = hash.rsplit(' ').next().unwrap().trim().to_string();
    let logs = server.logs();
    for secret in [PASSWORD, hash.as_str(), key_body.as_str()] {
        assert!(
            !logs.contains(secret) && !body.contains(secret),
            "a secret leaked"
        );
    }

    // Graceful shutdown still starts with /ready 503, over TLS.
    server.signal("-TERM");
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut last = 0;
    while Instant::now() < deadline && last != 503 {
        last = client.status(&format!("{base}/ready"), None);
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        last, 503,
        "/ready must answer 503 during the shutdown delay"
    );
    // Then the TLS listeners close and the process exits cleanly.
    let mut server = server;
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "no exit after SIGTERM: {}",
            server.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}: {}", server.logs());
}

/// A rewritten certificate and key are served to the next connection without a restart; a
/// broken rewrite keeps the previous ones in force and the metrics say so.
#[test]
fn rotated_certificate_is_served_and_a_broken_rewrite_keeps_the_old_one() {
    let pki = pki();
    make_ca(pki.path(), "ca2");
    make_leaf(pki.path(), "ca2", "server2", SERVER);
    let web = write_web_config(pki.path(), "");
    let old_ca = Client::new(&read(pki.path(), "ca.crt"), None);
    let new_ca = Client::new(&read(pki.path(), "ca2.crt"), None);
    let server = start(&web, &[], |a| old_ca.ready(a));
    let live = format!("https://{}/live", server.addr);
    assert!(new_ca.get(&live, None).is_err(), "ca2 must not verify yet");

    replace(
        &pki.path().join("server.key"),
        &read(pki.path(), "server2.key"),
    );
    replace(
        &pki.path().join("server.crt"),
        &read(pki.path(), "server2.crt"),
    );
    assert_eq!(
        new_ca.status(&live, None),
        200,
        "the rotated certificate is served"
    );
    assert!(
        old_ca.get(&live, None).is_err(),
        "the old certificate is gone"
    );

    // Broken: a certificate that is not PEM. The rotated pair stays in force.
    replace(&pki.path().join("server.crt"), b"not a certificate\n");
    assert_eq!(new_ca.status(&live, None), 200);
    let metrics_url = format!("https://{}/metrics", server.addr);
    let body = new_ca
        .get(&metrics_url, Some(("prometheus", PASSWORD)))
        .unwrap()
        .body;
    let ok = "ispmonitor_web_config_last_reload_successful{listener=\"web\"}";
    let failures = "ispmonitor_web_config_reload_failures_total{listener=\"web\"}";
    assert_eq!(sample_value(&body, ok), Some(0.0), "{body}");
    assert_eq!(sample_value(&body, failures), Some(1.0), "{body}");
    let logs = server.logs();
    assert!(
        logs.contains("web config reread refused") && logs.contains("tls_server_config.cert_file"),
        "the refusal must be logged with the field: {logs}"
    );

    // A good file again: back to successful.
    replace(
        &pki.path().join("server.crt"),
        &read(pki.path(), "server2.crt"),
    );
    let body = new_ca
        .get(&metrics_url, Some(("prometheus", PASSWORD)))
        .unwrap()
        .body;
    assert_eq!(sample_value(&body, ok), Some(1.0), "{body}");

    // A new password applies without a restart too.
    let new_hash = bcrypt_hash("rotated-password");
    let text = std::fs::read_to_string(&web).unwrap();
    let text = text.replace(text.rsplit(' ').next().unwrap().trim(), &new_hash);
    replace(&web, text.as_bytes());
    assert_eq!(
        new_ca.status(&metrics_url, Some(("prometheus", PASSWORD))),
        401
    );
    assert_eq!(
        new_ca.status(&metrics_url, Some(("prometheus", "rotated-password"))),
        200
    );
}

/// RequireAndVerifyClientCert: no certificate, or one from another CA, is refused at the
/// handshake; the CA's client certificate gets in. client_allowed_sans narrows it further.
#[test]
fn required_client_certificate_refuses_clients_without_one() {
    let pki = pki();
    make_ca(pki.path(), "other");
    make_leaf(pki.path(), "other", "stranger", CLIENT);
    let mtls = "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n";
    let web = write_web_config(pki.path(), mtls);
    promtool_check_web_config(&web);
    let ca = read(pki.path(), "ca.crt");
    let identity = |name: &str| {
        let mut pem = read(pki.path(), &format!("{name}.crt"));
        pem.extend(read(pki.path(), &format!("{name}.key")));
        Some(pem)
    };
    let with_cert = Client::new(&ca, identity("client"));
    let server = start(&web, &[], |a| with_cert.ready(a));
    let live = format!("https://{}/live", server.addr);

    let without = Client::new(&ca, None);
    assert!(
        without.get(&live, None).is_err(),
        "no client certificate must be refused"
    );
    let stranger = Client::new(&ca, identity("stranger"));
    assert!(
        stranger.get(&live, None).is_err(),
        "another CA's certificate must be refused"
    );
    assert_eq!(with_cert.status(&live, None), 200);
    drop(server);

    // Allowed SANs (too new for promtool 2.42, so only ispmonitor reads this file).
    let sans = format!("{mtls}  client_allowed_sans: [other.test]\n");
    let web = write_web_config(pki.path(), &sans);
    let refused = Client::new(&ca, identity("client"));
    let server = start(&web, &[], |a| {
        // Ready means: the port answers TLS at all (the handshake is refused for our SAN).
        TcpStream::connect(a).is_ok()
    });
    let live = format!("https://{}/live", server.addr);
    assert!(
        refused.get(&live, None).is_err(),
        "a SAN outside the list must be refused"
    );
    let sans = format!("{mtls}  client_allowed_sans: [other.test, prometheus.test]\n");
    replace(&web, write_web_config_text(pki.path(), &sans).as_bytes());
    assert_eq!(refused.status(&live, None), 200, "a listed SAN gets in");
}

fn write_web_config_text(dir: &Path, extra: &str) -> String {
    let path = write_web_config(dir, extra);
    std::fs::read_to_string(path).unwrap()
}

/// Clients that connect and never send a ClientHello hold up nobody else.
#[test]
fn silent_clients_do_not_block_the_others() {
    let pki = pki();
    let web = write_web_config(pki.path(), "");
    let client = Client::new(&read(pki.path(), "ca.crt"), None);
    let server = start(&web, &[], |a| client.ready(a));
    let silent: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(&server.addr).unwrap())
        .collect();
    let started = Instant::now();
    assert_eq!(
        client.status(&format!("https://{}/live", server.addr), None),
        200
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a request behind 20 silent connections took {:?}",
        started.elapsed()
    );
    drop(silent);
}

/// A bad file stops the start with the file and the field named, and no secret printed.
#[test]
fn bad_web_config_is_a_startup_error_naming_file_and_field() {
    let pki = pki();
    let cases = [
        ("tls_server_config:\n  cert_file: server.crt\n  key_fil: server.key\n", "tls_server_config.key_fil"),
        ("tls_server_config:\n  cert_file: server.crt\n", "tls_server_config.key_file"),
        ("tls_server_config:\n  cert_file: server.crt\n  key_file: ca.key\n", "does not match"),
        ("basic_auth_users:\n  prometheus: plain-text-password\n", "basic_auth_users.prometheus"),
        ("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS11\n", "tls_server_config.min_version"),
    ];
    for (yaml, expected) in cases {
        let path = pki.path().join("bad.yml");
        std::fs::write(&path, yaml).unwrap();
        let (code, stderr) = start_refused(&path);
        assert_ne!(code, Some(0), "{yaml} was accepted");
        assert!(
            stderr.contains("bad.yml"),
            "the file is not named: {stderr}"
        );
        assert!(stderr.contains(expected), "{expected:?} not in: {stderr}");
        assert!(
            !stderr.contains("plain-text-password"),
            "a secret leaked: {stderr}"
        );
    }
}

/// examples/web-config.yml, next to certificates with the names it uses, passes promtool and
/// starts ispmonitor.
#[test]
fn example_web_config_passes_promtool_and_serves() {
    let pki = pki();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/web-config.yml");
    let text = std::fs::read_to_string(&example).unwrap();
    let path = pki.path().join("web-config.yml");
    std::fs::write(&path, &text).unwrap();
    std::fs::copy(pki.path().join("server.crt"), pki.path().join("tls.crt")).unwrap();
    std::fs::copy(pki.path().join("server.key"), pki.path().join("tls.key")).unwrap();
    promtool_check_web_config(&path);
    let client = Client::new(&read(pki.path(), "ca.crt"), None);
    let server = start(&path, &[], |a| client.ready(a));
    let metrics = format!("https://{}/metrics", server.addr);
    assert_eq!(client.status(&metrics, None), 401);
    // The example's documented password.
    assert_eq!(
        client.status(&metrics, Some(("prometheus", "change-me"))),
        200
    );
}

/// A real Prometheus scrapes /metrics over TLS with basic auth.
#[test]
fn prometheus_scrapes_over_tls_with_basic_auth() {
    let pki = pki();
    let web = write_web_config(pki.path(), "");
    let client = Client::new(&read(pki.path(), "ca.crt"), None);
    let server = start(&web, &[], |a| client.ready(a));
    let prom_dir = tempfile::tempdir().unwrap();
    let prom_config = prom_dir.path().join("prometheus.yml");
    std::fs::write(
        &prom_config,
        format!(
            "global: {{scrape_interval: 1s, scrape_timeout: 1s}}\n\
             scrape_configs:\n\
             \x20 - job_name: secured\n\
             \x20   scheme: https\n\
             \x20   tls_config: {{ca_file: '{}'}}\n\
             \x20   basic_auth: {{username: prometheus, password: '{PASSWORD}'}}\n\
             \x20   static_configs: [{{targets: ['{}']}}]\n\
             \x20 - job_name: wrong_password\n\
             \x20   scheme: https\n\
             \x20   tls_config: {{ca_file: '{}'}}\n\
             \x20   basic_auth: {{username: prometheus, password: wrong}}\n\
             \x20   static_configs: [{{targets: ['{}']}}]\n",
            pki.path().join("ca.crt").display(),
            server.addr,
            pki.path().join("ca.crt").display(),
            server.addr,
        ),
    )
    .unwrap();
    let prom_addr = format!("127.0.0.1:{}", free_tcp_port());
    let mut prometheus = Command::new("prometheus")
        .arg(format!("--config.file={}", prom_config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            prom_dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address={prom_addr}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus is installed by scripts/install-peers.sh");
    let up = |job: &str| -> Option<String> {
        let url = format!("/api/v1/query?query=up%7Bjob%3D%22{job}%22%7D");
        let reply = common::http::get(&prom_addr, &url).ok()?;
        let json: serde_json::Value = serde_json::from_slice(&reply.body).ok()?;
        json["data"]["result"][0]["value"][1]
            .as_str()
            .map(String::from)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut secured, mut wrong) = (None, None);
    while Instant::now() < deadline && (secured.is_none() || wrong.is_none()) {
        secured = up("secured");
        wrong = up("wrong_password");
        std::thread::sleep(Duration::from_millis(250));
    }
    let _ = prometheus.kill();
    let _ = prometheus.wait();
    assert_eq!(
        secured.as_deref(),
        Some("1"),
        "TLS + basic auth scrape failed"
    );
    assert_eq!(
        wrong.as_deref(),
        Some("0"),
        "a wrong password must fail the scrape"
    );
}
