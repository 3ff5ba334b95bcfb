//! Sign-in throttling: exponential backoff per account and per address.
//!
//! Every password check is counted as a failure *before* it runs (so a
//! burst of parallel guesses cannot all slip through before the first
//! failure is recorded) and taken back when it succeeds. Past a number of
//! free failures, each further failure blocks the account (or the address)
//! for twice as long as the one before, up to a cap; a blocked attempt is
//! refused (429 with `Retry-After`) without checking the password and does
//! not extend the block. So an attacker guessing one account gets about one
//! guess per cap, and the real user is never locked out for longer than the
//! cap. A success clears the account; a quiet spell clears both.
//!
//! Memory is bounded: each table keeps at most `capacity` entries; a full
//! table first forgets what has gone quiet, then the entry with the fewest
//! failures.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How one table backs off.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// Failures allowed before the first block.
    pub free: u32,
    /// The first block; each further failure doubles it.
    pub base: Duration,
    /// The longest block.
    pub cap: Duration,
    /// Failures are forgotten after this long without one.
    pub forget: Duration,
    /// Most entries kept.
    pub capacity: usize,
}

impl Backoff {
    /// How long `failures` failures block for.
    pub fn delay(&self, failures: u32) -> Duration {
        if failures <= self.free {
            return Duration::ZERO;
        }
        let doublings = (failures - self.free - 1).min(30);
        self.base
            .checked_mul(1u32 << doublings)
            .unwrap_or(self.cap)
            .min(self.cap)
    }
}

/// Per account: 5 free failures, then 1 s, 2 s, 4 s … at most a minute.
pub const ACCOUNT: Backoff = Backoff {
    free: 5,
    base: Duration::from_secs(1),
    cap: Duration::from_secs(60),
    forget: Duration::from_secs(15 * 60),
    capacity: 10_000,
};

/// Per address: 20 free failures (people behind one NAT share an address),
/// then 1 s, 2 s, 4 s … at most five minutes.
pub const ADDRESS: Backoff = Backoff {
    free: 20,
    base: Duration::from_secs(1),
    cap: Duration::from_secs(5 * 60),
    forget: Duration::from_secs(15 * 60),
    capacity: 10_000,
};

/// Longest account name kept as a key (longer names cannot exist).
const KEY_CHARS: usize = 64;

#[derive(Debug, Clone, Copy)]
struct Slot {
    failures: u32,
    last: Instant,
    until: Instant,
}

struct Table {
    policy: Backoff,
    slots: HashMap<String, Slot>,
}

impl Table {
    fn new(policy: Backoff) -> Self {
        Table {
            policy,
            slots: HashMap::new(),
        }
    }

    /// The live slot of `key` (a quiet one is forgotten).
    fn get(&mut self, key: &str, now: Instant) -> Option<&mut Slot> {
        let forget = self.policy.forget;
        if self
            .slots
            .get(key)
            .is_some_and(|s| now.saturating_duration_since(s.last) >= forget)
        {
            self.slots.remove(key);
        }
        self.slots.get_mut(key)
    }

    fn blocked(&mut self, key: &str, now: Instant) -> Option<Duration> {
        self.get(key, now)
            .map(|s| s.until.saturating_duration_since(now))
            .filter(|d| !d.is_zero())
    }

    fn fail(&mut self, key: &str, now: Instant) {
        if self.get(key, now).is_none() {
            self.make_room(now);
        }
        let policy = self.policy;
        let slot = self.slots.entry(key.to_string()).or_insert(Slot {
            failures: 0,
            last: now,
            until: now,
        });
        slot.failures = slot.failures.saturating_add(1);
        slot.last = now;
        slot.until = now + policy.delay(slot.failures);
    }

    /// Takes back one failure counted ahead of a check that succeeded.
    fn take_back(&mut self, key: &str, now: Instant) {
        let policy = self.policy;
        if let Some(slot) = self.get(key, now) {
            slot.failures = slot.failures.saturating_sub(1);
            if slot.failures <= policy.free {
                slot.until = slot.until.min(now);
            }
        }
    }

