//! Nonlinear functions on shares, built from SEMI2K's products, truncation and comparisons.
//!
//! The common tool is normalization: one batched comparison of x against the powers of two
//! 2^j, j in [`LOW`, `HIGH`], gives a one-hot bucket o_j = [2^j <= x < 2^(j+1)], as arithmetic
//! shares of 0 or 1. Any public function of the bucket, sum_j o_j c_j, then costs nothing more:
//! a starting point for Newton's method within a factor 4/3, or log2 of x's magnitude.
//!
//! Algorithms and error bounds (f = 40 fraction bits), stated in spec/protocol.md:
//! - reciprocal: Newton y <- y (2 - x y) on x itself from the signed start y0 = +-(2/3) 2^-j,
//!   j the bucket of |x| (or of |x| - 2^-f for x < 0: one below when |x| is a power of two,
//!   where x y0 = 4/3, still within the factor 4/3); 5 steps take the relative error from 1/3
//!   to below 2^-40. Domain 2^LOW <= |x| < 2^(HIGH+1).
//! - rsqrt: Newton y <- y (3 - x y^2) / 2 from y0 = sqrt(2/3) 2^(-j/2); 5 steps. sqrt = x rsqrt(x).
//! - exp: the degree-12 Taylor polynomial of z = x / 2^4 by Paterson-Stockmeyer (five
//!   products), squared 4 times; relative error about 1e-10 on [-10, 10]; defined while the
//!   result stays below about 2^43.
//! - log: x = m 2^j with m in [1, 2); log m = 2 atanh(u), u = (m - 1)/(m + 1) <= 1/3, 9 terms.
//! - A Newton iteration or Horner's rule that starts from a public value takes its first step
//!   as a public scaling: a product with a public operand costs no Beaver triple.
//! - sigmoid and tanh: from e = exp(-|x|), so that 1 + e lies in [1, 2] and its reciprocal
//!   needs no normalization; the sign of x picks s or 1 - s.

use crate::error::VmError;
use crate::link::{Steps, Transport};
use crate::ring::encode_fix;
use crate::semi2k::Semi2k;

/// The powers of two that normalization tells apart.
pub const LOW: i32 = -20;
pub const HIGH: i32 = 40;
/// exp's argument reduction: |x| / 2^S <= 0.625 on [-10, 10], where the degree-12 Taylor
/// remainder |z|^13 / 13! is below 4e-13; the S squarings double the relative error S times.
const EXP_SQUARINGS: u32 = 4;
/// From a start within a factor 4/3 the relative error goes 1/3, 1/9, 1e-2, 2e-4, 2e-8, 6e-16:
/// five steps reach below the fixed point's resolution.
const NEWTON_STEPS: usize = 5;

/// Fixed-point helpers on flat share vectors.
impl<T: Transport> Semi2k<T> {
    fn enc(&self, v: f64) -> u128 {
        encode_fix(v, self.frac_bits).unwrap_or(0)
    }

    /// x * y for fixed-point shares: a Beaver product and a truncation.
    pub async fn mul_fix(&mut self, x: &[u128], y: &[u128], steps: &mut Steps) -> Result<Vec<u128>, VmError> {
        let tags = [steps.tag(), steps.tag()];
        self.mul_trunc(x, y, tags).await
    }

    /// x^2 for fixed-point shares: a square pair's opening and a truncation.
    pub async fn square_fix(&mut self, x: &[u128], steps: &mut Steps) -> Result<Vec<u128>, VmError> {
        let tags = [steps.tag(), steps.tag()];
        self.square_trunc(x, tags).await
    }

    /// x * c for a public real c.
    pub async fn scale_fix(&mut self, x: &[u128], c: f64, steps: &mut Steps) -> Result<Vec<u128>, VmError> {
        let k = self.enc(c);
        let z: Vec<u128> = x.iter().map(|v| v.wrapping_mul(k)).collect();
        self.truncate(&z, steps.tag()).await
    }

    /// x + c for a public real c (party 0 adds it).
    pub fn add_public(&self, x: &[u128], c: f64) -> Vec<u128> {
        let k = self.enc(c);
        let first = self.me() == 0;
        x.iter().map(|v| if first { v.wrapping_add(k) } else { *v }).collect()
    }

