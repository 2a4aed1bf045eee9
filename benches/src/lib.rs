//! Benchmarks live in the bench targets and examples; see README.md. This library holds what
//! they share.

/// The best of `runs` timings of `f`, in seconds.
pub fn best(runs: usize, mut f: impl FnMut()) -> f64 {
    (0..runs)
        .map(|_| {
            let t = std::time::Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// mimalloc's `mi_option_purge_delay` (option number 15 in mimalloc 2 and 3).
const MI_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// The allocator setting `sfvm`'s `main` makes, so that benchmarks measure what the binary
/// does: mimalloc keeps freed memory instead of handing it back to the kernel, which would
/// zero every page again for the next share vector.
pub fn keep_freed_memory() {
    // SAFETY: mi_option_set stores an integer in mimalloc's option table; a negative purge
    // delay means never purge.
    unsafe { libmimalloc_sys::mi_option_set(MI_PURGE_DELAY, -1) }
}
