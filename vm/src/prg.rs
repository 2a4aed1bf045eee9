//! The cryptographic PRG: AES-128 in counter mode, one ring element per block.
//!
//! AES-NI makes this the fastest secure choice on x86 (about 8-10 GB/s here; ChaCha20 is 1-1.5);
//! the `aes` crate picks VAES with AVX-512 at run time where the CPU has it.
//! Parties that hold the same seed draw the same stream, which is how pairwise masks and the
//! trusted dealer's correlated randomness are made without messages.

use aes::cipher::{BlockCipherEncrypt, KeyInit};
use aes::{Aes128, Block};
use zerocopy::IntoBytes;

/// A 128-bit seed.
pub type Seed = [u8; 16];

#[derive(Clone)]
pub struct Prg {
    cipher: Aes128,
    counter: u128,
}

/// Blocks encrypted per batch: 4 KiB, in L1.
const BATCH: usize = 256;

impl Prg {
    pub fn new(seed: Seed) -> Prg {
        Prg { cipher: Aes128::new(&seed.into()), counter: 0 }
    }

    /// Fills `out` with the next elements of the stream: each element is written with its
    /// counter and encrypted where it lies, a batch at a time, so that the keystream is never
    /// copied.
    pub fn fill(&mut self, out: &mut [u128]) {
        for chunk in out.chunks_mut(BATCH) {
            for (i, o) in chunk.iter_mut().enumerate() {
                *o = self.counter.wrapping_add(i as u128).to_le();
            }
            self.encrypt_in_place(chunk);
        }
    }

    /// Appends the next `n` elements of the stream to `v`, written once, never zeroed first.
    pub fn append(&mut self, v: &mut Vec<u128>, n: usize) {
        v.reserve(n);
        let mut left = n;
        while left > 0 {
            let k = BATCH.min(left);
            let at = v.len();
            let counter = self.counter;
            v.extend((0..k).map(|i| counter.wrapping_add(i as u128).to_le()));
            self.encrypt_in_place(&mut v[at..]);
            left -= k;
        }
    }

    /// The next `n` elements.
    pub fn next_vec(&mut self, n: usize) -> Vec<u128> {
        let mut v = Vec::with_capacity(n);
        self.append(&mut v, n);
        v
    }

    /// Encrypts a batch of words that hold their counters (little-endian, as AES blocks),
    /// where they lie; each becomes the ring element whose little-endian bytes are its block.
    /// Moves the counter past them.
    fn encrypt_in_place(&mut self, words: &mut [u128]) {
        let (blocks, _) = words.as_mut_bytes().as_chunks_mut::<16>();
        self.cipher.encrypt_blocks(Block::cast_slice_from_core_mut(blocks));
        for w in words.iter_mut() {
            *w = u128::from_le(*w);
        }
        self.counter = self.counter.wrapping_add(words.len() as u128);
    }

    /// Streams positioned at the starts of the next vectors of the given lengths, as if they
    /// were drawn one after another; this stream moves past all of them. Lets a consumer draw
    /// several vectors side by side, a chunk of each at a time, with the same values as drawn
    /// in sequence.
    pub fn split(&mut self, lens: &[usize]) -> Vec<Prg> {
        let mut out = Vec::with_capacity(lens.len());
        for &len in lens {
            out.push(Prg { cipher: self.cipher.clone(), counter: self.counter });
            self.counter = self.counter.wrapping_add(len as u128);
        }
        out
    }
}

/// A fresh seed from the operating system's CSPRNG.
pub fn fresh_seed() -> Result<Seed, getrandom::Error> {
    let mut s = [0u8; 16];
    getrandom::fill(&mut s)?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_batches_do_not_matter() {
        let mut a = Prg::new([7; 16]);
        let mut b = Prg::new([7; 16]);
        let whole = a.next_vec(1000);
        let mut parts = b.next_vec(300);
        parts.extend(b.next_vec(700));
        assert_eq!(whole, parts);
        assert_ne!(Prg::new([8; 16]).next_vec(4), whole[..4]);
    }

    /// Split streams give what sequential draws give, so a dealer may draw side by side.
    #[test]
    fn split_streams_equal_sequential_draws() {
        let whole = Prg::new([3; 16]).next_vec(3 * 1000 + 5);
        let mut p = Prg::new([3; 16]);
        let mut streams = p.split(&[1000, 1000, 1000]);
        let mut interleaved = vec![Vec::new(); 3];
        for _ in 0..10 {
            for (s, out) in streams.iter_mut().zip(interleaved.iter_mut()) {
                out.extend(s.next_vec(100));
            }
        }
        assert_eq!(interleaved.concat(), whole[..3000]);
        assert_eq!(p.next_vec(5), whole[3000..]);
    }

    /// The stream is AES-128 of the little-endian counters (FIPS-197 known answer for the zero
    /// key and block), each block read as a little-endian word: a change here would change
    /// every share a module's run draws.
    #[test]
    fn stream_is_aes_of_the_counter() {
        let mut p = Prg::new([0; 16]);
        let first = u128::from_le_bytes([0x66, 0xe9, 0x4b, 0xd4, 0xef, 0x8a, 0x2c, 0x3b, 0x88, 0x4c, 0xfa, 0x59, 0xca, 0x34, 0x2b, 0x2e]);
        let v = p.next_vec(BATCH + 3);
        assert_eq!(v[0], first);
        let mut filled = vec![0u128; BATCH + 3];
        Prg::new([0; 16]).fill(&mut filled);
        assert_eq!(filled, v);
        let cipher = Aes128::new(&[0u8; 16].into());
        let mut block = Block::from((BATCH as u128 + 1).to_le_bytes());
        cipher.encrypt_block(&mut block);
        assert_eq!(v[BATCH + 1], u128::from_le_bytes(block.into()));
    }

    #[test]
    fn bits_look_balanced() {
        let v = Prg::new([1; 16]).next_vec(4096);
        let ones: u32 = v.iter().map(|x| x.count_ones()).sum();
        let total = 4096.0 * 128.0;
        assert!((ones as f64 / total - 0.5).abs() < 0.01, "{ones}");
    }
}
