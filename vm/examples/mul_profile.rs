//! One kernel on 1e6 elements between 2 parties, repeated, for profiling:
//!
//!     ROUNDS=15 cargo run --release -p sfvm --example mul_profile [mul|cmp|recip|exp]

use sfvm::link::{Comm, MemTransport, Steps};
use sfvm::semi2k::{deal_seeds, Semi2k};

fn main() {
    let kernel = std::env::args().nth(1).unwrap_or_else(|| "mul".into());
    let seeds = deal_seeds(2).expect("seeds");
    let names = vec!["a".to_string(), "b".to_string()];
    std::thread::scope(|s| {
        for (i, (t, seeds)) in MemTransport::mesh(2).into_iter().zip(seeds).enumerate() {
            let (names, kernel) = (names.clone(), kernel.clone());
            s.spawn(move || {
                let mut p = Semi2k::new(Comm::new(t, i as u16, names), seeds, 40);
                let x: Vec<u128> = (0..1_000_000u128).map(|v| (v + 1) << 30).collect();
                let rounds: usize = std::env::var("ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(5);
                let mut times = Vec::with_capacity(rounds);
                for round in 0..rounds as u32 {
                    let mut st = Steps::new(round, 0);
                    let start = std::time::Instant::now();
                    let run = async {
                        match kernel.as_str() {
                            "cmp" => p.is_negative(&x, &mut st).await,
                            "recip" => p.reciprocal(&x, &mut st).await,
                            "exp" => p.exp(&x, &mut st).await,
                            _ => p.mul_fix(&x, &x, &mut st).await,
                        }
                    };
                    std::hint::black_box(futures::executor::block_on(run).expect("kernel"));
                    times.push(start.elapsed().as_secs_f64());
                    if i == 0 {
                        eprintln!("{kernel} {round}: {:.3} s", times[times.len() - 1]);
                    }
                }
                times.sort_by(f64::total_cmp);
                if i == 0 && !times.is_empty() {
                    eprintln!("{kernel}: best {:.3} s, median {:.3} s of {rounds}", times[0], times[times.len() / 2]);
                }
            });
        }
    });
}
