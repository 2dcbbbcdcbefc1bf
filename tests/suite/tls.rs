//! TLS (feature `rustls`): every pairing of our client and server over TLS, both adapters, and
//! each way a TLS connect fails, with the typed error of the step that failed (TCP, TLS, the
//! HTTP upgrade). Certificates are made at test time with rcgen: a CA, a leaf for `localhost`
//! and 127.0.0.1, a leaf for another name, an expired leaf.
#![cfg(feature = "rustls")]

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rfc6455::handshake::{Accept, ClientRequest};
use rfc6455::tls::rustls::{self, CertificateError};
use rfc6455::{blocking, tls, CloseCode, Config, Error, Message};

use crate::net::{join_by, runtime, Kind, STEP};

/// A certificate authority made for one test.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

/// A leaf certificate's chain and key, in PEM.
struct Leaf {
    chain: String,
    key: String,
}

impl Ca {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("CA certificate");
        Self { cert, key }
    }

    fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A leaf for `names` (DNS names or IP addresses), valid now unless `expired`.
    fn leaf(&self, names: &[&str], expired: bool) -> Leaf {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("params");
        params
            .distinguished_name
            .push(DnType::CommonName, "rfc6455 test server");
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let key = KeyPair::generate().expect("key");
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("leaf certificate");
        Leaf {
            chain: cert.pem() + &self.pem(),
            key: key.serialize_pem(),
        }
    }
}

fn server_config(leaf: &Leaf) -> Arc<rustls::ServerConfig> {
    tls::server_config_from_pem(leaf.chain.as_bytes(), leaf.key.as_bytes()).expect("server config")
}

fn listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local addr");
    (listener, addr)
}

/// Accepts one TCP connection within [`STEP`].
fn accept_tcp(listener: &TcpListener) -> TcpStream {
    listener.set_nonblocking(true).expect("nonblocking");
    let deadline = Instant::now() + STEP;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).expect("blocking");
                stream.set_write_timeout(Some(STEP)).expect("write timeout");
                return stream;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "no client within {STEP:?}");
                thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// A TLS echo server of `kind` for one connection: echoes messages until the client closes.
/// Returns what ended it (`Ok` after a clean close) and the messages it echoed.
fn tls_echo_server(
    kind: Kind,
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    config: Config,
) -> thread::JoinHandle<Result<usize, Error>> {
    thread::spawn(move || {
        let tcp = accept_tcp(&listener);
        match kind {
            Kind::Blocking => {
                let mut ws = blocking::accept_tls_with(tcp, tls, config, |_| Ok(Accept::new()))?;
                ws.set_read_timeout(Some(STEP));
                let mut echoed = 0;
                while let Some(message) = ws.recv()? {
                    ws.send(message)?;
                    echoed += 1;
                }
                Ok(echoed)
            }
            Kind::Tokio => runtime().block_on(async move {
                tokio::time::timeout(STEP * 2, async move {
                    tcp.set_nonblocking(true)?;
                    let tcp = tokio::net::TcpStream::from_std(tcp)?;
                    let mut ws =
                        rfc6455::tokio::accept_tls_with(tcp, tls, config, |_| Ok(Accept::new()))
                            .await?;
                    let mut echoed = 0;
                    while let Some(message) = ws.recv().await? {
                        ws.send(message).await?;
                        echoed += 1;
                    }
                    Ok(echoed)
                })
                .await
                .unwrap_or_else(|_| Err(Error::Io(std::io::ErrorKind::TimedOut.into())))
            }),
        }
    })
}

