//! SEMI2K: semi-honest additive secret sharing over Z_2^128 for any number of parties.
//!
//! A secret x is held as shares x_0 + ... + x_{n-1} = x (mod 2^128), one per party.
//!
//! Randomness, and whom it trusts:
//! - Every pair of parties holds a common PRG seed. A private value is shared without a message:
//!   each other party j draws its share from the seed it shares with the owner, and the owner,
//!   drawing the same streams, keeps x minus their sum.
//! - Beaver triples and truncation pairs come from a *trusted first party* (TFP) dealer, as in
//!   SPU's default: party 0 knows every party's dealer seed, so it can recompute everyone's
//!   correlated randomness and fixes its own share so that the correlation holds. Party 0 could
//!   therefore learn every secret if it deviated from the protocol; the others learn nothing.
//!
//! Every function here computes on shares only; the plaintext never exists in one place unless
//! a `reveal` puts it there.

use crate::dealer::{self, DealerMode, Product, Request, Streams};
use crate::error::VmError;
use crate::link::{Comm, Steps, Tag, Transport};
use crate::prg::{Prg, Seed};
use crate::ring::{self, add_assign, xor_assign};
use sf_isa::PartyId;

/// The seeds one party holds.
pub struct PartySeeds {
    /// `pair[j]`: the seed shared with party j (`None` for itself).
    pub pair: Vec<Option<Seed>>,
    /// `dealer[i]`: the dealer seed of party i. Party 0 as trusted first party holds all of
    /// them; every other party, and party 0 with a separate dealer, holds only its own.
    pub dealer: Vec<Option<Seed>>,
    pub mode: DealerMode,
}

/// Makes every party's seeds from the operating system's CSPRNG, for runs inside one process.
pub fn deal_seeds(n: usize) -> Result<Vec<PartySeeds>, VmError> {
    deal_seeds_from(n, || crate::prg::fresh_seed().map_err(|e| VmError::Entropy(e.to_string())))
}

/// [`deal_seeds`] from a given source of seeds (the operating system's CSPRNG in a run; a
/// fixed list in tests that compare two runs bit for bit).
pub fn deal_seeds_from(n: usize, mut fresh: impl FnMut() -> Result<Seed, VmError>) -> Result<Vec<PartySeeds>, VmError> {
    let mut seeds: Vec<PartySeeds> =
        (0..n).map(|_| PartySeeds { pair: vec![None; n], dealer: vec![None; n], mode: DealerMode::FirstParty }).collect();
    for i in 0..n {
        for j in i + 1..n {
            let s = fresh()?;
            seeds[i].pair[j] = Some(s);
            seeds[j].pair[i] = Some(s);
        }
        let d = fresh()?;
        seeds[i].dealer[i] = Some(d);
        seeds[0].dealer[i] = Some(d);
    }
    Ok(seeds)
}

/// The tag under which a party receives its dealer seed.
pub const SEED_TAG_DEALER: Tag = Tag { seq: u32::MAX - 1, step: 1, iter: 0 };

/// The piece of a pipelined elementwise product ([`Semi2k::beaver`]): 2^14 words, 256 KiB per
/// vector, so that a piece's triple, messages and operands stay in the L2 and L3 caches.
pub const PIECE: usize = 1 << 14;

/// Pieces of a product whose masked operands go out before the first of them is awaited.
pub const AHEAD: usize = 4;

/// Agrees on seeds over the links, for parties in separate processes: for each pair, the lower
/// party picks their seed and sends it. Every party's dealer seed comes from party 0, the
/// trusted first party, which keeps them all; or, with a separate dealer (the node after the
/// last party), from the dealer. The links are authenticated and encrypted (TLS).
pub async fn exchange_seeds<T: Transport>(comm: &mut Comm<T>, mode: DealerMode) -> Result<PartySeeds, VmError> {
    let n = comm.n();
    let me = comm.me as usize;
    let fresh = || crate::prg::fresh_seed().map_err(|e| VmError::Entropy(e.to_string()));
    let tag = |step| Tag { seq: u32::MAX - 1, step, iter: 0 };
    let mut seeds = PartySeeds { pair: vec![None; n], dealer: vec![None; n], mode };
    for j in me + 1..n {
        let s = fresh()?;
        seeds.pair[j] = Some(s);
        comm.send(j as PartyId, tag(0), s.to_vec())?;
    }
    let dealer = match mode {
        DealerMode::FirstParty => 0,
        DealerMode::Separate => n,
    };
    if me == dealer {
        for i in 0..n {
            let d = fresh()?;
            seeds.dealer[i] = Some(d);
            if i != me {
                comm.send(i as PartyId, SEED_TAG_DEALER, d.to_vec())?;
            }
        }
    }
    let as_seed = |bytes: Vec<u8>, from: String| -> Result<crate::prg::Seed, VmError> {
        bytes.try_into().map_err(|_| VmError::Link { peer: from, message: "sent a seed of the wrong size".into() })
    };
    for j in 0..me {
        let bytes = comm.recv(j as PartyId, tag(0)).await?;
        seeds.pair[j] = Some(as_seed(bytes, format!("party {j}"))?);
    }
    if me != dealer {
        let bytes = comm.recv(dealer as PartyId, SEED_TAG_DEALER).await?;
        seeds.dealer[me] = Some(as_seed(bytes, "the dealer".into())?);
    }
    Ok(seeds)
}

pub struct Semi2k<T: Transport> {
    pub comm: Comm<T>,
    pub frac_bits: u32,
    pair: Vec<Option<Prg>>,
    dealer: Streams,
    mode: DealerMode,
    /// Requests sent to a separate dealer so far: the tag of the next.
    requests: u64,
}

impl<T: Transport> Semi2k<T> {
    pub fn new(comm: Comm<T>, seeds: PartySeeds, frac_bits: u32) -> Semi2k<T> {
        let prgs = |s: Vec<Option<Seed>>| s.into_iter().map(|s| s.map(Prg::new)).collect();
        Semi2k { comm, frac_bits, pair: prgs(seeds.pair), dealer: Streams::new(seeds.dealer), mode: seeds.mode, requests: 0 }
    }

    pub fn me(&self) -> PartyId {
        self.comm.me
    }

    pub fn n(&self) -> usize {
        self.comm.n()
    }

