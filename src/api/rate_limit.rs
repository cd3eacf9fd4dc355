//! Rate limiting: token buckets per source address and per presented API token
//! (`api.rate_limit`), checked before the token's database lookup so a flood never reaches
//! PostgreSQL. Over the limit: 429 with `Retry-After`. Health probes are never limited.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::routes::Access;
use super::ApiState;
use crate::config::{Rate, RateLimits};

/// Past this many buckets, a check first drops the idle ones.
const SWEEP_ABOVE: usize = 10_000;
/// Hard cap: when sweeping idle buckets is not enough, the least recently used go too (a
/// client whose bucket is dropped merely starts again with a full one).
const MAX_BUCKETS: usize = 100_000;

/// Whose requests a bucket counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Address(IpAddr),
    /// SHA-256 of the presented token: tokens stay out of memory dumps, and the key is the
    /// same before and after the database lookup.
    Token([u8; 32]),
}

/// A token bucket: holds at most `burst` tokens, refills at `requests_per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    fn full(rate: Rate, now: Instant) -> Bucket {
        Bucket {
            tokens: f64::from(rate.burst),
            updated: now,
        }
    }

    fn refill(&mut self, rate: Rate, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate.requests_per_second).min(f64::from(rate.burst));
        self.updated = now;
    }

    /// Takes one token, or says how long until one is there.
    fn take(&mut self, rate: Rate, now: Instant) -> Result<(), Duration> {
        self.refill(rate, now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        let missing = 1.0 - self.tokens;
        Err(Duration::from_secs_f64(missing / rate.requests_per_second))
    }

    /// Full again by `now`: forgetting it changes nothing.
    fn is_full_at(&self, rate: Rate, now: Instant) -> bool {
        let mut probe = *self;
        probe.refill(rate, now);
        probe.tokens >= f64::from(rate.burst)
    }
}

/// The buckets of every client seen recently. One lock: a check is a hash lookup and a few
/// float operations.
#[derive(Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<Key, Bucket>>,
}

/// Who is asking.
#[derive(Debug, Clone, Copy)]
pub struct Client<'a> {
    pub address: Option<IpAddr>,
    /// The bearer token as presented (unchecked).
    pub token: Option<&'a str>,
}

impl RateLimiter {
    /// Takes one request from the client's address bucket, then from its token's bucket.
    /// `Err` carries the wait until the refused bucket has a token again.
    pub fn check(
        &self,
        limits: &RateLimits,
        client: Client<'_>,
        now: Instant,
    ) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > SWEEP_ABOVE {
            sweep(&mut buckets, limits, now);
        }
        if let (Some(rate), Some(address)) = (limits.per_address, client.address) {
            take(&mut buckets, Key::Address(address), rate, now)?;
        }
        if let (Some(rate), Some(token)) = (limits.per_token, client.token) {
            let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
            take(&mut buckets, Key::Token(hash), rate, now)?;
        }
        Ok(())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.buckets.lock().unwrap().len()
    }
}

fn take(
    buckets: &mut HashMap<Key, Bucket>,
    key: Key,
    rate: Rate,
    now: Instant,
) -> Result<(), Duration> {
    buckets
        .entry(key)
        .or_insert_with(|| Bucket::full(rate, now))
        .take(rate, now)
}

fn rate_of(limits: &RateLimits, key: &Key) -> Option<Rate> {
    match key {
        Key::Address(_) => limits.per_address,
        Key::Token(_) => limits.per_token,
    }
}

/// Drops buckets that are full again (or whose limit was turned off), then, if there are
/// still too many, the least recently used.
fn sweep(buckets: &mut HashMap<Key, Bucket>, limits: &RateLimits, now: Instant) {
    buckets.retain(|key, bucket| match rate_of(limits, key) {
        Some(rate) => !bucket.is_full_at(rate, now),
        None => false,
    });
    if buckets.len() <= MAX_BUCKETS {
        return;
    }
    let mut by_age: Vec<(Instant, Key)> = buckets
        .iter()
        .map(|(key, bucket)| (bucket.updated, key.clone()))
        .collect();
    by_age.sort_by_key(|(updated, _)| *updated);
    let excess = buckets.len() - MAX_BUCKETS / 2;
    for (_, key) in by_age.into_iter().take(excess) {
        buckets.remove(&key);
    }
}

/// Health probes (public routes outside `/api/`) are never limited: a throttled kubelet would
/// restart a healthy pod.
fn is_probe(state: &ApiState, req: &Request) -> bool {
    let method = if req.method() == Method::HEAD {
        &Method::GET
    } else {
        req.method()
    };
    req.extensions().get::<MatchedPath>().is_some_and(|m| {
        !m.as_str().starts_with("/api/") && state.access_for(method, m.as_str()) == Access::Public
    })
}

fn bearer(req: &Request) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Seconds for `Retry-After`: rounded up, so a client that waits that long gets through.
fn retry_after_seconds(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil() as u64
}