    fn clear(&mut self, key: &str) {
        self.slots.remove(key);
    }

    /// Keeps the table within its capacity before a new key goes in.
    fn make_room(&mut self, now: Instant) {
        if self.slots.len() < self.policy.capacity {
            return;
        }
        let forget = self.policy.forget;
        self.slots
            .retain(|_, s| now.saturating_duration_since(s.last) < forget);
        while self.slots.len() >= self.policy.capacity {
            let Some(victim) = self
                .slots
                .iter()
                .min_by_key(|(_, s)| (s.failures, s.last))
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            self.slots.remove(&victim);
        }
    }
}

/// Why an attempt is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    /// When the caller may try again.
    pub retry_after: Duration,
    /// `"account"` or `"address"`: which of the two is blocked.
    pub by: &'static str,
}

impl Throttled {
    /// Whole seconds for `Retry-After`, at least one.
    pub fn retry_after_secs(&self) -> u64 {
        let d = self.retry_after;
        (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
    }
}

/// The sign-in throttle shared by the login form and `POST /api/v1/login`.
pub struct LoginThrottle {
    accounts: Mutex<Table>,
    addresses: Mutex<Table>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self::new(ACCOUNT, ADDRESS)
    }
}

fn account_key(account: &str) -> String {
    account.chars().take(KEY_CHARS).collect()
}

impl LoginThrottle {
    pub fn new(account: Backoff, address: Backoff) -> Self {
        LoginThrottle {
            accounts: Mutex::new(Table::new(account)),
            addresses: Mutex::new(Table::new(address)),
        }
    }

    /// Before a password check: refused while the account or the address is
    /// blocked; otherwise the attempt is counted as a failure until
    /// [`succeeded`](Self::succeeded) takes it back.
    pub fn begin(&self, account: &str, address: &str, now: Instant) -> Result<(), Throttled> {
        let account = account_key(account);
        let mut accounts = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        let mut addresses = self.addresses.lock().unwrap_or_else(|p| p.into_inner());
        let by_account = accounts.blocked(&account, now);
        let by_address = addresses.blocked(address, now);
        match (by_account, by_address) {
            (None, None) => {
                accounts.fail(&account, now);
                addresses.fail(address, now);
                Ok(())
            }
            (a, b) => {
                let (retry_after, by) = match (a, b) {
                    (Some(a), Some(b)) if b > a => (b, "address"),
                    (Some(a), _) => (a, "account"),
                    (None, Some(b)) => (b, "address"),
                    (None, None) => unreachable!(),
                };
                Err(Throttled { retry_after, by })
            }
        }
    }

    /// The password was right: the account starts afresh and the address's
    /// attempt is taken back.
    pub fn succeeded(&self, account: &str, address: &str, now: Instant) {
        let account = account_key(account);
        self.accounts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear(&account);
        self.addresses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take_back(address, now);
    }

