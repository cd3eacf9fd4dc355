//! `tls_server_config` to a rustls `ServerConfig` on the ring provider, with Go's names for versions, suites, curves and client-auth types.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{
    verify_tls12_signature, verify_tls13_signature, CryptoProvider, WebPkiSupportedAlgorithms,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, NamedGroup, RootCertStore,
    ServerConfig, SignatureScheme, SupportedProtocolVersion,
};

use super::web_config::{FieldError, RawTls};

const FIELD: &str = "tls_server_config";

/// The five client-auth policies of Go's `crypto/tls`, as exporter-toolkit names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientAuth {
    None,
    /// Ask for a certificate, accept any (or none).
    Request,
    /// Require a certificate, accept any.
    RequireAny,
    /// Verify a certificate if one is sent.
    VerifyIfGiven,
    /// Require a certificate signed by `client_ca_file`.
    RequireAndVerify,
}

impl ClientAuth {
    fn parse(text: Option<&str>) -> Result<ClientAuth, FieldError> {
        Ok(match text.unwrap_or("") {
            "" | "NoClientCert" => ClientAuth::None,
            "RequestClientCert" => ClientAuth::Request,
            "RequireAnyClientCert" => ClientAuth::RequireAny,
            "VerifyClientCertIfGiven" => ClientAuth::VerifyIfGiven,
            "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerify,
            other => {
                return Err(FieldError::new(
                    format!("{FIELD}.client_auth_type"),
                    format!(
                        "unknown value {other:?}; one of NoClientCert, RequestClientCert, \
                         RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert"
                    ),
                ))
            }
        })
    }
}

/// Builds the server config: reads the certificate chain, the key (checked against the
/// certificate) and the client CAs, relative to `dir`.
pub fn server_config(raw: &RawTls, dir: &Path) -> Result<Arc<ServerConfig>, FieldError> {
    let (Some(cert_file), Some(key_file)) = (&raw.cert_file, &raw.key_file) else {
        let missing = if raw.cert_file.is_none() {
            "cert_file"
        } else {
            "key_file"
        };
        return Err(FieldError::new(
            format!("{FIELD}.{missing}"),
            "required when tls_server_config is present (TLS needs cert_file and key_file)",
        ));
    };
    let provider = Arc::new(provider(raw)?);
    let versions = protocol_versions(raw)?;
    let verifier = client_verifier(raw, dir, &provider)?;
    let certs = read_certificates(&dir.join(cert_file), "cert_file")?;
    let key = read_key(&dir.join(key_file))?;
    let builder = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| FieldError::new(FIELD, format!("no usable TLS settings: {e}")))?;
    let builder = match verifier {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => FieldError::new(
            format!("{FIELD}.key_file"),
            "the private key does not match the certificate in cert_file",
        ),
        other => FieldError::new(
            format!("{FIELD}.key_file"),
            format!("unusable certificate or key: {other}"),
        ),
    })?;
    // HTTP/1.1 only (see docs/web-config.md): a client that offers h2 and http/1.1 gets the latter.
    config.alpn_protocols = vec![b"http/1.1".to_vec(), b"http/1.0".to_vec()];
    Ok(Arc::new(config))
}

/// The ring provider, narrowed to `cipher_suites` (TLS 1.2 only, as in Go: TLS 1.3 suites are
/// not configurable) and ordered by `curve_preferences`.
fn provider(raw: &RawTls) -> Result<CryptoProvider, FieldError> {
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(names) = &raw.cipher_suites {
        let field = format!("{FIELD}.cipher_suites");
        let all = provider.cipher_suites.clone();
        let tls12_names = || -> Vec<String> {
            all.iter()
                .filter(|s| s.tls13().is_none())
                .map(|s| format!("{:?}", s.suite()))
                .collect()
        };
        let mut chosen: Vec<_> = all
            .iter()
            .filter(|s| s.tls13().is_some())
            .cloned()
            .collect();
        for name in names {
            // Go also knows the ChaCha20 suites without the `_SHA256` suffix.
            let full = if name.ends_with("_POLY1305") {
                format!("{name}_SHA256")
            } else {
                name.clone()
            };
            match all.iter().find(|s| format!("{:?}", s.suite()) == full) {
                Some(s) if s.tls13().is_some() => {} // always on, as in Go
                Some(s) => chosen.push(*s),
                None => {
                    return Err(FieldError::new(
                        &field,
                        format!(
                        "{name} is not supported (rustls offers only AEAD ECDHE suites): use {}",
                        tls12_names().join(", ")
                    ),
                    ))
                }
            }
        }
        provider.cipher_suites = chosen;
    }
    if let Some(names) = &raw.curve_preferences {
        let field = format!("{FIELD}.curve_preferences");
        let mut groups = Vec::new();
        for name in names {
            let wanted = match name.as_str() {
                "X25519" => NamedGroup::X25519,
                "CurveP256" => NamedGroup::secp256r1,
                "CurveP384" => NamedGroup::secp384r1,
                other => {
                    return Err(FieldError::new(
                        &field,
                        format!("{other} is not supported: use X25519, CurveP256 or CurveP384"),
                    ))
                }
            };
            if let Some(group) = provider.kx_groups.iter().find(|g| g.name() == wanted) {
                groups.push(*group);
            }
        }
        provider.kx_groups = groups;
    }
    Ok(provider)
}