/// Middleware: 429 with `Retry-After` when the address or the token is over its limit.
pub async fn limit(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    if is_probe(&state, &req) {
        return next.run(req).await;
    }
    let config = state.current_config();
    let client = Client {
        address: req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| peer.ip()),
        token: bearer(&req),
    };
    let checked = state
        .rate_limiter
        .check(&config.api.rate_limit, client, Instant::now());
    match checked {
        Ok(()) => next.run(req).await,
        Err(wait) => {
            tracing::debug!(
                retry_after_seconds = retry_after_seconds(wait),
                "rate limited"
            );
            ApiError::too_many_requests(retry_after_seconds(wait)).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: Rate = Rate {
        requests_per_second: 2.0,
        burst: 3,
    };

    fn limits(per_address: Option<Rate>, per_token: Option<Rate>) -> RateLimits {
        RateLimits {
            per_token,
            per_address,
        }
    }

    fn at(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_the_rate() {
        let t0 = Instant::now();
        let mut bucket = Bucket::full(RATE, t0);
        for _ in 0..3 {
            assert_eq!(bucket.take(RATE, t0), Ok(()));
        }
        assert_eq!(bucket.take(RATE, t0), Err(Duration::from_millis(500)));
        // 250 ms later half a token has come back: 250 ms more to wait.
        let wait = bucket.take(RATE, at(t0, 250)).unwrap_err();
        assert!((wait.as_secs_f64() - 0.25).abs() < 1e-9, "{wait:?}");
        assert_eq!(bucket.take(RATE, at(t0, 500)), Ok(()));
        assert!(bucket.take(RATE, at(t0, 500)).is_err());
        // A long pause refills no more than the burst.
        let later = at(t0, 60_000);
        assert!(bucket.is_full_at(RATE, later));
        for _ in 0..3 {
            assert_eq!(bucket.take(RATE, later), Ok(()));
        }
        assert!(bucket.take(RATE, later).is_err());
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_seconds(Duration::from_millis(333)), 1);
        assert_eq!(retry_after_seconds(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_seconds(Duration::from_millis(2001)), 3);
        let slow = Rate {
            requests_per_second: 0.5,
            burst: 1,
        };
        let t0 = Instant::now();
        let mut bucket = Bucket::full(slow, t0);
        bucket.take(slow, t0).unwrap();
        let wait = bucket.take(slow, t0).unwrap_err();
        assert_eq!(retry_after_seconds(wait), 2);
    }

    #[test]
    fn addresses_and_tokens_have_buckets_of_their_own() {
        let limiter = RateLimiter::default();
        let both = limits(
            Some(RATE),
            Some(Rate {
                requests_per_second: 1.0,
                burst: 2,
            }),
        );
        let t0 = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let client = |address, token| Client {
            address: Some(address),
            token,
        };
        // Token t1 runs out after 2, though its address still has 1 left.
        assert!(limiter.check(&both, client(a, Some("t1")), t0).is_ok());
        assert!(limiter.check(&both, client(a, Some("t1")), t0).is_ok());
        assert_eq!(
            limiter.check(&both, client(a, Some("t1")), t0),
            Err(Duration::from_secs(1))
        );
        // Another token from another address is unaffected.
        assert!(limiter.check(&both, client(b, Some("t2")), t0).is_ok());
        // Address a is now empty too (3 taken): even without a token it waits.
        assert!(limiter.check(&both, client(a, None), t0).is_err());
        assert!(limiter.check(&both, client(b, None), t0).is_ok());
        // Limits turned off: nothing is refused.
        let off = limits(None, None);
        for _ in 0..100 {
            assert!(limiter.check(&off, client(a, Some("t1")), t0).is_ok());
        }
    }

    #[test]
    fn idle_buckets_are_forgotten_and_memory_stays_bounded() {
        let limiter = RateLimiter::default();
        let per_address = limits(Some(RATE), None);
        let t0 = Instant::now();
        for i in 0..(SWEEP_ABOVE as u32 + 10) {
            let address = IpAddr::from(i.to_be_bytes());
            let client = Client {
                address: Some(address),
                token: None,
            };
            limiter.check(&per_address, client, t0).unwrap();
        }
        assert_eq!(limiter.len(), SWEEP_ABOVE + 10);
        // Two seconds on, every bucket has refilled: the next check sweeps them all.
        let later = at(t0, 2_000);
        let fresh = Client {
            address: Some("198.51.100.1".parse().unwrap()),
            token: None,
        };
        limiter.check(&per_address, fresh, later).unwrap();
        assert_eq!(limiter.len(), 1);

        let mut buckets = HashMap::new();
        for i in 0..(MAX_BUCKETS as u32 + 5) {
            let mut bucket = Bucket::full(RATE, at(t0, u64::from(i % 1000)));
            bucket.tokens = 0.0;
            buckets.insert(Key::Address(IpAddr::from(i.to_be_bytes())), bucket);
        }
        sweep(&mut buckets, &per_address, at(t0, 1000));
        assert_eq!(buckets.len(), MAX_BUCKETS / 2);
    }
}
