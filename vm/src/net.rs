//! Party mode's links: TCP with mutual TLS (rustls, ring), driven by tokio.
//!
//! The nodes are the parties in the module's order, then the separate dealer if the cluster
//! has one. Every node listens on its address; node i dials every node j < i and accepts every
//! j > i, retrying a dial with backoff until the connect deadline. Both sides present
//! certificates signed by the cluster's CA, and each checks that the peer's certificate is the
//! one the cluster file lists for that party. Then each side sends a hello (party, module hash,
//! session id) and refuses a peer whose hello differs, naming both values.
//!
//! Once connected, a reader task and a writer task per peer move messages between the socket
//! and in-process channels, so the protocol code runs on the same channel transport as in sim
//! mode. A message is a small bincode head (tag, payload kind and length, or an abort) and then
//! the payload's bytes as they are: ring elements are written from, and read into, their
//! vectors' own memory, little-endian, with no encoding pass and no intermediate buffer.

use crate::cluster::Cluster;
use crate::error::VmError;
use crate::link::{MemTransport, Message, Payload, Tag};
use futures::channel::mpsc::{unbounded, UnboundedReceiver, UnboundedSender};
use futures::StreamExt;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use zerocopy::IntoBytes;

/// A payload larger than this is refused: no message of the protocol comes near it.
const MAX_FRAME: u64 = 1 << 36;
/// A message head larger than this is refused (an abort's cause is the longest).
const MAX_HEAD: u64 = 1 << 20;
/// Ring elements allocated ahead of the bytes that fill them: a length that no data follows
/// allocates no more than this.
const RING_AHEAD: usize = 1 << 22;

/// What precedes a message's payload on the wire.
#[derive(Debug, Serialize, Deserialize)]
enum Head {
    Data { tag: Tag, ring: bool, bytes: u64 },
    Abort { origin: String, cause: String },
}

/// What each side says first: who it is and what it runs.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Hello {
    party: String,
    module: String,
    session: String,
    /// Who deals the correlated randomness: the separate dealer's name, or empty for the
    /// first party.
    dealer: String,
}

pub struct Connect<'a> {
    pub cluster: &'a Cluster,
    pub me: usize,
    pub module_hash: String,
    pub session: String,
    /// Sessions are isolated by port: session s uses each party's port plus s times the number
    /// of parties, so concurrent runs over one cluster file never share a listener.
    pub session_index: u16,
    /// How long to keep dialing peers that are not up yet.
    pub deadline: Duration,
}

fn tls_error(what: &str, e: impl std::fmt::Display) -> VmError {
    VmError::Input(format!("{what}: {e}"))
}

fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard().with_fixed_int_encoding()
}

async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, bytes: &[u8]) -> std::io::Result<()> {
    w.write_all(&(bytes.len() as u64).to_le_bytes()).await?;
    w.write_all(bytes).await?;
    w.flush().await
}

async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 8];
    r.read_exact(&mut len).await?;
    let len = u64::from_le_bytes(len);
    if len > MAX_FRAME {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("a frame of {len} bytes")));
    }
    // The buffer grows as bytes arrive: a length that no data follows allocates nothing.
    let mut buf = Vec::with_capacity(len.min(1 << 20) as usize);
    r.take(len).read_to_end(&mut buf).await?;
    if buf.len() as u64 != len {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the frame ended early"));
    }
    Ok(buf)
}

/// The links of a connected party: the transport, and the writer tasks to wait for so that
/// every queued message (the last results, an abort) is on the wire before the process ends.
pub struct Links {
    pub transport: MemTransport,
    pub writers: Vec<tokio::task::JoinHandle<()>>,
}

