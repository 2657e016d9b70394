//! Running a whole forward pass on one of rayon's threads, with the others kept awake.
//!
//! A pass is a chain of parallel steps (products, attention over heads, row blocks), many of
//! them short for one token or one short sentence. Started from a thread outside the pool,
//! every step would hand its work to the pool and put the caller to sleep on a latch until it
//! is done; and a pool thread that fell asleep in the gap between two steps takes longer to
//! wake than the step itself. So the pass runs on a pool thread (each step's first share starts
//! there at once) and the other threads take the pool's work until the pass ends
//! (`scripts/bench.sh`: the encoder's short-sentence cases and the decoder's decoding steps
//! measure it).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Runs `pass` on one of rayon's threads while the others stay awake for it; returns what
/// `pass` returns.
pub(crate) fn run_pass<R: Send>(pass: impl FnOnce() -> R + Send) -> R {
    let done = AtomicBool::new(false);
    rayon::scope(|scope| {
        let pass_thread = rayon::current_thread_index();
        let done = &done;
        for _ in 1..rayon::current_num_threads() {
            scope.spawn(move |_| help_until(done, pass_thread));
        }
        let result = pass();
        done.store(true, Ordering::Release);
        result
    })
}

/// Keeps a thread of rayon's taking the pool's work until `done`, instead of letting it fall
/// asleep between two steps of a pass.
///
/// Returns at once on the pass's own thread (which could pick this job up while it waits inside
/// the pass, and would then wait for itself), and after 200 µs without work: a thread that took
/// this job while waiting for another job's result must get back to that wait.
fn help_until(done: &AtomicBool, pass_thread: Option<usize>) {
    const IDLE_LIMIT: Duration = Duration::from_micros(200);
    if rayon::current_thread_index() == pass_thread {
        return;
    }
    let mut last_work = Instant::now();
    while !done.load(Ordering::Acquire) {
        match rayon::yield_now() {
            Some(rayon::Yield::Executed) => last_work = Instant::now(),
            Some(rayon::Yield::Idle) if last_work.elapsed() < IDLE_LIMIT => std::hint::spin_loop(),
            _ => return,
        }
    }
}
