//! A secret multiply of 1e6 elements between 2 parties, repeated, for profiling.
/// Large share vectors come and go all the time; an allocator that keeps freed memory spares
/// the kernel from zeroing fresh pages for every one of them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use sfvm::link::{Comm, MemTransport, Steps};
use sfvm::semi2k::{deal_seeds, Semi2k};

fn main() {
    let seeds = deal_seeds(2).expect("seeds");
    let names = vec!["a".to_string(), "b".to_string()];
    std::thread::scope(|s| {
        for (i, (t, seeds)) in MemTransport::mesh(2).into_iter().zip(seeds).enumerate() {
            let names = names.clone();
            s.spawn(move || {
                let mut p = Semi2k::new(Comm::new(t, i as u16, names), seeds, 40);
                let x: Vec<u128> = (0..1_000_000u128).map(|v| v << 40).collect();
                for _ in 0..10 {
                    let mut st = Steps::new(0, 0);
                    std::hint::black_box(futures::executor::block_on(p.mul_fix(&x, &x, &mut st)).expect("mul"));
                }
            });
        }
    });
}
