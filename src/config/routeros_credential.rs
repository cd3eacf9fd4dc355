//! `credentials:` entries of `type: routeros`: a MikroTik API user and password, and how the
//! API-SSL connection is verified (certificate checks are on unless explicitly turned off).

use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use super::model::{Credential, RouterOsCredential, RouterOsTls};
use super::raw::RawCredential;
use super::secret_source::{resolve_secret, SecretSource};
use super::validate::Problems;

/// Where a credential is and where its relative files are read from.
pub struct RouterOsContext<'a> {
    pub path: &'a str,
    pub base_dir: &'a Path,
}

/// Validates one `type: routeros` credential; messages never quote the password.
pub fn validate_routeros_credential(
    context: &RouterOsContext<'_>,
    raw: &RawCredential,
    problems: &mut Problems,
) -> Option<Credential> {
    let before = problems.len();
    reject_other_protocols_fields(context.path, raw, problems);
    let username = username(context.path, raw.username.as_deref(), problems);
    let source = SecretSource {
        parent_path: context.path,
        field: "password",
        inline: raw.password.as_deref(),
        file: raw.password_file.as_deref(),
    };
    let password = resolve_secret(&source, context.base_dir, problems);
    let tls = tls_settings(context, raw, problems);
    if problems.len() != before {
        return None;
    }
    Some(Credential::RouterOs(RouterOsCredential {
        username: username?,
        password: password?,
        tls: tls?,
    }))
}

/// SNMP and SSH fields on a RouterOS credential are reported rather than ignored.
fn reject_other_protocols_fields(path: &str, raw: &RawCredential, problems: &mut Problems) {
    let foreign = raw
        .snmp_fields_set()
        .into_iter()
        .chain(raw.ssh_fields_set());
    for (field, is_set) in foreign {
        if is_set {
            problems.add(
                format!("{path}.{field}"),
                "does not apply to a routeros credential (it takes username, password(_file), \
                 tls, ca_file, server_name, insecure_skip_verify)",
            );
        }
    }
}

fn username(path: &str, username: Option<&str>, problems: &mut Problems) -> Option<String> {
    match username {
        // RouterOS user names are printable and have no '=' (the API's attribute separator).
        Some(name) if !name.is_empty() && !name.chars().any(|c| c.is_control() || c == '=') => {
            Some(name.to_string())
        }
        Some(_) => {
            problems.add(
                format!("{path}.username"),
                "is empty or holds control characters or '='",
            );
            None
        }
        None => {
            problems.add(format!("{path}.username"), "missing");
            None
        }
    }
}

/// `Some(None)`: plain API; `Some(Some(..))`: API-SSL; `None`: a problem was reported.
fn tls_settings(
    context: &RouterOsContext<'_>,
    raw: &RawCredential,
    problems: &mut Problems,
) -> Option<Option<RouterOsTls>> {
    let path = context.path;
    if raw.tls != Some(true) {
        let tls_only = [
            ("ca_file", raw.ca_file.is_some()),
            ("server_name", raw.server_name.is_some()),
            ("insecure_skip_verify", raw.insecure_skip_verify.is_some()),
        ];
        let mut ok = true;
        for (field, is_set) in tls_only {
            if is_set {
                problems.add(format!("{path}.{field}"), "only applies with tls: true");
                ok = false;
            }
        }
        return ok.then_some(None);
    }
    let insecure_skip_verify = raw.insecure_skip_verify == Some(true);
    if insecure_skip_verify && raw.ca_file.is_some() {
        problems.add(
            format!("{path}.ca_file"),
            "is not used with insecure_skip_verify: true; set only one",
        );
        return None;
    }
    let ca_certificates = match raw.ca_file.as_deref() {
        Some(file) => read_ca_file(&context.base_dir.join(file))
            .map_err(|message| problems.add(format!("{path}.ca_file"), message))
            .ok()?,
        None => Vec::new(),
    };
    let server_name = match raw.server_name.as_deref() {
        Some(name) => Some(
            check_server_name(name)
                .map_err(|message| problems.add(format!("{path}.server_name"), message))
                .ok()?,
        ),
        None => None,
    };
    Some(Some(RouterOsTls {
        ca_certificates,
        server_name,
        insecure_skip_verify,
    }))
}

/// Every certificate of a PEM file, as DER; an error names the file.
fn read_ca_file(path: &Path) -> Result<Vec<Vec<u8>>, String> {
    let shown = path.display();
    std::fs::metadata(path).map_err(|e| format!("cannot read {shown}: {}", e.kind()))?;
    let certificates: Vec<Vec<u8>> = CertificateDer::pem_file_iter(path)
        .map_err(|_| format!("cannot read {shown}"))?
        .map(|cert| cert.map(|c| c.as_ref().to_vec()))
        .collect::<Result<_, _>>()
        .map_err(|_| format!("{shown} holds a malformed PEM certificate"))?;
    if certificates.is_empty() {
        return Err(format!("{shown} holds no PEM certificate"));
    }
    Ok(certificates)
}

fn check_server_name(name: &str) -> Result<String, String> {
    rustls::pki_types::ServerName::try_from(name.to_string())
        .map(|_| name.to_string())
        .map_err(|_| format!("{name:?} is not a DNS name or IP address"))
}
