//! Credentials while the database is out of reach: the permission check
//! answers from what it read before, within bounds, so that inference on
//! loaded versions goes on through a database outage.
//!
//! The caches of credentials and owning teams ([`CACHE_TTL`]) read an entry
//! again once it is older than the TTL. A heartbeat ([`watch_database`],
//! every [`HEARTBEAT`] on a networked database) and every read of the
//! caches keep two facts: when the database last answered (`last_ok`), and
//! whether it is out of reach now. When an entry's read cannot be made
//! (the database is known out of reach, the read fails to reach it, or it
//! does not answer within [`STALE_WAIT`]):
//!
//! | entry                                                  | answer                     |
//! |--------------------------------------------------------|----------------------------|
//! | fresh (younger than the TTL)                           | the entry, as always       |
//! | stale, but fresh when the database last answered       | the entry (read before)    |
//! | older, or none                                         | 503 `database_unavailable` |
//!
//! So an outage goes on trusting what this process was trusting when the
//! database last answered, no more. A revocation made on another process
//! is missed during an outage only if it was made in the TTL before the
//! database last answered, or after (at most a heartbeat and a connection
//! timeout before the outage began): about 15 s in all, against 10 s without
//! an outage. A revocation cannot be made during the outage (it is a write),
//! and one made on this process forgets the entry at once.
//!
//! While the database is known to be out of reach, a request with an entry
//! that may answer does not try it; any other waits at most a heartbeat for
//! it before its 503. The heartbeat finds out when the database is back.

use super::*;

/// How long a request with a cached entry at hand waits for the database
/// to answer before that entry answers instead.
pub(super) const STALE_WAIT: Duration = Duration::from_millis(500);
/// How often the heartbeat asks the database whether it answers.
pub(super) const HEARTBEAT: Duration = Duration::from_secs(1);

/// What the permission check knows of the database's reachability.
pub(super) struct DatabaseHealth {
    state: Mutex<Reach>,
    /// A request's read is trying a database known to be down (one at a
    /// time: a flood of unknown tokens during an outage makes one read).
    probing: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

#[derive(Clone, Copy)]
struct Reach {
    /// When the last read that succeeded started.
    last_ok: Instant,
    /// Out of reach: a read failed to reach it, none succeeded since.
    down: bool,
}

impl Default for DatabaseHealth {
    fn default() -> Self {
        DatabaseHealth {
            state: Mutex::new(Reach {
                last_ok: Instant::now(),
                down: false,
            }),
            probing: Default::default(),
        }
    }
}

impl DatabaseHealth {
    fn reach(&self) -> std::sync::MutexGuard<'_, Reach> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Is the database thought to answer? Not once a read failed to reach
    /// it, until one succeeds.
    pub(super) fn is_up(&self) -> bool {
        !self.reach().down
    }

    /// A read failed to reach the database.
    pub(super) fn down(&self) {
        let mut reach = self.reach();
        if !reach.down {
            reach.down = true;
            tracing::warn!(
                "the database is unreachable: credentials read before go on being trusted \
                 (auth::outage), management calls answer 503 until it returns"
            );
        }
    }

    /// A read that started at `started` succeeded.
    pub(super) fn up(&self, started: Instant) {
        let mut reach = self.reach();
        reach.last_ok = reach.last_ok.max(started);
        if reach.down {
            reach.down = false;
            tracing::info!("the database is reachable again");
        }
    }

    /// The right to try a database known to be down from a request, if no
    /// other request holds it; given back when the guard is dropped.
    fn probe(&self) -> Option<Probe> {
        use std::sync::atomic::Ordering;
        self.probing
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| Probe(self.probing.clone()))
    }

    /// May an entry read at `read_at` answer when it cannot be read again?
    /// Only if it was fresh when the database last answered.
    pub(super) fn covers(&self, read_at: Instant) -> bool {
        read_at + CACHE_TTL >= self.reach().last_ok
    }
}

