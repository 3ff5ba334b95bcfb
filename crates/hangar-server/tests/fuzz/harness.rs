//! The fuzz loop and the allocation meter shared by every target.
//!
//! A target is a proptest strategy (random bytes, or a valid input built from
//! generated parts and then mutated) and a property checked on each case.
//! [`fuzz`] runs it:
//!
//! - for `cases` cases (`HANGAR_FUZZ_CASES` overrides it), the bounded run of
//!   `cargo test`;
//! - or, with `HANGAR_FUZZ_SECONDS=n`, in batches with fresh seeds until `n`
//!   seconds have passed (`bench/fuzz.sh`).
//!
//! Either way it prints `fuzz <target>: <cases> cases in <s> s (seed <n>)`
//! on stderr. A failure is shrunk by proptest and reported with the seed;
//! `HANGAR_FUZZ_SEED=<n>` replays the same cases.
//!
//! The meter is the test binary's global allocator: it counts the bytes each
//! thread has live and the peak since [`measure`] started, so a target can
//! assert that decoding `n` bytes never holds more than its cap.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fmt::Debug;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestError, TestRunner};

/// Counts live bytes per thread on top of the system allocator.
pub struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn account(delta: isize) {
    // `try_with`: never panic inside the allocator (a thread being torn down
    // has no counters left; its frees are simply not counted).
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|peak| {
            if now > peak.get() {
                peak.set(now);
            }
        });
    });
}

// SAFETY: every call is forwarded unchanged to `System`; the counting only
// touches thread-local `Cell`s, which neither allocate nor unwind.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            account(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            account(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        account(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            account(new_size as isize - layout.size() as isize);
        }
        p
    }
}

/// Runs `f` and returns its result with the most bytes this thread held at
/// once during the call, above what it held before (what `f` returns is
/// still held, so it counts). A reallocation's old and new blocks are
/// counted as one, so the figure is a floor of the true peak by at most the
/// largest block that grew.
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(start));
    let out = f();
    let peak = PEAK.with(Cell::get);
    (out, usize::try_from(peak - start).unwrap_or(0))
}

/// A target's allocation cap: at most `per_byte` bytes per input byte plus
/// `fixed` bytes (error messages, the first blocks of small collections).
#[derive(Debug, Clone, Copy)]
pub struct Cap {
    pub per_byte: usize,
    pub fixed: usize,
}

impl Cap {
    pub fn of(self, input_len: usize) -> usize {
        input_len
            .saturating_mul(self.per_byte)
            .saturating_add(self.fixed)
    }
}

/// The case that came closest to its target's cap: (share of the cap, peak
/// bytes, input bytes), per target; printed with the case count.
static CLOSEST: Mutex<Vec<(String, f64, usize, usize)>> = Mutex::new(Vec::new());

/// Fails the case when `peak` bytes (from [`measure`]) exceed the cap for an
/// input of `input_len` bytes.
pub fn within_cap(
    target: &str,
    peak: usize,
    input_len: usize,
    cap: Cap,
) -> Result<(), TestCaseError> {
    let limit = cap.of(input_len);
    let share = match (peak, limit) {
        (0, _) => 0.0,
        (_, 0) => f64::INFINITY,
        _ => peak as f64 / limit as f64,
    };
    {
        let mut closest = CLOSEST.lock().unwrap_or_else(|p| p.into_inner());
        match closest.iter_mut().find(|(t, ..)| t == target) {
            Some(c) if c.1 >= share => {}
            Some(c) => *c = (target.to_string(), share, peak, input_len),
            None => closest.push((target.to_string(), share, peak, input_len)),
        }
    }
    if peak > limit {
        return Err(TestCaseError::fail(format!(
            "{target}: {input_len} bytes of input held {peak} bytes at once, past the cap of {limit} ({cap:?})"
        )));
    }
    Ok(())
}

fn env_number(name: &str) -> Option<u64> {
    let raw = std::env::var(name).ok().filter(|v| !v.trim().is_empty())?;
    match raw.trim().parse() {
        Ok(n) => Some(n),
        Err(_) => panic!("{name} must be a whole number, got {raw:?}"),
    }
}

