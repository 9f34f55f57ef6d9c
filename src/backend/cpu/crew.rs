//! The helper threads behind `CpuBackend::fork_join`: a few threads that spin for a short while
//! after each job before they sleep.
//!
//! A decode step is a few hundred matrix products of 10-100 microseconds each. Waking a sleeping
//! pool thread for each (a futex wake-up, then a context switch) takes a good part of that, so the
//! second core joined each product late (1 -> 2 threads gave 1.46x on SmolLM2 decode). Crew
//! threads instead watch a job counter, spinning up to `SPIN` after their last job, and only then
//! park on a condition variable; back-to-back products find them awake.
//!
//! A job is published as a type-erased pointer to the caller's task plus a shared state word; the
//! protocol that keeps the borrowed task alive while helpers run it is `CpuBackend::fork_join`'s.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long an idle crew thread spins before it sleeps.
const SPIN: Duration = Duration::from_micros(300);

/// One published job: the task (borrowed from the caller's frame, see `fork_join`) and its state
/// word (helpers inside in the low bits, flags in the high ones).
#[derive(Clone)]
pub(super) struct Job {
    pub task: &'static (dyn Fn() + Sync),
    pub state: Arc<AtomicUsize>,
}

struct Shared {
    /// Bumped for every job (and at shutdown); crew threads compare it with the last they saw.
    epoch: AtomicU64,
    job: Mutex<Option<Job>>,
    wake: Condvar,
    /// Threads parked on `wake` (the publisher only notifies when there are some).
    sleepers: AtomicUsize,
    stop: AtomicBool,
}

pub(super) struct Crew {
    shared: Arc<Shared>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Crew {
    /// Start `n` helper threads; `run(job)` is what each does with a job it picks up.
    pub fn new(n: usize, run: fn(&Job)) -> Result<Crew, String> {
        let shared = Arc::new(Shared {
            epoch: AtomicU64::new(0),
            job: Mutex::new(None),
            wake: Condvar::new(),
            sleepers: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let mut threads = Vec::with_capacity(n);
        for i in 0..n {
            let sh = shared.clone();
            let h = std::thread::Builder::new()
                .name(format!("lanner-crew-{i}"))
                .spawn(move || worker(&sh, run))
                .map_err(|e| format!("cannot start helper thread {i}: {e}"))?;
            threads.push(h);
        }
        Ok(Crew { shared, threads })
    }

    /// Offer `job` to the crew; returns at once.
    pub fn publish(&self, job: Job) {
        let sh = &*self.shared;
        *sh.job.lock().unwrap_or_else(|e| e.into_inner()) = Some(job);
        // SeqCst here and on the sleeper's side: either it sees the new epoch before it waits, or
        // this sees it counted among the sleepers
        sh.epoch.fetch_add(1, Ordering::SeqCst);
        if sh.sleepers.load(Ordering::SeqCst) > 0 {
            // take the lock so a thread between its last check and its wait cannot miss this
            drop(sh.job.lock().unwrap_or_else(|e| e.into_inner()));
            sh.wake.notify_all();
        }
    }
}

impl Drop for Crew {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.epoch.fetch_add(1, Ordering::Release);
        drop(self.shared.job.lock().unwrap_or_else(|e| e.into_inner()));
        self.shared.wake.notify_all();
        for h in self.threads.drain(..) {
            let _ = h.join();
        }
    }
}

fn worker(sh: &Shared, run: fn(&Job)) {
    // the epoch the crew started at (not a later load: a crew dropped before this thread first
    // ran has bumped it already, and that bump must not be missed)
    let mut seen = 0;
    loop {
        // wait for a new epoch: spin first, then sleep
        let idle = Instant::now();
        let mut spins = 0u32;
        while sh.epoch.load(Ordering::Acquire) == seen {
            spins += 1;
            if spins % 256 != 0 {
                std::hint::spin_loop();
                continue;
            }
            if idle.elapsed() < SPIN {
                // a busy machine gets the core back now and then (a free one returns at once)
                std::thread::yield_now();
                continue;
            }
            let mut g = sh.job.lock().unwrap_or_else(|e| e.into_inner());
            sh.sleepers.fetch_add(1, Ordering::SeqCst);
            while sh.epoch.load(Ordering::SeqCst) == seen && !sh.stop.load(Ordering::SeqCst) {
                g = sh.wake.wait(g).unwrap_or_else(|e| e.into_inner());
            }
            sh.sleepers.fetch_sub(1, Ordering::AcqRel);
        }
        if sh.stop.load(Ordering::Acquire) {
            return;
        }
        seen = sh.epoch.load(Ordering::Acquire);
        let job = sh.job.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(job) = job {
            run(&job);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(job: &Job) {
        job.state.fetch_add(1, Ordering::SeqCst);
    }

    #[test]
    fn a_crew_dropped_at_once_still_stops() {
        // a crew dropped before its threads first ran used to leave them waiting forever (the
        // drop joins them): fail after 30 s rather than hang the test run
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for _ in 0..200 {
                drop(Crew::new(2, count).unwrap());
            }
            let _ = tx.send(());
        });
        assert!(rx.recv_timeout(Duration::from_secs(30)).is_ok(), "dropping a crew hung");
    }

    #[test]
    fn published_jobs_reach_the_crew_awake_or_asleep() {
        let crew = Crew::new(1, count).unwrap();
        for pause in [0u64, 2000] {
            std::thread::sleep(Duration::from_micros(pause)); // past SPIN: the thread sleeps
            let state = Arc::new(AtomicUsize::new(0));
            crew.publish(Job { task: &|| {}, state: state.clone() });
            let t0 = Instant::now();
            while state.load(Ordering::SeqCst) == 0 {
                assert!(t0.elapsed() < Duration::from_secs(10), "the crew never picked the job up");
                std::thread::yield_now();
            }
        }
    }
}
