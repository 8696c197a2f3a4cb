//! A pseudo-random permutation of `0..n` in O(1) memory, so a file can draw millions of distinct
//! ids without remembering which it already used.

use rand::{Rng, RngExt};

/// A 4-round Feistel network over the smallest even-bit domain that holds `n`, cycle-walked back
/// into `0..n`. A Feistel network is a bijection for any round function, and cycle-walking a
/// bijection on a superset restricts it to a bijection on the subset; the domain is at most 4n,
/// so the walk takes under four steps on average.
#[derive(Debug, Clone)]
pub struct Permutation {
    n: u64,
    half_bits: u32,
    mask: u64,
    keys: [u64; 4],
}

impl Permutation {
    pub fn new<R: Rng + ?Sized>(n: u64, rng: &mut R) -> Self {
        let bits = (64 - n.saturating_sub(1).leading_zeros()).max(2);
        let half_bits = bits.div_ceil(2);
        Permutation {
            n,
            half_bits,
            mask: (1u64 << half_bits) - 1,
            keys: [rng.random(), rng.random(), rng.random(), rng.random()],
        }
    }

    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u64 {
        self.n
    }

    /// The `index`-th element of the permutation; `index` must be below `len()`.
    pub fn at(&self, index: u64) -> u64 {
        debug_assert!(index < self.n);
        let mut x = index;
        loop {
            x = self.feistel(x);
            if x < self.n {
                return x;
            }
        }
    }

    fn feistel(&self, x: u64) -> u64 {
        let (mut left, mut right) = (x >> self.half_bits, x & self.mask);
        for key in self.keys {
            let mixed = left ^ (super::mix(right, key) & self.mask);
            left = right;
            right = mixed;
        }
        (left << self.half_bits) | right
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::Xoshiro256PlusPlus;

    #[test]
    fn visits_every_index_exactly_once() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        for n in [1u64, 2, 3, 5, 16, 17, 1000, 4097] {
            let p = Permutation::new(n, &mut rng);
            let mut seen: Vec<u64> = (0..n).map(|i| p.at(i)).collect();
            seen.sort_unstable();
            assert_eq!(seen, (0..n).collect::<Vec<_>>(), "n = {n}");
        }
    }

    #[test]
    fn differs_between_keys() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        let a = Permutation::new(1000, &mut rng);
        let b = Permutation::new(1000, &mut rng);
        let same = (0..1000).filter(|&i| a.at(i) == b.at(i)).count();
        assert!(same < 20, "{same} fixed points in common");
    }
}
