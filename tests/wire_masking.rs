//! What a party receives is masked: every message of every kind, recorded at the receiving end
//! of the links while a program runs on constant secrets (each input the same number in every
//! row, so that anything unmasked would show as repeated bytes), is statistically uniform.
//!
//! A message's kind is the operation of the instruction whose sequence number tags it (`mul`,
//! `matmul`, `gt`, `exp`, `div`, `select`, `reveal`...). For every kind, and for every one of
//! the 16 byte positions of a ring element, the byte values pass a chi-square test of
//! uniformity; no received ring element equals the encoding of an input or of a product of
//! them; and a second run on the same inputs receives different bytes (fresh randomness).
//! Public messages are left out by design: the exchange of shape symbols before the program.
//! The same runs with a separate dealer add its corrections to party 0's view; PSI, whose
//! messages are group elements, has a test of its own.

use sf_isa::{Block, Instr, Segment, Seq};
use sf_tests::Scratch;
use sfvm::interp::{run_party, PartyJob};
use sfvm::link::{Comm, MemTransport, Message, Payload, Tag, Transport};
use sfvm::dealer::DealerMode;
use sfvm::semi2k::{exchange_seeds, Semi2k};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

const PROGRAM: &str = "parties alice, bob;
use std::nn::{relu};
let x: fix[n] @alice = input(\"x\");
let y: fix[n] @bob = input(\"y\");
let m: fix[n, 8] @alice = input(\"m\");
let w: fix[8, 4] @bob = input(\"w\");
let p = x * y;
let q = m @ w;
let g = x > y;
let r = relu(y - x);
let e = exp(p * 0.25);
let d = x / (y + 3.0);
let s = select(g, x, y);
output(reveal(p + r + e + d + s, to: alice), \"a\");
output(reveal(sum(q, axis: 1)), \"b\");
";

const ROWS: usize = 4096;

/// Every message a party received: the sender, the tag and the payload's bytes.
type Log = Arc<Mutex<Vec<(u16, Tag, Vec<u8>)>>>;

/// The in-process links, recording what arrives.
struct Tap {
    inner: MemTransport,
    log: Log,
}

impl Transport for Tap {
    fn send(&mut self, to: u16, message: Message) -> Result<(), String> {
        self.inner.send(to, message)
    }

    async fn recv(&mut self, from: u16) -> Result<Message, String> {
        let m = self.inner.recv(from).await?;
        if let Message::Data { tag, payload } = &m {
            let bytes = match payload {
                Payload::Bytes(b) => b.clone(),
                Payload::Ring(r) => r.iter().flat_map(|v| v.to_le_bytes()).collect(),
            };
            if let Ok(mut log) = self.log.lock() {
                log.push((from, *tag, bytes));
            }
        }
        Ok(m)
    }
}

/// The operation of each sequence number of a segment.
fn kinds(segment: &Segment) -> HashMap<Seq, &'static str> {
    fn walk(block: &Block, out: &mut HashMap<Seq, &'static str>) {
        for i in &block.code {
            let seq = match i {
                Instr::Unary { seq, .. }
                | Instr::Binary { seq, .. }
                | Instr::Select { seq, .. }
                | Instr::Reduce { seq, .. }
                | Instr::RevealSend { seq, .. }
                | Instr::RevealRecv { seq, .. }
                | Instr::RevealAll { seq, .. }
                | Instr::SendPlain { seq, .. }
                | Instr::RecvPlain { seq, .. }
                | Instr::Psi { seq, .. } => Some(*seq),
                _ => None,
            };
            if let Some(seq) = seq {
                out.insert(seq, i.op_name());
            }
            match i {
                Instr::Loop { body, .. } => walk(body, out),
                Instr::If { then, otherwise, .. } => {
                    walk(then, out);
                    walk(otherwise, out);
                }
                _ => {}
            }
        }
    }
    let mut out = HashMap::new();
    walk(&segment.body, &mut out);
    out
}

/// One message as its receiver saw it: the kind of the instruction that tagged it, the tag
/// and the bytes.
type Received = (&'static str, Tag, Vec<u8>);

/// Runs `source` in sim mode with every input read from the CSV text `files` gives for its
/// name (any party), the correlated randomness dealt by the first party or, with `dealer`, by
/// a separate dealer (the node after the last party, as in party mode); each party's received
/// messages, the public set-up exchange left out. A message from the dealer is of kind `dealer`.
fn run_recorded(source: &str, files: &dyn Fn(&str) -> String, dealer: bool) -> Vec<Vec<Received>> {
    let compiled = sfc::driver::compile("wire.sf", source).unwrap_or_else(|_| panic!("the program compiles"));
    let s = Scratch::new("wire-masking");
    let n = compiled.ir.parties.len();
    let names = compiled.ir.parties.clone();
    let symbols = Arc::new(compiled.ir.symbols.clone());
    let debug = Arc::new(compiled.debug.clone());
    let mode = if dealer { DealerMode::Separate } else { DealerMode::FirstParty };
    let logs: Vec<Log> = (0..n).map(|_| Log::default()).collect();
    let mut mesh = MemTransport::mesh(n + 1);
    let dealer_link = mesh.pop().expect("the dealer's links");
    let jobs: Vec<_> = compiled
        .segments
        .iter()
        .zip(mesh)
        .enumerate()
        .map(|(p, (segment, transport))| {
            let party = &names[p];
            let mut inputs: Vec<(String, std::path::PathBuf)> = Vec::new();
            for decl in &segment.inputs {
                inputs.push((decl.name.clone(), s.write(&format!("{party}.{}.csv", decl.name), &files(&decl.name))));
            }
            let (inputs, bindings) = sfvm::io::load_inputs(segment, party, "", &mut inputs, &symbols, &debug).expect("inputs");
            (segment.clone(), inputs, bindings, Tap { inner: transport, log: logs[p].clone() })
        })
        .collect();
    let kinds: Vec<HashMap<Seq, &'static str>> = compiled.segments.iter().map(kinds).collect();
    std::thread::scope(|scope| {
        let dealing = dealer.then(|| {
            let names = names.clone();
            scope.spawn(move || futures::executor::block_on(sfvm::dealer::serve(&mut Comm::new(dealer_link, n as u16, names))).map(|_| ()))
        });
        let handles: Vec<_> = jobs
            .into_iter()
            .enumerate()
            .map(|(p, (segment, inputs, bindings, tap))| {
                let (names, debug, symbols) = (names.clone(), debug.clone(), symbols.clone());
                scope.spawn(move || {
                    futures::executor::block_on(async {
                        let mut comm = Comm::new(tap, p as u16, names);
                        let seeds = exchange_seeds(&mut comm, mode).await?;
                        let job = PartyJob {
                            segment,
                            inputs,
                            bindings,
                            proto: Semi2k::new(comm, seeds, 40),
                            debug,
                            symbols,
                            progress: None,
                            constants: Arc::new(Vec::new()),
                            context: [3; 32],
                            jit: true,
                            meter: None,
                            debugger: None,
                            profile: false,
                            limits: Default::default(),
                        };
                        run_party(job).await.map(|_| ())
                    })
                })
            })
            .collect();
        for h in handles.into_iter().chain(dealing) {
            h.join().expect("a thread of the run").expect("the run succeeds");
        }
    });
    logs.iter()
        .zip(&kinds)
        .map(|(log, kinds)| {
            let log = log.lock().expect("log");
            log.iter()
                .filter(|(_, tag, _)| *tag != Tag::SETUP)
                .map(|(from, tag, bytes)| {
                    let kind = match tag.seq {
                        _ if *from as usize == n => "dealer",
                        // The pairwise PRG seeds, drawn fresh for the run.
                        s if s == u32::MAX - 1 => "seeds",
                        s => kinds.get(&s).copied().unwrap_or("unknown"),
                    };
                    (kind, *tag, bytes.clone())
                })
                .collect()
        })
        .collect()
}

/// The arithmetic program on constant inputs; each party's received bytes by kind.
fn received(dealer: bool) -> Vec<BTreeMap<&'static str, Vec<u8>>> {
    let column = |v: f64, cols: usize| -> String { (0..ROWS).map(|_| format!("{}\n", vec![v.to_string(); cols].join(","))).collect() };
    let files = |name: &str| match name {
        "x" => column(1.0, 1),
        "y" => column(2.0, 1),
        "m" => column(1.0, 8),
        _ => (0..8).map(|_| "2,2,2,2\n".to_string()).collect(),
    };
    run_recorded(PROGRAM, &files, dealer)
        .into_iter()
        .map(|messages| {
            let mut by_kind: BTreeMap<&'static str, Vec<u8>> = BTreeMap::new();
            for (kind, tag, bytes) in messages {
                if std::env::var("SF_WIRE_DEBUG").is_ok() {
                    let (stat, n) = chi_square(bytes.iter().copied());
                    eprintln!("{kind} seq {} step {} iter {}: {n} bytes, chi {stat:.0}", tag.seq, tag.step, tag.iter);
                }
                by_kind.entry(kind).or_default().extend_from_slice(&bytes);
            }
            by_kind
        })
        .collect()
}

/// No received ring element is a plaintext value's encoding, and a second run on the same
/// inputs received other bytes.
fn check_fresh_and_not_plain(party: usize, kind: &str, bytes: &[u8], again: &[u8], plain: &[[u8; 16]]) {
    if bytes.len() % 16 == 0 {
        for e in bytes.chunks_exact(16) {
            assert!(!plain.iter().any(|p| p == e), "party {party}, `{kind}`: a plaintext value crossed in the clear");
        }
    }
    let n = 64.min(bytes.len()).min(again.len());
    assert_ne!(&bytes[..n], &again[..n], "party {party}, `{kind}`: two runs received the same bytes");
}

/// Pearson's chi-square statistic of byte values against the uniform distribution.
fn chi_square(bytes: impl Iterator<Item = u8>) -> (f64, usize) {
    let mut counts = [0u64; 256];
    let mut n = 0usize;
    for b in bytes {
        counts[b as usize] += 1;
        n += 1;
    }
    let expected = n as f64 / 256.0;
    (counts.iter().map(|&c| (c as f64 - expected).powi(2) / expected).sum(), n)
}

/// 255 degrees of freedom: mean 255, standard deviation 22.6. 400 is 6.4 deviations out
/// (p < 1e-9 for one test); the suite makes a few hundred of them.
const CHI_SQUARE_LIMIT: f64 = 400.0;

#[test]
fn every_kind_of_message_a_party_receives_is_uniform() {
    check_uniform(false);
}

/// With a separate dealer, party 0 also receives the dealer's corrections (c = ab less the
/// other parties' c, for triples and the other correlated values): they are uniform too.
#[test]
fn with_a_separate_dealer_its_corrections_are_uniform_too() {
    let kinds = check_uniform(true);
    assert!(kinds[0].contains_key("dealer") && kinds[0]["dealer"].len() > 1 << 16, "party 0 received too little from the dealer");
}

/// The checks of the module's documentation on both parties; what each received, by kind.
fn check_uniform(dealer: bool) -> Vec<BTreeMap<&'static str, Vec<u8>>> {
    let first = received(dealer);
    let second = received(dealer);
    let encode = |v: f64| ((v * 2f64.powi(40)).round() as i128 as u128).to_le_bytes();
    let plain: Vec<[u8; 16]> = [1.0, 2.0, 0.5, 3.0, 4.0, 16.0].iter().flat_map(|&v| [encode(v), encode(-v)]).collect();
    for (party, kinds) in first.iter().enumerate() {
        // The program's secret operations each send something.
        for kind in ["mul", "matmul", "gt", "exp", "div", "select", "reveal"] {
            assert!(kinds.contains_key(kind), "party {party} received no `{kind}` message: {:?}", kinds.keys().collect::<Vec<_>>());
        }
        for (kind, bytes) in kinds {
            // What a reveal's receiver gets is the value less its own share: after a local
            // truncation a share is not uniform in the ring (its top bits extend its sign), and
            // need not be, since with the receiver's own share it gives exactly the value the
            // program reveals. It still must not be the value itself, nor repeat across runs.
            let uniform = *kind != "reveal";
            if bytes.len() < 256 * 20 || !uniform {
                check_fresh_and_not_plain(party, kind, bytes, &second[party][kind], &plain);
                continue;
            }
            let (stat, n) = chi_square(bytes.iter().copied());
            assert!(stat < CHI_SQUARE_LIMIT, "party {party}, `{kind}`: chi-square {stat:.0} over {n} bytes");
            if bytes.len() % 16 == 0 && bytes.len() >= 16 * 256 * 20 {
                for position in 0..16 {
                    let (stat, n) = chi_square(bytes.iter().skip(position).step_by(16).copied());
                    assert!(stat < CHI_SQUARE_LIMIT, "party {party}, `{kind}`, byte {position} of each element: chi-square {stat:.0} over {n}");
                }
            }
            check_fresh_and_not_plain(party, kind, bytes, &second[party][kind], &plain);
        }
        eprintln!(
            "party {party}: {}",
            kinds.iter().map(|(k, b)| format!("{k} {} bytes", b.len())).collect::<Vec<_>>().join(", ")
        );
    }
    first
}

/// PSI's messages: the points each owner receives are pseudo-random group elements (their
/// bytes are uniform, but for the two bits every canonical ristretto255 encoding fixes), no
/// key crosses in the clear, and a second run on the same keys receives none of the same
/// points (fresh scalars and nonces, so nothing links two runs).
#[test]
fn psi_messages_hide_the_keys_and_are_fresh_in_every_run() {
    const PSI: &str = "parties alice, bob;\nlet ka: int[n] @alice = input(\"ka\");\nlet kb: int[m] @bob = input(\"kb\");\nlet (ia, ib) = psi(ka, kb);\noutput(ia, \"rows\");\noutput(ib, \"rows\");\n";
    // Keys far from any count or position: 10^12 + 7i for alice, 10^12 + 5j for bob.
    let keys = |name: &str| -> Vec<i64> { (0..3000).map(|i| 1_000_000_000_000 + i * if name == "ka" { 7 } else { 5 }).collect() };
    let files = |name: &str| keys(name).iter().map(|k| format!("{k}\n")).collect::<String>();
    let points = |run: &[Vec<Received>], party: usize| -> Vec<[u8; 32]> {
        run[party]
            .iter()
            .filter(|(kind, tag, _)| *kind == "psi" && (1..=3).contains(&(tag.step >> 24)))
            .flat_map(|(_, _, bytes)| bytes.chunks_exact(32).map(|c| c.try_into().expect("32 bytes")).collect::<Vec<[u8; 32]>>())
            .collect()
    };
    let (first, second) = (run_recorded(PSI, &files, false), run_recorded(PSI, &files, false));
    let all_keys: Vec<[u8; 8]> = keys("ka").iter().chain(&keys("kb")).map(|k| k.to_le_bytes()).collect();
    for party in 0..2 {
        let (a, b) = (points(&first, party), points(&second, party));
        assert!(a.len() >= 3000, "party {party} received {} points", a.len());
        // Bytes 1..31 of each encoding are uniform; byte 0's low bit and byte 31's top bit are 0.
        let (stat, n) = chi_square(a.iter().flat_map(|p| p[1..31].iter().copied()));
        assert!(stat < CHI_SQUARE_LIMIT, "party {party}: points' bytes, chi-square {stat:.0} over {n}");
        let again: std::collections::HashSet<[u8; 32]> = b.into_iter().collect();
        assert!(a.iter().all(|p| !again.contains(p)), "party {party}: a point recurs in a second run");
        for (_, _, bytes) in &first[party] {
            assert!(!all_keys.iter().any(|k| bytes.windows(8).any(|w| w == k)), "party {party}: a key crossed in the clear");
        }
    }
}
