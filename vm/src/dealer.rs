//! Correlated randomness (Beaver and AND triples, square pairs, truncation pairs, masked bits):
//! who deals it, and the dealer's side of the exchange.
//!
//! Every party draws its share of each correlated value from its own dealer stream, a PRG
//! whose seed the dealer chose. Whoever knows every party's seed can recompute all the shares
//! and work out the one correction that makes the correlation hold, c_0 = a b - c_1 - ... ;
//! party 0 takes the correction as its share. That someone is either
//! - party 0 itself, the *trusted first party* (SPU's default): no extra process and no extra
//!   message, but party 0 could learn every secret if it deviated from the protocol; or
//! - a separate *dealer* process that sees no share of any input or result: it hands each
//!   party its seed, and party 0 asks it for each correction in turn. No party then holds
//!   another's seed; the dealer must not collude with any party.
//!
//! [`Streams`] holds the seeds and computes party 0's share of each [`Request`]; party 0 uses it
//! directly as trusted first party, and `sfvm dealer` runs [`serve`] over it.

use crate::error::VmError;
use crate::link::{Comm, Tag, Transport};
use crate::prg::{Prg, Seed};
use crate::ring::{self, add_assign, sub_assign, xor_assign};
use sf_isa::PartyId;
use serde::{Deserialize, Serialize};

/// Who computes party 0's corrections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DealerMode {
    /// Party 0 holds every party's dealer seed.
    FirstParty,
    /// A dealer process, reached as the node after the last party, holds them.
    Separate,
}

/// One piece of correlated randomness, as party 0 asks the dealer for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Random operands and their elementwise product, `len` elements.
    Elementwise { len: u64, product: Product },
    /// Random matrices a (m x k), b (k x n) and c = a b. With `keep`, the dealer remembers
    /// where a lies in every party's stream, under that number, for [`Request::MatmulReuse`].
    Matmul { m: u64, k: u64, n: u64, keep: Option<u32> },
    /// A fresh b (k x n) and c = a b for the a kept under `mask` (its transpose if
    /// `transposed`): a product whose left operand was masked before and is opened no more.
    MatmulReuse { m: u64, k: u64, n: u64, mask: u32, transposed: bool },
    /// The kept mask is used no more.
    Release { mask: u32 },
    /// r, (r mod 2^127) >> bits and msb(r), for probabilistic truncation by `bits`.
    Trunc { len: u64, bits: u32 },
    /// A random bit (in bit 0), XOR-shared and arithmetically shared.
    BitPair { len: u64 },
    /// A random word, XOR-shared, and arithmetic shares of `width` of its bits from `lo` up.
    MaskedBits { len: u64, lo: u32, width: u32 },
    /// The run is over.
    Done,
}

/// The correlation of an elementwise request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Product {
    /// (a, b, a b), additive shares.
    Mul,
    /// (a, a^2), additive shares.
    Square,
    /// (a, b, a & b), XOR shares.
    And,
}

impl Product {
    fn operands(self) -> usize {
        if self == Product::Square { 1 } else { 2 }
    }
}

impl Request {
    /// The lengths of the vectors every party draws for this request, in order. Party 0 draws
    /// the first [`Request::own`] of them itself; the rest are its corrections.
    pub fn lens(&self) -> Vec<usize> {
        let u = |v: u64| v as usize;
        match *self {
            Request::Elementwise { len, product } => vec![u(len); product.operands() + 1],
            Request::Matmul { m, k, n, .. } => vec![u(m * k), u(k * n), u(m * n)],
            Request::MatmulReuse { m, k, n, .. } => vec![u(k * n), u(m * n)],
            Request::Trunc { len, .. } => vec![u(len); 3],
            Request::BitPair { len } => vec![u(len); 2],
            Request::MaskedBits { len, width, .. } => vec![u(len); width as usize + 1],
            Request::Release { .. } | Request::Done => Vec::new(),
        }
    }

    /// How many of [`Request::lens`] party 0 draws from its own stream.
    pub fn own(&self) -> usize {
        match *self {
            Request::Elementwise { product, .. } => product.operands(),
            Request::Matmul { .. } => 2,
            Request::Release { .. } | Request::Done => 0,
            _ => 1,
        }
    }
}

