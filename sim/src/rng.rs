//! One root seed, many independent streams.
//!
//! Every part of the world (clock, network, disk, brain, each actor) draws
//! from its own ChaCha8 stream derived from the root seed and a label, so
//! adding draws in one part never shifts another part's randomness. That
//! is what lets a run with a different shard count keep the same workload.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The simulator's PRNG: a fixed algorithm, so a seed means the same run on
/// every machine and every build.
pub type SimRng = ChaCha8Rng;

/// FNV-1a 64 over `bytes`: the fixed hash of labels and traces.
pub fn fnv64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// SplitMix64 finalizer: spreads a 64-bit value over all bits.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The stream for `label` under `root`.
pub fn stream(root: u64, label: &str) -> SimRng {
    SimRng::seed_from_u64(mix(root ^ fnv64(label.as_bytes())))
}

/// True with probability `p` (0 never draws a "yes", but always draws).
pub fn chance(rng: &mut SimRng, p: f64) -> bool {
    rng.gen::<f64>() < p
}

/// A seed derived from a commit hash (or any text) and an index: CI's seeds.
pub fn seed_from_text(text: &str, index: u64) -> u64 {
    mix(fnv64(text.as_bytes()) ^ mix(index))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngCore;

    #[test]
    fn streams_are_reproducible_and_independent() {
        let a1 = stream(7, "net").next_u64();
        let a2 = stream(7, "net").next_u64();
        let b = stream(7, "disk").next_u64();
        let c = stream(8, "net").next_u64();
        assert_eq!(a1, a2);
        assert_ne!(a1, b);
        assert_ne!(a1, c);
    }

    #[test]
    fn commit_seeds_differ_by_commit_and_index() {
        assert_ne!(seed_from_text("abc", 0), seed_from_text("abc", 1));
        assert_ne!(seed_from_text("abc", 0), seed_from_text("abd", 0));
        assert_eq!(seed_from_text("abc", 3), seed_from_text("abc", 3));
    }
}
