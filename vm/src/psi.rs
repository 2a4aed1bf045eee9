//! Private set intersection: ECDH-PSI over ristretto255.
//!
//! Party A holds keys x_1..x_n, party B keys y_1..y_m; each key is a row of one or more int
//! columns. Each hashes its rows to the group with a per-run domain (the module, the session,
//! both parties' fresh nonces and the instruction), and raises them to a fresh secret scalar:
//!
//! 1. A sends H(x_i)^a in its own order; B sends H(y_j)^b in an order it shuffled.
//! 2. B raises A's points to b and returns H(x_i)^ab in A's order; A raises B's to a.
//! 3. A finds its rows whose H(x_i)^ab is among the H(y_j)^ab, sorts the matches by that
//!    value (a pseudo-random, hence common and meaningless, order) and sends B the shuffled
//!    positions of its matches in that order; B undoes its shuffle.
//! 4. A tells every other party the intersection's size, which is public.
//!
//! A learns its matching rows and m; B learns its matching rows and n; neither learns which
//! non-matching keys the other holds (decisional Diffie-Hellman), and B's shuffle hides which of
//! B's rows match from A. Points travel in batches, so no message grows with the table.

use crate::error::VmError;
use crate::link::{Comm, Tag, Transport};
use crate::prg::{fresh_seed, Prg};
use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use sf_isa::{PartyId, Seq};
use std::collections::HashMap;

/// Points per message: 32 bytes each, so 512 KiB messages.
const BATCH: usize = 1 << 14;

/// What a PSI instruction says about the run, the same on every party.
pub struct PsiSpec<'a> {
    /// The owners of the first and second key tables.
    pub owners: [PartyId; 2],
    /// Keep the first of rows with equal keys instead of failing.
    pub keep_first: bool,
    /// How the source names each side's keys, for errors.
    pub names: &'a [String; 2],
    /// Identifies the module and session: part of the hash-to-group domain.
    pub context: [u8; 32],
    pub seq: Seq,
    pub iter: u64,
}

/// One party's result: its row indices of the intersection (if it owns a table), and the size.
pub struct PsiOutcome {
    pub rows: Option<Vec<i64>>,
    pub size: u64,
}

/// The protocol's phases; a message's step is its phase and its batch number.
#[derive(Clone, Copy)]
enum Phase {
    Hello = 0,
    FirstPoints = 1,
    SecondPoints = 2,
    FirstDoubled = 3,
    Matches = 4,
    Size = 5,
}

fn tag(spec: &PsiSpec, phase: Phase, batch: usize) -> Tag {
    Tag { seq: spec.seq, step: ((phase as u32) << 24) | batch as u32, iter: spec.iter }
}