/// Connects to every other party and returns a transport over the established links.
pub async fn connect(c: Connect<'_>) -> Result<Links, VmError> {
    let parties: Vec<&crate::cluster::PartyEntry> = c.cluster.file.parties.iter().chain(&c.cluster.file.dealer).collect();
    let me = parties.get(c.me).ok_or_else(|| VmError::Internal(format!("no node {}", c.me)))?;
    let pem = |what: &str, e: rustls::pki_types::pem::Error| tls_error(&format!("cannot read {what}"), e);
    let ca = CertificateDer::from_pem_file(c.cluster.resolve(&c.cluster.file.ca)).map_err(|e| pem("the CA certificate", e))?;
    let my_cert = CertificateDer::from_pem_file(c.cluster.resolve(&me.cert)).map_err(|e| pem(&format!("{}'s certificate", me.name), e))?;
    let my_key = PrivateKeyDer::from_pem_file(c.cluster.resolve(&me.key)).map_err(|e| pem(&format!("{}'s key", me.name), e))?;
    let certs: Vec<CertificateDer<'static>> = parties
        .iter()
        .map(|p| CertificateDer::from_pem_file(c.cluster.resolve(&p.cert)).map_err(|e| pem(&format!("{}'s certificate", p.name), e)))
        .collect::<Result<_, _>>()?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).map_err(|e| tls_error("the CA certificate", e))?;
    let roots = Arc::new(roots);
    let client_verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
        .build()
        .map_err(|e| tls_error("client verifier", e))?;
    let server_config = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error("TLS", e))?
        .with_client_cert_verifier(client_verifier)
        .with_single_cert(vec![my_cert.clone()], my_key.clone_key())
        .map_err(|e| tls_error(&format!("{}'s key and certificate", me.name), e))?;
    let client_config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error("TLS", e))?
        .with_root_certificates(roots)
        .with_client_auth_cert(vec![my_cert], my_key)
        .map_err(|e| tls_error(&format!("{}'s key and certificate", me.name), e))?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config));

    let shifted = |p: &&crate::cluster::PartyEntry, text: &str| -> Result<std::net::SocketAddr, VmError> {
        let mut a: std::net::SocketAddr = text.parse().map_err(|_| VmError::Input(format!("party {}: bad address {text}", p.name)))?;
        let port = a.port() as u32 + c.session_index as u32 * parties.len() as u32;
        a.set_port(u16::try_from(port).map_err(|_| VmError::Input(format!("session {} puts party {} past port 65535", c.session_index, p.name)))?);
        Ok(a)
    };
    let address = |p: &&crate::cluster::PartyEntry| shifted(p, &p.address);
    let my_address = shifted(me, me.listen.as_deref().unwrap_or(&me.address))?;
    let listener = TcpListener::bind(my_address).await.map_err(|e| {
        VmError::Input(format!("party {} cannot listen on {my_address}: {e} (is another run of {} in this session still going, or the port taken?)", me.name, me.name))
    })?;
    let dealer = c.cluster.file.dealer.as_ref().map(|d| d.name.clone()).unwrap_or_default();
    let hello = Hello { party: me.name.clone(), module: c.module_hash.clone(), session: c.session.clone(), dealer };
    let start = Instant::now();
    let n = parties.len();
    let mut streams: Vec<Option<Box<dyn Stream>>> = (0..n).map(|_| None).collect();

    // Dial every lower party, with backoff while it is not up yet.
    for j in 0..c.me {
        let peer = &parties[j];
        let peer_address = address(peer)?;
        let mut wait = Duration::from_millis(20);
        let tcp = loop {
            match TcpStream::connect(peer_address).await {
                Ok(s) => break s,
                Err(e) if start.elapsed() + wait < c.deadline => {
                    let _ = e;
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(1));
                }
                Err(e) => {
                    return Err(VmError::Link { peer: peer.name.clone(), message: format!("not reachable at {peer_address} after {:?}: {e}", c.deadline) });
                }
            }
        };
        tcp.set_nodelay(true).ok();
        let name = ServerName::try_from(peer.name.clone()).map_err(|e| tls_error(&format!("party name {}", peer.name), e))?;
        let mut tls = connector.connect(name, tcp).await.map_err(|e| VmError::Link { peer: peer.name.clone(), message: format!("TLS handshake failed: {e}") })?;
        let presented = tls.get_ref().1.peer_certificates().and_then(|c| c.first().cloned());
        if presented.as_ref() != Some(&certs[j]) {
            return Err(VmError::Link { peer: peer.name.clone(), message: "presented a certificate that is not the cluster file's for it".into() });
        }
        greet(&mut tls, &hello, &peer.name).await?;
        streams[j] = Some(Box::new(tls));
    }
    // Accept every higher party; identify it by its certificate.
    let mut missing: Vec<usize> = (c.me + 1..n).collect();
    while !missing.is_empty() {
        let remaining = c.deadline.saturating_sub(start.elapsed());
        let accepted = tokio::time::timeout(remaining, listener.accept()).await;
        let (tcp, _) = match accepted {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(VmError::Input(format!("party {} cannot accept on {}: {e}", me.name, me.address))),
            Err(_) => {
                let names: Vec<&str> = missing.iter().map(|&j| parties[j].name.as_str()).collect();
                return Err(VmError::Link { peer: names.join(", "), message: format!("did not connect within {:?}", c.deadline) });
            }
        };
        tcp.set_nodelay(true).ok();
        let Ok(mut tls) = acceptor.accept(tcp).await else { continue };
        let presented = tls.get_ref().1.peer_certificates().and_then(|c| c.first().cloned());
        let Some(j) = presented.and_then(|p| certs.iter().position(|c| *c == p)) else { continue };
        if streams[j].is_some() || j <= c.me {
            // A second process claims a party that is already connected: refuse it.
            let refusal = Hello { party: me.name.clone(), module: String::new(), session: format!("refused: {} is already connected", parties[j].name), dealer: String::new() };
            if let Ok(bytes) = bincode::serde::encode_to_vec(&refusal, bincode_config()) {
                let _ = write_frame(&mut tls, &bytes).await;
            }
            continue;
        }
        greet(&mut tls, &hello, &parties[j].name).await?;
        streams[j] = Some(Box::new(tls));
        missing.retain(|&m| m != j);
    }
    drop(listener);

    // A reader and a writer task per peer, bridging the socket and the channels.
    let (mut to, mut from): (Vec<Option<UnboundedSender<Message>>>, Vec<Option<UnboundedReceiver<Message>>>) = ((0..n).map(|_| None).collect(), (0..n).map(|_| None).collect());
    let mut writers = Vec::new();
    for (j, s) in streams.into_iter().enumerate() {
        let Some(s) = s else { continue };
        let (mut rd, mut wr) = tokio::io::split(s);
        let (out_tx, mut out_rx) = unbounded::<Message>();
        let (in_tx, in_rx) = unbounded::<Message>();
        writers.push(tokio::spawn(async move {
            while let Some(m) = out_rx.next().await {
                if write_message(&mut wr, m).await.is_err() {
                    break;
                }
            }
            let _ = wr.shutdown().await;
        }));
        tokio::spawn(async move {
            while let Ok(m) = read_message(&mut rd).await {
                if in_tx.unbounded_send(m).is_err() {
                    break;
                }
            }
        });
        to[j] = Some(out_tx);
        from[j] = Some(in_rx);
    }
    Ok(Links { transport: MemTransport::from_channels(to, from), writers })
}

