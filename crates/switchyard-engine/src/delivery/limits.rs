//! Per-destination limits, kept in memory by each process: a token bucket for the
//! rate, a circuit breaker over recent outcomes, and an additive-increase /
//! multiplicative-decrease concurrency limit that backs off when a destination says
//! it is overloaded (429, 502, 503, 504). All take the current time as an argument so
//! tests drive them without sleeping.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// A token bucket: `rate` tokens a second, holding at most `burst`.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket. A rate that is not positive and finite is treated as the
    /// smallest positive one; `burst` is at least one token.
    pub fn new(rate: f64, burst: f64, now: Instant) -> Self {
        let burst = burst.max(1.0);
        let burst = if burst.is_finite() { burst } else { 1.0 };
        Self {
            rate: if rate.is_finite() && rate > 0.0 {
                rate
            } else {
                f64::MIN_POSITIVE
            },
            burst,
            tokens: burst,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + dt * self.rate).min(self.burst);
        self.last = now;
    }

    /// Takes a token if one is there.
    pub fn try_take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// How long until a token is there (zero when one is).
    pub fn wait(&mut self, now: Instant) -> Duration {
        self.refill(now);
        if self.tokens >= 1.0 {
            Duration::ZERO
        } else {
            // A rate so small the wait overflows a Duration waits a day instead of
            // panicking: the settings API bounds rates, but a stored row may not be.
            Duration::try_from_secs_f64((1.0 - self.tokens) / self.rate)
                .unwrap_or(Duration::from_secs(86_400))
                .min(Duration::from_secs(86_400))
        }
    }
}

/// When a circuit opens and for how long.
#[derive(Debug, Clone)]
pub struct BreakerConfig {
    /// Outcomes older than this are forgotten.
    pub window: Duration,
    /// Fewer outcomes than this in the window never open the circuit.
    pub min_requests: usize,
    /// The circuit opens when at least this fraction of the window failed.
    pub failure_ratio: f64,
    /// How long an open circuit refuses before a probe is let through.
    pub open_for: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(60),
            min_requests: 10,
            failure_ratio: 0.5,
            open_for: Duration::from_secs(30),
        }
    }
}

/// Where a circuit stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    Closed,
    /// Refusing until the instant; then one probe.
    Open(Instant),
    /// One probe is out; its outcome decides.
    HalfOpen,
}

impl CircuitState {
    pub fn as_str(&self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open(_) => "open",
            CircuitState::HalfOpen => "half_open",
        }
    }
}

/// A circuit breaker over the outcomes of a sliding time window.
#[derive(Debug, Clone)]
pub struct Breaker {
    cfg: BreakerConfig,
    outcomes: VecDeque<(Instant, bool)>,
    failures: usize,
    state: CircuitState,
}

impl Breaker {
    pub fn new(cfg: BreakerConfig) -> Self {
        Self {
            cfg,
            outcomes: VecDeque::new(),
            failures: 0,
            state: CircuitState::Closed,
        }
    }

    pub fn state(&self) -> CircuitState {
        self.state
    }

    /// Whether a request may start now. An open circuit whose time is up lets one
    /// probe through (and is half-open until that probe's outcome arrives).
    pub fn allow(&mut self, now: Instant) -> bool {
        match self.state {
            CircuitState::Closed => true,
            CircuitState::Open(until) if now >= until => {
                self.state = CircuitState::HalfOpen;
                true
            }
            CircuitState::Open(_) | CircuitState::HalfOpen => false,
        }
    }

    /// Whether a request could start now, without changing anything.
    pub fn would_allow(&self, now: Instant) -> bool {
        match self.state {
            CircuitState::Closed => true,
            CircuitState::Open(until) => now >= until,
            CircuitState::HalfOpen => false,
        }
    }

    /// When an open circuit will let a probe through.
    pub fn open_until(&self) -> Option<Instant> {
        match self.state {
            CircuitState::Open(until) => Some(until),
            _ => None,
        }
    }

    /// Records an outcome.
    pub fn record(&mut self, ok: bool, now: Instant) {
        match self.state {
            CircuitState::HalfOpen => {
                if ok {
                    self.state = CircuitState::Closed;
                    self.outcomes.clear();
                    self.failures = 0;
                } else {
                    self.state = CircuitState::Open(now + self.cfg.open_for);
                }
                return;
            }
            // Late outcomes of requests started before the circuit opened.
            CircuitState::Open(_) => return,
            CircuitState::Closed => {}
        }
        self.outcomes.push_back((now, ok));
        if !ok {
            self.failures += 1;
        }
        while let Some(&(at, was_ok)) = self.outcomes.front() {
            if now.saturating_duration_since(at) <= self.cfg.window {
                break;
            }
            self.outcomes.pop_front();
            if !was_ok {
                self.failures -= 1;
            }
        }
        let n = self.outcomes.len();
        if n >= self.cfg.min_requests && (self.failures as f64) >= self.cfg.failure_ratio * n as f64
        {
            self.state = CircuitState::Open(now + self.cfg.open_for);
        }
    }
}