/// Runs this party's side. `keys` holds the columns of this party's table if it owns one.
pub async fn run<T: Transport>(comm: &mut Comm<T>, spec: &PsiSpec<'_>, keys: Option<&[Vec<i64>]>) -> Result<PsiOutcome, VmError> {
    let me = comm.me;
    let [a, b] = spec.owners;
    if me != a && me != b {
        let bytes = comm.recv(a, tag(spec, Phase::Size, 0)).await?;
        let size = u64::from_le_bytes(bytes.as_slice().try_into().map_err(|_| link_error(comm, a, "sent a malformed intersection size"))?);
        return Ok(PsiOutcome { rows: None, size });
    }
    let side = usize::from(me == b);
    let keys = keys.ok_or_else(|| VmError::Internal("a psi owner runs without its keys".into()))?;
    let table = distinct_rows(keys, spec.keep_first, &spec.names[side], &comm.parties[me as usize])?;
    let peer = if side == 0 { b } else { a };

    // Both parties contribute a fresh nonce, so the hash is new in every run.
    let mut nonce = [0u8; 32];
    getrandom::fill(&mut nonce).map_err(|e| VmError::Entropy(e.to_string()))?;
    let mut hello = nonce.to_vec();
    hello.extend_from_slice(&(table.len() as u64).to_le_bytes());
    comm.send(peer, tag(spec, Phase::Hello, 0), hello)?;
    let theirs = comm.recv(peer, tag(spec, Phase::Hello, 0)).await?;
    if theirs.len() != 40 {
        return Err(link_error(comm, peer, "sent a malformed psi hello"));
    }
    let peer_count = u64::from_le_bytes(theirs[32..40].try_into().unwrap_or_default()) as usize;
    let (nonce_a, nonce_b) = if side == 0 { (&nonce[..], &theirs[..32]) } else { (&theirs[..32], &nonce[..]) };
    let domain = domain_key(spec, nonce_a, nonce_b);
    let secret = Exponent::fresh()?;

    if side == 0 {
        // A: send own points, then raise B's, then look up the doubly raised own points.
        let own = table.len();
        for batch in 0..own.div_ceil(BATCH) {
            let rows: Vec<&[u8]> = (batch * BATCH..own.min((batch + 1) * BATCH)).map(|i| table.row(i)).collect();
            comm.send(peer, tag(spec, Phase::FirstPoints, batch), secret.hash_and_raise(&domain, &rows))?;
        }
        // The count comes from the peer: grow as its points arrive rather than trust it.
        let mut theirs: Vec<([u8; 32], u32)> = Vec::new();
        for batch in 0..peer_count.div_ceil(BATCH) {
            let want = BATCH.min(peer_count - batch * BATCH);
            let bytes = comm.recv(peer, tag(spec, Phase::SecondPoints, batch)).await?;
            let raised = secret.raise(&bytes, want).map_err(|m| link_error(comm, peer, m))?;
            theirs.extend(raised.chunks_exact(32).enumerate().map(|(i, p)| (point_bytes(p), (batch * BATCH + i) as u32)));
        }
        theirs.sort_unstable();
        let mut matches: Vec<([u8; 32], u32, u32)> = Vec::new();
        for batch in 0..own.div_ceil(BATCH) {
            let want = BATCH.min(own - batch * BATCH);
            let bytes = comm.recv(peer, tag(spec, Phase::FirstDoubled, batch)).await?;
            if bytes.len() != want * 32 {
                return Err(link_error(comm, peer, "sent the wrong number of points"));
            }
            for (i, p) in bytes.chunks_exact(32).enumerate() {
                let p = point_bytes(p);
                if let Ok(at) = theirs.binary_search_by(|(q, _)| q.cmp(&p)) {
                    matches.push((p, table.origin[batch * BATCH + i], theirs[at].1));
                }
            }
        }
        matches.sort_unstable();
        let positions: Vec<u8> = matches.iter().flat_map(|m| m.2.to_le_bytes()).collect();
        comm.send(peer, tag(spec, Phase::Matches, 0), positions)?;
        let size = matches.len() as u64;
        for p in comm.others().filter(|&p| p != b).collect::<Vec<_>>() {
            comm.send(p, tag(spec, Phase::Size, 0), size.to_le_bytes().to_vec())?;
        }
        Ok(PsiOutcome { rows: Some(matches.iter().map(|m| m.1 as i64).collect()), size })
    } else {
        // B: send own points shuffled, raise A's and send them back in A's order.
        let order = shuffled(table.len())?;
        let rows: Vec<&[u8]> = order.iter().map(|&i| table.row(i as usize)).collect();
        for (i, chunk) in rows.chunks(BATCH).enumerate() {
            let bytes = secret.hash_and_raise(&domain, chunk);
            comm.send(peer, tag(spec, Phase::SecondPoints, i), bytes)?;
        }
        for batch in 0..peer_count.div_ceil(BATCH) {
            let want = BATCH.min(peer_count - batch * BATCH);
            let bytes = comm.recv(peer, tag(spec, Phase::FirstPoints, batch)).await?;
            let raised = secret.raise(&bytes, want).map_err(|m| link_error(comm, peer, m))?;
            comm.send(peer, tag(spec, Phase::FirstDoubled, batch), raised)?;
        }
        let bytes = comm.recv(peer, tag(spec, Phase::Matches, 0)).await?;
        if bytes.len() % 4 != 0 {
            return Err(link_error(comm, peer, "sent malformed psi matches"));
        }
        let mut rows = Vec::with_capacity(bytes.len() / 4);
        for c in bytes.chunks_exact(4) {
            let position = u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as usize;
            let shuffled_row = *order.get(position).ok_or_else(|| link_error(comm, peer, "sent a match outside the table"))?;
            rows.push(table.origin[shuffled_row as usize] as i64);
        }
        Ok(PsiOutcome { size: rows.len() as u64, rows: Some(rows) })
    }
}

