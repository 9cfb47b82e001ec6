//! Server-side request forgery: where a webhook may be sent. A workspace admin chooses the URL,
//! so without this check Aura would post to its own loopback, the cloud's metadata service or
//! the private network it runs in on their behalf. The check runs at delivery, on every address
//! the name resolves to, and the connection goes to the checked addresses only (a name that
//! resolves differently a moment later is resolved and checked again, never trusted).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use url::{Host, Url};

/// Why a URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the address must be an https:// URL")]
    NotHttps,
    #[error("the address has no host name")]
    NoHost,
    #[error("the address has user credentials; put them nowhere but the signing secret")]
    Credentials,
    #[error("the host name could not be resolved")]
    Unresolved,
    #[error("the host resolves to {address}, a {kind} address that webhooks may not reach")]
    Forbidden { address: IpAddr, kind: &'static str },
}

/// The networks webhooks may not reach, unless the operator allows one
/// (`AURA_WEBHOOK_ALLOW_NETWORKS`): for a receiver on the same machine or network.
#[derive(Debug, Clone, Default)]
pub struct NetworkGuard {
    allowed: Arc<Vec<IpNet>>,
}

impl NetworkGuard {
    pub fn new(allowed: Vec<IpNet>) -> Self {
        Self {
            allowed: Arc::new(allowed),
        }
    }

    fn is_allowed(&self, address: IpAddr) -> bool {
        self.allowed.iter().any(|net| net.contains(&address))
    }

    /// Refuses `address` if it is in a forbidden range and no allowed network holds it.
    pub fn check_address(&self, address: IpAddr) -> Result<(), Refusal> {
        let address = address.to_canonical();
        match forbidden_kind(address) {
            Some(kind) if !self.is_allowed(address) => Err(Refusal::Forbidden { address, kind }),
            _ => Ok(()),
        }
    }

    /// Resolves `host` and checks every address it resolves to (port 0: the caller's client
    /// sets the port). Any forbidden address refuses the whole name, so a name cannot hide an
    /// internal address among public ones.
    pub async fn resolve(&self, host: &str) -> Result<Vec<SocketAddr>, Refusal> {
        let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
            .await
            .map_err(|_| Refusal::Unresolved)?
            .collect();
        if addresses.is_empty() {
            return Err(Refusal::Unresolved);
        }
        for address in &addresses {
            self.check_address(address.ip())?;
        }
        Ok(addresses)
    }

    /// Checks `url` before a request: https (plain http only to an allowed network, e.g. a local
    /// test receiver), no credentials, and every address its host stands for.
    pub async fn check_url(&self, url: &Url) -> Result<(), Refusal> {
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refusal::Credentials);
        }
        let addresses = match url.host() {
            None => return Err(Refusal::NoHost),
            Some(Host::Ipv4(ip)) => vec![IpAddr::V4(ip)],
            Some(Host::Ipv6(ip)) => vec![IpAddr::V6(ip)],
            Some(Host::Domain(name)) => self
                .resolve(name)
                .await?
                .into_iter()
                .map(|a| a.ip())
                .collect(),
        };
        for address in &addresses {
            self.check_address(*address)?;
        }
        match url.scheme() {
            "https" => Ok(()),
            "http" if addresses.iter().all(|a| self.is_allowed(a.to_canonical())) => Ok(()),
            _ => Err(Refusal::NotHttps),
        }
    }
}

/// The kind of a special-purpose address a webhook must not reach, or `None` for a public one.
fn forbidden_kind(address: IpAddr) -> Option<&'static str> {
    const V4: &[(&str, Ipv4Addr, u8)] = &[
        ("unspecified", Ipv4Addr::new(0, 0, 0, 0), 8),
        ("private", Ipv4Addr::new(10, 0, 0, 0), 8),
        ("carrier-grade NAT", Ipv4Addr::new(100, 64, 0, 0), 10),
        ("loopback", Ipv4Addr::new(127, 0, 0, 0), 8),
        // Includes 169.254.169.254, the cloud metadata service.
        ("link-local", Ipv4Addr::new(169, 254, 0, 0), 16),
        ("private", Ipv4Addr::new(172, 16, 0, 0), 12),
        ("reserved", Ipv4Addr::new(192, 0, 0, 0), 24),
        ("documentation", Ipv4Addr::new(192, 0, 2, 0), 24),
        ("private", Ipv4Addr::new(192, 168, 0, 0), 16),
        ("benchmarking", Ipv4Addr::new(198, 18, 0, 0), 15),
        ("documentation", Ipv4Addr::new(198, 51, 100, 0), 24),
        ("documentation", Ipv4Addr::new(203, 0, 113, 0), 24),
        ("multicast", Ipv4Addr::new(224, 0, 0, 0), 4),
        ("reserved", Ipv4Addr::new(240, 0, 0, 0), 4),
    ];
    const V6: &[(&str, Ipv6Addr, u8)] = &[
        ("unspecified", Ipv6Addr::UNSPECIFIED, 128),
        ("loopback", Ipv6Addr::LOCALHOST, 128),
        // IPv4-compatible and NAT64 forms can reach IPv4 ranges through a translator.
        ("IPv4-compatible", Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0), 96),
        ("NAT64", Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96),
        ("NAT64", Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48),
        (
            "documentation",
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
            32,
        ),
        ("6to4", Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16),
        // Unique local, includes AWS's metadata address fd00:ec2::254.
        ("private", Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7),
        ("link-local", Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10),
        ("site-local", Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10),
        ("multicast", Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8),
    ];
    match address {
        IpAddr::V4(ip) => V4
            .iter()
            .find(|(_, net, len)| Ipv4Net::new(*net, *len).is_ok_and(|n| n.contains(&ip)))
            .map(|(kind, _, _)| *kind),
        IpAddr::V6(ip) => V6
            .iter()
            .find(|(_, net, len)| Ipv6Net::new(*net, *len).is_ok_and(|n| n.contains(&ip)))
            .map(|(kind, _, _)| *kind),
    }
}

/// A resolver for the delivery client: every name is resolved and checked here, so the
/// connection goes only to addresses the guard has seen (no second, unchecked lookup).
pub(super) struct GuardedResolver(pub(super) NetworkGuard);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.0.clone();
        Box::pin(async move {
            let addresses = guard.resolve(name.as_str()).await;
            addresses
                .map(|a| Box::new(a.into_iter()) as reqwest::dns::Addrs)
                .map_err(|refusal| Box::new(refusal) as Box<dyn std::error::Error + Send + Sync>)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(guard: &NetworkGuard, address: &str) -> bool {
        guard.check_address(address.parse().unwrap()).is_err()
    }

    #[test]
    fn internal_addresses_are_refused_and_public_ones_pass() {
        let guard = NetworkGuard::default();
        for address in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "224.0.0.1",
            "0.0.0.0",
            "::1",
            "::",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "fd00:ec2::254",
            "fe80::1",
            "ff02::1",
            "64:ff9b::7f00:1",
        ] {
            assert!(refused(&guard, address), "{address} passed");
        }
        for address in ["93.184.215.14", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(!refused(&guard, address), "{address} refused");
        }
    }

    #[test]
    fn an_allowed_network_opens_only_itself() {
        let guard = NetworkGuard::new(vec!["127.0.0.0/8".parse().unwrap()]);
        assert!(!refused(&guard, "127.0.0.1"));
        assert!(refused(&guard, "169.254.169.254"));
        assert!(refused(&guard, "::1"));
    }
}
