//! Links between parties, and the one place where bytes and rounds are counted.
//!
//! A [`Transport`] moves whole messages between parties, in order per pair: in-memory channels
//! here, TCP with mutual TLS in party mode. [`Comm`] sits on top of any transport: it tags every
//! message with the compile-time sequence number of the instruction that sent it, checks the tag
//! on receipt (a mismatch means the parties run different programs), counts bytes and rounds, and
//! turns an abort from a peer into an error naming that peer.

use crate::error::VmError;
use futures::channel::mpsc::{unbounded, UnboundedReceiver, UnboundedSender};
use futures::StreamExt;
use sf_isa::PartyId;
use std::future::Future;

/// Which exchange a message belongs to: the instruction's sequence number, the step within its
/// protocol, and the iterations of the loops around it (folded into one number).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tag {
    pub seq: u32,
    pub step: u32,
    pub iter: u64,
}

impl Tag {
    /// The exchange of shape-symbol bindings before the program starts.
    pub const SETUP: Tag = Tag { seq: u32::MAX, step: 0, iter: 0 };

    pub fn new(seq: u32, step: u32) -> Tag {
        Tag { seq, step, iter: 0 }
    }
}

/// The tags of one instruction's rounds: every round of a multi-round protocol takes the next
/// step number, so each party's rounds line up with the others'.
#[derive(Clone, Copy, Debug)]
pub struct Steps {
    pub seq: u32,
    pub iter: u64,
    pub next: u32,
}

impl Steps {
    pub fn new(seq: u32, iter: u64) -> Steps {
        Steps { seq, iter, next: 0 }
    }

    /// The tag of the next round.
    pub fn tag(&mut self) -> Tag {
        let t = Tag { seq: self.seq, step: self.next, iter: self.iter };
        self.next += 1;
        t
    }
}

/// What a message carries: bytes, or ring elements, which an in-process link hands over
/// without copying or converting them (the network encodes them little-endian, 16 bytes each).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub enum Payload {
    Bytes(Vec<u8>),
    Ring(Vec<u128>),
}

impl Payload {
    /// Size on the wire, not counting framing.
    pub fn len_bytes(&self) -> usize {
        match self {
            Payload::Bytes(b) => b.len(),
            Payload::Ring(r) => r.len() * 16,
        }
    }

    pub fn into_bytes(self) -> Vec<u8> {
        match self {
            Payload::Bytes(b) => b,
            Payload::Ring(r) => ring_to_bytes(&r),
        }
    }

    /// The ring elements, or `None` if the bytes are not a whole number of them.
    pub fn into_ring(self) -> Option<Vec<u128>> {
        match self {
            Payload::Ring(r) => Some(r),
            Payload::Bytes(b) => (b.len() % 16 == 0).then(|| ring_from_bytes(&b)),
        }
    }
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub enum Message {
    Data { tag: Tag, payload: Payload },
    /// A party failed; `origin` names it and the cause travels along, so every party can report
    /// the first failure even when the abort reaches it through another party.
    Abort { origin: String, cause: String },
}

/// Moves messages between parties; every implementation delivers in order per pair of parties.
pub trait Transport {
    fn send(&mut self, to: PartyId, message: Message) -> Result<(), String>;
    /// The next message from `from`; `Err` when the peer is gone.
    fn recv(&mut self, from: PartyId) -> impl Future<Output = Result<Message, String>>;
    /// What has already arrived from `from`, without waiting.
    fn pending(&mut self, _from: PartyId) -> Arrived {
        Arrived::Closed
    }
}

/// What a look at a peer's incoming queue finds.
pub enum Arrived {
    Message(Message),
    /// Nothing yet; more may come.
    Nothing,
    /// Nothing, and nothing more will come: the peer's side is gone.
    Closed,
}

/// How long a party whose send found a peer gone waits for that peer's last words (an abort
/// still on its way through the socket and the reader task) before it reports a closed link.
const LAST_WORDS: std::time::Duration = std::time::Duration::from_secs(2);

/// In-process channels, one per ordered pair of parties.
pub struct MemTransport {
    to: Vec<Option<UnboundedSender<Message>>>,
    from: Vec<Option<UnboundedReceiver<Message>>>,
}

impl MemTransport {
    /// A transport over channels whose other ends belong to someone else (the network tasks of
    /// party mode): `to[p]` carries messages to party p, `from[p]` brings party p's.
    pub fn from_channels(to: Vec<Option<UnboundedSender<Message>>>, from: Vec<Option<UnboundedReceiver<Message>>>) -> MemTransport {
        MemTransport { to, from }
    }