/// Masked bits: elements per chunk of party 0's bit shares, computed and (from a separate
/// dealer) sent a chunk at a time, so that no vector per bit is ever stored whole.
pub const BITS_CHUNK: usize = 1024;

/// The tag of the i-th exchange between party 0 and the dealer.
pub fn request_tag(i: u64) -> Tag {
    Tag { seq: u32::MAX - 2, step: 0, iter: i }
}

/// A kept matmul mask as the dealer holds it: every stream positioned where the mask's shares
/// begin, and the mask's rows and columns. The mask itself is not held: each product that
/// reuses it draws it again, a band of rows at a time (about 3.5 ms of AES per 10^6 elements
/// and party, against 16 bytes an element held for the whole run).
#[derive(Clone)]
struct Kept {
    streams: Vec<Option<Prg>>,
    rows: usize,
    cols: usize,
}

/// Rows of a mask drawn again at a time: enough that each band's product is large enough to
/// split across threads (2^27 multiply-adds), but no more than 2^18 elements (4 MB) a band.
fn band_rows(rows: usize, cols: usize, n: usize) -> usize {
    let wanted = (1usize << 27) / (cols * n).max(1);
    wanted.min((1 << 18) / cols.max(1)).max(64).min(rows.max(1))
}

impl Kept {
    /// a @ b, or a.T @ b if `transposed`, for the whole mask a (the sum of every party's
    /// share) drawn again a band of rows at a time, each band multiplied in as it comes.
    fn times(&self, b: &[u128], n: usize, transposed: bool) -> Vec<u128> {
        let (rows, cols) = (self.rows, self.cols);
        let band = band_rows(rows, cols, n);
        let mut streams: Vec<Prg> = self.streams.iter().flatten().cloned().collect();
        let (mut a, mut t) = (vec![0u128; band * cols], vec![0u128; band * cols]);
        let mut out = if transposed { vec![0u128; cols * n] } else { Vec::with_capacity(rows * n) };
        for r0 in (0..rows).step_by(band) {
            let h = band.min(rows - r0);
            let a = &mut a[..h * cols];
            a.fill(0);
            for prg in &mut streams {
                let t = &mut t[..h * cols];
                prg.fill(t);
                add_assign(a, t);
            }
            if transposed {
                add_assign(&mut out, &ring::matmul_tn(a, &b[r0 * n..(r0 + h) * n], h, cols, n));
            } else {
                out.extend(ring::matmul(a, b, h, cols, n));
            }
        }
        out
    }
}

/// Dealer streams: every party's (the trusted first party, the dealer) or one's own.
pub struct Streams {
    prgs: Vec<Option<Prg>>,
    /// The whole b of the last matmul triple or pair dealt as trusted first party (see
    /// [`Streams::take_matmul_b`]); never sent anywhere.
    matmul_b: Option<Vec<u128>>,
    /// Kept matmul masks, by number.
    kept: std::collections::HashMap<u32, Kept>,
}

/// How the shares of a value combine: arithmetic (sum) or boolean (XOR) sharing.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    Additive,
    Xor,
}

impl Streams {
    pub fn new(seeds: Vec<Option<Seed>>) -> Streams {
        Streams { prgs: seeds.into_iter().map(|s| s.map(Prg::new)).collect(), matmul_b: None, kept: Default::default() }
    }

    fn n(&self) -> usize {
        self.prgs.len()
    }

    fn prg(&mut self, i: usize) -> Result<&mut Prg, VmError> {
        self.prgs.get_mut(i).and_then(Option::as_mut).ok_or_else(|| VmError::Internal(format!("no dealer seed for party {i}")))
    }

    /// The next vectors of party `i`'s stream, of the given lengths.
    pub fn draw(&mut self, i: usize, lens: &[usize]) -> Result<Vec<Vec<u128>>, VmError> {
        let mut out = Vec::new();
        self.draw_into(i, lens, &mut out)?;
        Ok(out)
    }