/// `min_version` (default TLS12) to `max_version` (default TLS13).
fn protocol_versions(raw: &RawTls) -> Result<Vec<&'static SupportedProtocolVersion>, FieldError> {
    let rank = |field: &str, text: Option<&str>, default: u8| -> Result<u8, FieldError> {
        match text {
            None | Some("") => Ok(default),
            Some("TLS12") => Ok(12),
            Some("TLS13") => Ok(13),
            Some("TLS10" | "TLS11") => Err(FieldError::new(
                format!("{FIELD}.{field}"),
                "TLS 1.0 and 1.1 are not supported: use TLS12 or TLS13",
            )),
            Some(other) => Err(FieldError::new(
                format!("{FIELD}.{field}"),
                format!("unknown TLS version {other:?}: use TLS12 or TLS13"),
            )),
        }
    };
    let min = rank("min_version", raw.min_version.as_deref(), 12)?;
    let max = rank("max_version", raw.max_version.as_deref(), 13)?;
    if min > max {
        return Err(FieldError::new(
            format!("{FIELD}.min_version"),
            "is above max_version",
        ));
    }
    let mut versions = Vec::new();
    if min <= 12 {
        versions.push(&rustls::version::TLS12);
    }
    if max >= 13 {
        versions.push(&rustls::version::TLS13);
    }
    Ok(versions)
}

