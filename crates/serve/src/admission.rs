//! How many requests decode at once (the worker's slots), how many may wait behind them (a
//! bounded queue), and what a request beyond both is told: `429` with a `Retry-After` estimated
//! from how long recent requests took. It also tells each request its share of the machine:
//! while `k` requests hold slots, each is charged `1/k` of the time (a processor-sharing
//! clock), so the shares of requests decoded together add up to the time that passed.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Debug)]
pub struct Admission {
    slots: Arc<Semaphore>,
    capacity: usize,
    queue: usize,
    waiting: AtomicUsize,
    /// A moving average of recent requests' time in a slot, in milliseconds.
    recent_ms: AtomicU64,
    clock: Arc<Mutex<ShareClock>>,
}

/// Machine time as the requests holding slots share it.
#[derive(Debug)]
struct ShareClock {
    at: Instant,
    /// Milliseconds each slot holder has been charged since the start.
    per_holder_ms: f64,
    holders: usize,
}

impl ShareClock {
    fn advance(&mut self) {
        let now = Instant::now();
        if self.holders > 0 {
            self.per_holder_ms += now.duration_since(self.at).as_secs_f64() * 1000.0 / self.holders as f64;
        }
        self.at = now;
    }
}

/// A slot held until dropped.
#[derive(Debug)]
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    clock: Arc<Mutex<ShareClock>>,
    /// The clock's reading when the slot was taken; `None` once released.
    from_ms: Option<f64>,
}

impl Slot {
    /// Gives the slot back; returns the machine time it was charged, in milliseconds.
    pub fn release(mut self) -> f64 {
        self.give_back()
    }

    fn give_back(&mut self) -> f64 {
        let Some(from) = self.from_ms.take() else {
            return 0.0;
        };
        let mut clock = self.clock.lock().unwrap_or_else(PoisonError::into_inner);
        clock.advance();
        clock.holders = clock.holders.saturating_sub(1);
        clock.per_holder_ms - from
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.give_back();
    }
}

/// Every slot is busy and the queue is full: try again in this many seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy {
    pub retry_after_s: u64,
}

/// Takes a waiting request off the count however its wait ends (admitted, or its client gone).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Admission {
    pub fn new(slots: usize, queue: usize) -> Admission {
        let slots = slots.max(1);
        Admission {
            slots: Arc::new(Semaphore::new(slots)),
            capacity: slots,
            queue,
            waiting: AtomicUsize::new(0),
            recent_ms: AtomicU64::new(0),
            clock: Arc::new(Mutex::new(ShareClock {
                at: Instant::now(),
                per_holder_ms: 0.0,
                holders: 0,
            })),
        }
    }

    fn slot(&self, permit: OwnedSemaphorePermit) -> Slot {
        let mut clock = self.clock.lock().unwrap_or_else(PoisonError::into_inner);
        clock.advance();
        clock.holders += 1;
        Slot {
            _permit: permit,
            clock: Arc::clone(&self.clock),
            from_ms: Some(clock.per_holder_ms),
        }
    }

    /// A slot if one is free now; never a place in the queue (a canary's way in).
    pub fn try_admit(&self) -> Option<Slot> {
        Arc::clone(&self.slots)
            .try_acquire_owned()
            .ok()
            .map(|permit| self.slot(permit))
    }

    /// A slot now, or after waiting in the queue; refused when the queue is full.
    pub async fn admit(&self) -> Result<Slot, Busy> {
        if let Some(slot) = self.try_admit() {
            return Ok(slot);
        }
        let ahead = self.waiting.fetch_add(1, Ordering::Relaxed);
        let waiting = Waiting(&self.waiting);
        if ahead >= self.queue {
            drop(waiting);
            return Err(Busy {
                retry_after_s: self.retry_after(ahead + 1),
            });
        }
        let permit = Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .map_err(|_| Busy { retry_after_s: 1 })?;
        drop(waiting);
        Ok(self.slot(permit))
    }

    /// Counts a finished request's time in its slot towards the `Retry-After` estimate.
    pub fn record(&self, took: Duration) {
        let ms = took.as_millis().min(u128::from(u64::MAX / 2)) as u64;
        let old = self.recent_ms.load(Ordering::Relaxed);
        let new = if old == 0 { ms } else { (old * 7 + ms) / 8 };
        self.recent_ms.store(new, Ordering::Relaxed);
    }

    /// Requests queued now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// When `ahead` requests before this one would have gone through the slots: at least 1 s.
    fn retry_after(&self, ahead: usize) -> u64 {
        let recent = self.recent_ms.load(Ordering::Relaxed).max(1);
        let rounds = ahead.div_ceil(self.capacity) as u64;
        (recent.saturating_mul(rounds)).div_ceil(1000).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn beyond_the_slots_requests_wait_and_beyond_the_queue_they_are_told_when_to_come_back() {
        let admission = Arc::new(Admission::new(2, 1));
        let first = admission.admit().await.unwrap();
        let _second = admission.admit().await.unwrap();
        let queued = {
            let admission = Arc::clone(&admission);
            tokio::spawn(async move { admission.admit().await.map(|_| ()) })
        };
        while admission.waiting() == 0 {
            tokio::task::yield_now().await;
        }
        admission.record(Duration::from_millis(2500));
        let refused = admission.admit().await.unwrap_err();
        // Two ahead of it over two slots: one round of 2.5 s.
        assert_eq!(refused.retry_after_s, 3);
        drop(first);
        queued.await.unwrap().unwrap();
        assert_eq!(admission.waiting(), 0);
    }

    #[tokio::test]
    async fn requests_holding_slots_together_share_the_time_that_passed() {
        let admission = Admission::new(4, 0);
        let started = Instant::now();
        let alone = admission.admit().await.unwrap();
        std::thread::sleep(Duration::from_millis(30));
        let second_from = Instant::now();
        let joined = admission.admit().await.unwrap();
        std::thread::sleep(Duration::from_millis(30));
        let (first, second) = (alone.release(), joined.release());
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let (before, after) = (ms(second_from - started), ms(second_from.elapsed()));
        // Alone, then halved: the shares add up to the time that passed.
        assert!(
            (first - (before + after / 2.0)).abs() < 2.0,
            "{first} vs {before} + {after}/2"
        );
        assert!((second - after / 2.0).abs() < 2.0, "{second} vs {after}/2");
        assert!((first + second - ms(started.elapsed())).abs() < 2.0);
    }

    #[tokio::test]
    async fn a_client_that_leaves_the_queue_frees_its_place() {
        let admission = Arc::new(Admission::new(1, 1));
        let _held = admission.admit().await.unwrap();
        let gone = {
            let admission = Arc::clone(&admission);
            tokio::spawn(async move { admission.admit().await.map(|_| ()) })
        };
        while admission.waiting() == 0 {
            tokio::task::yield_now().await;
        }
        gone.abort();
        let _ = gone.await;
        assert_eq!(admission.waiting(), 0);
        // The next one waits in the freed place instead of being refused.
        let next = tokio::time::timeout(Duration::from_millis(50), admission.admit()).await;
        assert!(next.is_err(), "it queued and was still waiting");
    }
}