    /// [`Streams::draw`] into `out`, reusing its vectors' memory: one vector per length.
    pub fn draw_into(&mut self, i: usize, lens: &[usize], out: &mut Vec<Vec<u128>>) -> Result<(), VmError> {
        let prg = self.prg(i)?;
        out.resize_with(lens.len(), Vec::new);
        for (v, &l) in out.iter_mut().zip(lens) {
            v.clear();
            prg.append(v, l);
        }
        Ok(())
    }

    /// Party `i`'s stream where it stands, without moving it: to draw its next vectors again.
    pub fn position(&mut self, i: usize) -> Result<Prg, VmError> {
        Ok(self.prg(i)?.clone())
    }

    /// Streams positioned at the next vectors of party `i`'s stream.
    pub fn split(&mut self, i: usize, lens: &[usize]) -> Result<Vec<Prg>, VmError> {
        Ok(self.prg(i)?.split(lens))
    }

    /// Party 0's share of `request`, every vector of [`Request::lens`], computed from every
    /// party's stream. Not for masked bits, which [`Streams::masked_bits`] deals lazily.
    pub fn first_party(&mut self, request: Request) -> Result<Vec<Vec<u128>>, VmError> {
        let mut out = Vec::new();
        self.first_party_into(request, &mut out)?;
        Ok(out)
    }

    /// [`Streams::first_party`] into `out`; an elementwise triple reuses the memory of the
    /// vectors there, so that a pipelined product allocates none per piece.
    pub fn first_party_into(&mut self, request: Request, out: &mut Vec<Vec<u128>>) -> Result<(), VmError> {
        if let Request::Elementwise { len, product } = request {
            let (sharing, f): (Sharing, fn(u128, u128) -> u128) = match product {
                Product::Mul => (Sharing::Additive, u128::wrapping_mul),
                Product::Square => (Sharing::Additive, |a, _| a.wrapping_mul(a)),
                Product::And => (Sharing::Xor, |a, b| a & b),
            };
            return self.elementwise(len as usize, product.operands(), sharing, f, out);
        }
        *out = self.dealt_whole(request)?;
        Ok(())
    }

    /// Party 0's share of any request but an elementwise triple.
    fn dealt_whole(&mut self, request: Request) -> Result<Vec<Vec<u128>>, VmError> {
        let u = |v: u64| v as usize;
        match request {
            Request::Matmul { m, k, n, keep } => {
                let (m, k, n) = (u(m), u(k), u(n));
                if let Some(id) = keep {
                    // a is the next vector of every stream.
                    self.kept.insert(id, Kept { streams: self.prgs.clone(), rows: m, cols: k });
                }
                self.matmul_triple(m, k, n)
            }
            Request::Trunc { len, bits } => {
                let v = self.corrected(&[u(len); 3], 1, |sum| {
                    let low = |r: u128| (r & (u128::MAX >> 1)) >> bits;
                    let rc = sum[0].iter().zip(&sum[1]).map(|(&r, &o)| low(r).wrapping_sub(o)).collect();
                    let rb = sum[0].iter().zip(&sum[2]).map(|(&r, &o)| (r >> 127).wrapping_sub(o)).collect();
                    vec![rc, rb]
                }, &[Sharing::Additive, Sharing::Additive, Sharing::Additive])?;
                Ok(v.0.into_iter().chain(v.1).collect())
            }
            Request::BitPair { len } => {
                let v = self.corrected(&[u(len); 2], 1, |sum| {
                    vec![sum[0].iter().zip(&sum[1]).map(|(b, o)| (b & 1).wrapping_sub(*o)).collect()]
                }, &[Sharing::Xor, Sharing::Additive])?;
                Ok(v.0.into_iter().chain(v.1).collect())
            }
            Request::MatmulReuse { m, k, n, mask, transposed } => {
                let (m, k, n) = (u(m), u(k), u(n));
                // The streams' positions, copied: drawing the mask again must not move them.
                let kept = self.kept_mask(mask, transposed, (m, k))?.clone();
                let mut b = None;
                let v = self.corrected(&[k * n, m * n], 1, |sum| {
                    let c = kept.times(&sum[0], n, transposed);
                    b = Some(sum[0].clone());
                    vec![c.iter().zip(&sum[1]).map(|(c, o)| c.wrapping_sub(*o)).collect()]
                }, &[Sharing::Additive, Sharing::Additive])?;
                self.matmul_b = b;
                Ok(v.0.into_iter().chain(v.1).collect())
            }
            Request::Release { mask } => {
                self.kept.remove(&mask);
                Ok(Vec::new())
            }
            Request::Elementwise { .. } | Request::MaskedBits { .. } | Request::Done => Err(VmError::Internal(format!("{request:?} is not dealt whole"))),
        }
    }

