//! The on-disk copy of the database inventory (`database.inventory_cache_file`).
//!
//! A poller started while the database is down still polls every device it knew. The file holds the rows exactly as read (`StoredInventory`): credential secrets stay sealed
//! with the secret key, so nothing secret is written in clear, and loading goes through the
//! same `inventory::open` as a database read.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::store::inventory::StoredInventory;

/// Bumped whenever `StoredInventory`'s shape changes; a file of another version is ignored.
pub const FORMAT_VERSION: u64 = 1;

/// What the file holds.
#[derive(Serialize, Deserialize)]
struct CacheFile {
    format_version: u64,
    written_at_unix_seconds: u64,
    inventory: StoredInventory,
}

/// Only the version, read first so a file of another version is told apart from a corrupt one.
#[derive(Deserialize)]
struct Header {
    format_version: Option<u64>,
}

/// A cache file read back.
#[derive(Debug)]
pub struct Cached {
    pub inventory: StoredInventory,
    pub written_at: SystemTime,
}

/// Why a cache file is not used. Never fatal: the poller carries on without it.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cannot read it: {0}")]
    Read(io::Error),
    #[error("it is not an ispmonitor inventory cache file ({0})")]
    Corrupt(serde_json::Error),
    #[error("it has no format_version, so it is not an ispmonitor inventory cache file")]
    NoVersion,
    #[error("it has format version {found}; this ispmonitor reads version {FORMAT_VERSION}")]
    Version { found: u64 },
}

/// The file's bytes for `inventory` read at `at`.
pub fn encode(inventory: &StoredInventory, at: SystemTime) -> Vec<u8> {
    let file = CacheFile {
        format_version: FORMAT_VERSION,
        written_at_unix_seconds: at
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        inventory: inventory.clone(),
    };
    // Plain strings, maps and byte vectors: serializing them cannot fail.
    serde_json::to_vec(&file).expect("a StoredInventory serializes")
}

/// Reads `bytes` back, checking the format version first.
pub fn decode(bytes: &[u8]) -> Result<Cached, CacheError> {
    let header: Header = serde_json::from_slice(bytes).map_err(CacheError::Corrupt)?;
    match header.format_version {
        None => return Err(CacheError::NoVersion),
        Some(FORMAT_VERSION) => {}
        Some(found) => return Err(CacheError::Version { found }),
    }
    let file: CacheFile = serde_json::from_slice(bytes).map_err(CacheError::Corrupt)?;
    Ok(Cached {
        inventory: file.inventory,
        written_at: SystemTime::UNIX_EPOCH + Duration::from_secs(file.written_at_unix_seconds),
    })
}

/// The cache at `path`: `Ok(None)` when there is none yet.
pub fn read(path: &Path) -> Result<Option<Cached>, CacheError> {
    match fs::read(path) {
        Ok(bytes) => decode(&bytes).map(Some),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(CacheError::Read(error)),
    }
}

/// Where `write_atomically` stages `path`: a hidden file beside it, so the rename stays on
/// one file system and is atomic.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

/// Replaces `path` with `bytes` so that a reader (or a crash) sees the old file or the new
/// one, never half of one: temp file (mode 0600) in the same directory, fsync, rename, fsync
/// of the directory. The temp file is removed when anything fails.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let temp = temp_path(path);
    let result = stage_and_rename(&temp, path, bytes);
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

