//! Ring kernels over Z_2^128 that use the CPU's vector instructions when it has them, chosen at
//! run time, with a portable fallback that gives bit-identical results.
//!
//! This crate holds the project's only SIMD code, and the only `unsafe` outside the binaries:
//! the `sfvm` library forbids unsafe code, so intrinsics live here behind safe functions that
//! check the CPU's features before they call them.

#![deny(unsafe_op_in_unsafe_fn)]

mod ifma;

/// Below this many multiply-adds the portable kernel is as fast as any: splitting the operands
/// into limbs costs more than it saves.
const SIMD_MIN_MACS: usize = 1 << 15;
/// Splitting into limbs costs about as much as a multiply-add per element, so the vector
/// kernel pays only when each element of a is used for at least this many columns and each
/// of b for as many rows (a matrix times a vector stays portable).
const SIMD_MIN_REUSE: usize = 8;

/// `a @ b` for row-major matrices over the ring: a is m x k, b is k x n.
///
/// With AVX-512 IFMA (`vpmadd52luq`/`vpmadd52huq`), the operands are split into 52-bit limbs
/// and eight output columns are accumulated at a time; about 3.2 G multiply-adds per second on
/// one core here, against 0.9 G for the portable kernel, whose three 64-bit multiplies per
/// product keep the one multiplier port busy.
pub fn matmul(a: &[u128], b: &[u128], m: usize, k: usize, n: usize) -> Vec<u128> {
    assert!(a.len() == m * k && b.len() == k * n, "matmul of {} and {} elements as {m} x {k} and {k} x {n}", a.len(), b.len());
    if m * k * n >= SIMD_MIN_MACS && m.min(n) >= SIMD_MIN_REUSE && !portable_only() {
        if let Some(c) = ifma::matmul(a, b, m, k, n) {
            return c;
        }
    }
    matmul_portable(a, b, m, k, n)
}

/// Whether SIMD kernels are turned off (`SF_PORTABLE_KERNELS=1`), to compare the two.
fn portable_only() -> bool {
    static OFF: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *OFF.get_or_init(|| std::env::var_os("SF_PORTABLE_KERNELS").is_some_and(|v| v == "1"))
}

/// Whether [`matmul`] can use the vector kernel on this CPU.
pub fn simd_available() -> bool {
    ifma::available()
}

/// The portable kernel: i-k-j order, so the inner loop streams rows of b and c; a matrix
/// times a vector as one dot product per row.
pub fn matmul_portable(a: &[u128], b: &[u128], m: usize, k: usize, n: usize) -> Vec<u128> {
    if n == 1 {
        return (0..m).map(|i| dot(&a[i * k..(i + 1) * k], b)).collect();
    }
    let mut c = vec![0u128; m * n];
    for i in 0..m {
        let row = &mut c[i * n..(i + 1) * n];
        for p in 0..k {
            let x = a[i * k + p];
            if x == 0 {
                continue;
            }
            for (out, &y) in row.iter_mut().zip(&b[p * n..(p + 1) * n]) {
                *out = out.wrapping_add(x.wrapping_mul(y));
            }
        }
    }
    c
}

/// `a.T @ b` for a row-major a of k x m (so the result is m x n) and b of k x n, without a
/// transposed copy of a when b has few columns: each row of a is scaled into the result by
/// the row of b it meets (a matrix-vector product streams a once). With 8 columns or more the
/// transpose is made, in tiles, for the blocked kernel, and dropped after.
pub fn matmul_tn(a: &[u128], b: &[u128], k: usize, m: usize, n: usize) -> Vec<u128> {
    assert!(a.len() == k * m && b.len() == k * n, "matmul_tn of {} and {} elements as ({k} x {m}).T and {k} x {n}", a.len(), b.len());
    if n >= SIMD_MIN_REUSE {
        return matmul(&transpose(a, k, m), b, m, k, n);
    }
    let mut c = vec![0u128; m * n];
    for (row, coefficients) in a.chunks_exact(m.max(1)).zip(b.chunks_exact(n.max(1))) {
        for (col, &y) in coefficients.iter().enumerate() {
            if y == 0 {
                continue;
            }
            for (out, &x) in c[col..].iter_mut().step_by(n).zip(row) {
                *out = out.wrapping_add(x.wrapping_mul(y));
            }
        }
    }
    c
}