    /// Party 0's a, b and the correction c = (sum a)(sum b) - sum of the others' c, without
    /// the whole of a ever held: b is summed first (k x n, small), then a a band of rows at a
    /// time, each band multiplied into its rows of c as it comes. The values are those of
    /// drawing every stream's a, b and c one after another.
    fn matmul_triple(&mut self, m: usize, k: usize, n: usize) -> Result<Vec<Vec<u128>>, VmError> {
        let mine = self.draw(0, &[m * k, k * n])?;
        let mut others = Vec::with_capacity(self.n() - 1);
        for i in 1..self.n() {
            others.push(self.split(i, &[m * k, k * n, m * n])?);
        }
        let mut b = mine[1].clone();
        for streams in &mut others {
            add_assign(&mut b, &streams[1].next_vec(k * n));
        }
        let band = band_rows(m, k, n);
        let (mut a, mut t) = (vec![0u128; band * k], vec![0u128; band * k.max(n)]);
        let mut c = Vec::with_capacity(m * n);
        for r0 in (0..m).step_by(band) {
            let h = band.min(m - r0);
            let a = &mut a[..h * k];
            a.copy_from_slice(&mine[0][r0 * k..(r0 + h) * k]);
            for streams in &mut others {
                let t = &mut t[..h * k];
                streams[0].fill(t);
                add_assign(a, t);
            }
            let mut rows = ring::matmul(a, &b, h, k, n);
            for streams in &mut others {
                let t = &mut t[..h * n];
                streams[2].fill(t);
                rows.iter_mut().zip(t.iter()).for_each(|(c, o)| *c = c.wrapping_sub(*o));
            }
            c.extend(rows);
        }
        self.matmul_b = Some(b);
        let mut out = mine;
        out.push(c);
        Ok(out)
    }

    /// The whole b (the sum of every party's share) of the matmul triple or pair just dealt by
    /// [`Streams::first_party`]. The trusted first party, which knows it anyway, uses it to
    /// form the term e b of the product alone (one ring product for all parties instead of
    /// one each); a separate dealer never sends it.
    pub fn take_matmul_b(&mut self) -> Option<Vec<u128>> {
        self.matmul_b.take()
    }

    /// The mask kept under `id`, checked against the product's m x k (its transpose's if
    /// `transposed`).
    fn kept_mask(&self, id: u32, transposed: bool, (m, k): (usize, usize)) -> Result<&Kept, VmError> {
        let kept = self.kept.get(&id).ok_or_else(|| VmError::Internal(format!("matmul mask {id} is not kept")))?;
        let (rows, cols) = (kept.rows, kept.cols);
        if (if transposed { (cols, rows) } else { (rows, cols) }) != (m, k) {
            return Err(VmError::Internal(format!("matmul mask {id} is {rows} x {cols}, not {}{m} x {k}", if transposed { "the transpose of " } else { "" })));
        }
        Ok(kept)
    }

    /// Forgets a kept mask.
    pub fn release(&mut self, id: u32) {
        self.kept.remove(&id);
    }