    fn prg<'a>(prgs: &'a mut [Option<Prg>], i: usize, what: &str) -> Result<&'a mut Prg, VmError> {
        prgs.get_mut(i).and_then(Option::as_mut).ok_or_else(|| VmError::Internal(format!("no {what} seed for party {i}")))
    }

    /// The owner's share of its own value `x` (already encoded in the ring).
    pub fn share_own(&mut self, x: &[u128]) -> Result<Vec<u128>, VmError> {
        // The masks are drawn a chunk at a time: sharing a large input costs its share and no
        // mask vector beside it.
        let mut mine = x.to_vec();
        let mut mask = vec![0u128; 4096];
        for j in 0..self.n() {
            if j != self.me() as usize {
                let prg = Self::prg(&mut self.pair, j, "pairwise")?;
                for part in mine.chunks_mut(mask.len()) {
                    let mask = &mut mask[..part.len()];
                    prg.fill(mask);
                    ring::sub_assign(part, mask);
                }
            }
        }
        Ok(mine)
    }

    /// This party's share of a value owned by `owner`.
    pub fn share_recv(&mut self, owner: PartyId, len: usize) -> Result<Vec<u128>, VmError> {
        Ok(Self::prg(&mut self.pair, owner as usize, "pairwise")?.next_vec(len))
    }

    /// Sends this party's share to `to`.
    pub fn send_share(&mut self, share: &[u128], to: PartyId, tag: Tag) -> Result<(), VmError> {
        self.comm.send_ring(to, tag, share)
    }

    /// Receives every other party's share and adds them to this party's: the plaintext.
    pub async fn collect(&mut self, share: &[u128], tag: Tag) -> Result<Vec<u128>, VmError> {
        let mut sum: Option<Vec<u128>> = None;
        for p in self.comm.others().collect::<Vec<_>>() {
            let theirs = self.comm.recv_ring(p, tag, share.len()).await?;
            match &mut sum {
                // The first share received becomes the sum: no copy of this party's own.
                None => sum = Some(theirs),
                Some(s) => add_assign(s, &theirs),
            }
        }
        let mut sum = sum.unwrap_or_else(|| vec![0; share.len()]);
        add_assign(&mut sum, share);
        Ok(sum)
    }

    /// Opens a shared value to every party: one round.
    pub async fn open(&mut self, share: &[u128], tag: Tag) -> Result<Vec<u128>, VmError> {
        for p in self.comm.others().collect::<Vec<_>>() {
            self.comm.send_ring(p, tag, share)?;
        }
        self.collect(share, tag).await
    }

    /// This party's share of one piece of correlated randomness: drawn from its own dealer
    /// stream, except party 0's corrections, which it computes itself as trusted first party
    /// or receives from the separate dealer (see [`crate::dealer`]).
    async fn dealt(&mut self, request: Request) -> Result<Vec<Vec<u128>>, VmError> {
        let mut out = Vec::new();
        self.dealt_into(request, &mut out).await?;
        Ok(out)
    }

    /// [`Semi2k::dealt`] into `out`, reusing the memory of the vectors there where it can.
    async fn dealt_into(&mut self, request: Request, out: &mut Vec<Vec<u128>>) -> Result<(), VmError> {
        let me = self.me() as usize;
        if me != 0 {
            return self.dealer.draw_into(me, &request.lens(), out);
        }
        match self.mode {
            DealerMode::FirstParty => self.dealer.first_party_into(request, out),
            DealerMode::Separate => {
                let tag = self.ask(request)?;
                let (lens, own) = (request.lens(), request.own());
                self.dealer.draw_into(0, &lens[..own], out)?;
                for &len in &lens[own..] {
                    out.push(self.comm.recv_ring(self.dealer_node(), tag, len).await?);
                }
                Ok(())
            }
        }
    }

    /// Sends `request` to the separate dealer; its answer comes under the returned tag.
    fn ask(&mut self, request: Request) -> Result<Tag, VmError> {
        let tag = dealer::request_tag(self.requests);
        self.requests += 1;
        let node = self.dealer_node();
        self.comm.send(node, tag, dealer::encode(&request)?)?;
        Ok(tag)
    }

    /// The separate dealer's place among the links: after the last party.
    fn dealer_node(&self) -> PartyId {
        self.n() as PartyId
    }

    /// Ends the run: party 0 tells a separate dealer that no more requests will come.
    pub fn finish(&mut self) -> Result<(), VmError> {
        if self.me() == 0 && self.mode == DealerMode::Separate {
            self.ask(Request::Done)?;
        }
        Ok(())
    }

    /// A triple of `len` elements: (a, b, a b) additively shared, or (a, b, a & b) XOR-shared.
    async fn elementwise_triple(&mut self, len: usize, product: Product) -> Result<[Vec<u128>; 3], VmError> {
        self.dealt(Request::Elementwise { len: len as u64, product }).await?.try_into().map_err(|_| VmError::Internal("triple".into()))
    }

    /// Elementwise product of two shared vectors of equal length: one round.
    pub async fn mul(&mut self, x: &[u128], y: &[u128], tag: Tag) -> Result<Vec<u128>, VmError> {
        self.beaver(x, y, tag, None).await
    }

    /// A fixed-point product `x * y / 2^f`: one round with two parties, whose local truncation
    /// is fused into the product's last pass; two rounds with more.
    pub async fn mul_trunc(&mut self, x: &[u128], y: &[u128], tags: [Tag; 2]) -> Result<Vec<u128>, VmError> {
        self.mul_shift(x, y, self.frac_bits, tags).await
    }

    /// `x * y / 2^bits`: [`Semi2k::mul_trunc`] for an operand that carries `bits - f` more
    /// fraction bits than the fixed point's f, such as x / 2^s taken as x with f + s bits.
    pub async fn mul_shift(&mut self, x: &[u128], y: &[u128], bits: u32, tags: [Tag; 2]) -> Result<Vec<u128>, VmError> {
        if self.n() == 2 {
            return self.beaver(x, y, tags[0], Some(bits)).await;
        }
        let z = self.beaver(x, y, tags[0], None).await?;
        self.truncate_by(&z, bits, tags[1]).await
    }

    /// Independent products `x * y / 2^bits` of several pairs in one Beaver round: the pairs'
    /// masked operands go out in one message. With two parties each part is truncated locally;
    /// with more, the parts with the same `bits` are truncated together, one round each
    /// distinct `bits` (none for 0).
    pub async fn mul_shift_many(&mut self, xs: &[u128], ys: &[u128], parts: &[(usize, u32)], steps: &mut Steps) -> Result<Vec<Vec<u128>>, VmError> {
        if xs.len() != ys.len() || parts.iter().map(|p| p.0).sum::<usize>() != xs.len() {
            return Err(VmError::Internal("the factors of a batched product differ in length".into()));
        }
        let mut z = self.beaver(xs, ys, steps.tag(), None).await?;
        let ranges: Vec<std::ops::Range<usize>> = parts
            .iter()
            .scan(0, |at, &(len, _)| {
                *at += len;
                Some(*at - len..*at)
            })
            .collect();
        if self.n() == 2 {
            let first = self.me() == 0;
            for (range, &(_, bits)) in ranges.iter().zip(parts) {
                z[range.clone()].iter_mut().for_each(|v| *v = shift_share(*v, bits, first));
            }
        } else {
            let mut widths: Vec<u32> = parts.iter().map(|p| p.1).filter(|&b| b > 0).collect();
            widths.sort_unstable();
            widths.dedup();
            for bits in widths {
                let chosen: Vec<&std::ops::Range<usize>> = ranges.iter().zip(parts).filter(|(_, p)| p.1 == bits).map(|(r, _)| r).collect();
                let joined: Vec<u128> = chosen.iter().flat_map(|r| z[(*r).clone()].iter().copied()).collect();
                let truncated = self.truncate_by(&joined, bits, steps.tag()).await?;
                let mut at = 0;
                for r in chosen {
                    z[r.clone()].copy_from_slice(&truncated[at..at + r.len()]);
                    at += r.len();
                }
            }
        }
        Ok(ranges.into_iter().map(|r| z[r].to_vec()).collect())
    }

    /// The fixed-point square x^2 / 2^f: like [`Semi2k::mul_trunc`], with a square pair, so
    /// that only x - a is opened (half a product's traffic).
    pub async fn square_trunc(&mut self, x: &[u128], tags: [Tag; 2]) -> Result<Vec<u128>, VmError> {
        self.square_shift(x, self.frac_bits, tags).await
    }

    /// x^2 / 2^bits, as [`Semi2k::mul_shift`] is to [`Semi2k::mul_trunc`]. Party 0 adds e^2
    /// as e (2 a + e): one ring product per element on every party.
    pub async fn square_shift(&mut self, x: &[u128], bits: u32, tags: [Tag; 2]) -> Result<Vec<u128>, VmError> {
        let (first, two) = (self.me() == 0, self.n() == 2);
        let z = self
            .pipelined(&[x], Product::Square, tags[0], |p, z| {
                let n = p.operands[0].len();
                let (theirs, x, a, c) = (&p.theirs[..n], p.operands[0], &p.dealt[0][..n], &p.dealt[1][..n]);
                z.extend((0..n).map(|i| {
                    let e = theirs[i].wrapping_add(x[i]).wrapping_sub(a[i]);
                    let twice_a = a[i].wrapping_mul(2);
                    let z = c[i].wrapping_add(e.wrapping_mul(if first { twice_a.wrapping_add(e) } else { twice_a }));
                    if two { shift_share(z, bits, first) } else { z }
                }));
            })
            .await?;
        if two {
            Ok(z)
        } else {
            self.truncate_by(&z, bits, tags[1]).await
        }
    }

    /// Sends this party's masked values to every other party (the last gets them without a
    /// copy) and returns the others' combined: the opening, less this party's own part, which
    /// the caller recomputes in its final pass rather than keeping a copy.
    async fn exchange_masked(&mut self, mine: Vec<u128>, tag: Tag, combine: fn(&mut [u128], &[u128])) -> Result<Vec<u128>, VmError> {
        let len = mine.len();
        self.send_to_others(mine, tag)?;
        self.recv_combined(tag, len, combine).await
    }

    /// Sends `v` to every other party: a copy to each but the last, which gets `v` itself.
    fn send_to_others(&mut self, v: Vec<u128>, tag: Tag) -> Result<(), VmError> {
        let others: Vec<PartyId> = self.comm.others().collect();
        if let Some((&last, rest)) = others.split_last() {
            for &p in rest {
                self.comm.send_ring(p, tag, &v)?;
            }
            self.comm.send_ring_owned(last, tag, v)?;
        }
        Ok(())
    }

    /// One vector of `len` from every other party, combined into the first that arrives
    /// (zeros when there is no other party).
    async fn recv_combined(&mut self, tag: Tag, len: usize, combine: fn(&mut [u128], &[u128])) -> Result<Vec<u128>, VmError> {
        let mut theirs: Option<Vec<u128>> = None;
        for p in self.comm.others().collect::<Vec<_>>() {
            let t = self.comm.recv_ring(p, tag, len).await?;
            match &mut theirs {
                None => theirs = Some(t),
                Some(s) => combine(s, &t),
            }
        }
        Ok(theirs.unwrap_or_else(|| vec![0; len]))
    }

    /// Beaver's product. This party's masked operands (x - a, y - b) go out without a copy and
    /// are recomputed in the one pass that adds the others', forms the product and, for two
    /// parties, truncates it locally. Pipelined in pieces ([`Semi2k::pipelined`]).
    async fn beaver(&mut self, x: &[u128], y: &[u128], tag: Tag, truncate_two: Option<u32>) -> Result<Vec<u128>, VmError> {
        let first = self.me() == 0;
        self.pipelined(&[x, y], Product::Mul, tag, |p, z| {
            let (te, tf) = p.theirs.split_at(p.operands[0].len());
            let shares = BeaverShares { theirs: [te, tf], operands: [p.operands[0], p.operands[1]], triple: [&p.dealt[0], &p.dealt[1], &p.dealt[2]] };
            beaver_combine_into(shares, first, truncate_two, z);
        })
        .await
    }

    /// An elementwise protocol on dealt randomness (a product's triple, a square's pair): the
    /// operands masked by the first dealt vectors (x - a, ...) are opened in one round, and
    /// `finish` appends each piece's result from the others' part of the opening, this
    /// party's operands and what was dealt.
    ///
    /// A long one is pipelined in pieces of [`PIECE`] elements, each with its own dealt
    /// randomness: the masked operands of up to [`AHEAD`] pieces are out before the first is
    /// awaited, and each piece is finished while its randomness is still in cache. Memory
    /// traffic falls from about ten vectors of the operands' length to the operands, the
    /// result and the messages. It is still one round: every piece's message goes out without
    /// waiting for another's, apart from a window of `AHEAD` pieces in flight per link. With a
    /// separate dealer it is one piece (party 0 would wait for the dealer piece by piece).
    async fn pipelined(&mut self, operands: &[&[u128]], product: Product, tag: Tag, mut finish: impl FnMut(Piece, &mut Vec<u128>)) -> Result<Vec<u128>, VmError> {
        let n = operands.first().map_or(0, |x| x.len());
        if operands.iter().any(|x| x.len() != n) {
            return Err(VmError::Internal("the operands of an elementwise product differ in length".into()));
        }
        let piece = if self.mode == DealerMode::Separate { n.max(1) } else { PIECE };
        let pieces: Vec<std::ops::Range<usize>> = (0..n).step_by(piece).map(|s| s..(s + piece).min(n)).collect();
        // What was dealt for the pieces in flight, and spent vectors whose memory the next piece
        // reuses; a piece's message goes out in the memory of one received before.
        let mut in_flight = std::collections::VecDeque::with_capacity(AHEAD + 1);
        let mut spent: Vec<Vec<Vec<u128>>> = Vec::new();
        let mut spare: Vec<Vec<u128>> = Vec::new();
        let mut z = Vec::with_capacity(n);
        for k in 0..pieces.len() + AHEAD {
            if let Some(r) = pieces.get(k) {
                let mut dealt = spent.pop().unwrap_or_default();
                self.dealt_into(Request::Elementwise { len: r.len() as u64, product }, &mut dealt).await?;
                if dealt.len() <= operands.len() {
                    return Err(VmError::Internal(format!("{product:?} dealt {} vectors", dealt.len())));
                }
                let mut masked = spare.pop().unwrap_or_default();
                masked.clear();
                for (x, a) in operands.iter().zip(&dealt) {
                    masked.extend(x[r.clone()].iter().zip(a).map(|(x, a)| x.wrapping_sub(*a)));
                }
                self.send_to_others(masked, tag)?;
                in_flight.push_back(dealt);
            }
            if let Some(r) = k.checked_sub(AHEAD).and_then(|j| pieces.get(j)) {
                let dealt = in_flight.pop_front().ok_or_else(|| VmError::Internal("a product piece without its randomness".into()))?;
                let theirs = self.recv_combined(tag, operands.len() * r.len(), add_assign).await?;
                let mine: Vec<&[u128]> = operands.iter().map(|x| &x[r.clone()]).collect();
                finish(Piece { theirs: &theirs, operands: &mine, dealt: &dealt }, &mut z);
                spent.push(dealt);
                spare.push(theirs);
            }
        }
        Ok(z)
    }

    /// Product of shared matrices (m x k) @ (k x n): one round.
    pub async fn matmul(&mut self, x: &[u128], y: &[u128], dims: (usize, usize, usize), tag: Tag) -> Result<Vec<u128>, VmError> {
        self.matmul_masking(x, y, dims, tag, None).await.map(|(z, _)| z)
    }

    /// [`Semi2k::matmul`], with the dealer keeping x's mask under `mask`, so that later products
    /// with the same x, or its transpose, open only their right operand
    /// ([`Semi2k::matmul_reuse`]). Also returns this party's share of the mask and the opened
    /// x - a, which such products need.
    pub async fn matmul_keep(&mut self, x: &[u128], y: &[u128], dims: (usize, usize, usize), tag: Tag, mask: u32) -> Result<(Vec<u128>, KeptMask), VmError> {
        let (z, kept) = self.matmul_masking(x, y, dims, tag, Some(mask)).await?;
        Ok((z, kept.ok_or_else(|| VmError::Internal("no kept mask".into()))?))
    }

    async fn matmul_masking(&mut self, x: &[u128], y: &[u128], (m, k, n): (usize, usize, usize), tag: Tag, keep: Option<u32>) -> Result<(Vec<u128>, Option<KeptMask>), VmError> {
        let request = Request::Matmul { m: m as u64, k: k as u64, n: n as u64, keep };
        // This party's share of a is the next vector of its own dealer stream (see `dealt`).
        let mut a_again = self.dealer.position(self.me() as usize)?;
        let [mut masked, b, c]: [Vec<u128>; 3] = self.dealt(request).await?.try_into().map_err(|_| VmError::Internal("matmul triple".into()))?;
        // x - a, written over a's share, goes to the last peer without a copy; this party's
        // part of the sum is recomputed below from x and a drawn again, a chunk at a time, so
        // that no second m x k vector is held while the others' arrive.
        masked.iter_mut().zip(x).for_each(|(a, x)| *a = x.wrapping_sub(*a));
        let own_f: Vec<u128> = y.iter().zip(&b).map(|(y, b)| y.wrapping_sub(*b)).collect();
        let b_term = self.mask_term(b)?;
        // Every link carries x - a, then y - b; both go out before either is awaited.
        self.send_to_others(masked, tag)?;
        self.send_to_others(own_f.clone(), tag)?;
        let mut e = self.recv_combined(tag, m * k, add_assign).await?;
        let mut f = self.recv_combined(tag, k * n, add_assign).await?;
        add_assign(&mut f, &own_f);
        let mut a = vec![0u128; 4096];
        for (e, x) in e.chunks_mut(a.len()).zip(x.chunks(a.len())) {
            let a = &mut a[..e.len()];
            a_again.fill(a);
            for ((e, x), a) in e.iter_mut().zip(x).zip(a.iter()) {
                *e = e.wrapping_add(x.wrapping_sub(*a));
            }
        }
        let z = matmul_finish(MatmulParts { e: &e, transposed: false, f: &f, x, x_transposed: false, b: b_term, c }, (m, k, n));
        let kept = keep.map(|id| KeptMask { id, transposed: false, e: std::sync::Arc::new(e), rows: m, cols: k });
        Ok((z, kept))
    }

    /// x @ y for an x whose mask is `kept` (x - a opened before): only y - b is opened. The
    /// opening of x is the one already made, so reusing its mask shows nothing new. `x` is this
    /// party's share of the operand, as the m x k matrix it is.
    pub async fn matmul_reuse(&mut self, kept: &KeptMask, x: &[u128], y: &[u128], dims: (usize, usize, usize), tag: Tag) -> Result<Vec<u128>, VmError> {
        self.reuse(kept, x, false, y, dims, tag).await
    }

    async fn reuse(&mut self, kept: &KeptMask, x: &[u128], x_transposed: bool, y: &[u128], (m, k, n): (usize, usize, usize), tag: Tag) -> Result<Vec<u128>, VmError> {
        let shape = if kept.transposed { (kept.cols, kept.rows) } else { (kept.rows, kept.cols) };
        if shape != (m, k) || x.len() != m * k {
            return Err(VmError::Internal(format!("a kept mask of {} x {} for a {m} x {k} operand", shape.0, shape.1)));
        }
        let request = Request::MatmulReuse { m: m as u64, k: k as u64, n: n as u64, mask: kept.id, transposed: kept.transposed };
        let [b, c]: [Vec<u128>; 2] = self.dealt(request).await?.try_into().map_err(|_| VmError::Internal("matmul pair".into()))?;
        let f: Vec<u128> = y.iter().zip(&b).map(|(y, b)| y.wrapping_sub(*b)).collect();
        let b_term = self.mask_term(b)?;
        let f = self.open(&f, tag).await?;
        Ok(matmul_finish(MatmulParts { e: &kept.e, transposed: kept.transposed, f: &f, x, x_transposed, b: b_term, c }, (m, k, n)))
    }

    /// [`Semi2k::matmul_reuse`] for an operand given as this party's share of its transpose
    /// (`x_t`, k x m): the product reads it transposed, so the operand is never copied.
    pub async fn matmul_reuse_transposed(&mut self, kept: &KeptMask, x_t: &[u128], y: &[u128], dims: (usize, usize, usize), tag: Tag) -> Result<Vec<u128>, VmError> {
        self.reuse(kept, x_t, true, y, dims, tag).await
    }

    /// Who forms the term e b of a matmul: with the trusted first party, party 0 alone, with
    /// the whole b, which it dealt; with a separate dealer, every party with its share.
    fn mask_term(&mut self, b: Vec<u128>) -> Result<MaskTerm, VmError> {
        Ok(match (self.mode, self.me()) {
            (DealerMode::FirstParty, 0) => MaskTerm::Whole(self.dealer.take_matmul_b().ok_or_else(|| VmError::Internal("the dealt b of a matmul is missing".into()))?),
            (DealerMode::FirstParty, _) => MaskTerm::None,
            (DealerMode::Separate, _) => MaskTerm::Share(b),
        })
    }

    /// Tells the dealer that a kept mask is used no more (only party 0 talks to it).
    pub fn release_mask(&mut self, mask: u32) -> Result<(), VmError> {
        if self.me() != 0 {
            return Ok(());
        }
        match self.mode {
            DealerMode::FirstParty => {
                self.dealer.release(mask);
                Ok(())
            }
            DealerMode::Separate => self.ask(Request::Release { mask }).map(|_| ()),
        }
    }


    /// Divides a shared fixed-point value by 2^f after a product.
    ///
    /// Two parties: local truncation (SecureML): party 0 shifts its share, party 1 shifts the
    /// negation of its share and negates back. Exact up to one unit in the last place, except with
    /// probability about |x| / 2^127 per element.
    ///
    /// Three or more parties: probabilistic truncation with a dealer pair (r, r') where
    /// r' = (r mod 2^127) >> f, and the bit msb(r) (Dalskov et al., "Secure Evaluation of
    /// Quantized Neural Networks", appendix C.1). One round; exact up to one unit in the last
    /// place for |x| < 2^126.
    pub async fn truncate(&mut self, x: &[u128], tag: Tag) -> Result<Vec<u128>, VmError> {
        self.truncate_by(x, self.frac_bits, tag).await
    }

    /// `x / 2^bits` on shares, as [`Semi2k::truncate`] does for f bits.
    pub async fn truncate_by(&mut self, x: &[u128], f: u32, tag: Tag) -> Result<Vec<u128>, VmError> {
        if self.n() == 2 {
            let first = self.me() == 0;
            return Ok(x.iter().map(|&v| shift_share(v, f, first)).collect());
        }
        let len = x.len();
        let request = Request::Trunc { len: len as u64, bits: f };
        let [r, rc, rb]: [Vec<u128>; 3] = self.dealt(request).await?.try_into().map_err(|_| VmError::Internal("truncation pair".into()))?;
        let first = self.me() == 0;
        let bias = 1u128 << 126;
        let masked: Vec<u128> = x.iter().zip(&r).map(|(&x, &r)| {
            let x = if first { x.wrapping_add(bias) } else { x };
            x.wrapping_add(r)
        }).collect();
        let c = self.open(&masked, tag).await?;
        let low = |v: u128| v & (u128::MAX >> 1);
        Ok((0..len)
            .map(|i| {
                let cb = c[i] >> 127;
                let cc = low(c[i]) >> f;
                // b = cb xor rb, as an arithmetic share: rb + cb - 2 cb rb.
                let mut b = if cb == 1 { rb[i].wrapping_neg() } else { rb[i] };
                let mut y = rc[i].wrapping_neg();
                if first {
                    b = b.wrapping_add(cb);
                    y = y.wrapping_add(cc).wrapping_sub(1u128 << (126 - f));
                }
                y.wrapping_add(b.wrapping_shl(127 - f))
            })
            .collect())
    }
}

