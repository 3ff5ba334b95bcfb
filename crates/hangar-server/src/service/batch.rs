//! The execution queue of one version within one deployment: bounded, with
//! deadlines, and dynamic batching (as Triton's `dynamic_batching`: a
//! maximum batch size and a maximum queue delay).
//!
//! Requests wait in a bounded queue; a full queue refuses at once (429). A
//! task takes what is queued — up to `max_batch_size` rows, waiting at most
//! `max_queue_delay` for more — stacks compatible requests along the batch
//! dimension and runs them as one inference on the pool. At most one batch
//! per pool thread is in flight, so under load requests pile up and batches
//! grow; under light load a request runs alone without waiting. A request
//! whose deadline has passed by the time its batch forms is answered 504 and
//! never reaches the model.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hangar_core::Tensor;
use hangar_runtime::{InferencePool, PoolError, RuntimeError};
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::service::serving::LoadedVersion;

#[derive(Debug, Clone)]
pub struct BatchSettings {
    pub max_batch_size: usize,
    pub max_queue_delay: Duration,
    pub queue_capacity: usize,
}

/// A finished request.
#[derive(Debug)]
pub struct Executed {
    pub outputs: Vec<Tensor>,
    /// The request's own inputs, handed back (the prediction log keeps
    /// them without a copy).
    pub inputs: Vec<Tensor>,
    pub queue_time: Duration,
    pub infer_time: Duration,
    pub batch_size: usize,
}

#[derive(Debug)]
pub enum ExecError {
    QueueFull,
    DeadlineExceeded,
    Pool(PoolError),
    Runtime(String),
    /// The batch could not be reassembled (a model whose outputs do not
    /// follow the batch dimension); never expected for a batchable model.
    Batch(String),
}

struct Job {
    inputs: Vec<Tensor>,
    outputs: Vec<String>,
    rows: usize,
    deadline: Option<Instant>,
    enqueued: Instant,
    reply: oneshot::Sender<Result<Executed, ExecError>>,
}

/// Observations the batcher reports (for metrics and statistics).
pub trait BatchObserver: Send + Sync {
    fn batch(&self, size: usize);
    fn expired(&self);
}

/// Handle to a running batcher. Dropping every handle lets the task drain
/// the queue and end.
#[derive(Clone)]
pub struct Batcher {
    tx: mpsc::Sender<Job>,
    depth: Arc<AtomicUsize>,
    capacity: usize,
}

impl Batcher {
    /// Starts the task. Batching happens only for models whose inputs and
    /// outputs all have a dynamic first dimension.
    pub fn start(
        model: Arc<LoadedVersion>,
        pool: InferencePool,
        settings: BatchSettings,
        observer: Arc<dyn BatchObserver>,
    ) -> Self {
        let sig = &model.signature;
        let batchable = sig
            .inputs
            .iter()
            .chain(&sig.outputs)
            .all(|s| s.has_dynamic_batch());
        let max_rows = if batchable {
            settings.max_batch_size.max(1)
        } else {
            1
        };
        let capacity = settings.queue_capacity.max(1);
        let (tx, rx) = mpsc::channel(capacity);
        let depth = Arc::new(AtomicUsize::new(0));
        let task = BatchTask {
            model,
            in_flight: Arc::new(Semaphore::new(pool.threads())),
            pool,
            max_rows,
            batchable,
            delay: settings.max_queue_delay,
            depth: depth.clone(),
            observer,
        };
        tokio::spawn(task.run(rx));
        Batcher {
            tx,
            depth,
            capacity,
        }
    }

    /// Requests waiting in the queue.
    pub fn depth(&self) -> usize {
        self.depth.load(Ordering::Relaxed)
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// No room for another request right now: a submit would be refused.
    pub fn is_full(&self) -> bool {
        self.tx.capacity() == 0
    }

    /// Queues a request and waits for its result. Refuses at once when the
    /// queue is full.
    pub async fn submit(
        &self,
        inputs: Vec<Tensor>,
        outputs: Vec<String>,
        deadline: Option<Instant>,
    ) -> Result<Executed, ExecError> {
        let rx = self.enqueue(inputs, outputs, deadline)?;
        rx.await.unwrap_or(Err(ExecError::Pool(PoolError::Closed)))
    }

    fn enqueue(
        &self,
        inputs: Vec<Tensor>,
        outputs: Vec<String>,
        deadline: Option<Instant>,
    ) -> Result<oneshot::Receiver<Result<Executed, ExecError>>, ExecError> {
        let (reply, rx) = oneshot::channel();
        let rows = inputs.first().map_or(1, Tensor::rows);
        let job = Job {
            inputs,
            outputs,
            rows,
            deadline,
            enqueued: Instant::now(),
            reply,
        };
        self.depth.fetch_add(1, Ordering::Relaxed);
        if self.tx.try_send(job).is_err() {
            self.depth.fetch_sub(1, Ordering::Relaxed);
            return Err(ExecError::QueueFull);
        }
        Ok(rx)
    }
}

struct BatchTask {
    model: Arc<LoadedVersion>,
    pool: InferencePool,
    in_flight: Arc<Semaphore>,
    max_rows: usize,
    batchable: bool,
    delay: Duration,
    depth: Arc<AtomicUsize>,
    observer: Arc<dyn BatchObserver>,
}

impl BatchTask {
    fn compatible(&self, a: &Job, b: &Job) -> bool {
        self.batchable
            && a.outputs == b.outputs
            && a.inputs.len() == b.inputs.len()
            && a.inputs.iter().zip(&b.inputs).all(|(x, y)| {
                x.name == y.name
                    && x.datatype() == y.datatype()
                    && x.shape.get(1..) == y.shape.get(1..)
            })
    }