    /// Party 0's own vectors (the first `own` of `lens`) and its corrections, from `correct`
    /// given the combination over all parties of each own vector, and over the other parties
    /// of each correction's.
    fn corrected(&mut self, lens: &[usize], own: usize, mut correct: impl FnMut(&[Vec<u128>]) -> Vec<Vec<u128>>, sharing: &[Sharing]) -> Result<(Vec<Vec<u128>>, Vec<Vec<u128>>), VmError> {
        let mine = self.draw(0, &lens[..own])?;
        let mut sum: Vec<Vec<u128>> = mine.clone();
        sum.extend(lens[own..].iter().map(|&l| vec![0u128; l]));
        // The others' vectors are added a chunk at a time, never held whole.
        let mut chunk = vec![0u128; 4096];
        for i in 1..self.n() {
            let prg = self.prg(i)?;
            for (s, how) in sum.iter_mut().zip(sharing) {
                for part in s.chunks_mut(chunk.len()) {
                    let t = &mut chunk[..part.len()];
                    prg.fill(t);
                    match how {
                        Sharing::Additive => add_assign(part, t),
                        Sharing::Xor => xor_assign(part, t),
                    }
                }
            }
        }
        let corrections = correct(&sum);
        Ok((mine, corrections))
    }

    /// Random operands and c = product(a, b) (b = a for one operand): party 0 draws every
    /// party's streams side by side, a chunk at a time, so that its work stays in cache; the
    /// values are those of drawing them one after another.
    fn elementwise(&mut self, len: usize, operands: usize, sharing: Sharing, product: fn(u128, u128) -> u128, out: &mut Vec<Vec<u128>>) -> Result<(), VmError> {
        let mut own = self.split(0, &vec![len; operands])?;
        let mut others = Vec::with_capacity(self.n() - 1);
        for i in 1..self.n() {
            others.push(self.split(i, &vec![len; operands + 1])?);
        }
        let combine = |acc: &mut [u128], t: &[u128]| match sharing {
            Sharing::Additive => add_assign(acc, t),
            Sharing::Xor => xor_assign(acc, t),
        };
        const CHUNK: usize = 2048;
        out.resize_with(operands + 1, Vec::new);
        for v in out.iter_mut() {
            v.clear();
            v.reserve(len);
        }
        // The chunk of each operand in full, then the others' sum of c; and a scratch chunk.
        let mut full = vec![vec![0u128; CHUNK]; operands + 1];
        let mut t = vec![0u128; CHUNK];
        for start in (0..len).step_by(CHUNK) {
            let k = CHUNK.min(len - start);
            for (j, stream) in own.iter_mut().enumerate() {
                stream.append(&mut out[j], k);
                full[j][..k].copy_from_slice(&out[j][start..]);
            }
            full[operands][..k].fill(0);
            for streams in others.iter_mut() {
                for (j, stream) in streams.iter_mut().enumerate() {
                    stream.fill(&mut t[..k]);
                    combine(&mut full[j][..k], &t[..k]);
                }
            }
            let (a, b, c) = (&full[0][..k], &full[operands - 1][..k], &full[operands][..k]);
            out[operands].extend((0..k).map(|i| match sharing {
                Sharing::Additive => product(a[i], b[i]).wrapping_sub(c[i]),
                Sharing::Xor => product(a[i], b[i]) ^ c[i],
            }));
        }
        Ok(())
    }

    /// Party 0's masked bits: its XOR share of the word, and what it needs to work out its
    /// arithmetic share of each bit a chunk at a time ([`FirstPartyBits::chunk`]).
    pub fn masked_bits(&mut self, len: usize, lo: u32, width: usize) -> Result<(Vec<u128>, FirstPartyBits), VmError> {
        let lens: Vec<usize> = std::iter::repeat_n(len, width + 1).collect();
        let r = self.draw(0, &[len])?.remove(0);
        let mut word = r.clone();
        let mut others = Vec::with_capacity(self.n() - 1);
        for i in 1..self.n() {
            let mut streams = self.split(i, &lens)?;
            xor_assign(&mut word, &streams.remove(0).next_vec(len));
            others.push(streams);
        }
        Ok((r, FirstPartyBits { word, lo, width, others }))
    }
}

/// What party 0's arithmetic shares of the masked word's bits are computed from.
pub struct FirstPartyBits {
    /// The word itself.
    word: Vec<u128>,
    lo: u32,
    width: usize,
    /// Every other party's streams, one per bit.
    others: Vec<Vec<Prg>>,
}

