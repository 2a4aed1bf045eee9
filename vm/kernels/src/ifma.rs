//! The AVX-512 IFMA matrix product.
//!
//! Each ring element is split into three limbs of 52, 52 and 24 bits. A product of two elements
//! mod 2^128 is the sum, over limb pairs (i, j), of the low half of a_i b_j at limb position
//! i + j and its high half at i + j + 1, keeping positions 0 to 2 (position 2 starts at bit 104,
//! and what lies past bit 127 wraps away). `vpmadd52luq` and `vpmadd52huq` add those halves
//! into 64-bit accumulators, eight output columns at once: nine instructions per eight
//! multiply-adds. Position 2 gains at most five terms below 2^52 per step of k, so the
//! accumulators are folded into u128 sums every [`KC`] steps, long before they could overflow.

#[cfg(target_arch = "x86_64")]
mod imp {
    use rayon::prelude::*;
    use std::arch::x86_64::*;

    const M52: u64 = (1 << 52) - 1;
    /// 512 * 5 * 2^52 < 2^64.
    const KC: usize = 512;
    /// Output rows per tile; each has three accumulators of eight columns.
    const ROWS: usize = 4;
    /// Products of at least this many multiply-adds (about 20 ms of one core) are split into
    /// bands of rows, one per thread.
    const PARALLEL_MACS: usize = 1 << 26;

    pub fn available() -> bool {
        is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512ifma")
    }

    pub fn matmul(a: &[u128], b: &[u128], m: usize, k: usize, n: usize) -> Option<Vec<u128>> {
        if !available() {
            return None;
        }
        // SAFETY: the CPU has AVX-512F and IFMA (checked above).
        Some(unsafe { product(a, b, m, k, n) })
    }

    /// # Safety
    /// The CPU must have AVX-512F and AVX-512 IFMA.
    #[target_feature(enable = "avx512f,avx512ifma")]
    unsafe fn product(a: &[u128], b: &[u128], m: usize, k: usize, n: usize) -> Vec<u128> {
        // b's limbs, eight columns at a time: for column block jb and row p, 24 words (limb 0 of
        // the eight columns, then limb 1, then limb 2); missing columns are zero.
        let blocks = n.div_ceil(8);
        let mut bl = vec![0u64; blocks * k * 24];
        for p in 0..k {
            for j in 0..n {
                let v = b[p * n + j];
                let at = ((j / 8) * k + p) * 24 + j % 8;
                bl[at] = v as u64 & M52;
                bl[at + 8] = (v >> 52) as u64 & M52;
                bl[at + 16] = (v >> 104) as u64;
            }
        }
        let al: Vec<u64> = a.iter().flat_map(|&v| [v as u64 & M52, (v >> 52) as u64 & M52, (v >> 104) as u64]).collect();
        let mut c = vec![0u128; m * n];
        // Bands of rows, each a multiple of the tile height, computed side by side when the
        // product is large enough to repay a thread's start.
        let band = if m * k * n >= PARALLEL_MACS { m.div_ceil(rayon::current_num_threads()).next_multiple_of(ROWS) } else { m };
        c.par_chunks_mut(band.max(1) * n).enumerate().for_each(|(index, out)| {
            let first = index * band;
            let rows = out.len() / n.max(1);
            for jb in 0..blocks {
                let cols = (n - jb * 8).min(8);
                let panel = &bl[jb * k * 24..(jb + 1) * k * 24];
                let mut i = 0;
                while i < rows {
                    let r0 = first + i;
                    if i + ROWS <= rows {
                        // SAFETY: `product` runs only where the CPU has AVX-512F and IFMA.
                        let sums = unsafe { tile::<ROWS>(&al[r0 * k * 3..(r0 + ROWS) * k * 3], panel, k) };
                        store(out, &sums, i, jb, cols, n);
                        i += ROWS;
                    } else {
                        // SAFETY: as above.
                        let sums = unsafe { tile::<1>(&al[r0 * k * 3..(r0 + 1) * k * 3], panel, k) };
                        store(out, &sums, i, jb, cols, n);
                        i += 1;
                    }
                }
            }
        });
        c
    }

    fn store<const R: usize>(c: &mut [u128], sums: &[[u128; 8]; R], i0: usize, jb: usize, cols: usize, n: usize) {
        for (r, row) in sums.iter().enumerate() {
            let start = (i0 + r) * n + jb * 8;
            c[start..start + cols].copy_from_slice(&row[..cols]);
        }
    }

    /// R rows of a's limbs (3 k words each) times one panel of b's limbs (24 k words): the
    /// R x 8 block of c.
    ///
    /// # Safety
    /// The CPU must have AVX-512F and AVX-512 IFMA.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    unsafe fn tile<const R: usize>(rows: &[u64], panel: &[u64], k: usize) -> [[u128; 8]; R] {
        let mut sums = [[0u128; 8]; R];
        let mut k0 = 0;
        while k0 < k {
            let end = (k0 + KC).min(k);
            let mut acc = [[_mm512_setzero_si512(); 3]; R];
            for p in k0..end {
                let bp = &panel[p * 24..p * 24 + 24];
                // SAFETY: bp holds 24 words; each unaligned load reads 8 of them.
                let (b0, b1, b2) = unsafe {
                    (
                        _mm512_loadu_si512(bp.as_ptr().cast()),
                        _mm512_loadu_si512(bp.as_ptr().add(8).cast()),
                        _mm512_loadu_si512(bp.as_ptr().add(16).cast()),
                    )
                };
                for (r, [x0, x1, x2]) in acc.iter_mut().enumerate() {
                    let at = (r * k + p) * 3;
                    let (a0, a1, a2) = (_mm512_set1_epi64(rows[at] as i64), _mm512_set1_epi64(rows[at + 1] as i64), _mm512_set1_epi64(rows[at + 2] as i64));
                    *x0 = _mm512_madd52lo_epu64(*x0, a0, b0);
                    *x1 = _mm512_madd52lo_epu64(*x1, a0, b1);
                    *x1 = _mm512_madd52lo_epu64(*x1, a1, b0);
                    *x1 = _mm512_madd52hi_epu64(*x1, a0, b0);
                    *x2 = _mm512_madd52lo_epu64(*x2, a0, b2);
                    *x2 = _mm512_madd52lo_epu64(*x2, a1, b1);
                    *x2 = _mm512_madd52lo_epu64(*x2, a2, b0);
                    *x2 = _mm512_madd52hi_epu64(*x2, a0, b1);
                    *x2 = _mm512_madd52hi_epu64(*x2, a1, b0);
                }
            }
            for (sum, limbs) in sums.iter_mut().zip(&acc) {
                let mut w = [[0u64; 8]; 3];
                for (out, v) in w.iter_mut().zip(limbs) {
                    // SAFETY: out holds 8 words, what one unaligned store writes.
                    unsafe { _mm512_storeu_si512(out.as_mut_ptr().cast(), *v) };
                }
                for (lane, s) in sum.iter_mut().enumerate() {
                    let v = (w[0][lane] as u128).wrapping_add((w[1][lane] as u128) << 52).wrapping_add((w[2][lane] as u128) << 104);
                    *s = s.wrapping_add(v);
                }
            }
            k0 = end;
        }
        sums
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod imp {
    pub fn available() -> bool {
        false
    }

    pub fn matmul(_: &[u128], _: &[u128], _: usize, _: usize, _: usize) -> Option<Vec<u128>> {
        None
    }
}

pub use imp::{available, matmul};
