//! Sliding windows of request outcomes (count, errors, latency histogram) in
//! one-second buckets, and the guardrail decision over them.

use crate::routing::Guardrails;

/// Latency bucket upper bounds in microseconds: 25 µs doubling up to ~105 s.
const LATENCY_BOUNDS_US: [u64; 23] = {
    let mut b = [0u64; 23];
    let mut i = 0;
    let mut v = 25u64;
    while i < 23 {
        b[i] = v;
        v *= 2;
        i += 1;
    }
    b
};

#[derive(Debug, Clone, Default)]
struct Second {
    /// Which second this bucket holds (seconds since an arbitrary epoch).
    at: u64,
    requests: u64,
    errors: u64,
    latency: [u64; 24],
}

/// Outcomes over the last `capacity` seconds.
#[derive(Debug, Clone)]
pub struct OutcomeWindow {
    seconds: Vec<Second>,
}

/// What a window saw.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowSummary {
    pub requests: u64,
    pub errors: u64,
    /// Upper bound of the latency bucket holding the 99th percentile, in ms.
    pub p99_ms: Option<f64>,
}

impl WindowSummary {
    pub fn error_rate(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.errors as f64 / self.requests as f64
        }
    }
}

impl OutcomeWindow {
    pub fn new(capacity_secs: usize) -> Self {
        OutcomeWindow {
            seconds: vec![Second::default(); capacity_secs.max(1)],
        }
    }

    fn slot(&mut self, now: u64) -> &mut Second {
        let n = self.seconds.len();
        let s = &mut self.seconds[(now % n as u64) as usize];
        if s.at != now {
            *s = Second {
                at: now,
                ..Second::default()
            };
        }
        s
    }

    /// Records one request that finished at second `now`.
    pub fn record(&mut self, now: u64, latency_us: u64, error: bool) {
        let s = self.slot(now);
        s.requests += 1;
        if error {
            s.errors += 1;
        }
        let b = LATENCY_BOUNDS_US
            .iter()
            .position(|&u| latency_us <= u)
            .unwrap_or(LATENCY_BOUNDS_US.len());
        s.latency[b] += 1;
    }

    /// The last `window` seconds up to and including `now`.
    pub fn summary(&self, now: u64, window: u64) -> WindowSummary {
        let mut requests = 0;
        let mut errors = 0;
        let mut latency = [0u64; 24];
        for s in &self.seconds {
            if s.requests > 0 && s.at <= now && now - s.at < window {
                requests += s.requests;
                errors += s.errors;
                for (t, c) in latency.iter_mut().zip(s.latency) {
                    *t += c;
                }
            }
        }
        let p99_ms = (requests > 0).then(|| {
            let rank = (requests as f64 * 0.99).ceil() as u64;
            let mut seen = 0;
            let idx = latency
                .iter()
                .position(|&c| {
                    seen += c;
                    seen >= rank
                })
                .unwrap_or(LATENCY_BOUNDS_US.len());
            match LATENCY_BOUNDS_US.get(idx) {
                Some(us) => *us as f64 / 1000.0,
                None => f64::INFINITY,
            }
        });
        WindowSummary {
            requests,
            errors,
            p99_ms,
        }
    }
}

/// Whether a canary's window breaks its guardrails; the reason when it does.
pub fn guardrail_breach(g: &Guardrails, canary: &WindowSummary) -> Option<String> {
    if canary.requests < g.min_requests.max(1) {
        return None;
    }
    if let Some(max) = g.max_error_rate {
        let rate = canary.error_rate();
        if rate > max {
            return Some(format!(
                "canary error rate {:.1}% over the last {} s ({} of {} requests) exceeds {:.1}%",
                rate * 100.0,
                g.window_secs,
                canary.errors,
                canary.requests,
                max * 100.0
            ));
        }
    }
    if let (Some(max), Some(p99)) = (g.max_p99_ms, canary.p99_ms) {
        if p99 > max {
            return Some(format!(
                "canary p99 latency {p99:.2} ms over the last {} s ({} requests) exceeds {max} ms",
                g.window_secs, canary.requests
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_forgets_old_seconds() {
        let mut w = OutcomeWindow::new(60);
        for i in 0..100 {
            w.record(1000, 100, i % 10 == 0);
        }
        w.record(1030, 100, false);
        let s = w.summary(1030, 60);
        assert_eq!((s.requests, s.errors), (101, 10));
        let s = w.summary(1070, 60);
        assert_eq!(
            (s.requests, s.errors),
            (1, 0),
            "second 1000 fell out of the window"
        );
        // A slot reused for a new second starts empty.
        w.record(1060, 100, false);
        assert_eq!(w.summary(1060, 1).requests, 1);
    }

    #[test]
    fn p99_is_the_bucket_bound_of_the_99th_percentile() {
        let mut w = OutcomeWindow::new(10);
        for _ in 0..99 {
            w.record(5, 90, false); // bucket <= 100 µs
        }
        w.record(5, 30_000, false); // bucket <= 51.2 ms
        assert_eq!(w.summary(5, 10).p99_ms, Some(0.1));
        w.record(5, 30_000, false);
        assert_eq!(w.summary(5, 10).p99_ms, Some(51.2));
        assert_eq!(OutcomeWindow::new(10).summary(5, 10).p99_ms, None);
    }

    #[test]
    fn guardrails_fire_only_past_their_thresholds_with_enough_traffic() {
        let g = Guardrails {
            max_error_rate: Some(0.05),
            max_p99_ms: Some(10.0),
            window_secs: 30,
            min_requests: 20,
        };
        let s = |requests, errors, p99| WindowSummary {
            requests,
            errors,
            p99_ms: Some(p99),
        };
        assert_eq!(
            guardrail_breach(&g, &s(10, 10, 1.0)),
            None,
            "too few requests"
        );
        assert_eq!(guardrail_breach(&g, &s(100, 5, 1.0)), None);
        assert!(guardrail_breach(&g, &s(100, 6, 1.0))
            .unwrap()
            .contains("error rate 6.0%"));
        assert!(guardrail_breach(&g, &s(100, 0, 12.8))
            .unwrap()
            .contains("p99 latency 12.80 ms"));
        assert_eq!(
            guardrail_breach(&Guardrails::default(), &s(100, 100, 1e9)),
            None,
            "no thresholds set"
        );
    }
}
