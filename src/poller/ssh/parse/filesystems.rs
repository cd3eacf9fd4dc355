//! `df -P -k` (sizes) joined with `/proc/self/mounts` (fstypes), and the include/exclude filter.

use std::collections::HashMap;

use super::{number, ParseError};
use crate::config::FilesystemFilter;

const DF: &str = "df -P -k";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filesystem {
    pub mountpoint: String,
    pub device: String,
    pub fstype: String,
    pub size_bytes: u64,
    pub avail_bytes: u64,
}

/// One filesystem per mountpoint, in `df` order; when a mountpoint is listed twice (something
/// mounted over it) the last one wins, as it is the one visible there. `df -P` never wraps a
/// line; a mountpoint may hold spaces, so it is the rest of the line after the fifth field.
pub fn parse_filesystems(df: &str, mounts: &str) -> Result<Vec<Filesystem>, ParseError> {
    let fstypes = fstypes_by_mountpoint(mounts);
    let mut filesystems: Vec<Filesystem> = Vec::new();
    for (index, line) in df.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let (fields, mountpoint) = split_df_line(line).ok_or(ParseError::malformed(DF, index))?;
        let filesystem = Filesystem {
            fstype: fstypes.get(mountpoint).cloned().unwrap_or_default(),
            mountpoint: mountpoint.to_string(),
            device: fields[0].to_string(),
            size_bytes: number(fields[1], DF, index)?.saturating_mul(1024),
            avail_bytes: number(fields[3], DF, index)?.saturating_mul(1024),
        };
        filesystems.retain(|f| f.mountpoint != filesystem.mountpoint);
        filesystems.push(filesystem);
    }
    Ok(filesystems)
}

/// The five leading fields and the mountpoint (the rest, spaces included).
fn split_df_line(line: &str) -> Option<([&str; 5], &str)> {
    let mut rest = line.trim_start();
    let mut fields = [""; 5];
    for field in &mut fields {
        let end = rest.find(char::is_whitespace)?;
        *field = &rest[..end];
        rest = rest[end..].trim_start();
    }
    fields[4]
        .ends_with('%')
        .then_some((fields, rest.trim_end()))
        .filter(|(_, mountpoint)| mountpoint.starts_with('/'))
}

/// `/proc/self/mounts`: `device mountpoint fstype options 0 0`, with spaces in paths written as
/// octal escapes (`\040`). Later lines win, like the mount that is on top.
fn fstypes_by_mountpoint(mounts: &str) -> HashMap<String, String> {
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let _device = fields.next()?;
            let mountpoint = unescape_octal(fields.next()?);
            Some((mountpoint, fields.next()?.to_string()))
        })
        .collect()
}