fn link_error<T: Transport>(comm: &Comm<T>, peer: PartyId, message: &str) -> VmError {
    VmError::Link { peer: comm.parties.get(peer as usize).cloned().unwrap_or_default(), message: message.to_string() }
}

fn point_bytes(p: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(p);
    out
}

/// A party's distinct rows, each encoded as bytes (its columns' values, little-endian).
struct Table {
    encoded: Vec<u8>,
    width: usize,
    /// The original row of each distinct row, in table order.
    origin: Vec<u32>,
}

impl Table {
    fn len(&self) -> usize {
        self.origin.len()
    }

    fn row(&self, i: usize) -> &[u8] {
        let at = self.origin[i] as usize * self.width;
        &self.encoded[at..at + self.width]
    }
}

/// Encodes the rows and checks that keys are distinct: an error naming both rows, or, with
/// `keep_first`, the first row of each key.
fn distinct_rows(keys: &[Vec<i64>], keep_first: bool, name: &str, party: &str) -> Result<Table, VmError> {
    let n = keys.first().map_or(0, Vec::len);
    if n == 0 {
        return Err(VmError::Input(format!("psi: the keys of {party} (`{name}`) are empty; an intersection needs at least one row on each side")));
    }
    if n > u32::MAX as usize {
        return Err(VmError::Input(format!("psi: the keys of {party} (`{name}`) have {n} rows; at most {} are supported", u32::MAX)));
    }
    let width = keys.len() * 8;
    let mut encoded = Vec::with_capacity(n * width);
    for row in 0..n {
        for column in keys {
            encoded.extend_from_slice(&column[row].to_le_bytes());
        }
    }
    let mut origin = Vec::with_capacity(n);
    let mut first: HashMap<&[u8], u32> = HashMap::with_capacity(n);
    for (row, bytes) in encoded.chunks_exact(width).enumerate() {
        match first.get(bytes) {
            Some(&earlier) if !keep_first => {
                return Err(VmError::Input(format!(
                    "psi: rows {earlier} and {row} of the keys of {party} (`{name}`) hold the same key; make the keys unique, or pass `duplicates: \"first\"` to keep the first of each"
                )))
            }
            Some(_) => {}
            None => {
                first.insert(bytes, row as u32);
                origin.push(row as u32);
            }
        }
    }
    drop(first);
    Ok(Table { encoded, width, origin })
}

/// The key of the hash to the group: everything that makes this run's hash its own.
fn domain_key(spec: &PsiSpec, nonce_a: &[u8], nonce_b: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key("sfvm 2026-11 psi ristretto255 hash-to-group domain");
    h.update(&spec.context);
    h.update(&spec.seq.to_le_bytes());
    h.update(&spec.iter.to_le_bytes());
    h.update(nonce_a);
    h.update(nonce_b);
    *h.finalize().as_bytes()
}

/// A fresh secret exponent, kept halved: raising to s/2 and then doubling while compressing
/// (which dalek batches) gives P^s at a lower cost than compressing one point at a time.
struct Exponent {
    half: Scalar,
}

impl Exponent {
    fn fresh() -> Result<Exponent, VmError> {
        let mut wide = [0u8; 64];
        getrandom::fill(&mut wide).map_err(|e| VmError::Entropy(e.to_string()))?;
        let s = Scalar::from_bytes_mod_order_wide(&wide);
        wide.fill(0);
        if s == Scalar::ZERO {
            return Err(VmError::Entropy("drew a zero scalar".into()));
        }
        Ok(Exponent { half: s * Scalar::from(2u8).invert() })
    }

    fn finish(&self, points: &[RistrettoPoint]) -> Vec<u8> {
        let raised: Vec<RistrettoPoint> = points.iter().map(|p| p * self.half).collect();
        RistrettoPoint::double_and_compress_batch(&raised).iter().flat_map(|c| c.to_bytes()).collect()
    }