    /// Entries held (accounts, addresses), for tests.
    pub fn len(&self) -> (usize, usize) {
        (
            self.accounts
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .slots
                .len(),
            self.addresses
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .slots
                .len(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn the_delay_doubles_after_the_free_failures_up_to_the_cap() {
        let d: Vec<u64> = (0..=14).map(|f| ACCOUNT.delay(f).as_secs()).collect();
        assert_eq!(d, [0, 0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(ACCOUNT.delay(u32::MAX), secs(60));
        assert_eq!(ADDRESS.delay(20), Duration::ZERO);
        assert_eq!(ADDRESS.delay(21), secs(1));
        assert_eq!(ADDRESS.delay(1000), secs(300));
    }

    #[test]
    fn a_guessed_account_is_blocked_but_never_for_longer_than_the_cap() {
        let t = LoginThrottle::default();
        let start = Instant::now();
        let mut now = start;
        // An attacker retries the moment each block ends, from fresh
        // addresses, for an hour.
        let mut guesses = 0;
        let mut longest = Duration::ZERO;
        let mut addr = 0u32;
        while now < start + secs(3600) {
            addr += 1;
            match t.begin("ada", &format!("10.0.{}.{}", addr / 256, addr % 256), now) {
                Ok(()) => guesses += 1,
                Err(th) => {
                    assert_eq!(th.by, "account");
                    longest = longest.max(th.retry_after);
                    now += th.retry_after;
                }
            }
        }
        assert!(longest <= ACCOUNT.cap, "{longest:?}");
        // 5 free, then roughly one a minute.
        assert!((60..=70).contains(&guesses), "{guesses} guesses in an hour");
        // The real user is told exactly how long to wait, and then gets in.
        let wait = match t.begin("ada", "192.0.2.1", now) {
            Ok(()) => Duration::ZERO,
            Err(th) => th.retry_after,
        };
        assert!(wait <= ACCOUNT.cap);
        if !wait.is_zero() {
            assert!(t.begin("ada", "192.0.2.1", now + wait).is_ok());
        }
        t.succeeded("ada", "192.0.2.1", now + wait);
        // ...and the account starts afresh.
        for _ in 0..=ACCOUNT.free {
            assert!(t.begin("ada", "192.0.2.1", now + wait).is_ok());
        }
    }

    #[test]
    fn an_address_guessing_many_accounts_is_blocked_others_are_not() {
        let t = LoginThrottle::default();
        let now = Instant::now();
        for i in 0..ADDRESS.free + 1 {
            t.begin(&format!("user{i}"), "198.51.100.9", now).unwrap();
        }
        let th = t.begin("someone-else", "198.51.100.9", now).unwrap_err();
        assert_eq!(th.by, "address");
        assert_eq!(th.retry_after_secs(), 1);
        assert!(t.begin("someone-else", "198.51.100.10", now).is_ok());
        // Blocked attempts do not extend the block.
        for _ in 0..100 {
            assert!(t.begin("x", "198.51.100.9", now + secs(1) / 2).is_err());
        }
        assert!(t.begin("x", "198.51.100.9", now + secs(1)).is_ok());
    }

    #[test]
    fn parallel_guesses_are_counted_before_they_are_checked() {
        let t = LoginThrottle::default();
        let now = Instant::now();
        // Six checks start before any of them finishes: the sixth blocks.
        let started = (0..20)
            .filter(|_| t.begin("ada", "203.0.113.1", now).is_ok())
            .count();
        assert_eq!(started, ACCOUNT.free as usize + 1);
    }

    #[test]
    fn a_success_takes_back_its_own_attempt_and_quiet_clears_everything() {
        let t = LoginThrottle::default();
        let now = Instant::now();
        for _ in 0..ACCOUNT.free {
            t.begin("ada", "203.0.113.1", now).unwrap();
        }
        t.begin("ada", "203.0.113.1", now).unwrap();
        t.succeeded("ada", "203.0.113.1", now);
        for _ in 0..ACCOUNT.free {
            t.begin("ada", "203.0.113.1", now).unwrap();
        }
        t.begin("ada", "203.0.113.1", now).unwrap();
        assert!(t.begin("ada", "203.0.113.1", now).is_err());
        assert!(t.begin("ada", "203.0.113.1", now + ACCOUNT.forget).is_ok());
    }

    #[test]
    fn memory_stays_within_the_capacity() {
        let small = Backoff {
            capacity: 100,
            ..ACCOUNT
        };
        let t = LoginThrottle::new(
            small,
            Backoff {
                capacity: 50,
                ..ADDRESS
            },
        );
        let now = Instant::now();
        // A persistent guess at one account survives a flood of others.
        for _ in 0..ACCOUNT.free + 3 {
            let _ = t.begin("target", "203.0.113.1", now);
        }
        for i in 0..100_000u32 {
            let _ = t.begin(&format!("name-{i}"), &format!("a{}", i % 5000), now);
        }
        let (accounts, addresses) = t.len();
        assert!(accounts <= 100 && addresses <= 50, "{accounts} {addresses}");
        assert!(t.begin("target", "203.0.113.2", now).is_err());
        // Long names share one key.
        let long = "n".repeat(10_000);
        let _ = t.begin(&long, "b", now);
        assert!(t.len().0 <= 100);
    }
}