fn unescape_octal(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape = bytes.get(i + 1..i + 4).filter(|_| bytes[i] == b'\\');
        let value = escape
            .and_then(|digits| std::str::from_utf8(digits).ok())
            .and_then(|digits| u8::from_str_radix(digits, 8).ok());
        match value {
            Some(byte) => {
                out.push(byte);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether the filter reports this filesystem. Excludes win over includes; an empty include
/// list means "everything".
pub fn is_reported(filesystem: &Filesystem, filter: &FilesystemFilter) -> bool {
    let fstype = filesystem.fstype.as_str();
    let mountpoint = filesystem.mountpoint.as_str();
    let included_type =
        filter.include_fstypes.is_empty() || filter.include_fstypes.iter().any(|t| t == fstype);
    let included_mount = filter.include_mountpoints.is_empty()
        || filter
            .include_mountpoints
            .iter()
            .any(|p| glob_matches(p, mountpoint));
    let excluded = filter.exclude_fstypes.iter().any(|t| t == fstype)
        || filter
            .exclude_mountpoints
            .iter()
            .any(|p| glob_matches(p, mountpoint));
    included_type && included_mount && !excluded
}

/// `*` matches any run of characters (slashes included); everything else matches itself.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let Some((first, rest)) = pattern.split_once('*') else {
        return pattern == text;
    };
    let Some(mut remaining) = text.strip_prefix(first) else {
        return false;
    };
    let mut pieces: Vec<&str> = rest.split('*').collect();
    let last = pieces.pop().unwrap_or_default();
    for piece in pieces {
        match remaining.find(piece) {
            Some(at) => remaining = &remaining[at + piece.len()..],
            None => return false,
        }
    }
    remaining.len() >= last.len() && remaining.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ModuleKind, SshModule};

    fn default_filter() -> FilesystemFilter {
        let built_in = crate::config::load_str("", std::path::Path::new(".")).unwrap();
        let ModuleKind::Ssh(SshModule { filesystems, .. }) = &built_in.modules["linux"].kind else {
            panic!("linux is an ssh module");
        };
        filesystems.clone()
    }

    fn reported(df: &str, mounts: &str) -> Vec<Filesystem> {
        let filter = default_filter();
        parse_filesystems(df, mounts)
            .unwrap()
            .into_iter()
            .filter(|f| is_reported(f, &filter))
            .collect()
    }

    #[test]
    fn gnu_df_with_default_filter() {
        let found = reported(
            include_str!("testdata/df_gnu.txt"),
            include_str!("testdata/mounts_gnu.txt"),
        );
        let mounts: Vec<&str> = found.iter().map(|f| f.mountpoint.as_str()).collect();
        assert_eq!(mounts, ["/", "/srv/data disk", "/mnt/nfs"]);
        assert_eq!(
            found[0],
            Filesystem {
                mountpoint: "/".into(),
                device: "/dev/sda1".into(),
                fstype: "ext4".into(),
                size_bytes: 61611820 * 1024,
                avail_bytes: 40016624 * 1024,
            }
        );
        assert_eq!(found[1].fstype, "xfs");
        assert_eq!(found[2].fstype, "nfs4");
    }

    #[test]
    fn busybox_df_and_overmounted_root() {
        let all = parse_filesystems(
            include_str!("testdata/df_busybox.txt"),
            include_str!("testdata/mounts_busybox.txt"),
        )
        .unwrap();
        let root = all.iter().find(|f| f.mountpoint == "/").unwrap();
        assert_eq!(
            (root.device.as_str(), root.fstype.as_str()),
            ("overlayfs:/overlay", "overlay")
        );
        assert_eq!(all.iter().filter(|f| f.mountpoint == "/").count(), 1);
        let found = reported(
            include_str!("testdata/df_busybox.txt"),
            include_str!("testdata/mounts_busybox.txt"),
        );
        let mounts: Vec<&str> = found.iter().map(|f| f.mountpoint.as_str()).collect();
        assert_eq!(mounts, ["/overlay"]);
        assert_eq!(found[0].size_bytes, 3788764 * 1024);
    }

    #[test]
    fn include_lists_and_globs() {
        let filter = FilesystemFilter {
            include_fstypes: vec![],
            exclude_fstypes: vec![],
            include_mountpoints: vec!["/srv/*".into()],
            exclude_mountpoints: vec![],
        };
        let all = parse_filesystems(
            include_str!("testdata/df_gnu.txt"),
            include_str!("testdata/mounts_gnu.txt"),
        )
        .unwrap();
        let found: Vec<&str> = all
            .iter()
            .filter(|f| is_reported(f, &filter))
            .map(|f| f.mountpoint.as_str())
            .collect();
        assert_eq!(found, ["/srv/data disk"]);
        assert!(glob_matches(
            "/var/lib/docker/*",
            "/var/lib/docker/overlay2/x/merged"
        ));
        assert!(glob_matches("/a*b*c", "/aXXbYYc"));
        assert!(!glob_matches("/a*b*c", "/aXXbYY"));
        assert!(!glob_matches("/dev/*", "/devices"));
        assert!(glob_matches("/dev", "/dev"));
    }

    #[test]
    fn malformed_df_line_is_an_error() {
        assert!(parse_filesystems("header\n/dev/sda1 x 8 4 1% /\n", "").is_err());
        assert!(parse_filesystems("header\nnonsense\n", "").is_err());
    }
}
