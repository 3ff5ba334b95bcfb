//! Credentials while the database is out of reach: the permission check
//! answers from what it read before, within bounds, so that inference on
//! loaded versions goes on through a database outage.
//!
//! The caches of credentials and owning teams ([`CACHE_TTL`]) are read
//! again when an entry is older than the TTL. When that read fails because
//! the database cannot be reached (or does not answer within
//! [`STALE_WAIT`] while an entry is at hand), the database is taken to be
//! down since the read *started*, and:
//!
//! | entry                                             | answer                        |
//! |---------------------------------------------------|-------------------------------|
//! | fresh (younger than the TTL)                      | the entry, as always          |
//! | stale, but was fresh when the outage began         | the entry (read before)       |
//! | older, or none                                    | 503 `database_unavailable`    |
//!
//! So an outage trusts exactly the credentials this process was trusting
//! when it began, no others: a revocation made elsewhere more than
//! [`CACHE_TTL`] before the outage is never missed; one made in the TTL
//! before it takes effect when the database returns (without an outage it
//! would have within the TTL). A revocation cannot be made during the outage
//! (it is a write), and one made on this process forgets the entry at once.
//!
//! While the database is down, a request never waits for it when it has an
//! entry to answer from: the database is read again in the background, at
//! most once per [`RETRY`], and the first successful read ends the outage.

use super::*;

/// How long a request with a cached entry at hand waits for the database
/// to answer before it is taken to be down and the entry answers.
pub(super) const STALE_WAIT: Duration = Duration::from_millis(500);
/// How often the database is tried again while it is down.
pub(super) const RETRY: Duration = Duration::from_secs(1);

/// What the permission check knows of the database's reachability.
#[derive(Default)]
pub(super) struct DatabaseHealth {
    outage: Mutex<Option<Outage>>,
}

#[derive(Clone, Copy)]
struct Outage {
    /// When the first read that failed started.
    since: Instant,
    /// When a read was last started.
    tried: Instant,
}

impl DatabaseHealth {
    /// Should a read be started now? Always while the database is thought
    /// up; while it is down, once per [`RETRY`] (the caller that gets `true`
    /// makes the attempt).
    pub(super) fn may_try(&self) -> bool {
        let mut outage = self.outage.lock().unwrap_or_else(|e| e.into_inner());
        match outage.as_mut() {
            None => true,
            Some(o) if o.tried.elapsed() >= RETRY => {
                o.tried = Instant::now();
                true
            }
            Some(_) => false,
        }
    }

    /// A read that started at `started` failed to reach the database.
    pub(super) fn down(&self, started: Instant) {
        let mut outage = self.outage.lock().unwrap_or_else(|e| e.into_inner());
        match outage.as_mut() {
            Some(o) => o.since = o.since.min(started),
            None => {
                tracing::warn!(
                    "the database is unreachable: credentials read before go on being trusted \
                     (see auth::outage), management calls answer 503 until it returns"
                );
                *outage = Some(Outage {
                    since: started,
                    tried: Instant::now(),
                });
            }
        }
    }

    /// A read that started at `started` succeeded: an outage that began
    /// before it is over.
    pub(super) fn up(&self, started: Instant) {
        let mut outage = self.outage.lock().unwrap_or_else(|e| e.into_inner());
        if outage.is_some_and(|o| o.since <= started) {
            tracing::info!("the database is reachable again");
            *outage = None;
        }
    }

    /// May an entry read at `read_at` answer while the database is down?
    /// Only if it was still fresh when the outage began.
    pub(super) fn covers(&self, read_at: Instant) -> bool {
        let outage = self.outage.lock().unwrap_or_else(|e| e.into_inner());
        outage.is_some_and(|o| o.since <= read_at + CACHE_TTL)
    }
}

/// Is this failure the database being out of reach?
pub(super) fn unreachable(e: &StoreError) -> bool {
    matches!(e, StoreError::Unavailable(_))
}

/// Reads through a cache: `read` (which stores what it read) runs as a task
/// of its own, so that it finishes, and ends an outage, even when the
/// request stops waiting for it. `stale` is the entry at hand, with when it
/// was read; the table in the module doc says which answer wins.
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
    if !health.may_try() {
        return fallback(stale, "the database was unreachable a moment ago".into());
    }
    let started = Instant::now();
    let task = {
        let state = state.clone();
        tokio::spawn(async move {
            let result = read.await;
            match &result {
                Ok(_) => state.auth.health.up(started),
                Err(e) if unreachable(e) => state.auth.health.down(started),
                Err(_) => {}
            }
            result
        })
    };
    let joined = if stale.is_some() {
        match tokio::time::timeout(STALE_WAIT, task).await {
            Ok(joined) => joined,
            Err(_) => {
                health.down(started);
                return fallback(
                    stale,
                    format!("the database did not answer within {STALE_WAIT:?}"),
                );
            }
        }
    } else {
        task.await
    };
    match joined {
        Ok(Ok(fresh)) => Ok(fresh),
        Ok(Err(e)) if unreachable(&e) => fallback(stale, e.to_string()),
        Ok(Err(e)) => Err(e),
        Err(e) => Err(StoreError::Invalid(format!("credential lookup failed: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_answers_in_an_outage_only_if_it_was_fresh_when_it_began() {
        let health = DatabaseHealth::default();
        let now = Instant::now();
        assert!(!health.covers(now), "no outage: nothing stands in");
        health.down(now);
        assert!(health.covers(now));
        assert!(health.covers(now - CACHE_TTL));
        assert!(!health.covers(now - CACHE_TTL - Duration::from_millis(1)));
        // An earlier failing read moves the outage's start back.
        health.down(now - Duration::from_secs(3));
        assert!(!health.covers(now - CACHE_TTL - Duration::from_millis(1)));
        assert!(health.covers(now - CACHE_TTL + Duration::from_secs(3)));
        // A read that started before the outage began does not end it…
        health.up(now - Duration::from_secs(4));
        assert!(health.covers(now));
        // …one that started after it does.
        health.up(now);
        assert!(!health.covers(now));
        assert!(health.may_try());
    }

    #[test]
    fn a_down_database_is_tried_again_once_per_retry() {
        let health = DatabaseHealth::default();
        assert!(health.may_try());
        health.down(Instant::now());
        assert!(!health.may_try(), "just tried");
        let mut outage = health.outage.lock().unwrap();
        outage.as_mut().unwrap().tried = Instant::now() - RETRY;
        drop(outage);
        assert!(health.may_try(), "a retry is due");
        assert!(!health.may_try(), "and taken by one caller only");
    }
}