/// Held by the one request trying a database known to be down.
struct Probe(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Drop for Probe {
    fn drop(&mut self) {
        self.0.store(false, std::sync::atomic::Ordering::Release);
    }
}

/// Asks the database every [`HEARTBEAT`] whether it answers, so that an
/// outage is known (and its end too) without a request finding it out.
pub(crate) async fn watch_database(state: AppState) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let started = Instant::now();
        let probe = state.db.has_superuser();
        let answer = if state.auth.health.is_up() {
            probe.await
        } else {
            // Down: a probe that does not answer within a heartbeat is
            // dropped and the next one sent, so that the database's return
            // is noticed within about a heartbeat, not a connection timeout.
            match tokio::time::timeout(HEARTBEAT, probe).await {
                Ok(answer) => answer,
                Err(_) => continue,
            }
        };
        match answer {
            Ok(_) => state.auth.health.up(started),
            Err(e) if unreachable(&e) => state.auth.health.down(),
            Err(e) => tracing::debug!(error = %e, "database heartbeat failed"),
        }
    }
}

/// Is this failure the database being out of reach?
pub(super) fn unreachable(e: &StoreError) -> bool {
    matches!(e, StoreError::Unavailable(_))
}

/// Reads through a cache: `read` (which stores what it read) runs as a task
/// of its own, so that it finishes, and says whether the database answers,
/// even when the request stops waiting for it. `stale` is the entry at hand,
/// with when it was read; the table in the module doc says which answer
/// wins.
pub(super) async fn read_through<T, F>(
    state: &AppState,
    stale: Option<(Instant, T)>,
    read: F,
) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
{
    let health = &state.auth.health;
    let fallback = |stale: Option<(Instant, T)>, cause: String| match stale {
        Some((at, entry)) if health.covers(at) => Ok(entry),
        _ => Err(StoreError::Unavailable(cause)),
    };
    let down = !health.is_up();
    // How long this request waits for the read: not at all when the
    // database is known down and an entry may answer; briefly when it is
    // known down and none may (it may be back before the heartbeat says
    // so), one such request at a time; STALE_WAIT with an entry at hand;
    // else as long as the read takes.
    let mut probe = None;
    let wait = match (&stale, down) {
        (Some((at, _)), true) if health.covers(*at) => {
            return fallback(stale, String::new());
        }
        (_, true) => {
            probe = health.probe();
            if probe.is_none() {
                return fallback(stale, "the database is unreachable".into());
            }
            Some(HEARTBEAT)
        }
        (Some(_), false) => Some(STALE_WAIT),
        (None, false) => None,
    };
    let started = Instant::now();
    let task = {
        let state = state.clone();
        tokio::spawn(async move {
            let _probe = probe;
            let result = read.await;
            match &result {
                Ok(_) => state.auth.health.up(started),
                Err(e) if unreachable(e) => state.auth.health.down(),
                Err(_) => {}
            }
            result
        })
    };
    let joined = match wait {
        Some(wait) => match tokio::time::timeout(wait, task).await {
            Ok(joined) => joined,
            Err(_) => {
                return fallback(
                    stale,
                    format!("the database did not answer within {wait:?}"),
                )
            }
        },
        None => task.await,
    };
    match joined {
        Ok(Ok(fresh)) => Ok(fresh),
        Ok(Err(e)) if unreachable(&e) => fallback(stale, e.to_string()),
        Ok(Err(e)) => Err(e),
        Err(e) => Err(StoreError::Invalid(format!(
            "credential lookup failed: {e}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_stands_in_only_if_it_was_fresh_when_the_database_last_answered() {
        let health = DatabaseHealth::default();
        let now = Instant::now();
        health.up(now);
        assert!(health.covers(now));
        assert!(health.covers(now - CACHE_TTL));
        assert!(!health.covers(now - CACHE_TTL - Duration::from_millis(1)));
        // A read that started earlier does not move the mark back.
        health.up(now - Duration::from_secs(5));
        assert!(!health.covers(now - CACHE_TTL - Duration::from_millis(1)));
        // An outage does not move it either: it is when it last answered.
        health.down();
        assert!(health.covers(now - CACHE_TTL));
        assert!(!health.covers(now - CACHE_TTL - Duration::from_millis(1)));
    }

    #[test]
    fn the_database_is_down_from_a_failed_read_until_a_read_succeeds() {
        let health = DatabaseHealth::default();
        assert!(health.is_up());
        health.down();
        assert!(!health.is_up());
        health.down();
        assert!(!health.is_up());
        health.up(Instant::now());
        assert!(health.is_up(), "the first answer ends the outage");
    }

    #[test]
    fn one_request_at_a_time_tries_a_database_known_to_be_down() {
        let health = DatabaseHealth::default();
        let first = health.probe().expect("free");
        assert!(health.probe().is_none(), "taken");
        drop(first);
        assert!(health.probe().is_some(), "given back");
    }
}