/// Writes one message: its head as a frame, then its payload's bytes.
async fn write_message<W: AsyncWrite + Unpin>(w: &mut W, m: Message) -> std::io::Result<()> {
    let invalid = |e: bincode::error::EncodeError| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string());
    match m {
        Message::Abort { origin, cause } => {
            let head = bincode::serde::encode_to_vec(Head::Abort { origin, cause }, bincode_config()).map_err(invalid)?;
            write_frame(w, &head).await
        }
        Message::Data { tag, payload } => {
            let (ring, bytes) = (matches!(payload, Payload::Ring(_)), payload.len_bytes() as u64);
            let head = bincode::serde::encode_to_vec(Head::Data { tag, ring, bytes }, bincode_config()).map_err(invalid)?;
            w.write_all(&(head.len() as u64).to_le_bytes()).await?;
            w.write_all(&head).await?;
            match payload {
                Payload::Bytes(b) => w.write_all(&b).await?,
                Payload::Ring(mut r) => {
                    // The wire is little-endian; on such a machine this loop does nothing.
                    r.iter_mut().for_each(|x| *x = x.to_le());
                    w.write_all(r.as_bytes()).await?
                }
            }
            w.flush().await
        }
    }
}

/// Reads one message written by [`write_message`].
async fn read_message<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Message> {
    let invalid = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
    let mut len = [0u8; 8];
    r.read_exact(&mut len).await?;
    let len = u64::from_le_bytes(len);
    if len > MAX_HEAD {
        return Err(invalid(format!("a message head of {len} bytes")));
    }
    let mut head = vec![0u8; len as usize];
    r.read_exact(&mut head).await?;
    let (head, _): (Head, usize) = bincode::serde::decode_from_slice(&head, bincode_config()).map_err(|e| invalid(e.to_string()))?;
    let (tag, ring, bytes) = match head {
        Head::Abort { origin, cause } => return Ok(Message::Abort { origin, cause }),
        Head::Data { tag, ring, bytes } => (tag, ring, bytes),
    };
    if bytes > MAX_FRAME || (ring && bytes % 16 != 0) {
        return Err(invalid(format!("a payload of {bytes} bytes")));
    }
    let payload = if ring {
        // Read straight into the vector, a bounded piece at a time, so that a length no data
        // follows never allocates much.
        let n = (bytes / 16) as usize;
        let mut v: Vec<u128> = Vec::with_capacity(n.min(RING_AHEAD));
        while v.len() < n {
            let from = v.len();
            v.resize(from + (n - from).min(RING_AHEAD), 0);
            r.read_exact(v[from..].as_mut_bytes()).await?;
        }
        v.iter_mut().for_each(|x| *x = u128::from_le(*x));
        Payload::Ring(v)
    } else {
        let mut buf = Vec::with_capacity(bytes.min(1 << 20) as usize);
        r.take(bytes).read_to_end(&mut buf).await?;
        if buf.len() as u64 != bytes {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the message ended early"));
        }
        Payload::Bytes(buf)
    };
    Ok(Message::Data { tag, payload })
}

