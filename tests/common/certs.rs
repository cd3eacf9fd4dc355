//! Test certificates made with the openssl CLI: a router's self-signed certificate, as the
//! simulator's API-SSL and the poller's TLS tests use.

use std::path::{Path, PathBuf};

/// Runs `openssl ARGS` in `dir`; panics with its stderr when it fails.
pub fn openssl(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl CLI (scripts/install-peers.sh installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A self-signed `{name}.crt`/`{name}.key` in `dir` for `san` (`IP:127.1.0.1`,
/// `DNS:edge-1`): a router's own certificate, not a CA (webpki refuses a CA certificate as
/// the server's own). Returns the certificate's and the key's paths.
pub fn self_signed(dir: &Path, name: &str, san: &str) -> (PathBuf, PathBuf) {
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
            &format!("subjectAltName={san}"),
            "-addext",
            "basicConstraints=critical,CA:FALSE",
        ],
    );
    (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    )
}
