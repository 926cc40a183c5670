//! Throttling of failed logins and failed token authentications, per client address.
//!
//! Counting per address (not per account or token) means an attacker hammering one login cannot
//! lock its real owner out: the owner comes from their own address. Counters live in memory,
//! per process; a restart forgets them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Counts failures per address in a fixed window.
pub struct FailureThrottle {
    limit: u32,
    window: Duration,
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl FailureThrottle {
    /// Allows `limit` failures per `window` per address; a `limit` of 0 allows any number.
    pub fn new(limit: u32, window: Duration) -> Self {
        FailureThrottle {
            limit,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(seconds to wait)` when `ip` has used up its failures in the current window.
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        let failures = self.failures.lock().expect("throttle lock");
        match failures.get(&ip) {
            Some((count, since))
                if self.limit > 0 && *count >= self.limit && since.elapsed() < self.window =>
            {
                Err((self.window - since.elapsed()).as_secs().max(1))
            }
            _ => Ok(()),
        }
    }

    /// Counts one failure from `ip`.
    pub fn record_failure(&self, ip: IpAddr) {
        let mut failures = self.failures.lock().expect("throttle lock");
        if failures.len() > 100_000 {
            // Bound memory under a spray of addresses: forget windows that are over.
            let window = self.window;
            failures.retain(|_, (_, since)| since.elapsed() < window);
        }
        let entry = failures.entry(ip).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= self.window {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_limit_and_only_that_address() {
        let t = FailureThrottle::new(3, Duration::from_secs(60));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert!(t.check(a).is_ok());
            t.record_failure(a);
        }
        let wait = t.check(a).unwrap_err();
        assert!((1..=60).contains(&wait));
        assert!(t.check(b).is_ok());
    }

    #[test]
    fn a_new_window_starts_fresh() {
        let t = FailureThrottle::new(1, Duration::ZERO);
        let a: IpAddr = "::1".parse().unwrap();
        t.record_failure(a);
        assert!(t.check(a).is_ok());
    }

    #[test]
    fn a_limit_of_zero_never_throttles() {
        let t = FailureThrottle::new(0, Duration::from_secs(60));
        let ip = IpAddr::from([10, 0, 0, 1]);
        for _ in 0..1000 {
            t.record_failure(ip);
        }
        assert_eq!(t.check(ip), Ok(()));
    }
}
