//! `database:` and `api:`: where the PostgreSQL inventory lives and how its API is served.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::duration::parse_positive_duration;
use super::model::{Api, Database, License, OnlineValidation, Rate, RateLimits};
use super::raw::{RawApi, RawDatabase, RawLicense, RawRate};
use super::secret_source::{resolve_secret, SecretSource};
use super::validate::{int_in_range, Problems};

pub const DEFAULT_API_LISTEN_ADDRESS: &str = "0.0.0.0:8080";
const DEFAULT_POOL_SIZE: usize = 8;
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_RESYNC_INTERVAL: Duration = Duration::from_secs(60);
const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
const DEFAULT_AUDIT_RETENTION: Duration = Duration::from_secs(90 * 86_400);
const DEFAULT_ALERT_RETENTION: Duration = Duration::from_secs(90 * 86_400);
/// Generous enough for a script walking the whole inventory, low enough to stop a runaway loop.
const DEFAULT_PER_TOKEN: Rate = Rate {
    requests_per_second: 100.0,
    burst: 200,
};
const DEFAULT_PER_ADDRESS: Rate = Rate {
    requests_per_second: 200.0,
    burst: 400,
};

impl Default for Database {
    fn default() -> Self {
        validate_database(None, Path::new("."), &mut Problems::default())
    }
}

impl Default for License {
    fn default() -> Self {
        validate_license(None, Path::new("."), &mut Problems::default())
    }
}

impl Default for Api {
    fn default() -> Self {
        validate_api(None, &mut Problems::default())
    }
}

pub fn validate_database(
    raw: Option<&RawDatabase>,
    base_dir: &Path,
    problems: &mut Problems,
) -> Database {
    let empty = RawDatabase::default();
    let raw = raw.unwrap_or(&empty);
    let url = (raw.url.is_some() || raw.url_file.is_some())
        .then(|| {
            let source = SecretSource {
                parent_path: "database",
                field: "url",
                inline: raw.url.as_deref(),
                file: raw.url_file.as_deref(),
            };
            resolve_secret(&source, base_dir, problems)
        })
        .flatten();
    if let Some(url) = &url {
        check_database_url(url.expose(), problems);
    }
    let pool_size = raw
        .pool_size
        .and_then(|n| int_in_range("database.pool_size", n, 1..=1024, problems))
        .unwrap_or(DEFAULT_POOL_SIZE);
    Database {
        url,
        secret_key_file: raw.secret_key_file.as_ref().map(|f| base_dir.join(f)),
        pool_size,
        connect_timeout: duration_or(
            "database.connect_timeout",
            raw.connect_timeout.as_deref(),
            DEFAULT_CONNECT_TIMEOUT,
            problems,
        ),
        resync_interval: duration_or(
            "database.resync_interval",
            raw.resync_interval.as_deref(),
            DEFAULT_RESYNC_INTERVAL,
            problems,
        ),
        inventory_cache_file: raw
            .inventory_cache_file
            .as_deref()
            .and_then(|file| inventory_cache_file(file, base_dir, problems)),
    }
}

/// The cache file's path, relative to the config file. Only what would make every write
/// fail is refused: the file itself need not exist yet.
fn inventory_cache_file(file: &str, base_dir: &Path, problems: &mut Problems) -> Option<PathBuf> {
    const FIELD: &str = "database.inventory_cache_file";
    if file.is_empty() {
        problems.add(
            FIELD,
            "is empty (give a file path, or leave the option out)",
        );
        return None;
    }
    let path = base_dir.join(file);
    let parent = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if path.is_dir() {
        problems.add(
            FIELD,
            format!("{} is a directory, not a file", path.display()),
        );
    } else if !parent.is_dir() {
        problems.add(
            FIELD,
            format!(
                "the directory {} does not exist (create it, or point the option into an existing one)",
                parent.display()
            ),
        );
    }
    Some(path)
}

/// Only the scheme is checked here: the message must never echo the URL (it holds a password).
fn check_database_url(url: &str, problems: &mut Problems) {
    if !(url.starts_with("postgres://")
        || url.starts_with("postgresql://")
        || url.contains("host="))
    {
        problems.add(
            "database.url",
            "is not a PostgreSQL URL (postgres://user:password@host:5432/dbname or key=value form)",
        );
    }
}

