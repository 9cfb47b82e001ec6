//! Request rate limits (NFR-S7): 100 requests a minute per user, and per client address for
//! the anonymous forms (sign-in, signup, tokens, invitations); not per address for signed-in
//! users, since a whole office may share one. Counted in Redis when configured,
//! so every server of a deployment shares one count; in this process otherwise.
//!
//! Behind a load balancer every socket peer is the balancer: with `AURA_TRUSTED_PROXIES` the
//! client is read from `X-Forwarded-For`, but only past proxies we trust ([`TrustedProxies`]).
//! An IPv6 client counts by its /64, which one subscriber holds whole.
//!
//! Fixed one-minute windows: simple, and exact enough that a burst can reach at most twice the
//! limit across a window boundary.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use ipnet::IpNet;

use crate::metrics::LimitScope;
use crate::{AppState, WebError};

/// Requests one key may make in a window, unless configured otherwise.
pub const LIMIT_PER_MINUTE: u64 = 100;
const WINDOW_SECONDS: u64 = 60;

pub struct RateLimiter {
    counts: Counts,
    limit: u64,
    proxies: TrustedProxies,
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
            proxies: TrustedProxies::default(),
        }
    }

    /// The same limiter with another limit per key and minute: for load and attack tools
    /// (the benchmark, sqlmap) that must not be slowed by it.
    pub fn with_limit(self, limit: u64) -> Self {
        Self { limit, ..self }
    }

    /// The same limiter, reading the client's address past these proxies.
    pub fn with_trusted_proxies(self, proxies: TrustedProxies) -> Self {
        Self { proxies, ..self }
    }

    /// A limiter sharing its counts through the Redis at `url`.
    pub async fn redis(url: &str) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        Ok(Self {
            counts: Counts::Redis(client.get_connection_manager().await?),
            limit: LIMIT_PER_MINUTE,
            proxies: TrustedProxies::default(),
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

    /// How long Redis takes to answer a PING, when the counts are kept there (none when they
    /// are kept in this process).
    pub async fn ping_redis(&self) -> Option<Result<std::time::Duration, redis::RedisError>> {
        let Counts::Redis(connection) = &self.counts else {
            return None;
        };
        let mut connection = connection.clone();
        let started = std::time::Instant::now();
        let answered: Result<String, redis::RedisError> =
            redis::cmd("PING").query_async(&mut connection).await;
        Some(answered.map(|_| started.elapsed()))
    }

    /// Counts a request for `key`, as an error when over the limit.
    pub async fn enforce(&self, key: &str) -> Result<(), WebError> {
        match self.check(key).await {
            Decision::Allowed => Ok(()),
            Decision::Limited { retry_after } => Err(WebError::RateLimited { retry_after }),
        }
    }
}

/// The proxies (load balancers) whose `X-Forwarded-For` is believed: from anyone else the
/// header is the client's to forge.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(ranges: Vec<IpNet>) -> Self {
        Self(ranges)
    }

    fn trusts(&self, address: IpAddr) -> bool {
        self.0.iter().any(|range| range.contains(&address))
    }

    /// The client's address for a request from `peer` carrying `forwarded_for` (the header's
    /// values in order): the peer itself unless it is trusted; else the right-most forwarded
    /// address that is not trusted, since each trusted proxy appends the address it saw and
    /// everything left of the first untrusted one may be forged. If the trail runs out or
    /// breaks (a value that is no address), the last address reached stands.
    pub fn client<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl IntoIterator<Item = &'a str>,
    ) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.trusts(client) {
            return client;
        }
        let hops: Vec<&str> = forwarded_for
            .into_iter()
            .flat_map(|value| value.split(','))
            .collect();
        for hop in hops.into_iter().rev() {
            let Some(address) = parse_hop(hop) else {
                break;
            };
            client = address;
            if !self.trusts(address) {
                break;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, some proxies add a port.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|socket| socket.ip()))
        .ok()
        .map(|address| address.to_canonical())
}