/// Boolean sharing and comparison: a value is XOR-shared when the parties' words XOR to it.
impl<T: Transport> Semi2k<T> {
    /// Opens XOR-shared words to every party: one round.
    pub async fn open_xor(&mut self, share: &[u128], tag: Tag) -> Result<Vec<u128>, VmError> {
        for p in self.comm.others().collect::<Vec<_>>() {
            self.comm.send_ring(p, tag, share)?;
        }
        let mut out = share.to_vec();
        for p in self.comm.others().collect::<Vec<_>>() {
            let theirs = self.comm.recv_ring(p, tag, share.len()).await?;
            for (o, t) in out.iter_mut().zip(theirs) {
                *o ^= t;
            }
        }
        Ok(out)
    }

    /// Bitwise AND of XOR-shared words, `x[i] & y[i]`: one round.
    pub async fn and(&mut self, x: &[u128], y: &[u128], tag: Tag) -> Result<Vec<u128>, VmError> {
        let len = x.len();
        let [a, b, c] = self.elementwise_triple(len, Product::And).await?;
        let mut ef: Vec<u128> = Vec::with_capacity(2 * len);
        ef.extend(x.iter().zip(&a).map(|(x, a)| x ^ a));
        ef.extend(y.iter().zip(&b).map(|(y, b)| y ^ b));
        let theirs = self.exchange_masked(ef, tag, xor_assign).await?;
        let (te, tf) = theirs.split_at(len);
        let first = self.me() == 0;
        Ok((0..len)
            .map(|i| {
                let (e, f) = (te[i] ^ x[i] ^ a[i], tf[i] ^ y[i] ^ b[i]);
                let z = c[i] ^ (e & b[i]) ^ (f & a[i]);
                if first { z ^ (e & f) } else { z }
            })
            .collect())
    }