impl FirstPartyBits {
    /// Party 0's arithmetic shares of bits lo .. lo + width of the elements from `start`,
    /// bit-major: `out[k * chunk + i]` for bit lo + k of element start + i, chunk = the
    /// number of elements, out.len() / width. Chunks must come in order.
    pub fn chunk(&mut self, start: usize, out: &mut [u128]) {
        let chunk = out.len() / self.width.max(1);
        let mut t = vec![0u128; chunk];
        for (k, dst) in out.chunks_mut(chunk.max(1)).enumerate() {
            let bit = self.lo + k as u32;
            for (o, &r) in dst.iter_mut().zip(&self.word[start..start + chunk]) {
                *o = (r >> bit) & 1;
            }
            for streams in self.others.iter_mut() {
                streams[k].fill(&mut t);
                sub_assign(dst, &t);
            }
        }
    }
}

/// The dealer's side of a run: hands every party its seed, then answers party 0's requests
/// until party 0 says the run is over. Returns the number of requests answered.
pub async fn serve<T: Transport>(comm: &mut Comm<T>) -> Result<u64, VmError> {
    let n = comm.n();
    let mut seeds = Vec::with_capacity(n);
    for i in 0..n {
        let seed = crate::prg::fresh_seed().map_err(|e| VmError::Entropy(e.to_string()))?;
        comm.send(i as PartyId, crate::semi2k::SEED_TAG_DEALER, seed.to_vec())?;
        seeds.push(Some(seed));
    }
    let mut streams = Streams::new(seeds);
    for i in 0.. {
        let tag = request_tag(i);
        let bytes = comm.recv(0, tag).await?;
        let (request, _): (Request, usize) = bincode::serde::decode_from_slice(&bytes, bincode::config::standard())
            .map_err(|e| VmError::Link { peer: comm.parties[0].clone(), message: format!("sent a request the dealer cannot read: {e}") })?;
        match request {
            Request::Done => return Ok(i),
            Request::MaskedBits { len, lo, width } => {
                let (_, mut bits) = streams.masked_bits(len as usize, lo, width as usize)?;
                for start in (0..len as usize).step_by(BITS_CHUNK) {
                    let k = BITS_CHUNK.min(len as usize - start);
                    let mut out = vec![0u128; k * width as usize];
                    bits.chunk(start, &mut out);
                    comm.send_ring_owned(0, tag, out)?;
                }
            }
            request => {
                let own = request.own();
                for v in streams.first_party(request)?.into_iter().skip(own) {
                    comm.send_ring_owned(0, tag, v)?;
                }
            }
        }
    }
    Ok(0)
}

