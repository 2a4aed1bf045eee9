//! The declared cost of each kernel: rounds, and bytes one party sends, as functions of the
//! element count and the number of parties. The protocols are symmetric, so every party sends
//! the same. spec/protocol.md's cost table states these formulas; a test checks them against
//! what the link layer counts.

use std::ops::Add;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cost {
    pub rounds: u64,
    pub bytes_sent: u64,
}

impl Add for Cost {
    type Output = Cost;
    fn add(self, o: Cost) -> Cost {
        Cost { rounds: self.rounds + o.rounds, bytes_sent: self.bytes_sent + o.bytes_sent }
    }
}

const WORD: u64 = 16;

/// Opening `words` ring elements to every other party: one round.
pub fn open(words: u64, parties: u64) -> Cost {
    Cost { rounds: 1, bytes_sent: WORD * words * (parties - 1) }
}

pub fn mul(len: u64, parties: u64) -> Cost {
    open(2 * len, parties)
}

pub fn matmul(m: u64, k: u64, n: u64, parties: u64) -> Cost {
    open(m * k + k * n, parties)
}

/// A matmul whose left operand's mask is kept from an earlier product: only y - b is opened.
pub fn matmul_reuse(k: u64, n: u64, parties: u64) -> Cost {
    open(k * n, parties)
}

/// Local for two parties; one opening with a dealer pair for more.
pub fn truncate(len: u64, parties: u64) -> Cost {
    if parties == 2 {
        Cost::default()
    } else {
        open(len, parties)
    }
}

pub fn mul_fix(len: u64, parties: u64) -> Cost {
    mul(len, parties) + truncate(len, parties)
}

/// A square from a square pair: only x - a is opened.
pub fn square_fix(len: u64, parties: u64) -> Cost {
    open(len, parties) + truncate(len, parties)
}

/// A square for z^2, z^3 and z^4 as two products in one round, one truncation of the three
/// polynomial pieces side by side, two products in z^4, four squarings.
pub fn exp(len: u64, parties: u64) -> Cost {
    let (sq, mul) = (square_fix(len, parties), mul_fix(len, parties));
    let powers = self::mul(2 * len, parties) + truncate(len, parties) + truncate(len, parties);
    sq + powers + truncate(3 * len, parties) + mul + mul + sq + sq + sq + sq
}

/// A bitwise AND of `words` XOR-shared words.
pub fn and(words: u64, parties: u64) -> Cost {
    open(2 * words, parties)
}

/// Carry-save layers down to two operands.
fn fold_to_two(len: u64, parties: u64) -> Cost {
    let mut cost = Cost::default();
    let mut operands = parties;
    while operands > 2 {
        let groups = operands / 3;
        cost = cost + and(2 * groups * len, parties);
        operands -= groups;
    }
    cost
}

/// The carry into bit 127 by a tree: one AND of the words, then 7 levels on packed halves.
pub fn msb(len: u64, parties: u64) -> Cost {
    let mut cost = fold_to_two(len, parties) + and(len, parties);
    let mut words = len;
    for level in 0..7 {
        words = words.div_ceil(2);
        cost = cost + and(if level < 6 { 2 * words } else { words }, parties);
    }
    cost
}

/// A2B: carry-save layers, then a Kogge-Stone adder (one AND, six levels of two, one of one).
pub fn a2b(len: u64, parties: u64) -> Cost {
    let mut cost = fold_to_two(len, parties) + and(len, parties);
    for shift in [1, 2, 4, 8, 16, 32, 64] {
        cost = cost + and(if shift < 64 { 2 * len } else { len }, parties);
    }
    cost
}

/// The MSB, then its conversion to arithmetic shares: one opening of the masked bits, packed
/// 128 to a word.
pub fn is_negative(len: u64, parties: u64) -> Cost {
    msb(len, parties) + open(len.div_ceil(128), parties)
}

/// `<`, `<=`, `>`, `>=` need one sign; `==` and `!=` two, in one batch.
pub fn compare(len: u64, parties: u64, equality: bool) -> Cost {
    is_negative(if equality { 2 * len } else { len }, parties)
}

/// A2B (the cost of an msb), filling down (7 ANDs), and one opening of the masked words.
pub fn normalize(len: u64, parties: u64) -> Cost {
    let fill = [1, 2, 4, 8, 16, 32, 64].iter().fold(Cost::default(), |c, _| c + and(len, parties));
    a2b(len, parties) + fill + open(len, parties)
}

/// A2B, filling down, one AND with the sign, one opening of both words, 5 Newton steps of two
/// products each.
pub fn reciprocal(len: u64, parties: u64) -> Cost {
    let fill = [1, 2, 4, 8, 16, 32, 64].iter().fold(Cost::default(), |c, _| c + and(len, parties));
    let start = a2b(len, parties) + fill + and(len, parties) + open(2 * len, parties);
    let newton = (0..5).fold(Cost::default(), |c, _| c + mul_fix(len, parties) + mul_fix(len, parties));
    start + newton
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::{Steps, Tag, Traffic};
    use crate::testing::simulate;

    /// Runs `op` on shares of `len` random elements and returns every party's counted traffic.
    fn measured(parties: usize, len: usize, op: impl Fn(&mut crate::semi2k::Semi2k<crate::link::MemTransport>, Vec<u128>, Vec<u128>) + Sync) -> Vec<Traffic> {
        simulate(parties, |mut p| {
            let x = if p.me() == 0 { p.share_own(&vec![3u128 << 40; len]).expect("share") } else { p.share_recv(0, len).expect("share") };
            let y = if p.me() == 1 { p.share_own(&vec![5u128 << 40; len]).expect("share") } else { p.share_recv(1, len).expect("share") };
            op(&mut p, x, y);
            p.comm.traffic
        })
    }

    fn check(what: &str, parties: usize, declared: Cost, counted: &[Traffic]) {
        for t in counted {
            assert_eq!((t.rounds, t.bytes_sent), (declared.rounds, declared.bytes_sent), "{what}, {parties} parties");
        }
    }

    #[test]
    fn counted_traffic_equals_declared_cost() {
        let len = 37;
        for parties in [2usize, 3, 5] {
            let n = parties as u64;
            let t = measured(parties, len, |p, x, y| {
                futures::executor::block_on(p.mul(&x, &y, Tag::new(1, 0))).expect("mul");
            });
            check("mul", parties, mul(len as u64, n), &t);
            let t = measured(parties, 12, |p, x, y| {
                futures::executor::block_on(p.matmul(&x, &y[..12], (3, 4, 3), Tag::new(1, 0))).expect("matmul");
            });
            check("matmul", parties, matmul(3, 4, 3, n), &t);
            let t = measured(parties, len, |p, x, _| {
                futures::executor::block_on(p.is_negative(&x, &mut Steps::new(1, 0))).expect("compare");
            });
            check("comparison", parties, compare(len as u64, n, false), &t);
            let t = measured(parties, len, |p, x, _| {
                futures::executor::block_on(p.reciprocal(&x, &mut Steps::new(1, 0))).expect("reciprocal");
            });
            check("reciprocal", parties, reciprocal(len as u64, n), &t);
            let t = measured(parties, len, |p, x, _| {
                futures::executor::block_on(p.exp(&x, &mut Steps::new(1, 0))).expect("exp");
            });
            check("exp", parties, exp(len as u64, n), &t);
        }
    }
}
