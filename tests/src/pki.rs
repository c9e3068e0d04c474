//! Certificates made at test time: a CA, a server certificate for `localhost` and
//! 127.0.0.1, and a client certificate, all signed by the CA, written to a temporary
//! directory for the `OTEL_EXPORTER_OTLP_*CERTIFICATE*` variables.

use std::path::PathBuf;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

use crate::otlp::ServerTls;

/// The certificates and where their files are; the directory goes when this is dropped.
pub struct Pki {
    pub ca: String,
    pub server_certificate: String,
    pub server_key: String,
    pub client_certificate: String,
    pub client_key: String,
    pub dir: PathBuf,
}

impl Pki {
    pub fn generate() -> Pki {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "backstage-telemetry test CA");
        let ca = ca_params.self_signed(&ca_key).expect("CA");
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate().expect("server key");
        let server = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("server params")
            .signed_by(&server_key, &issuer)
            .expect("server certificate");

        let client_key = KeyPair::generate().expect("client key");
        let mut client_params =
            CertificateParams::new(vec!["backstage-client".to_owned()]).expect("client params");
        client_params
            .distinguished_name
            .push(DnType::CommonName, "backstage-client");
        let client = client_params
            .signed_by(&client_key, &issuer)
            .expect("client certificate");

        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "bt-pki-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("PKI dir");
        let pki = Pki {
            ca: ca.pem(),
            server_certificate: server.pem(),
            server_key: server_key.serialize_pem(),
            client_certificate: client.pem(),
            client_key: client_key.serialize_pem(),
            dir,
        };
        for (name, pem) in [
            ("ca.pem", &pki.ca),
            ("client.pem", &pki.client_certificate),
            ("client-key.pem", &pki.client_key),
        ] {
            std::fs::write(pki.dir.join(name), pem).expect("write PEM");
        }
        pki
    }

    /// A path of one of the files: `ca.pem`, `client.pem`, `client-key.pem`.
    pub fn file(&self, name: &str) -> String {
        self.dir.join(name).to_str().expect("utf-8 path").to_owned()
    }

    /// The receiver's side; with `mutual`, it asks for a client certificate from this CA.
    pub fn server(&self, mutual: bool) -> ServerTls {
        ServerTls {
            certificate: self.server_certificate.clone(),
            key: self.server_key.clone(),
            client_ca: mutual.then(|| self.ca.clone()),
        }
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
