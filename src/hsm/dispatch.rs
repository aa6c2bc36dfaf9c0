//! The token's own threads: one per pooled session, taking calls from one queue.
//!
//! A call waits in the queue, not for a permit, so a thread that finishes one call finds
//! the next already there under load and goes on without sleeping and being woken; with
//! tokio's blocking pool each call cost a thread wake-up and a task wake-up more.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use super::{lock, Fault, HsmError};

/// A call's state: it is run only if its caller still waits when a thread takes it.
const QUEUED: u8 = 0;
const RUNNING: u8 = 1;
const CANCELLED: u8 = 2;

struct Job {
    state: Arc<AtomicU8>,
    /// Runs the call, uncounts it from `running` and then answers, so that the caller's
    /// next call already finds the room.
    run: Box<dyn FnOnce(&AtomicUsize) + Send>,
}

/// Counts shared by the callers and the threads.
#[derive(Default)]
struct Counts {
    queued: AtomicUsize,
    running: AtomicUsize,
    closed: AtomicBool,
}

/// The queue and its threads. The threads end when this is dropped.
pub(super) struct Dispatcher {
    sender: Sender<Job>,
    counts: Arc<Counts>,
    threads: usize,
    max_waiters: usize,
    wait_timeout: Duration,
}

impl Dispatcher {
    /// Starts `threads` threads; at most `max_waiters` calls wait beyond them, each at most
    /// `wait_timeout` before it is refused as busy.
    pub(super) fn start(
        threads: usize,
        max_waiters: usize,
        wait_timeout: Duration,
    ) -> Result<Dispatcher, HsmError> {
        let (sender, receiver) = channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        let counts = Arc::new(Counts::default());
        for n in 0..threads {
            let (receiver, counts) = (receiver.clone(), counts.clone());
            std::thread::Builder::new()
                .name(format!("token-{n}"))
                .spawn(move || serve(&receiver, &counts))
                .map_err(|e| HsmError::new(Fault::Other, format!("token thread: {e}")))?;
        }
        Ok(Dispatcher {
            sender,
            counts,
            threads,
            max_waiters,
            wait_timeout,
        })
    }

    /// Runs `op` on a token thread: at once when one is free, after a bounded wait when few
    /// calls wait, and never when the queue is full (shed rather than let latency grow).
    pub(super) async fn run<R, F>(&self, op: F) -> Result<R, HsmError>
    where
        R: Send + 'static,
        F: FnOnce() -> Result<R, HsmError> + Send + 'static,
    {
        let (done, mut answer) = oneshot::channel();
        let ticket = self.enqueue(Box::new(move |running: &AtomicUsize| {
            let answer = op();
            running.fetch_sub(1, Ordering::AcqRel);
            let _ = done.send(answer);
        }))?;
        let answered = match tokio::time::timeout(self.wait_timeout, &mut answer).await {
            Ok(answered) => answered,
            Err(_) if ticket.cancel() => {
                return Err(HsmError::new(Fault::Busy, "no token session free in time"))
            }
            Err(_) => answer.await,
        };
        answered.unwrap_or_else(|_| Err(self.unanswered()))
    }

    /// Why a call's answer never came: the token closed first, or the call panicked.
    fn unanswered(&self) -> HsmError {
        match self.counts.closed.load(Ordering::Acquire) {
            true => HsmError::new(Fault::Busy, "the token is closing"),
            false => HsmError::new(Fault::Other, "token call failed"),
        }
    }

    fn enqueue(&self, run: Box<dyn FnOnce(&AtomicUsize) + Send>) -> Result<Ticket, HsmError> {
        let counts = &self.counts;
        if counts.closed.load(Ordering::Acquire) {
            return Err(HsmError::new(Fault::Busy, "the token is closing"));
        }
        let room = self.threads + self.max_waiters;
        let admitted = counts
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n + counts.running.load(Ordering::Acquire) < room).then_some(n + 1)
            });
        if admitted.is_err() {
            return Err(HsmError::new(
                Fault::Overloaded,
                "too many calls wait for a session",
            ));
        }
        let state = Arc::new(AtomicU8::new(QUEUED));
        let job = Job {
            state: state.clone(),
            run,
        };
        if self.sender.send(job).is_err() {
            counts.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(HsmError::new(
                Fault::Other,
                "the token threads have stopped",
            ));
        }
        Ok(Ticket {
            state,
            counts: self.counts.clone(),
        })
    }

    /// Calls being run now, and calls waiting for a thread.
    pub(super) fn load(&self) -> (usize, usize) {
        let counts = &self.counts;
        (
            counts.running.load(Ordering::Acquire),
            counts.queued.load(Ordering::Acquire),
        )
    }

    /// Refuses new calls and drops waiting ones; true once no call runs, within `within`.
    pub(super) async fn close(&self, within: Duration) -> bool {
        self.counts.closed.store(true, Ordering::Release);
        let idle = async {
            while self.load() != (0, 0) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        tokio::time::timeout(within, idle).await.is_ok()
    }
}