/// The socket types of both directions, behind one trait object.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Exchanges hellos and checks that the peer is who it should be and runs what we run.
async fn greet<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S, hello: &Hello, expected: &str) -> Result<(), VmError> {
    let link = |message: String| VmError::Link { peer: expected.to_string(), message };
    let bytes = bincode::serde::encode_to_vec(hello, bincode_config()).map_err(|e| link(e.to_string()))?;
    write_frame(s, &bytes).await.map_err(|e| link(format!("hello not sent: {e}")))?;
    let reply = read_frame(s).await.map_err(|e| link(format!("no hello: {e}")))?;
    let (theirs, _): (Hello, usize) = bincode::serde::decode_from_slice(&reply, bincode_config()).map_err(|e| link(format!("garbled hello: {e}")))?;
    if theirs.session.starts_with("refused: ") {
        return Err(link(theirs.session));
    }
    if theirs.party != expected {
        return Err(link(format!("says it is {}", theirs.party)));
    }
    if theirs.module != hello.module {
        return Err(link(format!("runs module {} but {} runs module {}", short(&theirs.module), hello.party, short(&hello.module))));
    }
    if theirs.dealer != hello.dealer {
        let who = |d: &str| if d.is_empty() { "the first party".to_string() } else { format!("the separate dealer `{d}`") };
        return Err(link(format!("takes its correlated randomness from {} but {} from {}; use one cluster file", who(&theirs.dealer), hello.party, who(&hello.dealer))));
    }
    if theirs.session != hello.session {
        return Err(link(format!("is in session `{}` but {} is in session `{}`", theirs.session, hello.party, hello.session)));
    }
    Ok(())
}

/// The first 16 characters of a hash as a peer sent it (never split inside a character).
fn short(hash: &str) -> String {
    hash.chars().take(16).collect()
}