    /// XOR shares of the most significant bit of arithmetic shares `x` (0 or 1, in bit 0).
    ///
    /// The MSB of p + q is p127 ^ q127 ^ (the carry into bit 127), and that carry is the
    /// generate signal of bits 0..126 combined by a tree: each level pairs neighbouring bits,
    /// G = G_hi ^ (P_hi & G_lo), P = P_hi & P_lo, halving the width. The halves are compacted
    /// with even/odd bit extraction (XOR-linear, so local on shares) and packed across elements,
    /// so level k sends 1/2^k of the first level's words: about 6 words per element in all.
    pub async fn msb(&mut self, x: &[u128], steps: &mut Steps) -> Result<Vec<u128>, VmError> {
        let len = x.len();
        let (p, q) = self.fold_to_two(x, steps).await?;
        let top: Vec<u128> = p.iter().zip(&q).map(|(a, b)| (a ^ b) >> 127).collect();
        // Bits 0..126 move up one place; a neutral bit (G = 0, P = 1) takes place 0.
        let g0 = self.and(&p, &q, steps.tag()).await?;
        let first = self.me() == 0;
        let mut g: Vec<u128> = g0.iter().map(|v| v << 1).collect();
        let mut t: Vec<u128> = p.iter().zip(&q).map(|(a, b)| ((a ^ b) << 1) | u128::from(first)).collect();
        for level in 0..7 {
            // Pair bits (2i, 2i+1) of every field; pack two words' halves into one.
            let halves = |w: &[u128], shift: u32| -> Vec<u128> {
                w.chunks(2).map(|c| evens(c[0] >> shift) | (c.get(1).map_or(0, |v| evens(v >> shift)) << 64)).collect()
            };
            let (g_lo, g_hi, t_lo, t_hi) = (halves(&g, 0), halves(&g, 1), halves(&t, 0), halves(&t, 1));
            if level < 6 {
                let mut lhs = t_hi.clone();
                lhs.extend_from_slice(&t_hi);
                let mut rhs = g_lo;
                rhs.extend_from_slice(&t_lo);
                let both = self.and(&lhs, &rhs, steps.tag()).await?;
                let (pg, pp) = both.split_at(g_hi.len());
                g = g_hi.iter().zip(pg).map(|(h, v)| h ^ v).collect();
                t = pp.to_vec();
            } else {
                let pg = self.and(&t_hi, &g_lo, steps.tag()).await?;
                g = g_hi.iter().zip(&pg).map(|(h, v)| h ^ v).collect();
            }
        }
        // After 7 levels each element's carry is one bit: element e at bit e % 128 of word e / 128.
        Ok((0..len).map(|e| (top[e] ^ (g[e / 128] >> (e % 128))) & 1).collect())
    }

