//! FM128: the ring Z_2^128 and fixed-point encoding in it.
//!
//! A real v is held as the integer round(v * 2^f) mod 2^128, f being the module's fraction bits.
//! Integers are held as themselves. Every ring operation wraps.

/// Encodes a float as a fixed-point ring element; `None` when it is not finite or too large.
pub fn encode_fix(v: f64, frac_bits: u32) -> Option<u128> {
    let scaled = (v * (1u128 << frac_bits) as f64).round();
    if !scaled.is_finite() || scaled.abs() >= 2f64.powi(126) {
        return None;
    }
    Some(scaled as i128 as u128)
}

pub fn decode_fix(x: u128, frac_bits: u32) -> f64 {
    (x as i128) as f64 / (1u128 << frac_bits) as f64
}

pub fn encode_int(v: i64) -> u128 {
    v as i128 as u128
}

/// The low 64 bits as a signed integer: the value of an int whose magnitude fits.
pub fn decode_int(x: u128) -> i64 {
    x as u64 as i64
}

/// `a @ b` for row-major matrices over the ring (the vector kernel of `sf_kernels` where the
/// CPU has AVX-512 IFMA, else its portable one; the results are identical).
pub fn matmul(a: &[u128], b: &[u128], m: usize, k: usize, n: usize) -> Vec<u128> {
    sf_kernels::matmul(a, b, m, k, n)
}

/// `a.T @ b`, a being k x m: for the transpose of a kept operand, without copying it.
pub fn matmul_tn(a: &[u128], b: &[u128], k: usize, m: usize, n: usize) -> Vec<u128> {
    sf_kernels::matmul_tn(a, b, k, m, n)
}

/// Arithmetic right shift of a ring element read as a signed number.
pub fn shr_signed(x: u128, bits: u32) -> u128 {
    ((x as i128) >> bits) as u128
}

/// a ^= b, elementwise: XOR shares combine so.
pub fn xor_assign(a: &mut [u128], b: &[u128]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x ^= y;
    }
}

/// a += b, elementwise.
pub fn add_assign(a: &mut [u128], b: &[u128]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x = x.wrapping_add(*y);
    }
}

/// a -= b, elementwise.
pub fn sub_assign(a: &mut [u128], b: &[u128]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x = x.wrapping_sub(*y);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_point_round_trip() {
        for v in [0.0, 1.5, -1.5, 1e-9, -123456.789, 2f64.powi(40)] {
            let x = encode_fix(v, 40).expect("encodable");
            assert!((decode_fix(x, 40) - v).abs() <= 2f64.powi(-40) * v.abs().max(1.0), "{v}");
        }
        assert_eq!(encode_fix(f64::NAN, 40), None);
        assert_eq!(encode_fix(1e300, 40), None);
        assert_eq!(decode_int(encode_int(-5)), -5);
    }

    #[test]
    fn matmul_matches_schoolbook() {
        let a: Vec<u128> = (0..6).map(|x| encode_int(x - 2)).collect();
        let b: Vec<u128> = (0..12).map(|x| encode_int(3 - x)).collect();
        let c = matmul(&a, &b, 2, 3, 4);
        for i in 0..2 {
            for j in 0..4 {
                let want: i64 = (0..3).map(|p| (i * 3 + p - 2) * (3 - (p * 4 + j))).sum();
                assert_eq!(decode_int(c[(i * 4 + j) as usize]), want);
            }
        }
    }
}