/// Runs `property` on cases drawn from `strategy` (see the module doc for
/// how many) and panics with the shrunk failing case, if any.
pub fn fuzz<S>(
    target: &str,
    cases: u32,
    strategy: S,
    property: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S: Strategy,
    S::Value: Debug,
{
    let seconds = env_number("HANGAR_FUZZ_SECONDS");
    let batch =
        env_number("HANGAR_FUZZ_CASES").map_or(cases, |n| n.clamp(1, u64::from(u32::MAX)) as u32);
    let seed = env_number("HANGAR_FUZZ_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    });
    let deadline = seconds.map(|s| Instant::now() + Duration::from_secs(s));
    let started = Instant::now();
    let mut total: u64 = 0;
    let mut round: u64 = 0;
    loop {
        let round_seed = seed.wrapping_add(round);
        let config = Config {
            cases: batch,
            failure_persistence: None,
            rng_seed: RngSeed::Fixed(round_seed),
            // Shrinking a case that allocates too much may take a while; a
            // minute of it is plenty to get a readable input.
            max_shrink_time: 60_000,
            ..Config::default()
        };
        let mut runner = TestRunner::new(config);
        match runner.run(&strategy, &property) {
            Ok(()) => {}
            Err(TestError::Fail(reason, case)) => panic!(
                "fuzz {target}: {reason}\nminimal failing case: {case:?}\nreplay with HANGAR_FUZZ_SEED={round_seed} HANGAR_FUZZ_CASES={batch}"
            ),
            Err(TestError::Abort(reason)) => panic!("fuzz {target}: aborted: {reason}"),
        }
        total += u64::from(batch);
        round += 1;
        match deadline {
            Some(d) if Instant::now() < d => continue,
            _ => break,
        }
    }
    let closest = CLOSEST
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .find(|(t, ..)| t == target)
        .map(|(_, share, peak, len)| {
            format!(
                "; closest to the cap: {peak} bytes held for {len} bytes of input ({:.0}% of the cap)",
                share * 100.0
            )
        })
        .unwrap_or_default();
    eprintln!(
        "fuzz {target}: {total} cases in {:.1} s (seed {seed}){closest}",
        started.elapsed().as_secs_f64()
    );
}

/// One way to damage a valid input.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Replace the byte at (position mod length).
    Set(usize, u8),
    /// Insert bytes at (position mod length + 1).
    Insert(usize, Vec<u8>),
    /// Remove up to `n` bytes from (position mod length).
    Remove(usize, usize),
    /// Cut the input at (position mod length + 1).
    Truncate(usize),
    /// Copy a slice of the input onto another place of it.
    Splice(usize, usize, usize),
}

/// Up to `max` mutations, often none (so valid inputs stay common).
pub fn mutations(max: usize) -> impl Strategy<Value = Vec<Mutation>> {
    let one = prop_oneof![
        4 => (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Mutation::Set(at, b)),
        2 => (any::<usize>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, b)| Mutation::Insert(at, b)),
        2 => (any::<usize>(), 1usize..16).prop_map(|(at, n)| Mutation::Remove(at, n)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => (any::<usize>(), any::<usize>(), 1usize..32)
            .prop_map(|(from, to, n)| Mutation::Splice(from, to, n)),
    ];
    prop_oneof![
        1 => Just(Vec::new()),
        2 => prop::collection::vec(one, 1..=max),
    ]
}

/// Applies `mutations` to `bytes` in order.
pub fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = bytes.len();
        match m {
            Mutation::Set(at, b) if len > 0 => bytes[at % len] = *b,
            Mutation::Insert(at, b) => {
                let at = at % (len + 1);
                bytes.splice(at..at, b.iter().copied());
            }
            Mutation::Remove(at, n) if len > 0 => {
                let at = at % len;
                bytes.drain(at..(at + n).min(len));
            }
            Mutation::Truncate(at) => bytes.truncate(at % (len + 1)),
            Mutation::Splice(from, to, n) if len > 0 => {
                let (from, to) = (from % len, to % len);
                let n = (*n).min(len - from).min(len - to);
                let piece = bytes[from..from + n].to_vec();
                bytes[to..to + n].copy_from_slice(&piece);
            }
            Mutation::Set(..) | Mutation::Remove(..) | Mutation::Splice(..) => {}
        }
    }
    bytes
}

/// Random bytes, biased towards short inputs.
pub fn random_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 0..64),
        2 => prop::collection::vec(any::<u8>(), 0..=max),
    ]
}
