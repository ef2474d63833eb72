//! Seeds: one 64-bit seed derived from parts, and the per-sample augmentation RNG seeded by
//! (run seed, epoch, sample id). The trainer derives its own seeds (dropout) the same way.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Derives a 64-bit seed from parts (splitmix64 over each part).
pub fn mix_seed(parts: &[u64]) -> u64 {
    let mut x: u64 = 0x243F_6A88_85A3_08D3;
    for &p in parts {
        x ^= p;
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x = z ^ (z >> 31);
    }
    x
}

/// The RNG of one sample's augmentation in one epoch.
pub fn sample_rng(seed: u64, epoch: u64, sample_id: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(mix_seed(&[seed, epoch, sample_id]))
}
