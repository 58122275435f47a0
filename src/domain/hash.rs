//! Stable 64-bit hashing for placement decisions. The standard library's
//! hasher may change between Rust releases; an assignment must not, so the
//! functions here are fixed (FNV-1a folded through the splitmix64 finaliser).

/// Hash of a name, identical on every platform and every build.
pub fn stable_hash(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix(h)
}

/// splitmix64 finaliser: spreads every input bit over the whole output.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Affinity of a job (by its key) for a worker: the rendezvous score.
pub fn affinity(job_key: u64, worker: u32) -> u64 {
    mix(job_key ^ mix(u64::from(worker).wrapping_add(0x5157_4152_4d44_4543)))
}

/// Jump consistent hash (Lamping and Veach): a bucket in `0..buckets` such that
/// growing `buckets` by one moves a key only into the new bucket.
pub fn jump(mut key: u64, buckets: u32) -> u32 {
    let mut b: i64 = -1;
    let mut j: i64 = 0;
    while j < i64::from(buckets) {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_hash_is_fixed() {
        // Pinned values: if these change, every swarm in the field reshuffles.
        assert_eq!(stable_hash(""), mix(0xcbf2_9ce4_8422_2325));
        assert_ne!(stable_hash("stream:a"), stable_hash("stream:b"));
        assert_eq!(stable_hash("stream:a"), stable_hash("stream:a"));
    }

    #[test]
    fn jump_only_moves_into_new_bucket() {
        for k in 0..2000u64 {
            let key = mix(k);
            for n in 1..40 {
                let a = jump(key, n);
                let b = jump(key, n + 1);
                assert!(a < n);
                assert!(b == a || b == n, "key {k} moved {a}->{b} at {n}->{}", n + 1);
            }
        }
    }
}