/// Encodes a request for the wire.
pub fn encode(request: &Request) -> Result<Vec<u8>, VmError> {
    bincode::serde::encode_to_vec(request, bincode::config::standard()).map_err(|e| VmError::Internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use crate::link::{Comm, MemTransport, Steps, Tag};
    use crate::ring::{decode_fix, encode_fix};
    use crate::semi2k::Semi2k;
    use crate::testing::{simulate_with_dealer, F};

    fn values(len: usize, salt: u64) -> Vec<f64> {
        (0..len).map(|i| ((i as f64 + 1.0) * 0.731 + salt as f64).sin() * 9.0).collect()
    }

    fn share(p: &mut Semi2k<MemTransport>, owner: u16, x: &[f64]) -> Vec<u128> {
        if p.me() == owner {
            let enc: Vec<u128> = x.iter().map(|&v| encode_fix(v, F).expect("encodable")).collect();
            p.share_own(&enc).expect("share")
        } else {
            p.share_recv(owner, x.len()).expect("share")
        }
    }

    fn block<T>(f: impl std::future::Future<Output = Result<T, crate::error::VmError>>) -> T {
        futures::executor::block_on(f).expect("kernel")
    }

    fn open(p: &mut Semi2k<MemTransport>, x: &[u128]) -> Vec<f64> {
        futures::executor::block_on(p.open(x, Tag::new(900, 0))).expect("open").iter().map(|&v| decode_fix(v, F)).collect()
    }

    /// Every kind of correlated randomness, dealt by a separate dealer, for 2 and 3 parties:
    /// products, squares, a matrix product, truncation pairs (3 parties), AND triples and bit
    /// pairs (comparison), masked bits (normalization in the reciprocal).
    #[test]
    fn a_separate_dealer_serves_every_kernel() {
        let (x, y) = (values(300, 1), values(300, 2));
        for n in [2usize, 3] {
            let (results, requests) = simulate_with_dealer(n, |p| {
                let (sx, sy) = (share(p, 0, &x), share(p, 1, &y));
                let mut st = Steps::new(1, 0);
                let prod = block(p.mul_fix(&sx, &sy, &mut st));
                let sq = block(p.square_fix(&sx, &mut st));
                let mm = block(p.matmul(&sx[..12], &sy[..12], (3, 4, 3), st.tag()));
                let mm = block(p.truncate(&mm, st.tag()));
                let neg = block(p.is_negative(&sx, &mut st));
                let rec = block(p.reciprocal(&sy, &mut st));
                (open(p, &prod), open(p, &sq), open(p, &mm), open(p, &neg), open(p, &rec))
            });
            assert!(requests >= 6, "{n} parties: {requests} requests");
            for (prod, sq, mm, neg, rec) in results {
                for i in 0..x.len() {
                    assert!((prod[i] - x[i] * y[i]).abs() < 1e-9, "{n} parties: {} * {} = {}", x[i], y[i], prod[i]);
                    assert!((sq[i] - x[i] * x[i]).abs() < 1e-9);
                    assert_eq!(neg[i] * (1u64 << F) as f64, if x[i] < 0.0 { 1.0 } else { 0.0 }, "sign of {}", x[i]);
                    if y[i].abs() > 0.1 {
                        assert!((rec[i] * y[i] - 1.0).abs() < 1e-8, "1 / {} = {}", y[i], rec[i]);
                    }
                }
                for r in 0..3 {
                    for c in 0..3 {
                        let want: f64 = (0..4).map(|k| x[r * 4 + k] * y[k * 3 + c]).sum();
                        assert!((mm[r * 3 + c] - want).abs() < 1e-9);
                    }
                }
            }
        }
    }

    /// A dealer that hands out seeds and then goes away: party 0's next product fails naming
    /// the dealer, and nothing hangs.
    #[test]
    fn a_dealer_that_stops_is_named() {
        let names: Vec<String> = vec!["alice".into(), "bob".into()];
        let mut transports = MemTransport::mesh(3);
        let dealer_link = transports.pop().expect("dealer link");
        let results: Vec<Result<Vec<u128>, crate::error::VmError>> = std::thread::scope(|s| {
            let names_d = names.clone();
            s.spawn(move || {
                let mut comm = Comm::new(dealer_link, 2, names_d);
                for i in 0..2u16 {
                    comm.send(i, crate::semi2k::SEED_TAG_DEALER, vec![7; 16]).expect("seed");
                }
            });
            let handles: Vec<_> = transports
                .into_iter()
                .enumerate()
                .map(|(i, t)| {
                    let names = names.clone();
                    s.spawn(move || {
                        let mut comm = Comm::new(t, i as u16, names).with_recv_timeout(Some(std::time::Duration::from_secs(5)));
                        let seeds = futures::executor::block_on(crate::semi2k::exchange_seeds(&mut comm, super::DealerMode::Separate)).expect("seeds");
                        let mut p = Semi2k::new(comm, seeds, F);
                        let r = futures::executor::block_on(p.mul(&[1, 2, 3], &[4, 5, 6], Tag::new(1, 0)));
                        if r.is_err() {
                            p.comm.abort("alice", "the dealer is gone");
                        }
                        r
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("party thread")).collect()
        });
        let err = results[0].as_ref().expect_err("party 0 cannot get its correction").to_string();
        assert!(err.contains("the dealer"), "{err}");
        assert!(results[1].is_err(), "bob is told");
    }
}