/// Connects with `kind`'s client to `url` with `tls` (the default configuration when `None`),
/// exchanges a text and a binary message, closes, and reads until the clean end.
fn tls_client_round_trip(
    kind: Kind,
    url: &str,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<(), Error> {
    let request = ClientRequest::new(url)?;
    let messages = [
        Message::text("hello over TLS"),
        Message::binary(vec![0xa5; 70_000]),
    ];
    match kind {
        Kind::Blocking => {
            let (mut ws, response) = match tls {
                Some(tls) => blocking::connect_tls_with(&request, Config::default(), tls)?,
                None => blocking::connect_with(&request, Config::default())?,
            };
            assert_eq!(response.status(), 101);
            assert!(ws.get_ref().is_tls());
            let blocking::MaybeTlsStream::Rustls(stream) = ws.get_ref() else {
                panic!("not TLS")
            };
            assert_eq!(stream.conn.alpn_protocol(), Some(tls::ALPN_HTTP_1_1));
            ws.get_ref().tcp().set_write_timeout(Some(STEP))?;
            ws.set_read_timeout(Some(STEP));
            for message in messages {
                ws.send(message.clone())?;
                assert_eq!(ws.recv()?, Some(message));
            }
            ws.close(CloseCode::NORMAL, "done")?;
            assert_eq!(ws.recv()?, None);
            assert!(ws.connection().is_closing_handshake_complete());
            Ok(())
        }
        Kind::Tokio => runtime().block_on(async move {
            tokio::time::timeout(STEP, async move {
                let (mut ws, response) = match tls {
                    Some(tls) => {
                        rfc6455::tokio::connect_tls_with(&request, Config::default(), tls).await?
                    }
                    None => rfc6455::tokio::connect_with(&request, Config::default()).await?,
                };
                assert_eq!(response.status(), 101);
                let rfc6455::tokio::MaybeTlsStream::Rustls(stream) = ws.get_ref() else {
                    panic!("not TLS")
                };
                assert_eq!(stream.get_ref().1.alpn_protocol(), Some(tls::ALPN_HTTP_1_1));
                for message in messages {
                    ws.send(message.clone()).await?;
                    assert_eq!(ws.recv().await?, Some(message));
                }
                ws.close(CloseCode::NORMAL, "done").await?;
                assert_eq!(ws.recv().await?, None);
                assert!(ws.connection().is_closing_handshake_complete());
                Ok(())
            })
            .await
            .unwrap_or_else(|_| Err(Error::Io(std::io::ErrorKind::TimedOut.into())))
        }),
    }
}

const KINDS: [Kind; 2] = [Kind::Blocking, Kind::Tokio];

/// Our client and our server over TLS, each adapter with each: the certificate for
/// `localhost` and 127.0.0.1 is checked against the URL's host (a DNS name, then an IP
/// address), ALPN is `http/1.1`, messages go both ways, and the closing handshake completes.
/// No process-level crypto provider was needed or installed on the way.
#[test]
fn every_pairing_exchanges_messages_and_closes_over_tls() {
    let ca = Ca::new("rfc6455 test CA");
    let leaf = ca.leaf(&["localhost", "127.0.0.1"], false);
    let client_tls = tls::client_config_with_ca_pem(ca.pem().as_bytes()).expect("client config");
    for client in KINDS {
        for server in KINDS {
            for host in ["localhost", "127.0.0.1"] {
                let (listener, addr) = listener();
                let echo =
                    tls_echo_server(server, listener, server_config(&leaf), Config::default());
                let url = format!("wss://{host}:{}/tls?pairing=1", addr.port());
                let result = tls_client_round_trip(client, &url, Some(client_tls.clone()));
                let served = join_by(echo, Instant::now() + STEP * 2, "server");
                let what = format!("{client:?} client, {server:?} server, {host}");
                result.unwrap_or_else(|e| panic!("{what}: client: {e:?}"));
                assert_eq!(
                    served.unwrap_or_else(|e| panic!("{what}: server: {e:?}")),
                    2
                );
            }
        }
    }
    assert!(rustls::crypto::CryptoProvider::get_default().is_none());
}

/// A server that fails the TLS handshake, with what the client and the server each see.
fn failing_connect(
    leaf: &Leaf,
    client: Kind,
    server: Kind,
    url_host: &str,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> (Error, Error) {
    let (listener, addr) = listener();
    let echo = tls_echo_server(server, listener, server_config(leaf), Config::default());
    let url = format!("wss://{url_host}:{}/", addr.port());
    let client_error = tls_client_round_trip(client, &url, tls).expect_err("the connect fails");
    let server_error = join_by(echo, Instant::now() + STEP * 2, "server")
        .expect_err("the server's handshake fails");
    (client_error, server_error)
}

/// Each of `pairings` fails the TLS step the same way: the client with the certificate error
/// `expected` (rustls's verdict), the server with the alert the client sent to say why.
fn assert_certificate_error(
    leaf: &Leaf,
    tls: Option<Arc<rustls::ClientConfig>>,
    pairings: [(Kind, Kind); 2],
    expected: impl Fn(&CertificateError) -> bool,
) {
    for (client_kind, server_kind) in pairings {
        let what = format!("{client_kind:?} client, {server_kind:?} server");
        let (client, server) =
            failing_connect(leaf, client_kind, server_kind, "localhost", tls.clone());
        match &client {
            Error::Tls(rustls::Error::InvalidCertificate(e)) if expected(e) => {}
            other => panic!("{what}: client: {other:?}"),
        }
        assert!(client.is_closed() && !client.is_timeout(), "{what}");
        assert!(
            client.to_string().starts_with("tls handshake failed"),
            "{client}"
        );
        assert!(
            matches!(server, Error::Tls(rustls::Error::AlertReceived(_))),
            "{what}: server: {server:?}"
        );
    }
}

/// Both client adapters, each against the other adapter's server.
const CROSSED: [(Kind, Kind); 2] = [(Kind::Blocking, Kind::Tokio), (Kind::Tokio, Kind::Blocking)];

/// A certificate for another name: `NotValidForName`.
#[test]
fn a_wrong_host_name_fails_the_tls_step() {
    let ca = Ca::new("rfc6455 test CA");
    let trusted = tls::client_config_with_ca_pem(ca.pem().as_bytes()).expect("client config");
    let leaf = ca.leaf(&["example.com"], false);
    assert_certificate_error(&leaf, Some(trusted), CROSSED, |e| {
        matches!(
            e,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
        )
    });
}

/// A CA the client does not trust: `UnknownIssuer`. The client is `connect_with` with the
/// default configuration (the Mozilla roots, or the OS store with `rustls-native-certs`), as
/// `connect("wss://...")` uses.
#[test]
fn an_unknown_ca_fails_the_tls_step() {
    let leaf = Ca::new("rfc6455 unknown CA").leaf(&["localhost"], false);
    let same = [(Kind::Blocking, Kind::Blocking), (Kind::Tokio, Kind::Tokio)];
    assert_certificate_error(&leaf, None, same, |e| {
        matches!(e, CertificateError::UnknownIssuer)
    });
}

/// A certificate whose validity ended: `Expired`.
#[test]
fn an_expired_certificate_fails_the_tls_step() {
    let ca = Ca::new("rfc6455 test CA");
    let trusted = tls::client_config_with_ca_pem(ca.pem().as_bytes()).expect("client config");
    let leaf = ca.leaf(&["localhost"], true);
    assert_certificate_error(&leaf, Some(trusted), CROSSED, |e| {
        matches!(
            e,
            CertificateError::Expired | CertificateError::ExpiredContext { .. }
        )
    });
}

/// A `wss://` client at servers that do not speak TLS, in the TLS step each time. An HTTP
/// server that answers the ClientHello with a 400 at once: the answer is no TLS record
/// (`InvalidMessage`). Our own plain WebSocket server, which waits for the end of a request
/// head that never comes and closes at its handshake timeout: `TlsIo` (`UnexpectedEof`).
#[test]
fn a_plain_tcp_server_fails_the_tls_step() {
    let trusted = tls::client_config_with_ca_pem(Ca::new("any").pem().as_bytes()).unwrap();
    for client in KINDS {
        let (http, addr) = listener();
        let server = thread::spawn(move || {
            let mut tcp = accept_tcp(&http);
            let mut hello = [0u8; 4096];
            let _ = tcp.read(&mut hello);
            std::io::Write::write_all(
                &mut tcp,
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )
        });
        let url = format!("wss://localhost:{}/", addr.port());
        let error = tls_client_round_trip(client, &url, Some(trusted.clone())).expect_err("fails");
        assert!(
            matches!(error, Error::Tls(rustls::Error::InvalidMessage(_))),
            "{client:?}: {error:?}"
        );
        assert!(error.is_closed() && !error.is_timeout());
        join_by(server, Instant::now() + STEP, "server").expect("400 written");

        let (plain, addr) = listener();
        let server = thread::spawn(move || {
            let config = Config::default().with_handshake_timeout(Some(Duration::from_millis(200)));
            blocking::accept_with(accept_tcp(&plain), config, |_| Ok(Accept::new())).map(drop)
        });
        let url = format!("wss://localhost:{}/", addr.port());
        let error = tls_client_round_trip(client, &url, Some(trusted.clone())).expect_err("fails");
        assert!(
            matches!(&error, Error::TlsIo(e) if e.kind() == std::io::ErrorKind::UnexpectedEof),
            "{client:?}: {error:?}"
        );
        assert!(error.is_closed() && !error.is_timeout());
        let server_error = join_by(server, Instant::now() + STEP, "server").expect_err("timeout");
        assert!(
            matches!(server_error, Error::HandshakeTimeout),
            "{server_error:?}"
        );
    }
}

/// Nothing listens: the TCP step fails, as `Error::Connect`, for `ws://` and `wss://` alike.
#[test]
fn a_refused_connection_fails_the_tcp_step() {
    let (listener, addr) = listener();
    drop(listener);
    for scheme in ["ws", "wss"] {
        let url = format!("{scheme}://127.0.0.1:{}/", addr.port());
        let error = blocking::connect(&url).expect_err("refused");
        assert!(
            matches!(&error, Error::Connect(e) if e.kind() == std::io::ErrorKind::ConnectionRefused),
            "{error:?}"
        );
        assert!(error.is_closed() && !error.is_timeout());
        let error = runtime()
            .block_on(rfc6455::tokio::connect(&url))
            .expect_err("refused");
        assert!(
            matches!(&error, Error::Connect(e) if e.kind() == std::io::ErrorKind::ConnectionRefused),
            "{error:?}"
        );
    }
}

/// A server that accepts TCP and never speaks TLS: the handshake timeout ends the TLS step
/// (`TlsIo`, `TimedOut`), on time, in both client adapters; a client that never sends its
/// ClientHello likewise ends both TLS servers' handshake.
#[test]
fn the_handshake_timeout_covers_the_tls_handshake() {
    const TIMEOUT: Duration = Duration::from_millis(300);
    let config = Config::default().with_handshake_timeout(Some(TIMEOUT));
    let assert_timed_out = |error: &Error, started: Instant, what: &str| {
        assert!(
            matches!(error, Error::TlsIo(e) if e.kind() == std::io::ErrorKind::TimedOut),
            "{what}: {error:?}"
        );
        assert!(error.is_timeout() && error.is_closed(), "{what}");
        let waited = started.elapsed();
        assert!(
            waited >= TIMEOUT - Duration::from_millis(20),
            "{what}: {waited:?}"
        );
        assert!(
            waited < TIMEOUT + Duration::from_secs(2),
            "{what}: {waited:?}"
        );
    };

    // Silent servers.
    for client in KINDS {
        let (listener, addr) = listener();
        let silent = thread::spawn(move || {
            let mut tcp = accept_tcp(&listener);
            tcp.set_read_timeout(Some(STEP)).expect("timeout");
            let mut sink = [0u8; 4096];
            while matches!(tcp.read(&mut sink), Ok(n) if n > 0) {}
        });
        let request = ClientRequest::new(&format!("wss://localhost:{}/", addr.port())).unwrap();
        let started = Instant::now();
        let error = match client {
            Kind::Blocking => blocking::connect_with(&request, config.clone()).map(drop),
            Kind::Tokio => runtime()
                .block_on(rfc6455::tokio::connect_with(&request, config.clone()))
                .map(drop),
        }
        .expect_err("times out");
        assert_timed_out(&error, started, &format!("{client:?} client"));
        join_by(silent, Instant::now() + STEP * 2, "silent server");
    }

    // Silent clients.
    let leaf = Ca::new("rfc6455 test CA").leaf(&["localhost"], false);
    for server in KINDS {
        let (listener, addr) = listener();
        let silent = thread::spawn(move || {
            let _tcp = TcpStream::connect(addr).expect("connect");
            thread::sleep(TIMEOUT * 4);
        });
        let started = Instant::now();
        let handle = tls_echo_server(server, listener, server_config(&leaf), config.clone());
        let error = join_by(handle, Instant::now() + STEP, "server").expect_err("times out");
        assert_timed_out(&error, started, &format!("{server:?} server"));
        join_by(silent, Instant::now() + STEP, "silent client");
    }
}

/// `server_config_from_pem` says what is wrong with its input, as a TLS error.
#[test]
fn bad_pem_is_a_tls_error() {
    let ca = Ca::new("rfc6455 test CA");
    let leaf = ca.leaf(&["localhost"], false);
    let other = ca.leaf(&["localhost"], false);
    for (chain, key) in [
        ("no PEM here", leaf.key.as_str()),
        (leaf.chain.as_str(), "no PEM here"),
        // The key of another certificate.
        (leaf.chain.as_str(), other.key.as_str()),
    ] {
        let error =
            tls::server_config_from_pem(chain.as_bytes(), key.as_bytes()).expect_err("refused");
        assert!(matches!(error, Error::Tls(_)), "{error:?}");
    }
    let error = tls::client_config_with_ca_pem(b"not a certificate").expect_err("refused");
    assert!(matches!(error, Error::Tls(_)), "{error:?}");
}
