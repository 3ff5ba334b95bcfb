//! The dedicated inference thread pool: a fixed set of OS threads fed by a
//! bounded queue, so CPU-bound work never blocks the async executor and a
//! flood of requests is refused instead of queued without bound.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crossbeam_channel::{bounded, Sender, TrySendError};

type Job = Box<dyn FnOnce() + Send + 'static>;

thread_local! {
    static WORKER_INDEX: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Index of the pool worker running the current code, if any. Runtimes use it
/// to give each worker its own execution instance without locking.
pub fn worker_index() -> Option<usize> {
    WORKER_INDEX.with(Cell::get)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    #[error("the inference queue is full")]
    Busy,
    #[error("the inference pool has shut down")]
    Closed,
    #[error("the model panicked during inference")]
    Panicked,
}

#[derive(Clone)]
pub struct InferencePool {
    tx: Sender<Job>,
    threads: usize,
}

impl std::fmt::Debug for InferencePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InferencePool")
            .field("threads", &self.threads)
            .finish()
    }
}

impl InferencePool {
    /// Starts `threads` workers with room for `queue` waiting jobs.
    pub fn new(threads: usize, queue: usize) -> std::io::Result<Self> {
        let threads = threads.max(1);
        let (tx, rx) = bounded::<Job>(queue.max(1));
        for i in 0..threads {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("hangar-infer-{i}"))
                .spawn(move || {
                    WORKER_INDEX.with(|w| w.set(Some(i)));
                    // Ends when every sender is dropped.
                    for job in rx.iter() {
                        job();
                    }
                })?;
        }
        Ok(InferencePool { tx, threads })
    }

    /// A pool sized to the machine's cores.
    pub fn for_cores(queue: usize) -> std::io::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::new(cores, queue)
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Jobs waiting for a worker.
    pub fn queued(&self) -> usize {
        self.tx.len()
    }

    /// Runs `f` on a worker and awaits its result. Refuses at once with
    /// [`PoolError::Busy`] when the queue is full. A panic in `f` is caught
    /// and reported, never propagated.
    pub async fn run<T, F>(&self, f: F) -> Result<T, PoolError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(catch_unwind(AssertUnwindSafe(f)));
        });
        if let Err(e) = self.tx.try_send(job) {
            return Err(match e {
                TrySendError::Full(_) => PoolError::Busy,
                TrySendError::Disconnected(_) => PoolError::Closed,
            });
        }
        match rx.await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(_)) => Err(PoolError::Panicked),
            Err(_) => Err(PoolError::Closed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_on_named_worker_threads() {
        let pool = InferencePool::new(2, 8).unwrap();
        let (name, idx) = pool
            .run(|| {
                (
                    std::thread::current().name().map(str::to_string),
                    worker_index(),
                )
            })
            .await
            .unwrap();
        assert!(name.unwrap().starts_with("hangar-infer-"));
        assert!(idx.unwrap() < 2);
        assert_eq!(worker_index(), None);
    }

    #[tokio::test]
    async fn a_panicking_job_is_reported_and_the_pool_keeps_working() {
        let pool = InferencePool::new(1, 4).unwrap();
        let r: Result<(), _> = pool.run(|| panic!("boom")).await;
        assert_eq!(r, Err(PoolError::Panicked));
        assert_eq!(pool.run(|| 7).await, Ok(7));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_refuses_instead_of_growing() {
        let pool = InferencePool::new(1, 1).unwrap();
        let (block_tx, block_rx) = std::sync::mpsc::channel::<()>();
        let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
        let p = pool.clone();
        let first = tokio::spawn(async move {
            p.run(move || {
                started_tx.send(()).unwrap();
                block_rx.recv().unwrap();
            })
            .await
        });
        started_rx.recv().unwrap();
        // The worker is busy: one job fits in the queue, the next is refused.
        let p = pool.clone();
        let second = tokio::spawn(async move { p.run(|| 2).await });
        while pool.queued() == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(pool.run(|| 3).await, Err(PoolError::Busy));
        block_tx.send(()).unwrap();
        assert_eq!(first.await.unwrap(), Ok(()));
        assert_eq!(second.await.unwrap(), Ok(2));
    }
}
