//! Random numbers for names, jitter and tokens, from std's randomly keyed hasher (no extra
//! crate for randomness).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

/// A random number.
pub fn random_u64() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    if let Ok(since_epoch) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(since_epoch.as_nanos());
    }
    hasher.finish()
}
