//! TLS with rustls (feature `rustls`): the configurations the adapters use for `wss://` clients
//! and TLS servers, and the glue that runs a TLS handshake within
//! [`Config::handshake_timeout`](crate::Config::handshake_timeout). No WebSocket protocol here:
//! once TLS is up, the adapters run the same handshake and connection over the TLS stream.
//!
//! Every configuration made here names its crypto provider, ring ([`provider`]), so no
//! process-level default is needed, none is installed, and none is looked up: a program that
//! also links another provider (aws-lc-rs, through another crate) cannot make a connect panic.
//!
//! - Clients: [`blocking::connect`](crate::blocking::connect) and
//!   [`tokio::connect`](crate::tokio::connect) take `wss://` URLs with [`client_config`] (the
//!   Mozilla roots of `webpki-roots`, or the operating system's with the feature
//!   `rustls-native-certs`). For a configuration of your own (a private CA, client
//!   certificates, pinning), build a [`rustls::ClientConfig`] with
//!   [`ClientConfig::builder_with_provider`](rustls::ClientConfig::builder_with_provider)`(`[`provider`]`())`,
//!   or start from [`client_config_with_ca_pem`], and pass it to `connect_tls_with`.
//! - Servers: [`server_config_from_pem`] makes a [`rustls::ServerConfig`] from a PEM certificate
//!   chain and key; `accept_tls` runs the TLS handshake and then the WebSocket handshake, both
//!   within the handshake timeout.
//!
//! ```no_run
//! # fn main() -> Result<(), rfc6455::Error> {
//! let config = rfc6455::tls::server_config_from_pem(
//!     &std::fs::read("cert.pem")?,
//!     &std::fs::read("key.pem")?,
//! )?;
//! let listener = std::net::TcpListener::bind("127.0.0.1:9443")?;
//! let (tcp, _) = listener.accept()?;
//! let mut ws = rfc6455::blocking::accept_tls(tcp, config)?;
//! while let Some(message) = ws.recv()? {
//!     ws.send(message)?;
//! }
//! # Ok(()) }
//! ```

use std::io;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ConnectionCommon, RootCertStore, ServerConfig, SideData};

/// The rustls this crate is built with, for its types ([`rustls::Error`],
/// [`rustls::ClientConfig`]) at the same version.
pub use rustls;
/// The tokio-rustls this crate is built with (features `rustls` and `tokio`): its
/// [`server::TlsStream`](tokio_rustls::server::TlsStream) is what
/// [`tokio::accept_tls`](crate::tokio::accept_tls) serves over.
#[cfg(feature = "tokio")]
pub use tokio_rustls;

use crate::blocking::Stream;
use crate::handshake::{ClientRequest, HandshakeError};
use crate::Error;

/// The ALPN protocol both sides offer: a WebSocket handshake is HTTP/1.1 (RFC 6455 §4.1).
pub const ALPN_HTTP_1_1: &[u8] = b"http/1.1";

/// The crypto provider of every configuration made here: ring's defaults. Pass it to
/// [`ClientConfig::builder_with_provider`](rustls::ClientConfig::builder_with_provider) for a
/// configuration of your own.
///
/// ring builds with a plain C compiler and no cmake. rustls 0.23.48 deprecates it for lacking
/// post-quantum key exchange (X25519MLKEM768, which needs aws-lc-rs); its classical suites and
/// groups are rustls's defaults otherwise. For post-quantum key exchange, build a configuration
/// with aws-lc-rs's provider and pass it to `connect_tls_with`.
#[must_use]
pub fn provider() -> Arc<CryptoProvider> {
    #[allow(deprecated)]
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The roots a `wss://` client trusts by default: the operating system's store with the feature
/// `rustls-native-certs` (the certificates it could parse; the Mozilla set if there were none),
/// otherwise the Mozilla set of `webpki-roots`.
#[must_use]
pub fn default_roots() -> RootCertStore {
    #[cfg(feature = "rustls-native-certs")]
    {
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        if !roots.is_empty() {
            return roots;
        }
    }
    RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

/// The client configuration of [`blocking::connect`](crate::blocking::connect) and
/// [`tokio::connect`](crate::tokio::connect) for `wss://` URLs: [`default_roots`], no client
/// certificate, ALPN `http/1.1`, ring. Made once per process and shared; fails only as
/// [`client_config_with_roots`] does.
pub fn client_config() -> Result<Arc<ClientConfig>, Error> {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    if let Some(config) = CONFIG.get() {
        return Ok(config.clone());
    }
    let config = client_config_with_roots(default_roots())?;
    Ok(CONFIG.get_or_init(|| config).clone())
}

/// A client configuration that trusts `roots` (and nothing else): no client certificate, ALPN
/// `http/1.1`, ring. Fails only if the provider supports none of rustls's default protocol
/// versions.
pub fn client_config_with_roots(roots: RootCertStore) -> Result<Arc<ClientConfig>, Error> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(Error::Tls)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
    Ok(Arc::new(config))
}

/// A client configuration that trusts the certificates in `ca_pem` (one or more PEM
/// `CERTIFICATE` sections: a private CA, a self-signed server) in addition to
/// [`default_roots`]. Fails with [`Error::Tls`] if there is no certificate in it or one does
/// not parse.
pub fn client_config_with_ca_pem(ca_pem: &[u8]) -> Result<Arc<ClientConfig>, Error> {
    let mut roots = default_roots();
    let certs = certificates_from_pem(ca_pem, "CA certificate")?;
    for cert in certs {
        roots.add(cert).map_err(Error::Tls)?;
    }
    client_config_with_roots(roots)
}

/// A server configuration from a PEM certificate chain (the leaf first, then any
/// intermediates) and its PEM private key (PKCS#8, PKCS#1 or SEC1): no client authentication,
/// ALPN `http/1.1`, ring. Pass it to [`blocking::accept_tls`](crate::blocking::accept_tls) or
/// [`tokio::accept_tls`](crate::tokio::accept_tls).
///
/// Fails with [`Error::Tls`] when a PEM does not parse, holds no certificate or no key, or the
/// key does not match the certificate.
pub fn server_config_from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Arc<ServerConfig>, Error> {
    let chain = certificates_from_pem(cert_pem, "certificate chain")?;
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| Error::Tls(rustls::Error::General(format!("private key PEM: {e}"))))?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(Error::Tls)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(Error::Tls)?;
    config.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
    Ok(Arc::new(config))
}