    /// Carry-save adders fold the parties' n shares, seen as n XOR-shared numbers (each party's
    /// share is a number it alone knows), into two numbers with the same sum: one round a layer.
    async fn fold_to_two(&mut self, x: &[u128], steps: &mut Steps) -> Result<(Vec<u128>, Vec<u128>), VmError> {
        let len = x.len();
        let me = self.me() as usize;
        let mut operands: Vec<Vec<u128>> = (0..self.n()).map(|j| if j == me { x.to_vec() } else { vec![0; len] }).collect();
        while operands.len() > 2 {
            // One carry-save layer on every complete group of three, in one round.
            let groups = operands.len() / 3;
            let rest = operands.split_off(groups * 3);
            let (mut lhs, mut rhs) = (Vec::with_capacity(2 * groups * len), Vec::with_capacity(2 * groups * len));
            for g in operands.chunks(3) {
                lhs.extend_from_slice(&g[0]);
                rhs.extend_from_slice(&g[1]);
                lhs.extend_from_slice(&g[2]);
                rhs.extend(g[0].iter().zip(&g[1]).map(|(a, b)| a ^ b));
            }
            let products = self.and(&lhs, &rhs, steps.tag()).await?;
            let mut next = rest;
            for (k, g) in operands.chunks(3).enumerate() {
                let ab_and = &products[2 * k * len..(2 * k + 1) * len];
                let c_and = &products[(2 * k + 1) * len..(2 * k + 2) * len];
                next.push((0..len).map(|i| g[0][i] ^ g[1][i] ^ g[2][i]).collect());
                next.push((0..len).map(|i| (ab_and[i] ^ c_and[i]) << 1).collect());
            }
            operands = next;
        }
        let q = operands.pop().unwrap_or_default();
        let p = operands.pop().unwrap_or_default();
        Ok((p, q))
    }

    /// A2B: XOR shares of every bit of the value whose arithmetic shares are `x`: the two
    /// numbers from the carry-save layers, added by a Kogge-Stone parallel-prefix adder in
    /// 1 + 7 rounds.
    pub async fn a2b(&mut self, x: &[u128], steps: &mut Steps) -> Result<Vec<u128>, VmError> {
        let len = x.len();
        let (p, q) = self.fold_to_two(x, steps).await?;
        let (p, q) = (&p, &q);
        let sum: Vec<u128> = p.iter().zip(q).map(|(a, b)| a ^ b).collect();
        let mut t = sum.clone();
        let mut g = self.and(p, q, steps.tag()).await?;
        let mut shift = 1;
        while shift < 128 {
            let shifted: Vec<u128> = g.iter().map(|v| v << shift).collect();
            if shift < 64 {
                let mut lhs = t.clone();
                lhs.extend_from_slice(&t);
                let mut rhs = shifted;
                rhs.extend(t.iter().map(|v| v << shift));
                let both = self.and(&lhs, &rhs, steps.tag()).await?;
                let (gt, tt) = both.split_at(len);
                g.iter_mut().zip(gt).for_each(|(g, v)| *g ^= v);
                t = tt.to_vec();
            } else {
                let gt = self.and(&t, &shifted, steps.tag()).await?;
                g.iter_mut().zip(gt).for_each(|(g, v)| *g ^= v);
            }
            shift <<= 1;
        }
        // g holds the carry out of every bit; the sum is p xor q xor the carries moved up.
        Ok(sum.iter().zip(&g).map(|(s, c)| s ^ (c << 1)).collect())
    }

    /// For XOR-shared words, the word with every bit below the highest set bit set too:
    /// w | w >> 1 | w >> 2 | ..., in 7 rounds (a | b = a ^ b ^ (a & b)).
    pub async fn fill_down(&mut self, w: &[u128], steps: &mut Steps) -> Result<Vec<u128>, VmError> {
        let mut y = w.to_vec();
        for shift in [1, 2, 4, 8, 16, 32, 64] {
            let shifted: Vec<u128> = y.iter().map(|v| v >> shift).collect();
            let both = self.and(&y, &shifted, steps.tag()).await?;
            y = y.iter().zip(&shifted).zip(&both).map(|((a, b), ab)| a ^ b ^ ab).collect();
        }
        Ok(y)
    }

    /// Public linear functions of bits `lo..=hi` of XOR-shared words, on arithmetic shares:
    /// for each weight vector v (one weight per bit), sum_k v[k] bit_{lo+k}(w). One opening of
    /// the words masked by a dealer word whose bits the dealer also shares arithmetically; then
    /// each bit's arithmetic share is c + r - 2 c r for the opened bit c, weighed and summed
    /// element by element, a chunk at a time, so that no vector per bit is ever stored.
    pub async fn b2a_weighted(&mut self, w: &[u128], lo: u32, hi: u32, weights: &[Vec<u128>], tag: Tag) -> Result<Vec<Vec<u128>>, VmError> {
        let len = w.len();
        let width = (hi - lo + 1) as usize;
        if weights.iter().any(|v| v.len() != width) {
            return Err(VmError::Internal("a weight vector does not cover every bit".into()));
        }
        let mut dealt = self.masked_bits(len, lo, width).await?;
        let masked: Vec<u128> = w.iter().zip(&dealt.r).map(|(a, b)| a ^ b).collect();
        let c = self.open_xor(&masked, tag).await?;
        let first = self.me() == 0;
        let mut out: Vec<Vec<u128>> = weights.iter().map(|_| Vec::with_capacity(len)).collect();
        const CHUNK: usize = dealer::BITS_CHUNK;
        let mut acc = vec![vec![0u128; CHUNK]; weights.len()];
        let mut shares = vec![0u128; CHUNK * width];
        for start in (0..len).step_by(CHUNK) {
            let k_len = CHUNK.min(len - start);
            // This party's arithmetic shares of every bit of the chunk, bit-major.
            let received;
            let shares: &mut [u128] = match &mut dealt.bits {
                BitShares::Own(streams) => {
                    for (stream, dst) in streams.iter_mut().zip(shares.chunks_mut(k_len)) {
                        stream.fill(dst);
                    }
                    &mut shares[..k_len * width]
                }
                BitShares::FirstParty(bits) => {
                    bits.chunk(start, &mut shares[..k_len * width]);
                    &mut shares[..k_len * width]
                }
                BitShares::Dealer(tag) => {
                    let node = self.dealer_node();
                    received = self.comm.recv_ring(node, *tag, k_len * width).await?;
                    shares[..k_len * width].copy_from_slice(&received);
                    &mut shares[..k_len * width]
                }
            };
            acc.iter_mut().for_each(|a| a[..k_len].fill(0));
            for (k, ra) in shares.chunks_mut(k_len).enumerate() {
                let bit = lo + k as u32;
                for (i, v) in ra.iter_mut().enumerate() {
                    let ci = (c[start + i] >> bit) & 1;
                    let x = if ci == 1 { v.wrapping_neg() } else { *v };
                    *v = if first { x.wrapping_add(ci) } else { x };
                }
                for (a, weight) in acc.iter_mut().zip(weights) {
                    let wk = weight[k];
                    for (a, v) in a.iter_mut().zip(ra.iter()) {
                        *a = a.wrapping_add(v.wrapping_mul(wk));
                    }
                }
            }
            for (o, a) in out.iter_mut().zip(&acc) {
                o.extend_from_slice(&a[..k_len]);
            }
        }
        Ok(out)
    }