    /// Public functions of each element's bucket j = floor(log2 x), for x >= 0: one vector per
    /// weight function, sum_j [2^j <= x < 2^(j+1)] weight(j), j in [`LOW`, `HIGH`].
    /// A2B gives x's bits; filling down from the highest set bit and keeping the edge isolates
    /// it; one opening turns the bits of the window into arithmetic shares, weighed on the fly.
    pub async fn normalize(&mut self, x: &[u128], weights: &[&dyn Fn(i32) -> f64], steps: &mut Steps) -> Result<Vec<Vec<u128>>, VmError> {
        let bits = self.a2b(x, steps).await?;
        let filled = self.fill_down(&bits, steps).await?;
        let leading: Vec<u128> = filled.iter().map(|y| y ^ (y >> 1)).collect();
        self.bucket_weights(&leading, weights, steps).await
    }

    /// For words with one bit set (XOR-shared), the public weights of that bit's bucket, as
    /// arithmetic shares: one opening.
    async fn bucket_weights(&mut self, leading: &[u128], weights: &[&dyn Fn(i32) -> f64], steps: &mut Steps) -> Result<Vec<Vec<u128>>, VmError> {
        let f = self.frac_bits as i32;
        // Buckets outside the ring's window (fraction bits below 20) stay empty. One bucket
        // below LOW serves the reciprocal of -2^LOW, which it finds there.
        let (lo, hi) = ((f + LOW - 1).max(0) as u32, (f + HIGH).min(126) as u32);
        let table: Vec<Vec<u128>> = weights.iter().map(|w| (lo..=hi).map(|bit| self.enc(w(bit as i32 - f))).collect()).collect();
        self.b2a_weighted(leading, lo, hi, &table, steps.tag()).await
    }

    /// Arithmetic 0/1 shares of [x < 0], and |x|.
    async fn sign_abs(&mut self, x: &[u128], steps: &mut Steps) -> Result<(Vec<u128>, Vec<u128>), VmError> {
        let neg = self.is_negative(x, steps).await?;
        let prod = self.mul(&neg, x, steps.tag()).await?;
        let abs = x.iter().zip(&prod).map(|(v, p)| v.wrapping_sub(p.wrapping_mul(2))).collect();
        Ok((neg, abs))
    }

    /// Newton's method for 1/a on positive a, from y0.
    async fn newton_reciprocal(&mut self, a: &[u128], mut y: Vec<u128>, iterations: usize, steps: &mut Steps) -> Result<Vec<u128>, VmError> {
        for _ in 0..iterations {
            y = self.newton_reciprocal_step(a, &y, steps).await?;
        }
        Ok(y)
    }

    /// Newton's method for 1/a from a public y0: the first step, 2 y0 - y0^2 a, is a public
    /// scaling and costs no product.
    async fn newton_reciprocal_from(&mut self, a: &[u128], y0: f64, iterations: usize, steps: &mut Steps) -> Result<Vec<u128>, VmError> {
        let y1 = self.scale_fix(a, -y0 * y0, steps).await?;
        let y1 = self.add_public(&y1, 2.0 * y0);
        self.newton_reciprocal(a, y1, iterations.saturating_sub(1), steps).await
    }

    async fn newton_reciprocal_step(&mut self, a: &[u128], y: &[u128], steps: &mut Steps) -> Result<Vec<u128>, VmError> {
        let ay = self.mul_fix(a, y, steps).await?;
        let two_minus: Vec<u128> = self.add_public(&ay.iter().map(|v| v.wrapping_neg()).collect::<Vec<_>>(), 2.0);
        self.mul_fix(y, &two_minus, steps).await
    }