/// The rate-limit key of a client address. An IPv6 client counts by its /64: a subscriber
/// is given a whole /64 and may use any address in it, so counting each would count nothing.
pub fn address_key(address: IpAddr) -> String {
    match address.to_canonical() {
        IpAddr::V4(v4) => format!("ip:{v4}"),
        IpAddr::V6(v6) => {
            let network = Ipv6Addr::from(u128::from(v6) & (u128::MAX << 64));
            format!("ip:{network}/64")
        }
    }
}

/// The address an anonymous request counts against (see [`TrustedProxies::client`]).
pub struct ClientAddress(IpAddr);

impl ClientAddress {
    /// The client's address, as the trusted proxies saw it: where sign-in failures count.
    pub fn ip(&self) -> IpAddr {
        self.0
    }
}

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = WebError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ConnectInfo(peer) = *parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .ok_or(WebError::Internal)?;
        let forwarded_for = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok());
        Ok(Self(state.limiter.proxies.client(peer.ip(), forwarded_for)))
    }
}

/// Counts a request to an anonymous form or token endpoint against the client's address.
pub async fn per_client_address(state: &AppState, client: &ClientAddress) -> Result<(), WebError> {
    let limited = state.limiter.enforce(&address_key(client.0)).await;
    if limited.is_err() {
        state.metrics.count_rate_limited(LimitScope::ClientAddress);
    }
    limited
}

/// Counts a signed-in user's request.
pub async fn per_user(state: &AppState, user: aura_platform::ids::UserId) -> Result<(), WebError> {
    let limited = state.limiter.enforce(&format!("user:{user}")).await;
    if limited.is_err() {
        state.metrics.count_rate_limited(LimitScope::User);
    }
    limited
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

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn proxies(ranges: &[&str]) -> TrustedProxies {
        TrustedProxies::new(ranges.iter().map(|r| r.parse().unwrap()).collect())
    }

    #[test]
    fn forwarded_for_counts_only_from_a_trusted_proxy() {
        let none = TrustedProxies::default();
        assert_eq!(none.client(ip("10.0.0.5"), ["203.0.113.9"]), ip("10.0.0.5"));

        let balancer = proxies(&["10.0.0.0/8", "192.0.2.7/32"]);
        // A stranger's header is ignored.
        assert_eq!(
            balancer.client(ip("198.51.100.1"), ["203.0.113.9"]),
            ip("198.51.100.1")
        );
        // Through the balancer: the address it saw, not what the client wrote left of it.
        assert_eq!(
            balancer.client(ip("10.0.0.5"), ["1.2.3.4, 203.0.113.9"]),
            ip("203.0.113.9")
        );
        // Trusted hops are skipped, across header lines, with ports and spaces.
        assert_eq!(
            balancer.client(
                ip("10.0.0.5"),
                ["6.6.6.6, 203.0.113.9:5123", " 192.0.2.7 ,10.1.1.1"]
            ),
            ip("203.0.113.9")
        );
        assert_eq!(
            balancer.client(ip("10.0.0.5"), ["[2001:db8::1]:443"]),
            ip("2001:db8::1")
        );
        // No header, or a broken trail: the last address reached.
        assert_eq!(
            balancer.client(ip("10.0.0.5"), Vec::<&str>::new()),
            ip("10.0.0.5")
        );
        assert_eq!(
            balancer.client(ip("10.0.0.5"), ["203.0.113.9, garbage, 10.2.2.2"]),
            ip("10.2.2.2")
        );
        // An IPv4 peer over an IPv6 socket is the same IPv4 address.
        assert_eq!(
            balancer.client(ip("::ffff:10.0.0.5"), ["203.0.113.9"]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn ipv6_clients_count_by_their_64() {
        assert_eq!(address_key(ip("203.0.113.9")), "ip:203.0.113.9");
        assert_eq!(address_key(ip("::ffff:203.0.113.9")), "ip:203.0.113.9");
        let one = address_key(ip("2001:db8:1:2:aaaa::1"));
        assert_eq!(one, "ip:2001:db8:1:2::/64");
        assert_eq!(address_key(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")), one);
        assert_ne!(address_key(ip("2001:db8:1:3::1")), one);
    }
}
