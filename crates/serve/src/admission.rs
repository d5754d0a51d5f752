//! How many requests decode at once (the worker's slots), how many may wait behind them (a
//! bounded queue), and what a request beyond both is told: `429` with a `Retry-After` estimated
//! from how long recent requests took.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Debug)]
pub struct Admission {
    slots: Arc<Semaphore>,
    capacity: usize,
    queue: usize,
    waiting: AtomicUsize,
    /// A moving average of recent requests' time in a slot, in milliseconds.
    recent_ms: AtomicU64,
}

/// A slot held until dropped.
#[derive(Debug)]
pub struct Slot {
    _permit: OwnedSemaphorePermit,
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
        }
    }

    /// A slot now, or after waiting in the queue; refused when the queue is full.
    pub async fn admit(&self) -> Result<Slot, Busy> {
        if let Ok(permit) = Arc::clone(&self.slots).try_acquire_owned() {
            return Ok(Slot { _permit: permit });
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
        Ok(Slot { _permit: permit })
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