    /// Hashes rows to the group and raises them: compressed points, 32 bytes each.
    fn hash_and_raise(&self, domain: &[u8; 32], rows: &[&[u8]]) -> Vec<u8> {
        let points: Vec<RistrettoPoint> = rows
            .iter()
            .map(|row| {
                let mut wide = [0u8; 64];
                blake3::Hasher::new_keyed(domain).update(row).finalize_xof().fill(&mut wide);
                RistrettoPoint::from_uniform_bytes(&wide)
            })
            .collect();
        self.finish(&points)
    }

    /// Raises a peer's compressed points; fails on a count or an encoding that is not right.
    fn raise(&self, bytes: &[u8], want: usize) -> Result<Vec<u8>, &'static str> {
        if bytes.len() != want * 32 {
            return Err("sent the wrong number of points");
        }
        let points = bytes
            .chunks_exact(32)
            .map(|c| CompressedRistretto(point_bytes(c)).decompress())
            .collect::<Option<Vec<_>>>()
            .ok_or("sent bytes that are not a ristretto255 point")?;
        Ok(self.finish(&points))
    }
}

/// A uniformly random permutation of 0..n (Fisher-Yates over the cryptographic PRG).
fn shuffled(n: usize) -> Result<Vec<u32>, VmError> {
    let mut prg = Prg::new(fresh_seed().map_err(|e| VmError::Entropy(e.to_string()))?);
    let mut order: Vec<u32> = (0..n as u32).collect();
    let mut draws = vec![0u128; n];
    prg.fill(&mut draws);
    for i in (1..n).rev() {
        // A 128-bit draw reduced modulo i + 1 < 2^32: the bias is below 2^-96.
        let j = (draws[i] % (i as u128 + 1)) as usize;
        order.swap(i, j);
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::simulate;
    use std::collections::HashSet;

    fn names() -> [String; 2] {
        ["ka".to_string(), "kb".to_string()]
    }

    /// Runs a PSI among `n` parties where `owners` hold `tables`; returns each party's outcome.
    fn intersect(n: usize, owners: [PartyId; 2], tables: [Vec<Vec<i64>>; 2], keep_first: bool) -> Vec<Result<PsiOutcome, VmError>> {
        let names = names();
        simulate(n, |mut proto| {
            let spec = PsiSpec { owners, keep_first, names: &names, context: [7; 32], seq: 3, iter: 0 };
            let me = proto.me();
            let keys = owners.iter().position(|&o| o == me).map(|side| &tables[side][..]);
            futures::executor::block_on(run(&mut proto.comm, &spec, keys))
        })
    }

    /// A pseudo-random key sequence (splitmix64), so tests need no data files.
    fn keys(seed: u64, n: usize, modulus: u64) -> Vec<i64> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = x;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                ((z ^ (z >> 31)) % modulus) as i64
            })
            .collect()
    }

    fn distinct(v: Vec<i64>) -> Vec<i64> {
        let mut seen = HashSet::new();
        v.into_iter().filter(|x| seen.insert(*x)).collect()
    }

    fn rows(o: &Result<PsiOutcome, VmError>) -> Vec<i64> {
        o.as_ref().expect("psi runs").rows.clone().expect("an owner gets rows")
    }

    #[test]
    fn owners_get_aligned_rows_of_exactly_the_intersection() {
        // More rows than one batch, so several messages per phase.
        let a = distinct(keys(1, 30_000, 60_000));
        let b = distinct(keys(2, 25_000, 60_000));
        let out = intersect(2, [0, 1], [vec![a.clone()], vec![b.clone()]], false);
        let (ia, ib) = (rows(&out[0]), rows(&out[1]));
        let want: HashSet<i64> = a.iter().copied().collect::<HashSet<_>>().intersection(&b.iter().copied().collect()).copied().collect();
        assert!(want.len() > 1000, "the test tables share too few keys: {}", want.len());
        assert_eq!(ia.len(), want.len());
        assert_eq!(ib.len(), want.len());
        for (&i, &j) in ia.iter().zip(&ib) {
            assert_eq!(a[i as usize], b[j as usize], "rows {i} and {j} are not aligned");
        }
        assert_eq!(ia.iter().map(|&i| a[i as usize]).collect::<HashSet<_>>(), want);
        // The common order is not the owners' row order (it is sorted by a pseudo-random value).
        assert!(ia.windows(2).any(|w| w[0] > w[1]) && ib.windows(2).any(|w| w[0] > w[1]));
        for o in &out {
            assert_eq!(o.as_ref().map(|o| o.size).ok(), Some(want.len() as u64));
        }
    }

    #[test]
    fn every_party_learns_the_size_and_only_owners_get_rows() {
        for n in [3, 5] {
            let a = vec![5, 1, 9, 12, 40];
            let b = vec![40, 7, 1, 3];
            // Owners other than party 0, in reverse order.
            let out = intersect(n, [2, 1], [vec![a.clone()], vec![b.clone()]], false);
            for (p, o) in out.iter().enumerate() {
                let o = o.as_ref().expect("psi runs");
                assert_eq!(o.size, 2, "party {p} of {n}");
                assert_eq!(o.rows.is_some(), p == 1 || p == 2, "party {p} of {n}");
            }
            let (ia, ib) = (rows(&out[2]), rows(&out[1]));
            let pairs: HashSet<(i64, i64)> = ia.iter().copied().zip(ib.iter().copied()).collect();
            assert_eq!(pairs, HashSet::from([(1, 2), (4, 0)]));
        }
    }

    #[test]
    fn multi_column_keys_match_on_every_column() {
        let a = vec![vec![1, 1, 2, 3], vec![10, 20, 10, 30]];
        let b = vec![vec![1, 2, 3, 1], vec![20, 99, 30, 10]];
        let out = intersect(2, [0, 1], [a, b], false);
        let pairs: HashSet<(i64, i64)> = rows(&out[0]).into_iter().zip(rows(&out[1])).collect();
        assert_eq!(pairs, HashSet::from([(0, 3), (1, 0), (3, 2)]));
    }

    #[test]
    fn duplicate_keys_fail_naming_the_rows_unless_the_first_is_kept() {
        let a = vec![vec![4, 8, 4, 15]];
        let b = vec![vec![4, 15, 16]];
        let out = intersect(2, [0, 1], [a.clone(), b.clone()], false);
        let e = out[0].as_ref().err().map(ToString::to_string).unwrap_or_default();
        assert!(e.contains("rows 0 and 2") && e.contains("p0") && e.contains("`ka`") && e.contains("duplicates"), "{e}");
        let out = intersect(2, [0, 1], [a, b], true);
        let pairs: HashSet<(i64, i64)> = rows(&out[0]).into_iter().zip(rows(&out[1])).collect();
        assert_eq!(pairs, HashSet::from([(0, 0), (3, 1)]));
    }

    #[test]
    fn an_empty_table_is_an_error_naming_its_party_and_keys() {
        let out = intersect(2, [0, 1], [vec![vec![1, 2]], vec![vec![]]], false);
        let e = out[1].as_ref().err().map(ToString::to_string).unwrap_or_default();
        assert!(e.contains("p1") && e.contains("`kb`") && e.contains("empty"), "{e}");
    }

    #[test]
    fn the_hash_depends_on_the_context_and_the_run() {
        let domain = |context: [u8; 32], nonce: u8| {
            let names = names();
            let spec = PsiSpec { owners: [0, 1], keep_first: false, names: &names, context, seq: 0, iter: 0 };
            domain_key(&spec, &[nonce; 32], &[0; 32])
        };
        assert_ne!(domain([0; 32], 0), domain([1; 32], 0));
        assert_ne!(domain([0; 32], 0), domain([0; 32], 1));
    }

    #[test]
    fn a_shuffle_is_a_permutation_and_differs_between_runs() {
        let (x, y) = (shuffled(1000).expect("entropy"), shuffled(1000).expect("entropy"));
        let mut sorted = x.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1000).collect::<Vec<u32>>());
        assert_ne!(x, y);
    }
}
