//! Talking to the inventory API in tests: the `migrate`/`token` commands, and JSON requests
//! with a bearer token.

use std::process::{Command, Output};

use super::http::{self, Response};
use super::ispmonitor::binary;

/// A fixed test key (32 bytes, base64): tests assert it never shows up anywhere either.
pub const SECRET_KEY: &str = "7oNciiMv96EN8Y3i4SC5IaPMOP68Oftr90DPKIAh9SY=";

/// Runs `ispmonitor ARGS` against `database_url` and returns its output.
pub fn cli(database_url: &str, args: &[&str]) -> Output {
    Command::new(binary())
        .args(args)
        .env("ISPMONITOR_DATABASE_URL", database_url)
        .env("ISPMONITOR_SECRET_KEY", SECRET_KEY)
        .env_remove("RUST_LOG")
        .output()
        .expect("run ispmonitor")
}

/// `ispmonitor migrate`, which must succeed.
pub fn migrate(database_url: &str) -> String {
    let out = cli(database_url, &["migrate"]);
    assert!(
        out.status.success(),
        "migrate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `ispmonitor token create`: the token is the last line of stdout.
pub fn create_token(database_url: &str, role: &str, name: &str) -> String {
    let out = cli(
        database_url,
        &["token", "create", "--role", role, "--name", name],
    );
    assert!(
        out.status.success(),
        "token create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .last()
        .expect("a token line")
        .trim()
        .to_string()
}

/// A client for one API address, with or without a token.
#[derive(Clone)]
pub struct Api {
    pub addr: String,
    pub token: Option<String>,
}

impl Api {
    pub fn new(addr: &str, token: Option<&str>) -> Api {
        Api {
            addr: addr.to_string(),
            token: token.map(str::to_string),
        }
    }

    /// `body` is (Content-Type, bytes).
    pub fn request(&self, method: &str, path: &str, body: (&str, &[u8])) -> Response {
        let (content_type, body) = body;
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let mut headers: Vec<(&str, &str)> = vec![("Content-Type", content_type)];
        if let Some(auth) = &auth {
            headers.push(("Authorization", auth));
        }
        let req = http::Req {
            method,
            path,
            headers: &headers,
            body,
        };
        http::send(&self.addr, &req).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path, ("application/json", b""))
    }

    pub fn post(&self, path: &str, json: &serde_json::Value) -> Response {
        self.request(
            "POST",
            path,
            ("application/json", json.to_string().as_bytes()),
        )
    }

    pub fn put(&self, path: &str, json: &serde_json::Value) -> Response {
        self.request(
            "PUT",
            path,
            ("application/json", json.to_string().as_bytes()),
        )
    }

    pub fn delete(&self, path: &str) -> Response {
        self.request("DELETE", path, ("application/json", b""))
    }
}
