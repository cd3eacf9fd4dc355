//! The exporter-toolkit web config file (`--web.config.file`): parsed strictly, then built into TLS, basic-auth and header settings.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

use super::basic_auth::Users;
use super::tls;

/// The file as written. Unknown keys are errors, as in exporter-toolkit. No `Debug`: it holds
/// password hashes.
#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawWebConfig {
    tls_server_config: Option<RawTls>,
    http_server_config: Option<RawHttp>,
    basic_auth_users: Option<BTreeMap<String, String>>,
}

/// `tls_server_config`, with exporter-toolkit's field names (Go's `crypto/tls` vocabulary).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawTls {
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
    pub client_auth_type: Option<String>,
    pub client_ca_file: Option<String>,
    pub cipher_suites: Option<Vec<String>>,
    pub curve_preferences: Option<Vec<String>>,
    pub min_version: Option<String>,
    pub max_version: Option<String>,
    /// Accepted for compatibility and ignored: Go ignores it too since 1.18.
    pub prefer_server_cipher_suites: Option<bool>,
    pub client_allowed_sans: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawHttp {
    /// Accepted for compatibility: ispmonitor serves HTTP/1.1 only, so it offers no h2.
    #[allow(dead_code)]
    http2: Option<bool>,
    headers: Option<BTreeMap<String, String>>,
}

/// What a valid file turns into. Cheap to share: one `Arc` per generation of the file.
pub struct WebSettings {
    /// `None`: plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// `None`: no basic auth.
    pub users: Option<Arc<Users>>,
    /// `http_server_config.headers`, added to every response.
    pub headers: HeaderMap,
}

/// A problem in the web config file, naming the file and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct WebConfigError {
    pub file: String,
    /// YAML path, e.g. `tls_server_config.cert_file`; empty for the file as a whole.
    pub field: String,
    pub message: String,
}

impl fmt::Display for WebConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}: {}: {}", self.file, self.field, self.message)
        }
    }
}

/// A problem found while building, before the file name is attached.
#[derive(Debug)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The headers exporter-toolkit lets a web config set, with the values it allows (`None`: any).
const ALLOWED_HEADERS: &[(&str, Option<&[&str]>)] = &[
    ("Strict-Transport-Security", None),
    ("X-Content-Type-Options", Some(&["nosniff"])),
    ("X-Frame-Options", Some(&["deny", "sameorigin"])),
    ("X-XSS-Protection", None),
    ("Content-Security-Policy", None),
];

/// A parsed file and the directory its relative paths are resolved against.
pub struct ParsedWebConfig {
    raw: RawWebConfig,
    dir: PathBuf,
    file: String,
}

/// Reads and parses the file (no certificate is read yet).
pub fn parse_file(path: &Path) -> Result<ParsedWebConfig, WebConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| WebConfigError {
        file: file.clone(),
        field: String::new(),
        message: format!("cannot read the web config file: {e}"),
    })?;
    let raw: RawWebConfig = crate::config::parse_yaml(&text).map_err(|p| WebConfigError {
        file: file.clone(),
        field: p.path,
        message: p.message,
    })?;
    // exporter-toolkit resolves relative paths against the file's own directory.
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    Ok(ParsedWebConfig { raw, dir, file })
}

impl ParsedWebConfig {
    /// Whether the file turns TLS on.
    pub fn has_tls(&self) -> bool {
        self.raw.tls_server_config.is_some()
    }

    /// The certificate, key and CA files the file points at, for change detection.
    pub fn referenced_files(&self) -> Vec<PathBuf> {
        let Some(tls) = &self.raw.tls_server_config else {
            return Vec::new();
        };
        [&tls.cert_file, &tls.key_file, &tls.client_ca_file]
            .into_iter()
            .flatten()
            .map(|f| self.dir.join(f))
            .collect()
    }

    /// Reads the certificates and keys and checks every field.
    pub fn build(&self) -> Result<WebSettings, WebConfigError> {
        self.build_fields().map_err(|e| WebConfigError {
            file: self.file.clone(),
            field: e.field,
            message: e.message,
        })
    }

    fn build_fields(&self) -> Result<WebSettings, FieldError> {
        let tls = match &self.raw.tls_server_config {
            Some(raw) => Some(tls::server_config(raw, &self.dir)?),
            None => None,
        };
        let users = match &self.raw.basic_auth_users {
            Some(users) if !users.is_empty() => Some(Arc::new(Users::new(users)?)),
            _ => None,
        };
        let headers = match self.raw.http_server_config.as_ref() {
            Some(RawHttp {
                headers: Some(headers),
                ..
            }) => response_headers(headers)?,
            _ => HeaderMap::new(),
        };
        Ok(WebSettings {
            tls,
            users,
            headers,
        })
    }
}

/// `http_server_config.headers`: only the security headers exporter-toolkit allows.
fn response_headers(headers: &BTreeMap<String, String>) -> Result<HeaderMap, FieldError> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let field = format!("http_server_config.headers.{name}");
        let Some((_, allowed)) = ALLOWED_HEADERS.iter().find(|(n, _)| n == name) else {
            let names: Vec<&str> = ALLOWED_HEADERS.iter().map(|(n, _)| *n).collect();
            return Err(FieldError::new(
                field,
                format!(
                    "this header can not be configured; allowed: {}",
                    names.join(", ")
                ),
            ));
        };
        if let Some(values) = allowed {
            if !values.iter().any(|v| v.eq_ignore_ascii_case(value)) {
                return Err(FieldError::new(
                    field,
                    format!("must be one of: {}", values.join(", ")),
                ));
            }
        }
        let header_value = HeaderValue::from_str(value)
            .map_err(|_| FieldError::new(&field, "not a valid header value"))?;
        let header_name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| FieldError::new(&field, "not a valid header name"))?;
        map.insert(header_name, header_value);
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<ParsedWebConfig, WebConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.yml");
        std::fs::write(&path, yaml).unwrap();
        parse_file(&path)
    }

    #[test]
    fn unknown_key_is_an_error_naming_it() {
        let e = parse("tls_server_config:\n  cert_fil: a\n").err().unwrap();
        assert_eq!(e.field, "tls_server_config.cert_fil", "{e}");
        assert!(e.to_string().contains("web.yml"), "{e}");
    }

    #[test]
    fn empty_file_is_plain_http_without_auth() {
        let settings = parse("").unwrap().build().unwrap();
        assert!(settings.tls.is_none() && settings.users.is_none());
        assert!(settings.headers.is_empty());
    }

    #[test]
    fn only_security_headers_may_be_set() {
        let e = parse("http_server_config:\n  headers:\n    X-Foo: bar\n")
            .unwrap()
            .build()
            .err()
            .unwrap();
        assert_eq!(e.field, "http_server_config.headers.X-Foo");
        let e = parse("http_server_config:\n  headers:\n    X-Frame-Options: allow\n")
            .unwrap()
            .build()
            .err()
            .unwrap();
        assert!(e.message.contains("deny, sameorigin"), "{e}");
        let ok = parse("http_server_config:\n  headers:\n    X-Frame-Options: DENY\n")
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(ok.headers["x-frame-options"], "DENY");
    }

    #[test]
    fn relative_paths_resolve_against_the_file() {
        let parsed =
            parse("tls_server_config:\n  cert_file: c.pem\n  key_file: /abs/k.pem\n").unwrap();
        let files = parsed.referenced_files();
        assert!(files[0].ends_with("c.pem") && files[0].is_absolute());
        assert_eq!(files[1], PathBuf::from("/abs/k.pem"));
    }
}
