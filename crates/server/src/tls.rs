//! Client identity from mutual TLS: after the handshake, the subject of the certificate the
//! client presented (verified against `[tls] client_ca` by rustls) is added to every request
//! on that connection as a [`ClientCertificate`]. The audit records it as the caller's
//! certificate, and the rate limit counts a token-less caller by it.

use std::future::Future;
use std::io;
use std::pin::Pin;

use axum_server::accept::Accept;
use axum_server::tls_rustls::RustlsAcceptor;
use tokio_rustls::server::TlsStream;

/// The verified client certificate of a mutual-TLS connection: its subject as RFC 4514
/// text (`CN=gp-a.example,O=…`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCertificate {
    pub subject: String,
}

impl ClientCertificate {
    /// The subject of a DER certificate, if it parses.
    pub fn from_der(der: &[u8]) -> Option<ClientCertificate> {
        use x509_cert::der::Decode;
        let cert = x509_cert::Certificate::from_der(der).ok()?;
        Some(ClientCertificate {
            subject: cert.tbs_certificate.subject.to_string(),
        })
    }
}

/// rustls's acceptor, then the client certificate (if any) as a request extension.
#[derive(Clone)]
pub struct CertificateAcceptor {
    inner: RustlsAcceptor,
}

impl CertificateAcceptor {
    pub fn new(inner: RustlsAcceptor) -> CertificateAcceptor {
        CertificateAcceptor { inner }
    }
}

type Accepted<I, S> = (
    TlsStream<I>,
    axum::middleware::AddExtension<S, Option<ClientCertificate>>,
);

impl<I, S> Accept<I, S> for CertificateAcceptor
where
    RustlsAcceptor: Accept<I, S, Stream = TlsStream<I>, Service = S>,
    <RustlsAcceptor as Accept<I, S>>::Future: Send + 'static,
    I: Send + 'static,
    S: Send + 'static,
{
    type Stream = TlsStream<I>;
    type Service = axum::middleware::AddExtension<S, Option<ClientCertificate>>;
    type Future = Pin<Box<dyn Future<Output = io::Result<Accepted<I, S>>> + Send>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let handshake = self.inner.accept(stream, service);
        Box::pin(async move {
            let (stream, service) = handshake.await?;
            let cert = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(|leaf| ClientCertificate::from_der(leaf));
            Ok((stream, tower::Layer::layer(&axum::Extension(cert), service)))
        })
    }
}