/// Σ x_i y_i, with four accumulators so that consecutive products do not wait on each other.
fn dot(x: &[u128], y: &[u128]) -> u128 {
    let mut acc = [0u128; 4];
    let (xs, ys) = (x.chunks_exact(4), y.chunks_exact(4));
    let tail: u128 = xs.remainder().iter().zip(ys.remainder()).fold(0, |s, (a, b)| s.wrapping_add(a.wrapping_mul(*b)));
    for (a, b) in xs.zip(ys) {
        for l in 0..4 {
            acc[l] = acc[l].wrapping_add(a[l].wrapping_mul(b[l]));
        }
    }
    acc.iter().fold(tail, |s, a| s.wrapping_add(*a))
}

/// The transpose of a row-major rows x cols matrix, in cache-sized tiles.
pub fn transpose<T: Copy + Default>(a: &[T], rows: usize, cols: usize) -> Vec<T> {
    const TILE: usize = 32;
    let mut out = vec![T::default(); a.len()];
    for i0 in (0..rows).step_by(TILE) {
        for j0 in (0..cols).step_by(TILE) {
            for i in i0..(i0 + TILE).min(rows) {
                for j in j0..(j0 + TILE).min(cols) {
                    out[j * rows + i] = a[i * cols + j];
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transposed_left_product_is_the_product_with_the_transpose() {
        for (k, m, n) in [(1, 1, 1), (7, 3, 1), (100, 13, 2), (33, 9, 8), (5, 40, 17), (0, 3, 2), (3, 0, 2)] {
            let (a, b) = (random(k * m, 3), random(k * n, 4));
            assert_eq!(matmul_tn(&a, &b, k, m, n), matmul_portable(&transpose(&a, k, m), &b, m, k, n), "{k} x {m}, {n}");
        }
    }

    fn random(len: usize, seed: u128) -> Vec<u128> {
        let mut s = seed | 1;
        (0..len)
            .map(|_| {
                s = s.wrapping_mul(0x2545_f491_4f6c_dd1d_9e37_79b9_7f4a_7c15).wrapping_add(0x1234_5678_9abc_def1);
                s ^ (s >> 67)
            })
            .collect()
    }

    /// Shapes around the kernel's tile edges (8 columns, 4 rows), its accumulator fold (every
    /// 512 steps of k), the matrix-vector cases, and one large enough to be split into bands
    /// of rows across threads.
    #[test]
    fn the_vector_kernel_matches_the_portable_one() {
        if !simd_available() {
            eprintln!("this CPU has no AVX-512 IFMA: only the portable kernel runs here");
        }
        let shapes = [(1, 1, 1), (3, 5, 7), (4, 8, 8), (5, 9, 17), (13, 1000, 9), (1, 600, 1), (17, 1, 33), (64, 513, 40), (100, 1025, 1), (1, 300, 70), (33, 64, 3), (261, 1000, 259)];
        for (i, &(m, k, n)) in shapes.iter().enumerate() {
            let (a, b) = (random(m * k, i as u128 + 1), random(k * n, i as u128 + 100));
            let want = schoolbook(&a, &b, m, k, n);
            assert_eq!(matmul_portable(&a, &b, m, k, n), want, "{m} x {k} x {n}");
            if let Some(got) = ifma::matmul(&a, &b, m, k, n) {
                assert_eq!(got, want, "{m} x {k} x {n}");
            }
            assert_eq!(matmul(&a, &b, m, k, n), want, "{m} x {k} x {n}");
        }
        // Extreme limbs: every element all ones, and the largest 52-bit limbs.
        for v in [u128::MAX, (1u128 << 104) - 1, 1u128 << 127] {
            let (a, b) = (vec![v; 8 * 600], vec![v; 600 * 8]);
            assert_eq!(matmul(&a, &b, 8, 600, 8), matmul_portable(&a, &b, 8, 600, 8));
        }
    }

    fn schoolbook(a: &[u128], b: &[u128], m: usize, k: usize, n: usize) -> Vec<u128> {
        let mut c = vec![0u128; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).fold(0u128, |s, p| s.wrapping_add(a[i * k + p].wrapping_mul(b[p * n + j])));
            }
        }
        c
    }

    #[test]
    fn transpose_is_exact() {
        let a = random(33 * 70, 9);
        let t = transpose(&a, 33, 70);
        for i in 0..33 {
            for j in 0..70 {
                assert_eq!(t[j * 33 + i], a[i * 70 + j]);
            }
        }
    }
}
