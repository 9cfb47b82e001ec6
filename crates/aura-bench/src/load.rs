//! The load driver: `users` tokio tasks, each repeating one scenario's step back to back for a
//! fixed time (closed loop: a user sends the next request when the last one answered), every
//! answer's latency recorded in an HDR histogram (microseconds, 3 significant digits).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// One step of one user: takes the user's state (a connection, a client) and the step's number
/// and gives the state back with the step's outcome.
pub type Step<S> = Arc<dyn Fn(S, u64) -> BoxFuture<(S, anyhow::Result<()>)> + Send + Sync>;

/// What a run of one scenario at one number of users measured.
pub struct Outcome {
    pub users: usize,
    pub requests: u64,
    pub errors: u64,
    /// The first error seen, to say what went wrong.
    pub first_error: Option<String>,
    pub elapsed: Duration,
    pub latency: Histogram<u64>,
}

impl Outcome {
    pub fn throughput(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    /// The latency at quantile `q`, in milliseconds.
    pub fn ms(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }
}

/// Runs `step` for `duration` (or until `cap` steps were taken in all) on `states.len()`
/// concurrent users, user `i` carrying `states[i]`. Errors are counted, not timed.
pub async fn run<S: Send + 'static>(
    states: Vec<S>,
    duration: Duration,
    cap: Option<u64>,
    step: Step<S>,
) -> Outcome {
    let users = states.len();
    let started = Instant::now();
    let deadline = started + duration;
    let taken = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for (user, state) in states.into_iter().enumerate() {
        let step = Arc::clone(&step);
        let taken = Arc::clone(&taken);
        tasks.spawn(async move {
            let mut latency = histogram();
            let mut errors = 0u64;
            let mut first_error = None;
            let mut state = state;
            let mut k = user as u64;
            while Instant::now() < deadline {
                let n = taken.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if cap.is_some_and(|cap| n >= cap) {
                    break;
                }
                let sent = Instant::now();
                let (back, result) = step(state, k).await;
                state = back;
                match result {
                    Ok(()) => {
                        let micros = sent.elapsed().as_micros().max(1) as u64;
                        latency.saturating_record(micros);
                    }
                    Err(err) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| format!("{err:#}"));
                    }
                }
                // Users take interleaved step numbers, so no two send the same step.
                k += users as u64;
            }
            (latency, errors, first_error)
        });
    }
    let mut latency = histogram();
    let mut errors = 0;
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((h, e, first)) => {
                latency.add(&h).expect("same bounds");
                errors += e;
                if first_error.is_none() {
                    first_error = first;
                }
            }
            Err(err) => {
                errors += 1;
                first_error.get_or_insert_with(|| format!("a user's task failed: {err}"));
            }
        }
    }
    Outcome {
        users,
        requests: latency.len(),
        errors,
        first_error,
        elapsed: started.elapsed(),
        latency,
    }
}

/// 1 µs to 60 s at three significant digits.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds")
}