pub fn validate_api(raw: Option<&RawApi>, problems: &mut Problems) -> Api {
    let empty = RawApi::default();
    let raw = raw.unwrap_or(&empty);
    let listen_address = match raw.listen_address.as_deref() {
        None => Some(DEFAULT_API_LISTEN_ADDRESS.to_string()),
        Some("none") | Some("") => None,
        Some(address) => {
            if address.parse::<SocketAddr>().is_err() {
                problems.add(
                    "api.listen_address",
                    format!("{address:?} is not a socket address (use e.g. 0.0.0.0:8080, or none)"),
                );
            }
            Some(address.to_string())
        }
    };
    let max_body_bytes = raw
        .max_body_bytes
        .and_then(|n| int_in_range("api.max_body_bytes", n, 1024..=1 << 30, problems))
        .unwrap_or(DEFAULT_MAX_BODY_BYTES);
    let limits = raw.rate_limit.as_ref();
    Api {
        listen_address,
        max_body_bytes,
        audit_retention: duration_or(
            "api.audit_retention",
            raw.audit_retention.as_deref(),
            DEFAULT_AUDIT_RETENTION,
            problems,
        ),
        alert_retention: duration_or(
            "api.alert_retention",
            raw.alert_retention.as_deref(),
            DEFAULT_ALERT_RETENTION,
            problems,
        ),
        rate_limit: RateLimits {
            per_token: rate(
                "api.rate_limit.per_token",
                limits.and_then(|l| l.per_token.as_ref()),
                DEFAULT_PER_TOKEN,
                problems,
            ),
            per_address: rate(
                "api.rate_limit.per_address",
                limits.and_then(|l| l.per_address.as_ref()),
                DEFAULT_PER_ADDRESS,
                problems,
            ),
        },
    }
}

const DEFAULT_VALIDATION_INTERVAL: Duration = Duration::from_secs(24 * 3600);
const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(72 * 3600);
const DEFAULT_VALIDATION_TIMEOUT: Duration = Duration::from_secs(10);

/// `license:`. The key file is read here, so a missing or wrong key is a config error (refused
/// at start and on reload); the license file is read by the license service instead, because a
/// bad license must never stop monitoring.
pub fn validate_license(
    raw: Option<&RawLicense>,
    base_dir: &Path,
    problems: &mut Problems,
) -> License {
    let empty = RawLicense::default();
    let raw = raw.unwrap_or(&empty);
    let public_key_file = raw.public_key_file.as_ref().map(|f| base_dir.join(f));
    let trusted_keys = crate::license::keys::TrustedKeys::load(public_key_file.as_deref())
        .unwrap_or_else(|e| {
            problems.add("license.public_key_file", e.to_string());
            crate::license::keys::TrustedKeys::load(None).expect("the built-in key loads")
        });
    let online = raw.server_url.as_deref().map(|url| {
        check_license_url(url, problems);
        OnlineValidation {
            server_url: url.trim_end_matches('/').to_string(),
            interval: duration_or(
                "license.validation_interval",
                raw.validation_interval.as_deref(),
                DEFAULT_VALIDATION_INTERVAL,
                problems,
            ),
            grace_period: duration_or(
                "license.grace_period",
                raw.grace_period.as_deref(),
                DEFAULT_GRACE_PERIOD,
                problems,
            ),
            timeout: duration_or(
                "license.validation_timeout",
                raw.validation_timeout.as_deref(),
                DEFAULT_VALIDATION_TIMEOUT,
                problems,
            ),
        }
    });
    if online.is_none() {
        for (field, set) in [
            ("validation_interval", raw.validation_interval.is_some()),
            ("grace_period", raw.grace_period.is_some()),
            ("validation_timeout", raw.validation_timeout.is_some()),
        ] {
            if set {
                problems.add(
                    format!("license.{field}"),
                    "only applies with license.server_url (online validation)",
                );
            }
        }
    }
    License {
        file: raw.file.as_ref().map(|f| base_dir.join(f)),
        trusted_keys,
        online,
    }
}

/// The URL may carry credentials (`https://user:password@...`): the problem names its scheme or
/// the parse error, never the URL itself.
fn check_license_url(url: &str, problems: &mut Problems) {
    let why = match reqwest::Url::parse(url) {
        Ok(parsed) if !matches!(parsed.scheme(), "http" | "https") => {
            format!("the scheme {:?} is not http or https", parsed.scheme())
        }
        Ok(parsed) if parsed.host().is_none() => "the URL has no host".to_string(),
        Ok(_) => return,
        Err(e) => format!("not a URL ({e})"),
    };
    problems.add(
        "license.server_url",
        format!("{why} (expected e.g. https://licenses.example.com)"),
    );
}

/// A rate of 0 requests per second turns the limit off.
fn rate(path: &str, raw: Option<&RawRate>, default: Rate, problems: &mut Problems) -> Option<Rate> {
    let Some(raw) = raw else {
        return Some(default);
    };
    let per_second = raw
        .requests_per_second
        .unwrap_or(default.requests_per_second);
    if !per_second.is_finite() || per_second < 0.0 {
        problems.add(
            format!("{path}.requests_per_second"),
            format!("{per_second} must be 0 (no limit) or more"),
        );
        return None;
    }
    if per_second == 0.0 {
        return None;
    }
    let burst = raw
        .burst
        .map(|b| int_in_range(&format!("{path}.burst"), b, 1..=1_000_000, problems))
        .unwrap_or(Some(default.burst))?;
    Some(Rate {
        requests_per_second: per_second,
        burst,
    })
}