    /// A random word per element, XOR-shared, and this party's source of arithmetic shares of
    /// the bits lo .. lo + width of it.
    async fn masked_bits(&mut self, len: usize, lo: u32, width: usize) -> Result<MaskedBits, VmError> {
        let me = self.me() as usize;
        if me != 0 {
            let mut streams = self.dealer.split(me, &vec![len; width + 1])?;
            let r = streams.remove(0).next_vec(len);
            return Ok(MaskedBits { r, bits: BitShares::Own(streams) });
        }
        match self.mode {
            DealerMode::FirstParty => {
                let (r, bits) = self.dealer.masked_bits(len, lo, width)?;
                Ok(MaskedBits { r, bits: BitShares::FirstParty(bits) })
            }
            DealerMode::Separate => {
                let tag = self.ask(Request::MaskedBits { len: len as u64, lo, width: width as u32 })?;
                let r = self.dealer.draw(0, &[len])?.remove(0);
                Ok(MaskedBits { r, bits: BitShares::Dealer(tag) })
            }
        }
    }

    /// Arithmetic shares of XOR-shared bits (in bit 0): one round with a dealer's random bit
    /// held both ways; the opened bits are packed, 128 to a word.
    pub async fn b2a(&mut self, bits: &[u128], tag: Tag) -> Result<Vec<u128>, VmError> {
        let len = bits.len();
        let [rb, ra] = self.bit_pair(len).await?;
        // The masked bits travel packed, 128 to a word: one bit an element on the wire.
        let mut masked = vec![0u128; len.div_ceil(128)];
        for (i, (b, r)) in bits.iter().zip(&rb).enumerate() {
            masked[i / 128] |= ((b ^ r) & 1) << (i % 128);
        }
        let c = self.open_xor(&masked, tag).await?;
        let first = self.me() == 0;
        Ok((0..len).map(|i| {
            let c = (c[i / 128] >> (i % 128)) & 1;
            let v = if c == 1 { ra[i].wrapping_neg() } else { ra[i] };
            if first { v.wrapping_add(c) } else { v }
        }).collect())
    }

    /// Shares of a random bit, XOR-shared (in bit 0) and arithmetically shared.
    async fn bit_pair(&mut self, len: usize) -> Result<[Vec<u128>; 2], VmError> {
        let [mut b, a]: [Vec<u128>; 2] = self.dealt(Request::BitPair { len: len as u64 }).await?.try_into().map_err(|_| VmError::Internal("bit pair".into()))?;
        b.iter_mut().for_each(|x| *x &= 1);
        Ok([b, a])
    }

    /// Arithmetic shares (0 or 1) of `x < 0`, for each element: the MSB, converted.
    pub async fn is_negative(&mut self, x: &[u128], steps: &mut Steps) -> Result<Vec<u128>, VmError> {
        let bits = self.msb(x, steps).await?;
        self.b2a(&bits, steps.tag()).await
    }
}

/// A matmul operand's mask that the dealer keeps, as a party holds it: only the opened x - a,
/// as the rows x cols matrix of the operand it was made for (the operand in use is that one's
/// transpose if `transposed`). The party's share of a is not kept: it is the operand's share
/// less e on party 0, and the product's formula reads the operand's share instead.
#[derive(Debug)]
pub struct KeptMask {
    pub id: u32,
    pub transposed: bool,
    e: std::sync::Arc<Vec<u128>>,
    pub rows: usize,
    pub cols: usize,
}

impl KeptMask {
    /// The mask of the operand's transpose: the same opening, read transposed.
    pub fn transposed(&self) -> std::sync::Arc<KeptMask> {
        std::sync::Arc::new(KeptMask { id: self.id, transposed: !self.transposed, e: self.e.clone(), rows: self.rows, cols: self.cols })
    }
}

/// What a Beaver matmul's last step reads: the opened e = x - a (as kept: the transpose of the
/// operand's if `transposed`) and f = y - b, this party's share x of the operand, and its
/// share of b and of c = a b.
struct MatmulParts<'a> {
    e: &'a [u128],
    transposed: bool,
    f: &'a [u128],
    /// This party's share of the operand, or of its transpose if `x_transposed`.
    x: &'a [u128],
    x_transposed: bool,
    b: MaskTerm,
    c: Vec<u128>,
}

/// What a party multiplies e by: its share of b, the whole b, or nothing (another party
/// forms e b for all).
enum MaskTerm {
    Share(Vec<u128>),
    Whole(Vec<u128>),
    None,
}

/// z = c + e b + x f: party i's share of x y, since x's shares are a's plus e on party 0, so
/// that sum_i x_i f = a f + e f. No share of a is needed; e b is formed once from the whole b
/// by the trusted first party, or by every party from its share of b.
fn matmul_finish(p: MatmulParts, (m, k, n): (usize, usize, usize)) -> Vec<u128> {
    let mut z = p.c;
    if let MaskTerm::Share(b) | MaskTerm::Whole(b) = &p.b {
        let eb = if p.transposed { ring::matmul_tn(p.e, b, k, m, n) } else { ring::matmul(p.e, b, m, k, n) };
        add_assign(&mut z, &eb);
    }
    let xf = if p.x_transposed { ring::matmul_tn(p.x, p.f, k, m, n) } else { ring::matmul(p.x, p.f, m, k, n) };
    add_assign(&mut z, &xf);
    z
}

/// One piece of a pipelined elementwise protocol ([`Semi2k::pipelined`]): the others' part of
/// the opening (each operand's masked piece, one after another), this party's operands, and
/// what was dealt for the piece.
struct Piece<'a> {
    theirs: &'a [u128],
    operands: &'a [&'a [u128]],
    dealt: &'a [Vec<u128>],
}

