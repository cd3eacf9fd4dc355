//! The rustls client side of API-SSL (8729): the public roots or `ca_file`'s CAs, a router's
//! self-signed certificate trusted exactly as given, or (explicit opt-out) no verification.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, Error, RootCertStore, SignatureScheme,
};

use crate::config::RouterOsTls;

/// The client configuration of one credential's TLS settings.
pub fn client_config(tls: &RouterOsTls) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let trust = if tls.insecure_skip_verify {
        Trust::Anything
    } else {
        Trust::PinnedOrChain {
            pinned: tls.ca_certificates.clone(),
            webpki: webpki_verifier(tls, provider.clone())?,
        }
    };
    let verifier = Arc::new(RouterCertificateVerifier {
        trust,
        provider: provider.clone(),
    });
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The name the certificate is checked against: `server_name`, else the target's host.
pub fn server_name(tls: &RouterOsTls, host: &str) -> Result<ServerName<'static>, String> {
    let name = tls.server_name.as_deref().unwrap_or(host);
    ServerName::try_from(name.to_string())
        .map_err(|_| format!("{name:?} is not a DNS name or IP address"))
}

/// Chain and name checks against `ca_file`'s CAs, or the public roots without a `ca_file`;
/// `None` when `ca_file` holds only certificates that cannot be anchors (then only the exact
/// pinned certificates are accepted).
fn webpki_verifier(
    tls: &RouterOsTls,
    provider: Arc<CryptoProvider>,
) -> Result<Option<Arc<WebPkiServerVerifier>>, String> {
    let mut roots = RootCertStore::empty();
    if tls.ca_certificates.is_empty() {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    } else {
        let certificates = tls
            .ca_certificates
            .iter()
            .map(|der| CertificateDer::from(der.clone()));
        roots.add_parsable_certificates(certificates);
        if roots.is_empty() {
            return Ok(None);
        }
    }
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map(Some)
        .map_err(|e| e.to_string())
}

/// How the router's certificate is judged. The handshake signature is checked the same way
/// in every mode, so the session key belongs to whoever holds the presented certificate's key.
#[derive(Debug)]
enum Trust {
    /// `insecure_skip_verify: true`: any certificate.
    Anything,
    /// A certificate byte for byte one of `ca_file`'s (a router's self-signed certificate,
    /// MikroTik's usual setup) is accepted as is; any other is verified for chain and name.
    PinnedOrChain {
        pinned: Vec<Vec<u8>>,
        webpki: Option<Arc<WebPkiServerVerifier>>,
    },
}

#[derive(Debug)]
struct RouterCertificateVerifier {
    trust: Trust,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for RouterCertificateVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let Trust::PinnedOrChain { pinned, webpki } = &self.trust else {
            return Ok(ServerCertVerified::assertion());
        };
        if pinned
            .iter()
            .any(|pin| pin.as_slice() == end_entity.as_ref())
        {
            return Ok(ServerCertVerified::assertion());
        }
        match webpki {
            Some(webpki) => webpki.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ),
            None => Err(Error::InvalidCertificate(CertificateError::UnknownIssuer)),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
