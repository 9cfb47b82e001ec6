//! Request rate limits (NFR-S7): 100 requests a minute per user, and per client address for
//! the anonymous forms (sign-in, signup, tokens, invitations); not per address for signed-in
//! users, since a whole office may share one. Counted in Redis when configured,
//! so every server of a deployment shares one count; in this process otherwise.
//!
//! Fixed one-minute windows: simple, and exact enough that a burst can reach at most twice the
//! limit across a window boundary.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::{AppState, WebError};

/// Requests one key may make in a window, unless configured otherwise.
pub const LIMIT_PER_MINUTE: u64 = 100;
const WINDOW_SECONDS: u64 = 60;

pub struct RateLimiter {
    counts: Counts,
    limit: u64,
}

enum Counts {
    Local(Mutex<LocalWindows>),
    Redis(redis::aio::ConnectionManager),
}

#[derive(Default)]
pub struct LocalWindows {
    /// Key -> (window number, requests in it).
    counts: HashMap<String, (u64, u64)>,
}

/// What a limiter says to one more request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// Over the limit; the window ends in this many seconds.
    Limited {
        retry_after: u64,
    },
}

impl RateLimiter {
    pub fn local() -> Self {
        Self {
            counts: Counts::Local(Mutex::new(LocalWindows::default())),
            limit: LIMIT_PER_MINUTE,
        }
    }

    /// The same limiter with another limit per key and minute: for load and attack tools
    /// (the benchmark, sqlmap) that must not be slowed by it.
    pub fn with_limit(self, limit: u64) -> Self {
        Self { limit, ..self }
    }

    /// A limiter sharing its counts through the Redis at `url`.
    pub async fn redis(url: &str) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        Ok(Self {
            counts: Counts::Redis(client.get_connection_manager().await?),
            limit: LIMIT_PER_MINUTE,
        })
    }

    /// Counts a request for `key`.
    pub async fn check(&self, key: &str) -> Decision {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let window = now / WINDOW_SECONDS;
        let retry_after = WINDOW_SECONDS - now % WINDOW_SECONDS;
        let count = match &self.counts {
            Counts::Local(windows) => {
                let mut windows = windows
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                // Forget finished windows now and then, so the map stays the size of one minute.
                if windows.counts.len() > 10_000 {
                    windows.counts.retain(|_, (w, _)| *w == window);
                }
                let entry = windows.counts.entry(key.to_owned()).or_insert((window, 0));
                if entry.0 != window {
                    *entry = (window, 0);
                }
                entry.1 += 1;
                entry.1
            }
            Counts::Redis(connection) => {
                let redis_key = format!("aura:rate:{key}:{window}");
                let mut connection = connection.clone();
                let counted: Result<(u64,), redis::RedisError> = redis::pipe()
                    .atomic()
                    .incr(&redis_key, 1)
                    .expire(&redis_key, WINDOW_SECONDS as i64)
                    .ignore()
                    .query_async(&mut connection)
                    .await;
                match counted {
                    Ok((count,)) => count,
                    // Redis away: serve rather than refuse everyone; the database still limits
                    // what anyone can do, and the log says the limiter is blind.
                    Err(err) => {
                        tracing::warn!(error = %err, "rate limiter unavailable; request not counted");
                        return Decision::Allowed;
                    }
                }
            }
        };
        if count > self.limit {
            Decision::Limited { retry_after }
        } else {
            Decision::Allowed
        }
    }

    /// Counts a request for `key`, as an error when over the limit.
    pub async fn enforce(&self, key: &str) -> Result<(), WebError> {
        match self.check(key).await {
            Decision::Allowed => Ok(()),
            Decision::Limited { retry_after } => Err(WebError::RateLimited { retry_after }),
        }
    }
}

/// Counts a request to an anonymous form or token endpoint against the client's address, as
/// Aura sees it: a forwarded-for header is the client's to forge.
pub async fn per_client_address(state: &AppState, client: SocketAddr) -> Result<(), WebError> {
    state.limiter.enforce(&format!("ip:{}", client.ip())).await
}

/// Counts a signed-in user's request.
pub async fn per_user(state: &AppState, user: aura_platform::ids::UserId) -> Result<(), WebError> {
    state.limiter.enforce(&format!("user:{user}")).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_local_limiter_allows_the_limit_then_refuses() {
        let limiter = RateLimiter::local();
        for _ in 0..LIMIT_PER_MINUTE {
            assert_eq!(limiter.check("user-a").await, Decision::Allowed);
        }
        match limiter.check("user-a").await {
            Decision::Limited { retry_after } => assert!((1..=60).contains(&retry_after)),
            Decision::Allowed => panic!("request {} was allowed", LIMIT_PER_MINUTE + 1),
        }
        assert_eq!(
            limiter.check("user-b").await,
            Decision::Allowed,
            "each key counts alone"
        );
    }
}