/// The verifier for `client_auth_type`, `client_ca_file` and `client_allowed_sans`; `None`
/// when no client certificate is asked for.
fn client_verifier(
    raw: &RawTls,
    dir: &Path,
    provider: &Arc<CryptoProvider>,
) -> Result<Option<Arc<dyn ClientCertVerifier>>, FieldError> {
    let auth = ClientAuth::parse(raw.client_auth_type.as_deref())?;
    let sans = raw.client_allowed_sans.as_deref().unwrap_or_default();
    if !sans.is_empty() && auth != ClientAuth::RequireAndVerify {
        return Err(FieldError::new(
            format!("{FIELD}.client_allowed_sans"),
            "needs client_auth_type RequireAndVerifyClientCert",
        ));
    }
    let algorithms = provider.signature_verification_algorithms;
    let verifier: Arc<dyn ClientCertVerifier> = match auth {
        ClientAuth::None => {
            if raw.client_ca_file.is_some() {
                // exporter-toolkit refuses this too: a CA that is never asked for is a mistake.
                return Err(FieldError::new(
                    format!("{FIELD}.client_ca_file"),
                    "set without a client_auth_type that asks for client certificates",
                ));
            }
            return Ok(None);
        }
        ClientAuth::Request | ClientAuth::RequireAny => Arc::new(AnyClientCert {
            mandatory: auth == ClientAuth::RequireAny,
            algorithms,
        }),
        ClientAuth::VerifyIfGiven | ClientAuth::RequireAndVerify => {
            let Some(ca_file) = &raw.client_ca_file else {
                return Err(FieldError::new(
                    format!("{FIELD}.client_ca_file"),
                    "required by client_auth_type VerifyClientCertIfGiven or RequireAndVerifyClientCert",
                ));
            };
            let mut roots = RootCertStore::empty();
            for cert in read_certificates(&dir.join(ca_file), "client_ca_file")? {
                roots.add(cert).map_err(|e| {
                    FieldError::new(format!("{FIELD}.client_ca_file"), format!("{e}"))
                })?;
            }
            let builder =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            let builder = if auth == ClientAuth::VerifyIfGiven {
                builder.allow_unauthenticated()
            } else {
                builder
            };
            builder
                .build()
                .map_err(|e| FieldError::new(format!("{FIELD}.client_ca_file"), format!("{e}")))?
        }
    };
    if sans.is_empty() {
        return Ok(Some(verifier));
    }
    let allowed = sans
        .iter()
        .map(|san| {
            ServerName::try_from(san.as_str())
                .map(|name| name.to_owned())
                .map_err(|_| {
                    FieldError::new(
                        format!("{FIELD}.client_allowed_sans"),
                        format!("{san:?} is not a DNS name or IP address"),
                    )
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Arc::new(AllowedSans {
        inner: verifier,
        allowed,
    })))
}

fn read_certificates(path: &Path, field: &str) -> Result<Vec<CertificateDer<'static>>, FieldError> {
    let field = format!("{FIELD}.{field}");
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| FieldError::new(&field, format!("cannot read {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(FieldError::new(
            field,
            format!("no PEM certificate in {}", path.display()),
        ));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, FieldError> {
    // The error names the file and what went wrong, never the key's bytes.
    PrivateKeyDer::from_pem_file(path).map_err(|e| {
        FieldError::new(
            format!("{FIELD}.key_file"),
            format!("cannot read a PEM private key from {}: {e}", path.display()),
        )
    })
}

/// `RequestClientCert` / `RequireAnyClientCert`: any certificate is taken without checking its
/// issuer, but the client must still prove it holds the key (the handshake signature is checked).
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// `client_allowed_sans`: after the CA check, the client certificate must be valid for one of
/// the listed names (DNS names and IP addresses, matched as a server name would be).
#[derive(Debug)]
struct AllowedSans {
    inner: Arc<dyn ClientCertVerifier>,
    allowed: Vec<ServerName<'static>>,
}

impl ClientCertVerifier for AllowedSans {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        let cert = webpki::EndEntityCert::try_from(end_entity)
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        if self
            .allowed
            .iter()
            .any(|name| cert.verify_is_valid_for_subject_name(name).is_ok())
        {
            Ok(verified)
        } else {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls(yaml: &str) -> RawTls {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn versions_follow_go_names_and_defaults() {
        assert_eq!(protocol_versions(&tls("{}")).unwrap().len(), 2);
        assert_eq!(
            protocol_versions(&tls("{min_version: TLS13}")).unwrap(),
            vec![&rustls::version::TLS13]
        );
        let e = protocol_versions(&tls("{min_version: TLS10}")).unwrap_err();
        assert_eq!(e.field, "tls_server_config.min_version");
        let e = protocol_versions(&tls("{min_version: TLS13, max_version: TLS12}")).unwrap_err();
        assert!(e.message.contains("above"), "{e:?}");
    }

    #[test]
    fn cipher_suites_take_go_names_and_refuse_cbc() {
        let p = provider(&tls(
            "{cipher_suites: [TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305]}",
        ))
        .unwrap();
        let tls12: Vec<_> = p
            .cipher_suites
            .iter()
            .filter(|s| s.tls13().is_none())
            .collect();
        assert_eq!(tls12.len(), 1);
        let e = provider(&tls("{cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA]}")).unwrap_err();
        assert!(e.message.contains("TLS_RSA_WITH_AES_128_CBC_SHA"), "{e:?}");
        let e = provider(&tls("{curve_preferences: [CurveP521]}")).unwrap_err();
        assert_eq!(e.field, "tls_server_config.curve_preferences");
    }

    #[test]
    fn client_auth_needs_a_ca_to_verify_and_a_policy_for_a_ca() {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let dir = Path::new("/nonexistent");
        let e = client_verifier(
            &tls("{client_auth_type: RequireAndVerifyClientCert}"),
            dir,
            &provider,
        )
        .err()
        .unwrap();
        assert_eq!(e.field, "tls_server_config.client_ca_file");
        let e = client_verifier(&tls("{client_ca_file: ca.pem}"), dir, &provider)
            .err()
            .unwrap();
        assert!(e.message.contains("without a client_auth_type"), "{e:?}");
        let e = client_verifier(&tls("{client_auth_type: Sometimes}"), dir, &provider)
            .err()
            .unwrap();
        assert_eq!(e.field, "tls_server_config.client_auth_type");
        let any = client_verifier(
            &tls("{client_auth_type: RequireAnyClientCert}"),
            dir,
            &provider,
        )
        .unwrap()
        .unwrap();
        assert!(any.client_auth_mandatory());
    }
}