    async fn run(self, mut rx: mpsc::Receiver<Job>) {
        let mut carry: Option<Job> = None;
        loop {
            // Wait for a free worker first: while all are busy, requests
            // accumulate in the queue and the next batch grows.
            let Ok(permit) = self.in_flight.clone().acquire_owned().await else {
                return;
            };
            let first = match carry.take() {
                Some(j) => j,
                None => match rx.recv().await {
                    Some(j) => j,
                    None => return,
                },
            };
            let mut batch = vec![first];
            let mut rows = batch[0].rows;
            let collect_until = batch[0].enqueued + self.delay;
            while rows < self.max_rows {
                let next = match rx.try_recv() {
                    Ok(j) => Some(j),
                    Err(_) if !self.delay.is_zero() => {
                        let now = Instant::now();
                        if now >= collect_until {
                            None
                        } else {
                            tokio::time::timeout(collect_until - now, rx.recv())
                                .await
                                .ok()
                                .flatten()
                        }
                    }
                    Err(_) => None,
                };
                let Some(job) = next else { break };
                if rows + job.rows > self.max_rows || !self.compatible(&batch[0], &job) {
                    carry = Some(job);
                    break;
                }
                rows += job.rows;
                batch.push(job);
            }
            self.depth.fetch_sub(batch.len(), Ordering::Relaxed);
            let now = Instant::now();
            let (live, expired): (Vec<Job>, Vec<Job>) = batch
                .into_iter()
                .partition(|j| j.deadline.is_none_or(|d| d > now));
            for job in expired {
                self.observer.expired();
                let _ = job.reply.send(Err(ExecError::DeadlineExceeded));
            }
            if live.is_empty() {
                continue;
            }
            self.observer.batch(live.iter().map(|j| j.rows).sum());
            let model = self.model.clone();
            let pool = self.pool.clone();
            tokio::spawn(async move {
                dispatch(model, pool, live).await;
                drop(permit);
            });
        }
    }
}

async fn dispatch(model: Arc<LoadedVersion>, pool: InferencePool, jobs: Vec<Job>) {
    let started = Instant::now();
    let rows: Vec<usize> = jobs.iter().map(|j| j.rows).collect();
    let batch_size: usize = rows.iter().sum();
    let outputs = jobs[0].outputs.clone();
    let (inputs, replies): (Vec<Vec<Tensor>>, Vec<(Instant, oneshot::Sender<_>)>) = jobs
        .into_iter()
        .map(|j| (j.inputs, (j.enqueued, j.reply)))
        .unzip();
    // One request runs on its own tensors (moved to the worker and back);
    // several are stacked into one batch.
    let single = inputs.len() == 1;
    let (merged, mut inputs): (Result<Vec<Tensor>, ExecError>, Vec<Vec<Tensor>>) = if single {
        (
            Ok(inputs.into_iter().next().unwrap_or_default()),
            Vec::new(),
        )
    } else {
        let merged = (0..inputs[0].len())
            .map(|i| {
                let parts: Vec<&Tensor> = inputs.iter().map(|v| &v[i]).collect();
                Tensor::concat_rows(&parts)
                    .ok_or_else(|| ExecError::Batch("inputs do not stack".into()))
            })
            .collect();
        (merged, inputs)
    };
    let result = match merged {
        Err(e) => Err(e),
        Ok(merged) => {
            let runtime = model.runtime.clone();
            match pool
                .run(move || {
                    let t = Instant::now();
                    let r = runtime.infer(&merged, &outputs);
                    (r, t.elapsed(), merged)
                })
                .await
            {
                Err(e) => Err(ExecError::Pool(e)),
                Ok((Err(RuntimeError::Inference(m)), _, _)) => Err(ExecError::Runtime(m)),
                Ok((Err(e), _, _)) => Err(ExecError::Runtime(e.to_string())),
                Ok((Ok(outs), took, merged)) => {
                    if single {
                        inputs = vec![merged];
                    }
                    Ok((outs, took))
                }
            }
        }
    };
    match result {
        Err(e) => {
            let msg = format!("{e:?}");
            let mut first = Some(e);
            for (_, reply) in replies {
                let err = first
                    .take()
                    .unwrap_or_else(|| ExecError::Runtime(msg.clone()));
                let _ = reply.send(Err(err));
            }
        }
        Ok((outs, infer_time)) => {
            let per_job: Result<Vec<Vec<Tensor>>, ExecError> = if replies.len() == 1 {
                Ok(vec![outs])
            } else {
                let mut split: Vec<Vec<Tensor>> =
                    vec![Vec::with_capacity(outs.len()); replies.len()];
                let mut ok = Ok(());
                for t in &outs {
                    match t.split_rows(&rows) {
                        Some(pieces) => {
                            for (dest, p) in split.iter_mut().zip(pieces) {
                                dest.push(p);
                            }
                        }
                        None => {
                            ok = Err(ExecError::Batch(format!(
                                "output '{}' does not follow the batch",
                                t.name
                            )))
                        }
                    }
                }
                ok.map(|()| split)
            };
            match per_job {
                Ok(per_job) => {
                    for (((enqueued, reply), outputs), inputs) in
                        replies.into_iter().zip(per_job).zip(inputs)
                    {
                        let _ = reply.send(Ok(Executed {
                            outputs,
                            inputs,
                            queue_time: started.saturating_duration_since(enqueued),
                            infer_time,
                            batch_size,
                        }));
                    }
                }
                Err(e) => {
                    let msg = format!("{e:?}");
                    for (_, reply) in replies {
                        let _ = reply.send(Err(ExecError::Batch(msg.clone())));
                    }
                }
            }
        }
    }
}