    /// A fully connected set of `n` transports, one per party.
    pub fn mesh(n: usize) -> Vec<MemTransport> {
        let mut parties: Vec<MemTransport> =
            (0..n).map(|_| MemTransport { to: (0..n).map(|_| None).collect(), from: (0..n).map(|_| None).collect() }).collect();
        for i in 0..n {
            for j in 0..n {
                if i != j {
                    let (tx, rx) = unbounded();
                    parties[i].to[j] = Some(tx);
                    parties[j].from[i] = Some(rx);
                }
            }
        }
        parties
    }
}

impl Transport for MemTransport {
    fn send(&mut self, to: PartyId, message: Message) -> Result<(), String> {
        let tx = self.to.get(to as usize).and_then(Option::as_ref).ok_or("no such peer")?;
        tx.unbounded_send(message).map_err(|_| "the peer has stopped".to_string())
    }

    async fn recv(&mut self, from: PartyId) -> Result<Message, String> {
        let rx = self.from.get_mut(from as usize).and_then(Option::as_mut).ok_or("no such peer")?;
        rx.next().await.ok_or_else(|| "the peer has stopped without a word".to_string())
    }

    fn pending(&mut self, from: PartyId) -> Arrived {
        match self.from.get_mut(from as usize).and_then(Option::as_mut).map(|rx| rx.try_recv()) {
            Some(Ok(m)) => Arrived::Message(m),
            Some(Err(e)) if e.is_empty() => Arrived::Nothing,
            _ => Arrived::Closed,
        }
    }
}

/// Traffic counters of one party.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub messages_sent: u64,
    /// Communication rounds: distinct exchanges in which this party waited for a message.
    pub rounds: u64,
}

pub struct Comm<T: Transport> {
    transport: T,
    pub me: PartyId,
    pub parties: Vec<String>,
    pub traffic: Traffic,
    last_round: Option<Tag>,
    /// Counts messages received, for a scheduler that must tell progress from deadlock.
    progress: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
    /// The longest a receive waits before it names the silent peer.
    recv_timeout: Option<std::time::Duration>,
}

impl<T: Transport> Comm<T> {
    pub fn new(transport: T, me: PartyId, parties: Vec<String>) -> Comm<T> {
        Comm { transport, me, parties, traffic: Traffic::default(), last_round: None, progress: None, recv_timeout: None }
    }

    /// Makes a receive that waits longer than `timeout` an error naming the peer.
    pub fn with_recv_timeout(mut self, timeout: Option<std::time::Duration>) -> Comm<T> {
        self.recv_timeout = timeout;
        self
    }

    /// Reports every message received to `progress`.
    pub fn with_progress(mut self, progress: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>) -> Comm<T> {
        self.progress = progress;
        self
    }

    pub fn n(&self) -> usize {
        self.parties.len()
    }

    pub fn others(&self) -> impl Iterator<Item = PartyId> + use<T> {
        let me = self.me;
        (0..self.parties.len() as PartyId).filter(move |&p| p != me)
    }

    /// A party's name; the node after the last party is the separate dealer.
    fn name(&self, p: PartyId) -> String {
        match self.parties.get(p as usize) {
            Some(name) => name.clone(),
            None if p as usize == self.parties.len() => "the dealer".into(),
            None => format!("party {p}"),
        }
    }

    pub fn send(&mut self, to: PartyId, tag: Tag, payload: Vec<u8>) -> Result<(), VmError> {
        self.send_payload(to, tag, Payload::Bytes(payload))
    }

