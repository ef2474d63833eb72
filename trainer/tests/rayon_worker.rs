//! The training thread as one of rayon's pool threads. One test in its own binary: rayon's
//! global pool is built once per process.

use rayon::prelude::*;
use trainer::device::make_caller_a_rayon_worker;

#[test]
fn the_caller_becomes_a_pool_thread_and_runs_its_share_of_parallel_ops() {
    assert_eq!(rayon::current_thread_index(), None, "not a pool thread yet");
    assert!(make_caller_a_rayon_worker());
    assert_eq!(rayon::current_thread_index(), Some(0));
    let me = std::thread::current().id();
    // Chunks long enough that the other pool threads cannot take them all.
    let here = (0..64u32)
        .into_par_iter()
        .with_max_len(1)
        .map(|i| {
            let sum: u64 = (0..200_000u64).map(|j| j ^ u64::from(i)).sum();
            (std::thread::current().id() == me, sum)
        })
        .filter(|(on_caller, _)| *on_caller)
        .count();
    assert!(
        here > 0,
        "the caller ran none of the parallel op: it waited on the pool"
    );
    assert!(
        !make_caller_a_rayon_worker(),
        "a second call leaves the existing pool as it is"
    );
    assert_eq!(rayon::current_thread_index(), Some(0));
}