fn stage_and_rename(temp: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
    // A temp file left by a crash may have another mode: start afresh rather than reuse it.
    match fs::remove_file(temp) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
        _ => {}
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(temp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(temp, path)?;
    // The rename itself is only durable once the directory is.
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use serde_json::{json, Map, Value};

    use super::*;
    use crate::store::credential_fields;
    use crate::store::inventory::{self, StoredCredential, StoredDevice};
    use crate::store::SecretKey;

    const CLEAR_SECRET: &str = "cache-test-community-s3cret";

    fn key() -> SecretKey {
        SecretKey::parse(&"42".repeat(32), "test").unwrap()
    }

    fn stored(key: &SecretKey) -> StoredInventory {
        let Value::Object(secrets) = json!({"community": CLEAR_SECRET}) else {
            unreachable!()
        };
        let Value::Object(params) = json!({"version": "2c"}) else {
            unreachable!()
        };
        StoredInventory {
            credentials: vec![StoredCredential {
                name: "db-v2c".into(),
                credential_type: "snmp".into(),
                params,
                sealed: credential_fields::seal(key, "db-v2c", &secrets),
            }],
            devices: vec![StoredDevice {
                kind: "router".into(),
                name: "core-1".into(),
                address: "192.0.2.1".into(),
                credential: Some("db-v2c".into()),
                interval: Some("30s".into()),
                modules: vec!["system".into(), "if_mib".into()],
                labels: [("site".to_string(), "par".to_string())].into(),
                ..StoredDevice::default()
            }],
        }
    }

    #[test]
    fn written_read_and_opened_it_is_the_same_inventory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inventory.json");
        let key = key();
        let original = stored(&key);
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        write_atomically(&path, &encode(&original, at)).unwrap();

        let cached = read(&path).unwrap().expect("the file is there");
        assert_eq!(cached.inventory, original);
        assert_eq!(cached.written_at, at);
        let raw = inventory::open(&cached.inventory, Some(&key));
        assert!(raw.unreadable.is_empty());
        assert_eq!(
            raw.credentials["db-v2c"].community.as_deref(),
            Some(CLEAR_SECRET)
        );
        assert_eq!(raw.targets[0].name.as_deref(), Some("core-1"));
        assert_eq!(raw.targets[0].interval.as_deref(), Some("30s"));
    }

    #[test]
    fn the_file_holds_no_clear_secret_and_only_its_owner_reads_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inventory.json");
        write_atomically(&path, &encode(&stored(&key()), SystemTime::now())).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("core-1"), "{text}");
        assert!(!text.contains(CLEAR_SECRET), "{text}");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{mode:o}");
    }

    #[test]
    fn an_atomic_write_leaves_no_temp_file_and_replaces_the_old_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inventory.json");
        // A temp file left by a crash, with a looser mode, is replaced, not reused.
        fs::write(temp_path(&path), b"half a file").unwrap();
        fs::set_permissions(temp_path(&path), fs::Permissions::from_mode(0o644)).unwrap();
        let key = key();
        let mut inventory = stored(&key);
        write_atomically(&path, &encode(&inventory, SystemTime::now())).unwrap();
        inventory.devices[0].name = "core-2".into();
        write_atomically(&path, &encode(&inventory, SystemTime::now())).unwrap();

        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["inventory.json".to_string()]);
        let cached = read(&path).unwrap().unwrap();
        assert_eq!(cached.inventory.devices[0].name, "core-2");
    }

    #[test]
    fn a_failed_write_says_why_and_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-dir").join("inventory.json");
        let error = write_atomically(&path, b"{}").unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn no_file_is_no_cache() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(&dir.path().join("absent.json")).unwrap().is_none());
    }

    #[test]
    fn another_format_version_is_refused_by_name() {
        let mut value: Value =
            serde_json::from_slice(&encode(&stored(&key()), SystemTime::now())).unwrap();
        value["format_version"] = json!(FORMAT_VERSION + 1);
        let error = decode(&serde_json::to_vec(&value).unwrap()).unwrap_err();
        assert!(matches!(error, CacheError::Version { found } if found == FORMAT_VERSION + 1));
        assert!(error.to_string().contains("format version 2"), "{error}");
        value.as_object_mut().unwrap().remove("format_version");
        let error = decode(&serde_json::to_vec(&value).unwrap()).unwrap_err();
        assert!(matches!(error, CacheError::NoVersion), "{error}");
    }

    #[test]
    fn a_corrupt_file_is_an_error_not_a_panic() {
        let good = encode(&stored(&key()), SystemTime::now());
        let truncated = &good[..good.len() / 2];
        let mut wrong_shape: Map<String, Value> = Map::new();
        wrong_shape.insert("format_version".into(), json!(FORMAT_VERSION));
        wrong_shape.insert("inventory".into(), json!({"devices": "not a list"}));
        let wrong_shape = serde_json::to_vec(&wrong_shape).unwrap();
        for bytes in [truncated, b"\x00\xffnot json".as_slice(), &wrong_shape, b""] {
            let error = decode(bytes).unwrap_err();
            assert!(
                matches!(error, CacheError::Corrupt(_)),
                "{error} for {bytes:?}"
            );
        }
    }

    #[test]
    fn an_unreadable_path_is_a_read_error() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should be.
        let error = read(dir.path()).unwrap_err();
        assert!(matches!(error, CacheError::Read(_)), "{error}");
    }
}