    fn send_payload(&mut self, to: PartyId, tag: Tag, payload: Payload) -> Result<(), VmError> {
        self.traffic.bytes_sent += payload.len_bytes() as u64;
        self.traffic.messages_sent += 1;
        let peer = self.name(to);
        match self.transport.send(to, Message::Data { tag, payload }) {
            Ok(()) => Ok(()),
            // A peer that stopped may have said why before it went, and its abort may still
            // be on the way: wait for it, or for its side to close, and report that cause.
            Err(message) => {
                let deadline = std::time::Instant::now() + LAST_WORDS;
                loop {
                    match self.transport.pending(to) {
                        Arrived::Message(Message::Abort { origin, cause }) => return Err(VmError::Aborted { party: origin, cause }),
                        Arrived::Message(_) => {}
                        Arrived::Nothing if std::time::Instant::now() < deadline => std::thread::sleep(std::time::Duration::from_millis(5)),
                        Arrived::Nothing | Arrived::Closed => return Err(VmError::Link { peer, message }),
                    }
                }
            }
        }
    }

    pub async fn recv(&mut self, from: PartyId, tag: Tag) -> Result<Vec<u8>, VmError> {
        Ok(self.recv_payload(from, tag).await?.into_bytes())
    }

    async fn recv_payload(&mut self, from: PartyId, tag: Tag) -> Result<Payload, VmError> {
        if self.last_round != Some(tag) {
            self.last_round = Some(tag);
            self.traffic.rounds += 1;
        }
        let peer = self.name(from);
        let received = match self.recv_timeout {
            None => self.transport.recv(from).await,
            Some(limit) => {
                let recv = std::pin::pin!(self.transport.recv(from));
                match futures::future::select(recv, futures_timer::Delay::new(limit)).await {
                    futures::future::Either::Left((r, _)) => r,
                    futures::future::Either::Right(_) => Err(format!("sent nothing for {:.0} s (the receive timeout); is it still running?", limit.as_secs_f64())),
                }
            }
        };
        match received.map_err(|message| VmError::Link { peer: peer.clone(), message })? {
            Message::Data { tag: got, payload } if got == tag => {
                self.traffic.bytes_received += payload.len_bytes() as u64;
                if let Some(p) = &self.progress {
                    p.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                Ok(payload)
            }
            Message::Data { tag: got, .. } => Err(VmError::Link {
                peer,
                message: format!(
                    "expected the message of exchange {}.{} (iteration key {:x}) but got {}.{} ({:x}); do all parties run the same module?",
                    tag.seq, tag.step, tag.iter, got.seq, got.step, got.iter
                ),
            }),
            Message::Abort { origin, cause } => Err(VmError::Aborted { party: origin, cause }),
        }
    }

    /// Tells every peer that `origin` failed, so none of them waits for this party.
    /// A separate dealer, if there is one, is told too.
    pub fn abort(&mut self, origin: &str, cause: &str) {
        let dealer = self.parties.len() as PartyId;
        for p in self.others().chain((self.me != dealer).then_some(dealer)).collect::<Vec<_>>() {
            let _ = self.transport.send(p, Message::Abort { origin: origin.to_string(), cause: cause.to_string() });
        }
    }

    pub fn send_ring(&mut self, to: PartyId, tag: Tag, values: &[u128]) -> Result<(), VmError> {
        self.send_payload(to, tag, Payload::Ring(values.to_vec()))
    }

    /// Sends ring elements this party no longer needs, without copying them.
    pub fn send_ring_owned(&mut self, to: PartyId, tag: Tag, values: Vec<u128>) -> Result<(), VmError> {
        self.send_payload(to, tag, Payload::Ring(values))
    }

    pub async fn recv_ring(&mut self, from: PartyId, tag: Tag, len: usize) -> Result<Vec<u128>, VmError> {
        let payload = self.recv_payload(from, tag).await?;
        let got = payload.len_bytes();
        match payload.into_ring() {
            Some(ring) if ring.len() == len => Ok(ring),
            _ => Err(VmError::Link {
                peer: self.name(from),
                message: format!("expected {len} ring elements in exchange {}.{}, got {got} bytes", tag.seq, tag.step),
            }),
        }
    }
}

pub fn ring_to_bytes(values: &[u128]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() * 16);
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

pub fn ring_from_bytes(bytes: &[u8]) -> Vec<u128> {
    bytes
        .chunks_exact(16)
        .map(|c| {
            let mut b = [0u8; 16];
            b.copy_from_slice(c);
            u128::from_le_bytes(b)
        })
        .collect()
}