    /// 1/x for x of either sign. One A2B gives x's bits, and its sign s as bit 127; x's bits
    /// XOR s in every place are those of |x| for x >= 0 and of |x| - 2^-f for x < 0, whose
    /// highest set bit gives the bucket. One AND of that leading bit with s, opened beside the
    /// leading bit itself, gives the signed start (1 - 2s) (2/3) 2^-j, and Newton's method runs
    /// on x directly: no separate comparison, no |x|, no sign restored at the end.
    pub async fn reciprocal(&mut self, x: &[u128], steps: &mut Steps) -> Result<Vec<u128>, VmError> {
        let len = x.len();
        let bits = self.a2b(x, steps).await?;
        let sign: Vec<u128> = bits.iter().map(|b| 0u128.wrapping_sub(b >> 127)).collect();
        let magnitude: Vec<u128> = bits.iter().zip(&sign).map(|(b, s)| b ^ s).collect();
        let filled = self.fill_down(&magnitude, steps).await?;
        let mut leading: Vec<u128> = filled.iter().map(|y| y ^ (y >> 1)).collect();
        let negative = self.and(&leading, &sign, steps.tag()).await?;
        // Both words in one opening: the buckets' weights, and the same for negative x.
        leading.extend(negative);
        let weights = self.bucket_weights(&leading, &[&|j| (2.0 / 3.0) * 2f64.powi(-j)], steps).await?.remove(0);
        let (positive, negative) = weights.split_at(len);
        let y0 = positive.iter().zip(negative).map(|(p, n)| p.wrapping_sub(n.wrapping_mul(2))).collect();
        self.newton_reciprocal(x, y0, NEWTON_STEPS, steps).await
    }

    pub async fn rsqrt(&mut self, x: &[u128], steps: &mut Steps) -> Result<Vec<u128>, VmError> {
        let mut y = self.normalize(x, &[&|j| (2.0f64 / 3.0).sqrt() * 2f64.powf(-j as f64 / 2.0)], steps).await?.remove(0);
        for _ in 0..NEWTON_STEPS {
            let y2 = self.square_fix(&y, steps).await?;
            let xy2 = self.mul_fix(x, &y2, steps).await?;
            let three_minus = self.add_public(&xy2.iter().map(|v| v.wrapping_neg()).collect::<Vec<_>>(), 3.0);
            let half = self.scale_fix(&three_minus, 0.5, steps).await?;
            y = self.mul_fix(&y, &half, steps).await?;
        }
        Ok(y)
    }

    pub async fn sqrt(&mut self, x: &[u128], steps: &mut Steps) -> Result<Vec<u128>, VmError> {
        let r = self.rsqrt(x, steps).await?;
        self.mul_fix(x, &r, steps).await
    }

    /// exp(x) = p(z)^(2^S), z = x / 2^S, with p the degree-12 Taylor polynomial of exp,
    /// evaluated by Paterson and Stockmeyer: the powers z^2, then z^3 and z^4 (one round), then
    /// p = q0 + w (q1 + w q2) in w = z^4, where each q_i is a public combination of 1, z, z^2,
    /// z^3 (and z^4 for q2) and costs no product: two more products, then S squarings.
    /// z is never formed: x is read as z with S more fraction bits, so the products that take
    /// z truncate by f + S bits instead of f.
    pub async fn exp(&mut self, x: &[u128], steps: &mut Steps) -> Result<Vec<u128>, VmError> {
        let (f, s) = (self.frac_bits, EXP_SQUARINGS);
        let z2 = self.square_shift(x, f + 2 * s, [steps.tag(), steps.tag()]).await?;
        // z^3 = z^2 z and z^4 = (z^2)^2 are independent: one Beaver round for both.
        let (xs, ys) = ([z2.as_slice(), &z2].concat(), [x, &z2].concat());
        let [z3, z4]: [Vec<u128>; 2] = self.mul_shift_many(&xs, &ys, &[(x.len(), f + s), (x.len(), f)], steps).await?.try_into().map_err(|_| VmError::Internal("two products".into()))?;
        // The three q_i side by side, each sum_j c_(4i+j) z^j at f + S bits, truncated at once.
        let len = x.len();
        let coefficient = |k: usize| 1.0 / (1..=k).map(|j| j as f64).product::<f64>();
        let at = |c: f64, bits: u32| encode_fix(c, bits).unwrap_or(0);
        let mut combos = Vec::with_capacity(3 * len);
        for i in 0..3 {
            let c = |j: usize| coefficient(4 * i + j);
            let (c1, c2, c3) = (at(c(1), f), at(c(2), f + s), at(c(3), f + s));
            let c4 = if i == 2 { at(c(4), f + s) } else { 0 };
            combos.extend((0..len).map(|e| {
                x[e].wrapping_mul(c1).wrapping_add(z2[e].wrapping_mul(c2)).wrapping_add(z3[e].wrapping_mul(c3)).wrapping_add(z4[e].wrapping_mul(c4))
            }));
        }
        let combos = self.truncate_by(&combos, f + s, steps.tag()).await?;
        let q: Vec<Vec<u128>> = combos.chunks(len.max(1)).enumerate().map(|(i, q)| self.add_public(q, coefficient(4 * i))).collect();
        let (q0, q1, q2) = match q.as_slice() {
            [q0, q1, q2] => (q0, q1, q2),
            _ => return Ok(Vec::new()), // no elements
        };
        let t = self.mul_fix(q2, &z4, steps).await?;
        let acc: Vec<u128> = t.iter().zip(q1).map(|(t, q)| t.wrapping_add(*q)).collect();
        let t = self.mul_fix(&acc, &z4, steps).await?;
        let mut acc: Vec<u128> = t.iter().zip(q0).map(|(t, q)| t.wrapping_add(*q)).collect();
        for _ in 0..s {
            acc = self.square_fix(&acc, steps).await?;
        }
        Ok(acc)
    }

