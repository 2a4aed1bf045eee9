//! Test support: every party of a protocol in one process, one thread each.

use crate::link::{Comm, MemTransport};
use crate::semi2k::{deal_seeds, Semi2k};

pub const F: u32 = 40;

/// Runs `f` as every one of `n` parties, each on its own thread, and returns their results.
pub fn simulate<R: Send>(n: usize, f: impl Fn(Semi2k<MemTransport>) -> R + Sync) -> Vec<R> {
    crate::run::simulate(n, F, f).expect("simulation")
}

/// A transport that keeps a copy of every payload it receives, to inspect what a party sees.
pub struct Recording {
    pub inner: MemTransport,
    pub received: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

impl crate::link::Transport for Recording {
    fn send(&mut self, to: sf_isa::PartyId, message: crate::link::Message) -> Result<(), String> {
        self.inner.send(to, message)
    }

    async fn recv(&mut self, from: sf_isa::PartyId) -> Result<crate::link::Message, String> {
        let m = self.inner.recv(from).await?;
        if let crate::link::Message::Data { payload, .. } = &m {
            if let Ok(mut r) = self.received.lock() {
                match payload {
                    crate::link::Payload::Bytes(b) => r.extend_from_slice(b),
                    crate::link::Payload::Ring(v) => r.extend(v.iter().flat_map(|x| x.to_le_bytes())),
                }
            }
        }
        Ok(m)
    }
}

/// Like [`simulate`], over recording transports; also returns what each party received.
pub fn simulate_recorded<R: Send>(n: usize, f: impl Fn(Semi2k<Recording>) -> R + Sync) -> (Vec<R>, Vec<Vec<u8>>) {
    let names: Vec<String> = (0..n).map(|i| format!("p{i}")).collect();
    let seeds = deal_seeds(n).expect("seeds");
    let logs: Vec<_> = (0..n).map(|_| std::sync::Arc::new(std::sync::Mutex::new(Vec::new()))).collect();
    let results = std::thread::scope(|s| {
        let handles: Vec<_> = MemTransport::mesh(n)
            .into_iter()
            .zip(seeds)
            .enumerate()
            .map(|(i, (t, seeds))| {
                let transport = Recording { inner: t, received: logs[i].clone() };
                let proto = Semi2k::new(Comm::new(transport, i as u16, names.clone()), seeds, F);
                let f = &f;
                s.spawn(move || f(proto))
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("party thread")).collect()
    });
    let received = logs.iter().map(|l| l.lock().map(|v| v.clone()).unwrap_or_default()).collect();
    (results, received)
}

/// Runs `f` as every one of `n` parties with a separate dealer on its own thread (the node after
/// the last party); party 0 ends the run with [`Semi2k::finish`]. Returns the parties' results
/// and the number of requests the dealer answered.
pub fn simulate_with_dealer<R: Send>(n: usize, f: impl Fn(&mut Semi2k<MemTransport>) -> R + Sync) -> (Vec<R>, u64) {
    use crate::dealer::DealerMode;
    let names: Vec<String> = (0..n).map(|i| format!("p{i}")).collect();
    let mut transports = MemTransport::mesh(n + 1);
    let dealer_link = transports.pop().expect("the dealer's link");
    std::thread::scope(|s| {
        let names_d = names.clone();
        let dealer = s.spawn(move || {
            let mut comm = Comm::new(dealer_link, n as u16, names_d);
            futures::executor::block_on(crate::dealer::serve(&mut comm)).expect("dealer")
        });
        let handles: Vec<_> = transports
            .into_iter()
            .enumerate()
            .map(|(i, t)| {
                let names = names.clone();
                let f = &f;
                s.spawn(move || {
                    let mut comm = Comm::new(t, i as u16, names);
                    let seeds = futures::executor::block_on(crate::semi2k::exchange_seeds(&mut comm, DealerMode::Separate)).expect("seeds");
                    assert_eq!(seeds.dealer.iter().flatten().count(), 1, "party {i} holds only its own dealer seed");
                    let mut proto = Semi2k::new(comm, seeds, F);
                    let r = f(&mut proto);
                    proto.finish().expect("finish");
                    r
                })
            })
            .collect();
        let results = handles.into_iter().map(|h| h.join().expect("party thread")).collect();
        (results, dealer.join().expect("dealer thread"))
    })
}
