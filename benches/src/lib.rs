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

/// For kernels timed over many repetitions: mimalloc keeps freed memory, so that every
/// repetition after the first reuses the pages of the one before, as a long-running process
/// (SPU's runtime, say) does; the timings are of the kernels in steady state, not of page
/// faults. Whole programs (`programs.rs`) run on the system allocator, as `sfvm` does.
pub fn keep_freed_memory() {
    // SAFETY: mi_option_set stores an integer in mimalloc's option table; a negative purge
    // delay means never purge.
    unsafe { libmimalloc_sys::mi_option_set(MI_PURGE_DELAY, -1) }
}

