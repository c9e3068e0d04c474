//! TLS for OTLP, with rustls and ring (no system OpenSSL): `https://` endpoints are verified
//! against the system's roots, or against `OTEL_EXPORTER_OTLP_CERTIFICATE` (a CA bundle)
//! when it is set; `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE` and `_CLIENT_KEY` give a client
//! certificate for mutual TLS. Each has a per-signal variant that wins
//! (`OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE`, …).
//!
//! The files are read and checked by `init`; a problem names the variable, never the path
//! or the contents.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::problem::SetupProblem;
use super::settings::{Otlp, Signal};

/// The PEM material of one exporter, read and checked.
pub(super) struct Material {
    /// A CA bundle to trust instead of the system's roots.
    pub ca: Option<Vec<u8>>,
    /// A client certificate chain and its key, for mutual TLS.
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
}

impl Material {
    /// Reads the files `otlp` names.
    pub fn read(otlp: &Otlp, signal: Signal) -> Result<Material, SetupProblem> {
        let off = signal.otlp_off();
        let read = |file: &Option<(String, std::path::PathBuf)>| -> Result<Option<(String, Vec<u8>)>, SetupProblem> {
            match file {
                None => Ok(None),
                Some((variable, path)) => match std::fs::read(path) {
                    Ok(bytes) => Ok(Some((variable.clone(), bytes))),
                    Err(error) => Err(SetupProblem::new(
                        variable.as_str(),
                        format!(
                            "names a file that cannot be read ({})",
                            match error.kind() {
                                std::io::ErrorKind::NotFound => "no such file".to_owned(),
                                std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
                                other => other.to_string(),
                            }
                        ),
                        off,
                    )),
                },
            }
        };
        let no_pem = |variable: &str, what: &str| {
            SetupProblem::new(
                variable,
                format!("names a file that holds no PEM {what}"),
                off,
            )
        };
        let ca = match read(&otlp.tls.certificate)? {
            Some((variable, pem)) => {
                if certificates(&pem).is_empty() {
                    return Err(no_pem(&variable, "certificate"));
                }
                Some(pem)
            }
            None => None,
        };
        let identity = match (
            read(&otlp.tls.client_certificate)?,
            read(&otlp.tls.client_key)?,
        ) {
            (Some((cert_variable, cert)), Some((key_variable, key))) => {
                if certificates(&cert).is_empty() {
                    return Err(no_pem(&cert_variable, "certificate"));
                }
                if PrivateKeyDer::from_pem_slice(&key).is_err() {
                    return Err(no_pem(&key_variable, "private key"));
                }
                Some((cert, key))
            }
            // settings refuse one without the other
            _ => None,
        };
        Ok(Material { ca, identity })
    }

    /// A rustls client configuration (for the http/protobuf exporter).
    pub fn rustls(&self, signal: Signal) -> Result<rustls::ClientConfig, SetupProblem> {
        let off = signal.otlp_off();
        let mut roots = rustls::RootCertStore::empty();
        match &self.ca {
            Some(pem) => {
                for certificate in certificates(pem) {
                    let _ = roots.add(certificate);
                }
            }
            None => {
                for certificate in rustls_native_certs::load_native_certs().certs {
                    let _ = roots.add(certificate);
                }
            }
        }
        let provider = crypto_provider();
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|_| {
                SetupProblem::new("TLS", "has no protocol version in common with rustls", off)
            })?
            .with_root_certificates(roots);
        match &self.identity {
            None => Ok(builder.with_no_client_auth()),
            Some((cert, key)) => {
                let key = PrivateKeyDer::from_pem_slice(key).map_err(|_| {
                    SetupProblem::new("the client key", "is not a PEM private key", off)
                })?;
                builder
                    .with_client_auth_cert(certificates(cert), key)
                    .map_err(|_| {
                        SetupProblem::new(
                            "the client certificate and key",
                            "do not make a usable pair (check that the key belongs to the certificate)",
                            off,
                        )
                    })
            }
        }
    }

    /// A tonic TLS configuration (for the gRPC exporter).
    pub fn tonic(&self) -> tonic::transport::ClientTlsConfig {
        use tonic::transport::{Certificate, ClientTlsConfig, Identity};
        let mut config = ClientTlsConfig::new();
        config = match &self.ca {
            Some(pem) => config.ca_certificate(Certificate::from_pem(pem)),
            None => config.with_native_roots(),
        };
        if let Some((cert, key)) = &self.identity {
            config = config.identity(Identity::from_pem(cert, key));
        }
        config
    }
}

fn certificates(pem: &[u8]) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .collect()
}

/// The crypto provider of every TLS connection the exporters make: *ring*. rustls 0.23.48
/// deprecates `ring::default_provider` because *ring* has no post-quantum key exchange;
/// aws-lc-rs, which has one, needs CMake and a C toolchain to build, which we do not ask of
/// users. The deprecation is allowed here, once, so that a fresh lock file builds under
/// `-D warnings` (a path or git dependency does not get its lints capped).
#[allow(deprecated)]
pub(super) fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
