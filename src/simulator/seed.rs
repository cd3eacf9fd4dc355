//! Deterministic pseudo-random numbers derived from (seed, labels): the same seed always builds
//! the same fleet, with no random state kept anywhere.

/// SplitMix64's finaliser: a cheap, well-mixed 64-bit hash step.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A deterministic stream of numbers for one thing (a device, an interface, a peer), derived
/// from the fleet seed and a path of labels that names the thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stream(u64);

impl Stream {
    pub fn new(seed: u64) -> Stream {
        Stream(mix(seed))
    }

    /// A sub-stream for a named part (`"interface"`, 7): independent of its siblings.
    pub fn child(self, label: &str, number: u64) -> Stream {
        let mut state = self.0;
        for byte in label.bytes() {
            state = mix(state ^ u64::from(byte));
        }
        Stream(mix(state ^ number.wrapping_mul(0xD6E8_FEB8_6659_FD93)))
    }

    /// The `n`th number of the stream.
    pub fn u64(self, n: u64) -> u64 {
        mix(self.0 ^ mix(n))
    }

    /// A number in `0..bound` (`bound` > 0).
    pub fn below(self, n: u64, bound: u64) -> u64 {
        self.u64(n) % bound.max(1)
    }

    /// A float in `[0, 1)`.
    pub fn unit(self, n: u64) -> f64 {
        (self.u64(n) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A float in `[low, high)`.
    pub fn range(self, n: u64, low: f64, high: f64) -> f64 {
        low + (high - low) * self.unit(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_path_same_numbers_and_siblings_differ() {
        let a = Stream::new(42).child("interface", 3);
        let b = Stream::new(42).child("interface", 3);
        assert_eq!(a.u64(0), b.u64(0));
        assert_ne!(a.u64(0), Stream::new(42).child("interface", 4).u64(0));
        assert_ne!(a.u64(0), Stream::new(43).child("interface", 3).u64(0));
        assert_ne!(a.u64(0), a.u64(1));
    }

    #[test]
    fn unit_and_range_stay_in_bounds() {
        let s = Stream::new(7);
        for n in 0..10_000 {
            let u = s.unit(n);
            assert!((0.0..1.0).contains(&u));
            let r = s.range(n, 2.0, 3.0);
            assert!((2.0..3.0).contains(&r));
            assert!(s.below(n, 5) < 5);
        }
    }
}