/// What Beaver's final pass reads, per element: the other parties' masked operands, this
/// party's operands, and its triple (a, b, c).
pub struct BeaverShares<'a> {
    pub theirs: [&'a [u128]; 2],
    pub operands: [&'a [u128]; 2],
    pub triple: [&'a [u128]; 3],
}

/// Beaver's local step, in one pass: the openings e = x - a and g = y - b (the others' part plus
/// this party's, recomputed rather than stored), then z = c + e b + g a, plus e g on party 0,
/// and for two parties the local truncation by `truncate_two` bits. Every slice is at least as
/// long as the operands.
pub fn beaver_combine(s: BeaverShares, first: bool, truncate_two: Option<u32>) -> Vec<u128> {
    let mut z = Vec::with_capacity(s.operands[0].len());
    beaver_combine_into(s, first, truncate_two, &mut z);
    z
}

/// [`beaver_combine`], appending the product to `z`.
pub fn beaver_combine_into(s: BeaverShares, first: bool, truncate_two: Option<u32>, z: &mut Vec<u128>) {
    match (first, truncate_two) {
        (true, None) => combine::<true, false>(s, 0, z),
        (true, Some(bits)) => combine::<true, true>(s, bits, z),
        (false, None) => combine::<false, false>(s, 0, z),
        (false, Some(bits)) => combine::<false, true>(s, bits, z),
    }
}

/// [`beaver_combine_into`] with the party and the truncation fixed at compile time, so that
/// the loop carries no branch. Party 0 adds e g as e (b + g): one product fewer.
fn combine<const FIRST: bool, const TRUNCATE: bool>(s: BeaverShares, bits: u32, z: &mut Vec<u128>) {
    let n = s.operands[0].len();
    fn cut(v: &[u128], n: usize) -> &[u128] {
        &v[..n]
    }
    let cut = |v| cut(v, n);
    let ([te, tf], [x, y], [a, b, c]) = (s.theirs.map(cut), s.operands.map(cut), s.triple.map(cut));
    z.extend((0..n).map(|i| {
        let e = te[i].wrapping_add(x[i]).wrapping_sub(a[i]);
        let g = tf[i].wrapping_add(y[i]).wrapping_sub(b[i]);
        let eb = if FIRST { e.wrapping_mul(b[i].wrapping_add(g)) } else { e.wrapping_mul(b[i]) };
        let z = c[i].wrapping_add(eb).wrapping_add(g.wrapping_mul(a[i]));
        if TRUNCATE { shift_share(z, bits, FIRST) } else { z }
    }));
}

/// One party's part of the two-party local truncation (SecureML): the first party shifts its
/// share, the second the negation of its own, so that the two shifts sum to x / 2^bits up to
/// one unit, except with probability about |x| / 2^127.
fn shift_share(share: u128, bits: u32, first: bool) -> u128 {
    if first {
        ring::shr_signed(share, bits)
    } else {
        ring::shr_signed(share.wrapping_neg(), bits).wrapping_neg()
    }
}

/// The even bits of a word, compacted into its low half (bit 2i goes to bit i). Masks, shifts
/// and ORs of disjoint bits: XOR-linear, so each party applies it to its share alone.
fn evens(x: u128) -> u128 {
    const MASKS: [u128; 7] = [
        0x5555_5555_5555_5555_5555_5555_5555_5555,
        0x3333_3333_3333_3333_3333_3333_3333_3333,
        0x0f0f_0f0f_0f0f_0f0f_0f0f_0f0f_0f0f_0f0f,
        0x00ff_00ff_00ff_00ff_00ff_00ff_00ff_00ff,
        0x0000_ffff_0000_ffff_0000_ffff_0000_ffff,
        0x0000_0000_ffff_ffff_0000_0000_ffff_ffff,
        0x0000_0000_0000_0000_ffff_ffff_ffff_ffff,
    ];
    let mut x = x & MASKS[0];
    for (k, m) in MASKS.iter().enumerate().skip(1) {
        x = (x | (x >> (1 << (k - 1)))) & m;
    }
    x
}


/// A dealt random word: this party's XOR share of it, and where its arithmetic shares of the
/// word's bits come from.
struct MaskedBits {
    r: Vec<u128>,
    bits: BitShares,
}

enum BitShares {
    /// Parties other than 0: their own streams, one per bit.
    Own(Vec<Prg>),
    /// Party 0 as trusted first party: computed from every party's streams.
    FirstParty(dealer::FirstPartyBits),
    /// Party 0 with a separate dealer: received a chunk at a time under this tag.
    Dealer(Tag),
}




#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::{decode_fix, decode_int, encode_fix, encode_int};
    use crate::link::MemTransport;
    use crate::testing::{simulate, simulate_with_dealer, F};

    /// Deterministic test inputs, including the edges: zero, negatives, large magnitudes.
    fn values(len: usize, salt: u64, scale: f64) -> Vec<f64> {
        let edges = [0.0, -1.0, 1.0, -scale, scale, 1e-6, -1e-6];
        let mut state = salt.wrapping_mul(0x9e3779b97f4a7c15) | 1;
        (0..len)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                edges.get(i).copied().unwrap_or(((state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * scale)
            })
            .collect()
    }

    fn enc(v: &[f64]) -> Vec<u128> {
        v.iter().map(|&x| encode_fix(x, F).expect("encodable")).collect()
    }

    /// Party 0 shares `x`, party 1 shares `y`; returns every party's shares of both.
    async fn share_two<T: Transport>(p: &mut Semi2k<T>, x: &[f64], y: &[f64]) -> (Vec<u128>, Vec<u128>) {
        let xs = if p.me() == 0 { p.share_own(&enc(x)).expect("share") } else { p.share_recv(0, x.len()).expect("share") };
        let ys = if p.me() == 1 { p.share_own(&enc(y)).expect("share") } else { p.share_recv(1, y.len()).expect("share") };
        (xs, ys)
    }

    #[test]
    fn share_and_open_round_trip() {
        for n in [2, 3, 5] {
            let x = values(64, 1, 1e6);
            let out = simulate(n, |mut p| {
                futures::executor::block_on(async {
                    let (xs, _) = share_two(&mut p, &x, &[]).await;
                    p.open(&xs, Tag::new(0, 0)).await.expect("open")
                })
            });
            for opened in out {
                let got: Vec<f64> = opened.iter().map(|&v| decode_fix(v, F)).collect();
                for (g, w) in got.iter().zip(&x) {
                    assert!((g - w).abs() <= 1e-9, "{n} parties: {g} vs {w}");
                }
            }
        }
    }

    #[test]
    fn shares_alone_look_random() {
        // A party's share of a constant vector must not show the constant.
        let out = simulate(2, |mut p| if p.me() == 0 { p.share_own(&enc(&[3.0; 512])).expect("share") } else { p.share_recv(0, 512).expect("share") });
        for shares in out {
            let distinct: std::collections::HashSet<u128> = shares.iter().copied().collect();
            assert_eq!(distinct.len(), 512);
            let ones: u32 = shares.iter().map(|v| v.count_ones()).sum();
            assert!((ones as f64 / (512.0 * 128.0) - 0.5).abs() < 0.02);
        }
    }

    #[test]
    fn fixed_point_mul_matches_float64() {
        for n in [2, 3, 5] {
            let (x, y) = (values(200, 2, 1e3), values(200, 3, 1e3));
            let out = simulate(n, |mut p| {
                futures::executor::block_on(async {
                    let (xs, ys) = share_two(&mut p, &x, &y).await;
                    let z = p.mul(&xs, &ys, Tag::new(1, 0)).await.expect("mul");
                    let z = p.truncate(&z, Tag::new(1, 1)).await.expect("trunc");
                    p.open(&z, Tag::new(2, 0)).await.expect("open")
                })
            });
            for (i, (a, b)) in x.iter().zip(&y).enumerate() {
                let got = decode_fix(out[0][i], F);
                let want = a * b;
                assert!((got - want).abs() <= 1e-9 * want.abs().max(1.0), "{n} parties: {a} * {b} = {got}, want {want}");
            }
        }
    }

    /// A product longer than a piece is pipelined: several pieces and a short last one, with
    /// the first party's dealer and with a separate one; still one round and two words per
    /// element on the wire for two parties.
    #[test]
    fn long_products_are_pipelined_in_pieces() {
        let len = 3 * PIECE + 123;
        let (x, y) = (values(len, 21, 1e3), values(len, 22, 1e3));
        let check = |n: usize, out: &[(Vec<u128>, u64, u64)]| {
            for (i, (a, b)) in x.iter().zip(&y).enumerate() {
                let got = decode_fix(out[n - 1].0[i], F);
                let want = a * b;
                assert!((got - want).abs() <= 1e-9 * want.abs().max(1.0), "{n} parties, element {i}: {a} * {b} = {got}, want {want}");
            }
        };
        let product = |p: &mut Semi2k<MemTransport>| {
            futures::executor::block_on(async {
                let (xs, ys) = share_two(p, &x, &y).await;
                let (rounds, bytes) = (p.comm.traffic.rounds, p.comm.traffic.bytes_sent);
                let z = p.mul_trunc(&xs, &ys, [Tag::new(1, 0), Tag::new(1, 1)]).await.expect("mul");
                let cost = (p.comm.traffic.rounds - rounds, p.comm.traffic.bytes_sent - bytes);
                (p.open(&z, Tag::new(2, 0)).await.expect("open"), cost.0, cost.1)
            })
        };
        for n in [2, 3] {
            let out = simulate(n, |mut p| product(&mut p));
            check(n, &out);
            if n == 2 {
                assert!(out.iter().all(|o| o.1 == 1 && o.2 == 2 * 16 * len as u64), "{:?}", out.iter().map(|o| (o.1, o.2)).collect::<Vec<_>>());
            }
        }
        let (out, _) = simulate_with_dealer(2, product);
        check(2, &out);
    }

    #[test]
    fn integer_mul_is_exact() {
        for n in [2, 3] {
            let x: Vec<i64> = (-50..50).collect();
            let out = simulate(n, |mut p| {
                futures::executor::block_on(async {
                    let ex: Vec<u128> = x.iter().map(|&v| encode_int(v)).collect();
                    let s = if p.me() == 0 { p.share_own(&ex).expect("share") } else { p.share_recv(0, ex.len()).expect("share") };
                    let z = p.mul(&s, &s, Tag::new(1, 0)).await.expect("mul");
                    p.open(&z, Tag::new(2, 0)).await.expect("open")
                })
            });
            let got: Vec<i64> = out[1].iter().map(|&v| decode_int(v)).collect();
            assert_eq!(got, x.iter().map(|v| v * v).collect::<Vec<_>>());
        }
    }

    #[test]
    fn matmul_matches_float64() {
        let (m, k, n_) = (5, 7, 3);
        for parties in [2, 3, 5] {
            let (x, y) = (values(m * k, 4, 10.0), values(k * n_, 5, 10.0));
            let out = simulate(parties, |mut p| {
                futures::executor::block_on(async {
                    let (xs, ys) = share_two(&mut p, &x, &y).await;
                    let z = p.matmul(&xs, &ys, (m, k, n_), Tag::new(1, 0)).await.expect("matmul");
                    let z = p.truncate(&z, Tag::new(1, 1)).await.expect("trunc");
                    p.open(&z, Tag::new(2, 0)).await.expect("open")
                })
            });
            for i in 0..m {
                for j in 0..n_ {
                    let want: f64 = (0..k).map(|q| x[i * k + q] * y[q * n_ + j]).sum();
                    let got = decode_fix(out[0][i * n_ + j], F);
                    assert!((got - want).abs() <= 1e-9 * want.abs().max(1.0), "{parties} parties [{i},{j}]: {got} vs {want}");
                }
            }
        }
    }

    /// x @ y1 with a kept mask, then x @ y2 and x.T @ y3 reusing it: every product matches
    /// float64, and the reusing ones open only their right operand.
    #[test]
    fn kept_matmul_masks_are_reused_by_later_products() {
        let (m, k, n_) = (6, 4, 3);
        for parties in [2, 3, 5] {
            let x = values(m * k, 4, 10.0);
            let (y1, y2, y3) = (values(k * n_, 5, 10.0), values(k * n_, 6, 10.0), values(m * n_, 7, 10.0));
            let out = simulate(parties, |mut p| {
                futures::executor::block_on(async {
                    let (xs, y1s) = share_two(&mut p, &x, &y1).await;
                    let (y2s, y3s) = share_two(&mut p, &y2, &y3).await;
                    let (z1, kept) = p.matmul_keep(&xs, &y1s, (m, k, n_), Tag::new(1, 0), 0).await.expect("keep");
                    let before = p.comm.traffic.bytes_sent;
                    let z2 = p.matmul_reuse(&kept, &xs, &y2s, (m, k, n_), Tag::new(1, 1)).await.expect("reuse");
                    let reuse_bytes = p.comm.traffic.bytes_sent - before;
                    let xts = sf_kernels::transpose(&xs, m, k);
                    let z3 = p.matmul_reuse(&kept.transposed(), &xts, &y3s, (k, m, n_), Tag::new(1, 2)).await.expect("reuse transposed");
                    p.release_mask(0).expect("release");
                    let mut opened = Vec::new();
                    for (i, z) in [z1, z2, z3].iter().enumerate() {
                        let z = p.truncate(z, Tag::new(2, i as u32)).await.expect("trunc");
                        opened.push(p.open(&z, Tag::new(3, i as u32)).await.expect("open"));
                    }
                    (opened, reuse_bytes)
                })
            });
            let product = |a: &[f64], b: &[f64], (m, k, n): (usize, usize, usize), at: bool| -> Vec<f64> {
                let get = |i: usize, q: usize| if at { a[q * m + i] } else { a[i * k + q] };
                (0..m * n).map(|ij| (0..k).map(|q| get(ij / n, q) * b[q * n + ij % n]).sum()).collect()
            };
            let wants = [product(&x, &y1, (m, k, n_), false), product(&x, &y2, (m, k, n_), false), product(&x, &y3, (k, m, n_), true)];
            for (which, want) in wants.iter().enumerate() {
                for (i, w) in want.iter().enumerate() {
                    let got = decode_fix(out[0].0[which][i], F);
                    assert!((got - w).abs() <= 1e-9 * w.abs().max(1.0), "{parties} parties, product {which} [{i}]: {got} vs {w}");
                }
            }
            // Only y2 - b goes out: the declared cost of a product with a kept mask.
            assert_eq!(out[0].1, crate::cost::matmul_reuse(k as u64, n_ as u64, parties as u64).bytes_sent, "{parties} parties");
        }
    }

    #[test]
    fn sign_of_shared_values_matches_plaintext() {
        for n in [2, 3, 5] {
            let mut v = values(300, 9, 1e6);
            v.extend([0.0, -0.0, 2f64.powi(-40), -(2f64.powi(-40)), 1e12, -1e12]);
            let out = simulate(n, |mut p| {
                futures::executor::block_on(async {
                    let (xs, _) = share_two(&mut p, &v, &[]).await;
                    let mut steps = Steps::new(1, 0);
                    let neg = p.is_negative(&xs, &mut steps).await.expect("msb");
                    p.open(&neg, Tag::new(2, 0)).await.expect("open")
                })
            });
            for (i, &x) in v.iter().enumerate() {
                let want = u128::from(encode_fix(x, F).expect("encodable") as i128 <= -1);
                assert_eq!(out[0][i], want, "{n} parties: sign of {x}");
            }
        }
    }

    #[test]
    fn and_of_xor_shares() {
        for n in [2, 3, 5] {
            let out = simulate(n, |mut p| {
                futures::executor::block_on(async {
                    // Party 0 holds x, party 1 holds y, as XOR shares with zeros elsewhere.
                    let x = if p.me() == 0 { vec![0b1100u128, u128::MAX] } else { vec![0, 0] };
                    let y = if p.me() == 1 { vec![0b1010u128, 1 << 100] } else { vec![0, 0] };
                    let z = p.and(&x, &y, Tag::new(1, 0)).await.expect("and");
                    p.open_xor(&z, Tag::new(2, 0)).await.expect("open")
                })
            });
            assert_eq!(out[0], vec![0b1000, 1 << 100], "{n} parties");
        }
    }

    #[test]
    fn traffic_is_counted_per_round() {
        let out = simulate(3, |mut p| {
            futures::executor::block_on(async {
                let (xs, ys) = share_two(&mut p, &[1.0; 10], &[2.0; 10]).await;
                let z = p.mul(&xs, &ys, Tag::new(1, 0)).await.expect("mul");
                p.truncate(&z, Tag::new(1, 1)).await.expect("trunc");
                p.comm.traffic
            })
        });
        for t in out {
            // Beaver opens e and f (2 x 10 elements) to 2 peers; truncation opens 10 to 2 peers.
            assert_eq!(t.bytes_sent, (2 * 10 * 16 * 2) + (10 * 16 * 2));
            assert_eq!(t.rounds, 2);
        }
    }
}

/// What a party receives during a run is masked: with the secrets held constant and highly
/// structured, the received bytes still pass tests of uniformity.
#[cfg(test)]
mod leakage {
    use crate::link::{Steps, Tag};
    use crate::testing::simulate_recorded;

    /// Chi-square statistic of the byte histogram, and the largest deviation of any of the 128
    /// bit positions (of 16-byte words) from one half.
    fn statistics(bytes: &[u8]) -> (f64, f64) {
        let mut counts = [0u64; 256];
        bytes.iter().for_each(|&b| counts[b as usize] += 1);
        let expected = bytes.len() as f64 / 256.0;
        let chi2 = counts.iter().map(|&c| (c as f64 - expected).powi(2) / expected).sum();
        let words = bytes.len() / 16;
        let mut worst = 0f64;
        for bit in 0..128 {
            let ones = (0..words).filter(|&w| bytes[w * 16 + bit / 8] >> (bit % 8) & 1 == 1).count();
            worst = worst.max((ones as f64 / words as f64 - 0.5).abs());
        }
        (chi2, worst)
    }

    fn assert_uniform(what: &str, bytes: &[u8]) {
        assert!(bytes.len() >= 16 * 4096, "{what}: only {} bytes received", bytes.len());
        let (chi2, worst) = statistics(bytes);
        // 255 degrees of freedom: the 1e-6 upper quantile is about 375. Each bit position over
        // at least 4096 words: six standard deviations of a fair coin is 6 * 0.5 / 64 = 0.047.
        assert!(chi2 < 375.0, "{what}: byte histogram chi-square {chi2:.1}");
        assert!(worst < 0.047, "{what}: a bit position deviates from one half by {worst:.3}");
    }

    #[test]
    fn messages_of_a_multiply_and_a_comparison_look_uniform() {
        let len = 4096;
        for parties in [2, 3] {
            // A constant secret: 3.0 everywhere, whose encoding has long runs of zero bits.
            let (_, received) = simulate_recorded(parties, |mut p| {
                let constant = vec![3u128 << 40; len];
                let x = if p.me() == 0 { p.share_own(&constant).expect("share") } else { p.share_recv(0, len).expect("share") };
                futures::executor::block_on(p.mul(&x, &x, Tag::new(1, 0))).expect("mul");
            });
            for (i, r) in received.iter().enumerate() {
                assert_uniform(&format!("multiply, party {i} of {parties}"), r);
            }
            let (_, received) = simulate_recorded(parties, |mut p| {
                let constant = vec![3u128 << 40; len];
                let x = if p.me() == 0 { p.share_own(&constant).expect("share") } else { p.share_recv(0, len).expect("share") };
                futures::executor::block_on(p.msb(&x, &mut Steps::new(1, 0))).expect("msb");
            });
            for (i, r) in received.iter().enumerate() {
                assert_uniform(&format!("comparison, party {i} of {parties}"), r);
            }
        }
    }
}