/// A thread's loop: take the next call, skip it if its caller gave up or the token is
/// closing, else run it.
fn serve(receiver: &Mutex<Receiver<Job>>, counts: &Counts) {
    loop {
        let Ok(job) = lock(receiver).recv() else {
            return;
        };
        if counts.closed.load(Ordering::Acquire) {
            withdraw(&job.state, counts);
            continue;
        }
        let started =
            job.state
                .compare_exchange(QUEUED, RUNNING, Ordering::AcqRel, Ordering::Acquire);
        if started.is_err() {
            continue; // withdrawn by its caller, who gave back its place
        }
        counts.running.fetch_add(1, Ordering::AcqRel);
        counts.queued.fetch_sub(1, Ordering::AcqRel);
        // A panic drops the answer (the caller hears of it) and must not end the thread; the
        // call did not uncount itself then.
        let run = std::panic::AssertUnwindSafe(|| (job.run)(&counts.running));
        if std::panic::catch_unwind(run).is_err() {
            counts.running.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Takes a call out of the queue unless a thread has started it, and gives back its place.
fn withdraw(state: &AtomicU8, counts: &Counts) -> bool {
    let withdrawn = state
        .compare_exchange(QUEUED, CANCELLED, Ordering::AcqRel, Ordering::Acquire)
        .is_ok();
    if withdrawn {
        counts.queued.fetch_sub(1, Ordering::AcqRel);
    }
    withdrawn
}

/// A caller's hold on its queued call; a caller that goes away takes its call with it.
struct Ticket {
    state: Arc<AtomicU8>,
    counts: Arc<Counts>,
}

impl Ticket {
    /// Withdraws the call unless a thread has started it.
    fn cancel(&self) -> bool {
        withdraw(&self.state, &self.counts)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A call that holds its thread until `release` is sent to.
    fn held(
        calls: &Arc<Dispatcher>,
    ) -> (
        std::sync::mpsc::Sender<()>,
        tokio::task::JoinHandle<Result<(), HsmError>>,
    ) {
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let calls = calls.clone();
        let running = tokio::spawn(async move {
            calls
                .run(move || {
                    let _ = hold.recv();
                    Ok(())
                })
                .await
        });
        (release, running)
    }

    async fn until_running(calls: &Dispatcher) {
        while calls.load().0 == 0 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once() {
        let calls = Arc::new(Dispatcher::start(1, 0, Duration::from_secs(60)).expect("start"));
        let (release, running) = held(&calls);
        until_running(&calls).await;
        let refused = calls.run(|| Ok(())).await.expect_err("no room");
        assert_eq!(refused.fault, Fault::Overloaded);
        release.send(()).expect("release");
        running.await.expect("task").expect("the held call");
        calls.run(|| Ok(())).await.expect("room again");
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_that_waits_too_long_is_busy_and_never_runs() {
        let calls = Arc::new(Dispatcher::start(1, 1, Duration::from_millis(50)).expect("start"));
        let (release, running) = held(&calls);
        until_running(&calls).await;
        let ran = Arc::new(AtomicBool::new(false));
        let flag = ran.clone();
        let waited = calls.run(move || {
            flag.store(true, Ordering::Release);
            Ok(())
        });
        assert_eq!(waited.await.expect_err("timed out").fault, Fault::Busy);
        release.send(()).expect("release");
        running.await.expect("task").expect("the held call");
        calls.run(|| Ok(())).await.expect("after it");
        assert!(!ran.load(Ordering::Acquire), "a withdrawn call ran");
    }

    #[tokio::test]
    async fn close_waits_for_the_running_call_and_refuses_new_ones() {
        let calls = Arc::new(Dispatcher::start(1, 4, Duration::from_secs(60)).expect("start"));
        let (release, running) = held(&calls);
        until_running(&calls).await;
        let closing = {
            let calls = calls.clone();
            tokio::spawn(async move { calls.close(Duration::from_secs(60)).await })
        };
        while !calls.counts.closed.load(Ordering::Acquire) {
            tokio::task::yield_now().await;
        }
        let refused = calls.run(|| Ok(())).await.expect_err("closing");
        assert_eq!(refused.fault, Fault::Busy);
        assert!(!closing.is_finished());
        release.send(()).expect("release");
        running.await.expect("task").expect("the held call");
        assert!(closing.await.expect("task"), "closed once idle");
    }
}