/// The `CERTIFICATE` sections of a PEM file, at least one.
fn certificates_from_pem(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Tls(rustls::Error::General(format!("{what} PEM: {e}"))))?;
    if certs.is_empty() {
        return Err(Error::Tls(rustls::Error::General(format!(
            "{what} PEM: no CERTIFICATE section"
        ))));
    }
    Ok(certs)
}

/// The name a client checks the server's certificate against: the URL's host (a DNS name, or
/// an IP address).
pub(crate) fn server_name(request: &ClientRequest) -> Result<ServerName<'static>, Error> {
    ServerName::try_from(request.host().to_owned()).map_err(|_| {
        Error::Handshake(HandshakeError::InvalidUrl(
            "the host is not a valid TLS server name",
        ))
    })
}

/// An I/O error of a TLS handshake as the typed error of that step: rustls's verdict when the
/// error carries one, otherwise the socket's.
pub(crate) fn handshake_error(e: io::Error) -> Error {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(tls) => Error::Tls(tls.clone()),
        None => Error::TlsIo(e),
    }
}

/// The handshake timeout ran out during the TLS handshake.
pub(crate) fn handshake_timed_out() -> Error {
    Error::TlsIo(io::Error::new(
        io::ErrorKind::TimedOut,
        "the TLS handshake did not complete within the handshake timeout",
    ))
}

/// Runs a blocking TLS handshake on `sock` until it completes, within `deadline` (through the
/// socket's read timeout; one the application set is put back afterwards).
pub(crate) fn handshake_blocking<C, D, S>(
    conn: &mut C,
    sock: &mut S,
    deadline: Option<Instant>,
) -> Result<(), Error>
where
    C: DerefMut + Deref<Target = ConnectionCommon<D>>,
    D: SideData,
    S: Stream,
{
    let theirs = sock.read_timeout().ok().flatten();
    let result = loop {
        if !conn.is_handshaking() {
            // The last flight (a client's Finished) leaves now, not with the first write.
            if conn.wants_write() {
                if let Err(e) = conn.complete_io(sock) {
                    break Err(handshake_error(e));
                }
            }
            break Ok(());
        }
        if let Some(deadline) = deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break Err(handshake_timed_out());
            }
            if let Err(e) = sock.set_read_timeout(Some(left)) {
                break Err(Error::TlsIo(e));
            }
        }
        match conn.complete_io(sock) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // The loop checks the deadline.
            Err(e) if crate::error::is_timeout_kind(e.kind()) && deadline.is_some() => {}
            Err(e) => break Err(handshake_error(e)),
        }
    };
    if deadline.is_some() {
        sock.set_read_timeout(theirs).map_err(Error::TlsIo)?;
    }
    result
}

/// A blocking client's TLS stream over `tcp`, handshake done, for `request`'s host.
pub(crate) fn client_blocking<S: Stream>(
    mut tcp: S,
    request: &ClientRequest,
    tls: Arc<ClientConfig>,
    deadline: Option<Instant>,
) -> Result<rustls::StreamOwned<rustls::ClientConnection, S>, Error> {
    let mut conn = rustls::ClientConnection::new(tls, server_name(request)?).map_err(Error::Tls)?;
    handshake_blocking(&mut conn, &mut tcp, deadline)?;
    Ok(rustls::StreamOwned::new(conn, tcp))
}

/// A blocking server's TLS stream over `tcp`, handshake done.
pub(crate) fn server_blocking<S: Stream>(
    mut tcp: S,
    tls: Arc<ServerConfig>,
    deadline: Option<Instant>,
) -> Result<rustls::StreamOwned<rustls::ServerConnection, S>, Error> {
    let mut conn = rustls::ServerConnection::new(tls).map_err(Error::Tls)?;
    handshake_blocking(&mut conn, &mut tcp, deadline)?;
    Ok(rustls::StreamOwned::new(conn, tcp))
}