    pub async fn log(&mut self, x: &[u128], steps: &mut Steps) -> Result<Vec<u128>, VmError> {
        let mut weighed = self.normalize(x, &[&|j| 2f64.powi(-j), &|j| j as f64 * std::f64::consts::LN_2], steps).await?;
        let (exponent, scale) = (weighed.pop().unwrap_or_default(), weighed.pop().unwrap_or_default());
        let m = self.mul_fix(x, &scale, steps).await?;
        let m_plus = self.add_public(&m, 1.0);
        let r = self.newton_reciprocal_from(&m_plus, 0.4, 5, steps).await?;
        let m_minus = self.add_public(&m, -1.0);
        let u = self.mul_fix(&m_minus, &r, steps).await?;
        let w = self.square_fix(&u, steps).await?;
        // 2 u (1 + w/3 + w^2/5 + ... + w^8/17), by Horner in w; the innermost step is public.
        let t = self.scale_fix(&w, 2.0 / 17.0, steps).await?;
        let mut acc = self.add_public(&t, 2.0 / 15.0);
        for k in (0..7).rev() {
            let t = self.mul_fix(&w, &acc, steps).await?;
            acc = self.add_public(&t, 2.0 / (2 * k + 1) as f64);
        }
        let series = self.mul_fix(&u, &acc, steps).await?;
        Ok(series.iter().zip(&exponent).map(|(a, b)| a.wrapping_add(*b)).collect())
    }

    /// 1 / (1 + exp(-x)), through e = exp(-|x|) in (0, 1].
    pub async fn sigmoid(&mut self, x: &[u128], steps: &mut Steps) -> Result<Vec<u128>, VmError> {
        let (neg, a) = self.sign_abs(x, steps).await?;
        let minus_a: Vec<u128> = a.iter().map(|v| v.wrapping_neg()).collect();
        let e = self.exp(&minus_a, steps).await?;
        let one_plus = self.add_public(&e, 1.0);
        let s = self.newton_reciprocal_from(&one_plus, 2.0 / 3.0, NEWTON_STEPS, steps).await?;
        // x >= 0: s; x < 0: 1 - s = s + neg (1 - 2 s).
        let one_minus_2s = self.add_public(&s.iter().map(|v| v.wrapping_mul(2).wrapping_neg()).collect::<Vec<_>>(), 1.0);
        let adj = self.mul(&neg, &one_minus_2s, steps.tag()).await?;
        Ok(s.iter().zip(&adj).map(|(a, b)| a.wrapping_add(*b)).collect())
    }

    /// tanh x = 2 sigmoid(2x) - 1.
    pub async fn tanh(&mut self, x: &[u128], steps: &mut Steps) -> Result<Vec<u128>, VmError> {
        let two_x: Vec<u128> = x.iter().map(|v| v.wrapping_mul(2)).collect();
        let s = self.sigmoid(&two_x, steps).await?;
        Ok(self.add_public(&s.iter().map(|v| v.wrapping_mul(2)).collect::<Vec<_>>(), -1.0))
    }
}

#[cfg(test)]
mod tests {
    use crate::link::{MemTransport, Steps, Tag};
    use crate::ring::{decode_fix, encode_fix};
    use crate::semi2k::Semi2k;
    use crate::testing::{simulate, F};