fn duration_or(
    path: &str,
    text: Option<&str>,
    default: Duration,
    problems: &mut Problems,
) -> Duration {
    let Some(text) = text else {
        return default;
    };
    parse_positive_duration(text)
        .map_err(|message| problems.add(path, message))
        .unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database(yaml: &str) -> (Database, Vec<String>) {
        let raw: RawDatabase = serde_saphyr::from_str(yaml).unwrap();
        let mut problems = Problems::default();
        let db = validate_database(Some(&raw), Path::new("."), &mut problems);
        (
            db,
            problems.into_vec().iter().map(|p| p.to_string()).collect(),
        )
    }

    #[test]
    fn database_defaults_and_url() {
        let (db, problems) = database("url: postgres://u:hunter2@db:5432/ispmonitor");
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(db.pool_size, DEFAULT_POOL_SIZE);
        assert_eq!(db.resync_interval, DEFAULT_RESYNC_INTERVAL);
        assert_eq!(
            db.url.unwrap().expose(),
            "postgres://u:hunter2@db:5432/ispmonitor"
        );
    }

    #[test]
    fn a_bad_url_is_named_without_its_password() {
        let (_, problems) = database("url: mysql://u:hunter2@db/x");
        assert_eq!(problems.len(), 1);
        assert!(problems[0].starts_with("database.url:"), "{problems:?}");
        assert!(!problems[0].contains("hunter2"), "{problems:?}");
    }

    #[test]
    fn the_inventory_cache_file_needs_an_existing_directory() {
        let dir = tempfile::tempdir().unwrap();
        let check = |file: &str| {
            let raw: RawDatabase =
                serde_saphyr::from_str(&format!("inventory_cache_file: {file:?}")).unwrap();
            let mut problems = Problems::default();
            let db = validate_database(Some(&raw), dir.path(), &mut problems);
            let problems: Vec<String> = problems.into_vec().iter().map(|p| p.to_string()).collect();
            (db.inventory_cache_file, problems)
        };
        let (path, problems) = check("inventory.json");
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(path.unwrap(), dir.path().join("inventory.json"));
        assert_eq!(database("{}").0.inventory_cache_file, None);
        for (file, says) in [
            ("no-such-dir/inventory.json", "does not exist"),
            (".", "is a directory"),
            ("", "is empty"),
        ] {
            let (_, problems) = check(file);
            assert_eq!(problems.len(), 1, "{file}: {problems:?}");
            assert!(
                problems[0].starts_with("database.inventory_cache_file:"),
                "{problems:?}"
            );
            assert!(problems[0].contains(says), "{problems:?}");
        }
    }

    #[test]
    fn url_and_url_file_are_exclusive() {
        let (_, problems) = database("url: postgres://x\nurl_file: /nonexistent");
        assert!(
            problems[0].starts_with("database.url_file:"),
            "{problems:?}"
        );
    }

    fn license(yaml: &str) -> (License, Vec<String>) {
        let raw: RawLicense = serde_saphyr::from_str(yaml).unwrap();
        let mut problems = Problems::default();
        let license = validate_license(Some(&raw), Path::new("/etc/ispmonitor"), &mut problems);
        let problems = problems.into_vec().iter().map(|p| p.to_string()).collect();
        (license, problems)
    }

    #[test]
    fn license_defaults_and_online_validation() {
        let (off, problems) = license("file: license.lic");
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(off.file.unwrap(), Path::new("/etc/ispmonitor/license.lic"));
        assert_eq!(off.online, None);
        let (on, problems) = license("server_url: https://lic.example.com/\ngrace_period: 1h");
        assert!(problems.is_empty(), "{problems:?}");
        let online = on.online.unwrap();
        assert_eq!(online.server_url, "https://lic.example.com");
        assert_eq!(online.grace_period, Duration::from_secs(3600));
        assert_eq!(online.interval, DEFAULT_VALIDATION_INTERVAL);
    }

    #[test]
    fn license_problems_name_their_field() {
        let (_, problems) = license(
            "server_url: ftp://x\nvalidation_interval: soon\npublic_key_file: /nonexistent/key.pem",
        );
        let fields: Vec<&str> = problems
            .iter()
            .map(|p| p.split(':').next().unwrap())
            .collect();
        assert_eq!(
            fields,
            [
                "license.public_key_file",
                "license.server_url",
                "license.validation_interval"
            ],
            "{problems:?}"
        );
        let (_, problems) = license("grace_period: 1h");
        assert!(
            problems[0].starts_with("license.grace_period:"),
            "{problems:?}"
        );
        for url in ["ftp://user:s3cret@lic.example.com", "http//user:s3cret@lic"] {
            let (_, problems) = license(&format!("server_url: {url}"));
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert!(
                problems[0].starts_with("license.server_url:"),
                "{problems:?}"
            );
            assert!(!problems[0].contains("s3cret"), "{problems:?}");
        }
    }

    #[test]
    fn api_listen_none_disables_and_rates_validate() {
        let raw: RawApi = serde_saphyr::from_str(
            "listen_address: none\nrate_limit:\n  per_token: {requests_per_second: 0}\n  per_address: {requests_per_second: 5, burst: 0}",
        )
        .unwrap();
        let mut problems = Problems::default();
        let api = validate_api(Some(&raw), &mut problems);
        assert_eq!(api.listen_address, None);
        assert_eq!(api.rate_limit.per_token, None);
        let problems: Vec<String> = problems.into_vec().iter().map(|p| p.to_string()).collect();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("api.rate_limit.per_address.burst:"));
    }
}
