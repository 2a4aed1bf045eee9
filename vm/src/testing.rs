//! Test support: every party of a protocol in one process, one thread each.

use crate::link::{Comm, MemTransport};
use crate::semi2k::{deal_seeds, Semi2k};

pub const F: u32 = 40;

/// Runs `f` as every one of `n` parties, each on its own thread, and returns their results.
pub fn simulate<R: Send>(n: usize, f: impl Fn(Semi2k<MemTransport>) -> R + Sync) -> Vec<R> {
    let names: Vec<String> = (0..n).map(|i| format!("p{i}")).collect();
    let seeds = deal_seeds(n).expect("seeds");
    std::thread::scope(|s| {
        let handles: Vec<_> = MemTransport::mesh(n)
            .into_iter()
            .zip(seeds)
            .enumerate()
            .map(|(i, (t, seeds))| {
                let proto = Semi2k::new(Comm::new(t, i as u16, names.clone()), seeds, F);
                let f = &f;
                s.spawn(move || f(proto))
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("party thread")).collect()
    })
}