/// A concurrency limit that halves when the destination signals overload and grows
/// back by one for every `limit` successes, never above `max` nor below one.
#[derive(Debug, Clone)]
pub struct Aimd {
    max: usize,
    limit: f64,
}

impl Aimd {
    pub fn new(max: usize) -> Self {
        let max = max.max(1);
        Self {
            max,
            limit: max as f64,
        }
    }

    pub fn limit(&self) -> usize {
        (self.limit as usize).clamp(1, self.max)
    }

    pub fn set_max(&mut self, max: usize) {
        self.max = max.max(1);
        self.limit = self.limit.min(self.max as f64);
    }

    pub fn overloaded(&mut self) {
        self.limit = (self.limit / 2.0).max(1.0);
    }

    pub fn success(&mut self) {
        self.limit = (self.limit + 1.0 / self.limit).min(self.max as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn absurd_rates_never_panic() {
        let now = Instant::now();
        for rate in [
            1e-300,
            0.0,
            -1.0,
            f64::NAN,
            f64::INFINITY,
            f64::MIN_POSITIVE,
        ] {
            for burst in [1.0, f64::NAN, f64::INFINITY, 0.0] {
                let mut b = TokenBucket::new(rate, burst, now);
                let _ = b.try_take(now);
                assert!(b.wait(now) <= Duration::from_secs(86_400), "{rate} {burst}");
            }
        }
    }

    #[test]
    fn bucket_enforces_the_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10.0, 2.0, t0);
        assert!(b.try_take(t0));
        assert!(b.try_take(t0));
        assert!(!b.try_take(t0), "burst of 2 is spent");
        let w = b.wait(t0);
        assert!(
            w > Duration::from_millis(90) && w <= Duration::from_millis(100),
            "{w:?}"
        );
        assert!(!b.try_take(t0 + Duration::from_millis(50)));
        assert!(b.try_take(t0 + Duration::from_millis(101)));
    }

    proptest! {
        /// Over any span, no more than burst + rate × span tokens are handed out.
        #[test]
        fn bucket_never_exceeds_its_budget(
            rate in 1.0f64..1000.0,
            burst in 1.0f64..50.0,
            steps in proptest::collection::vec(0u64..20_000, 1..300),
        ) {
            let t0 = Instant::now();
            let mut b = TokenBucket::new(rate, burst, t0);
            let mut now = t0;
            let mut taken = 0u64;
            for micros in steps {
                now += Duration::from_micros(micros);
                if b.try_take(now) {
                    taken += 1;
                }
            }
            let span = now.duration_since(t0).as_secs_f64();
            prop_assert!(taken as f64 <= burst.max(1.0) + rate * span + 1e-6);
        }
    }

    fn cfg() -> BreakerConfig {
        BreakerConfig {
            window: Duration::from_secs(10),
            min_requests: 4,
            failure_ratio: 0.5,
            open_for: Duration::from_secs(5),
        }
    }

    #[test]
    fn breaker_opens_probes_and_closes() {
        let t0 = Instant::now();
        let mut b = Breaker::new(cfg());
        for i in 0..3 {
            b.record(false, t0 + Duration::from_millis(i));
            assert_eq!(b.state(), CircuitState::Closed, "too few samples yet");
        }
        b.record(false, t0 + Duration::from_millis(3));
        assert!(matches!(b.state(), CircuitState::Open(_)));
        assert!(!b.allow(t0 + Duration::from_secs(1)));
        // Time is up: exactly one probe.
        let later = t0 + Duration::from_secs(6);
        assert!(b.allow(later));
        assert_eq!(b.state(), CircuitState::HalfOpen);
        assert!(!b.allow(later), "only one probe at a time");
        b.record(false, later);
        assert!(
            matches!(b.state(), CircuitState::Open(_)),
            "failed probe reopens"
        );
        let later = later + Duration::from_secs(6);
        assert!(b.allow(later));
        b.record(true, later);
        assert_eq!(b.state(), CircuitState::Closed);
        assert!(b.allow(later));
    }

    #[test]
    fn breaker_stays_closed_below_the_ratio_and_forgets_old_failures() {
        let t0 = Instant::now();
        let mut b = Breaker::new(cfg());
        for i in 0..20 {
            // One failure in three.
            b.record(i % 3 != 2, t0 + Duration::from_millis(i));
        }
        assert_eq!(b.state(), CircuitState::Closed);
        let mut b = Breaker::new(cfg());
        for i in 0..3 {
            b.record(false, t0 + Duration::from_millis(i));
        }
        // Eleven seconds on, the old failures are out of the window.
        let later = t0 + Duration::from_secs(11);
        b.record(false, later);
        assert_eq!(b.state(), CircuitState::Closed);
    }

    #[test]
    fn aimd_halves_and_recovers() {
        let mut a = Aimd::new(16);
        a.overloaded();
        assert_eq!(a.limit(), 8);
        a.overloaded();
        a.overloaded();
        a.overloaded();
        a.overloaded();
        assert_eq!(a.limit(), 1);
        for _ in 0..200 {
            a.success();
        }
        assert_eq!(a.limit(), 16);
    }
}