    type Kernel = dyn Fn(&mut Semi2k<MemTransport>, Vec<u128>, &mut Steps) -> Vec<u128> + Sync;

    /// Shares `xs` from party 0 among `n` parties, runs `f`, and opens the result.
    fn run(n: usize, xs: &[f64], f: &Kernel) -> Vec<f64> {
        let out = simulate(n, |mut p| {
            let enc: Vec<u128> = xs.iter().map(|&v| encode_fix(v, F).expect("encodable")).collect();
            let share = if p.me() == 0 { p.share_own(&enc).expect("share") } else { p.share_recv(0, xs.len()).expect("share") };
            let mut steps = Steps::new(7, 0);
            let y = f(&mut p, share, &mut steps);
            futures::executor::block_on(p.open(&y, Tag::new(99, 0))).expect("open")
        });
        out[0].iter().map(|&v| decode_fix(v, F)).collect()
    }

    /// Evenly spread points of [lo, hi], the ends included.
    /// +-2^k over the reciprocal's domain: for x = -2^k the bucket is found one below.
    fn powers_of_two() -> Vec<f64> {
        (super::LOW..=super::HIGH).flat_map(|k| [2f64.powi(k), -2f64.powi(k), 1.5 * 2f64.powi(k), -1.5 * 2f64.powi(k)]).collect()
    }

    fn grid(lo: f64, hi: f64, count: usize) -> Vec<f64> {
        (0..count).map(|i| lo + (hi - lo) * i as f64 / (count - 1) as f64).collect()
    }

    /// Largest relative error where |reference| >= 1e-2, and largest absolute error.
    fn errors(got: &[f64], xs: &[f64], f: fn(f64) -> f64) -> (f64, f64) {
        let (mut rel, mut abs) = (0f64, 0f64);
        for (&g, &x) in got.iter().zip(xs) {
            let want = f(x);
            abs = abs.max((g - want).abs());
            if want.abs() >= 1e-2 {
                rel = rel.max((g - want).abs() / want.abs());
            }
        }
        (rel, abs)
    }

    macro_rules! kernel {
        ($method:ident) => {
            &|p: &mut Semi2k<MemTransport>, x: Vec<u128>, s: &mut Steps| futures::executor::block_on(p.$method(&x, s)).expect(stringify!($method))
        };
    }

    #[test]
    fn nonlinear_functions_meet_their_bounds_for_2_3_and_5_parties() {
        let cases: Vec<(&str, &Kernel, Vec<f64>, fn(f64) -> f64, f64, f64)> = vec![
            ("reciprocal", kernel!(reciprocal), [grid(0.1, 100.0, 400), grid(-100.0, -0.1, 100), powers_of_two()].concat(), |x| 1.0 / x, 1e-4, f64::MAX),
            ("exp", kernel!(exp), grid(-10.0, 10.0, 400), f64::exp, 1e-4, f64::MAX),
            ("log", kernel!(log), grid(0.01, 100.0, 400), f64::ln, 1e-4, f64::MAX),
            ("sqrt", kernel!(sqrt), grid(0.01, 100.0, 400), f64::sqrt, 1e-4, f64::MAX),
            ("rsqrt", kernel!(rsqrt), grid(0.01, 100.0, 400), |x| 1.0 / x.sqrt(), 1e-4, f64::MAX),
            ("sigmoid", kernel!(sigmoid), grid(-20.0, 20.0, 400), |x| 1.0 / (1.0 + (-x).exp()), f64::MAX, 1e-4),
            ("tanh", kernel!(tanh), grid(-10.0, 10.0, 400), f64::tanh, f64::MAX, 1e-4),
        ];
        for n in [2, 3, 5] {
            for (name, f, xs, reference, max_rel, max_abs) in &cases {
                let got = run(n, xs, *f);
                let (rel, abs) = errors(&got, xs, *reference);
                eprintln!("{name} {n} parties: max relative error {rel:.2e} (where |ref| >= 1e-2), max absolute {abs:.2e}");
                assert!(rel <= *max_rel && abs <= *max_abs, "{name}, {n} parties: relative error {rel:.3e}, absolute {abs:.3e}");
            }
        }
    }
}
