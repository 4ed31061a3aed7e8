//! Which addresses notifications may be sent to (`--notify-targets`): `any` (the sandbox's
//! default: a laptop's receivers are on loopback), `public` (no loopback, private, link-local,
//! multicast, unspecified or broadcast address), or a list of CIDRs and host names.
//!
//! Checked twice. A URL whose host is an address literal — in any form the URL parser accepts:
//! `127.0.0.1`, `[::1]`, `2130706433`, `0x7f.1` — is refused when the call (or `admin app add`)
//! names it. A host name is checked on the addresses it resolves to, at the moment an attempt
//! connects (the resolver below is the delivery client's), so a name that resolves to a
//! refused address cannot smuggle it in; the attempt fails and says why.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// The notification address policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Targets {
    /// Every address.
    #[default]
    Any,
    /// Only addresses on the public internet.
    Public,
    /// Only these networks and host names.
    Only(Vec<Rule>),
}

/// One entry of a `--notify-targets` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// An address range, `10.0.0.0/8` or a single address.
    Net(IpAddr, u8),
    /// A host name, matched exactly (case-insensitively): it may resolve to any address.
    Host(String),
}

impl Targets {
    /// `any`, `public`, or a comma-separated list of CIDRs, addresses and host names.
    pub fn parse(text: &str) -> Result<Targets, String> {
        match text.trim() {
            "any" => return Ok(Targets::Any),
            "public" => return Ok(Targets::Public),
            "" => return Err("expected any, public or a list of CIDRs and host names".into()),
            _ => {}
        }
        let rules = text
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|part| {
                let (addr, bits) = match part.split_once('/') {
                    Some((a, b)) => (a, Some(b)),
                    None => (part, None),
                };
                match addr.parse::<IpAddr>() {
                    Ok(ip) => {
                        let max = if ip.is_ipv4() { 32 } else { 128 };
                        let bits = match bits {
                            None => max,
                            Some(b) => {
                                b.parse::<u8>().ok().filter(|b| *b <= max).ok_or_else(|| {
                                    format!("{part:?}: a prefix length of 0–{max}")
                                })?
                            }
                        };
                        Ok(Rule::Net(ip, bits))
                    }
                    Err(_) if bits.is_none() && valid_host(addr) => {
                        Ok(Rule::Host(addr.to_ascii_lowercase()))
                    }
                    Err(_) => Err(format!("{part:?} is neither a CIDR nor a host name")),
                }
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Targets::Only(rules))
    }

    /// Whether notifications may be sent to `ip`.
    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match self {
            Targets::Any => true,
            Targets::Public => is_public(ip),
            Targets::Only(rules) => rules.iter().any(|r| match r {
                Rule::Net(net, bits) => in_net(ip, canonical(*net), *bits),
                Rule::Host(_) => false,
            }),
        }
    }

    /// Whether `name` is listed by name (then any address it resolves to is allowed).
    fn lists_host(&self, name: &str) -> bool {
        match self {
            Targets::Only(rules) => rules
                .iter()
                .any(|r| matches!(r, Rule::Host(h) if h.eq_ignore_ascii_case(name))),
            _ => false,
        }
    }

    /// Whether the URL may be a notification target as far as can be told without resolving
    /// its host: an address literal must be allowed. `Err` says why not, in Chinese, for the
    /// answer's sub_msg.
    pub fn check_url(&self, url: &str) -> Result<(), String> {
        if *self == Targets::Any {
            return Ok(());
        }
        let parsed = reqwest::Url::parse(url).map_err(|_| format!("不是合法的地址：{url}"))?;
        // The parser writes an address literal in its one canonical form (`2130706433` and
        // `0x7f.1` become `127.0.0.1`, IPv6 in brackets); a name that is not listed is checked
        // on the addresses it resolves to, when an attempt connects.
        let host = parsed
            .host_str()
            .ok_or_else(|| format!("不是合法的地址：{url}"))?;
        match host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            Ok(ip) => self.check_literal(ip),
            Err(_) => Ok(()),
        }
    }

    /// A notification address as calls, `admin app add` and the probe take it: well formed
    /// ([`super::check_url`]) and allowed by this policy. `Err` says why not, in Chinese.
    pub fn admits(&self, url: &str) -> Result<(), String> {
        super::check_url(url)?;
        self.check_url(url)
    }

    fn check_literal(&self, ip: IpAddr) -> Result<(), String> {
        if self.allows_ip(ip) {
            Ok(())
        } else {
            Err(format!(
                "通知地址 {ip} 不在本网关允许的范围内（--notify-targets）"
            ))
        }
    }

    /// The resolver the delivery client connects through: a name's addresses, without the
    /// refused ones; none left is an error naming them.
    pub fn resolver(self: &Arc<Self>) -> Arc<Resolver> {
        Arc::new(Resolver(self.clone()))
    }
}

/// The HTTP client notifications (and the probe's cases) are sent with: no redirects, the
/// timeout for connecting and for the whole exchange, and names resolved through the policy.
pub fn client(targets: &Arc<Targets>, timeout: std::time::Duration) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none());
    if **targets != Targets::Any {
        builder = builder.dns_resolver(targets.resolver());
    }
    builder
        .build()
        .expect("an HTTP client with default TLS settings")
}

/// See [`Targets::resolver`].
pub struct Resolver(Arc<Targets>);

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let targets = self.0.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if targets.lists_host(&host) {
                return Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs);
            }
            let (allowed, refused): (Vec<SocketAddr>, Vec<SocketAddr>) =
                found.into_iter().partition(|a| targets.allows_ip(a.ip()));
            if allowed.is_empty() {
                let refused: Vec<String> = refused.iter().map(|a| a.ip().to_string()).collect();
                return Err(Box::new(Refused(format!(
                    "refused by --notify-targets: {host} resolves to {}",
                    refused.join(", ")
                )))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// A target the policy refused, as the attempt records it.
#[derive(Debug)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

fn valid_host(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
}

/// An IPv4 address written as IPv6 (`::ffff:127.0.0.1`) is that IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// Not loopback, private, shared (100.64/10), link-local, multicast, unspecified, broadcast
/// or reserved; for IPv6 also not unique-local or an IPv4 form of one of those.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    if let Some(v4) = ip.to_ipv4() {
        // IPv4-compatible and NAT64 forms carry an IPv4 address that must itself be public.
        if ip.segments()[..6].iter().all(|s| *s == 0) || first == 0x64 {
            return is_public_v4(v4);
        }
    }
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first & 0xffc0) == 0xfec0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms() {
        assert_eq!(Targets::parse("any"), Ok(Targets::Any));
        assert_eq!(Targets::parse("public"), Ok(Targets::Public));
        assert_eq!(
            Targets::parse("10.0.0.0/8, hooks.example.com,::1"),
            Ok(Targets::Only(vec![
                Rule::Net("10.0.0.0".parse().unwrap(), 8),
                Rule::Host("hooks.example.com".into()),
                Rule::Net("::1".parse().unwrap(), 128),
            ]))
        );
        assert!(Targets::parse("10.0.0.0/33").is_err());
        assert!(Targets::parse("not a host!").is_err());
        assert!(Targets::parse("").is_err());
    }

    #[test]
    fn public_refuses_every_form_of_a_local_address() {
        let public = Targets::Public;
        for url in [
            "http://127.0.0.1:8081/api",
            "http://[::1]/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://0177.0.0.1/",
            "http://127.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.1.2.3/",
            "http://192.168.0.1/",
            "http://172.16.5.5/",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:a9fe:a9fe]/",
            "http://[fe80::1]/",
            "http://[fd00::1]/",
            "http://224.0.0.1/",
            "http://255.255.255.255/",
        ] {
            assert!(public.check_url(url).is_err(), "{url} must be refused");
        }
        for url in [
            "http://93.184.216.34/notify",
            "https://[2606:4700::1111]/",
            "https://hooks.example.com/n",
        ] {
            assert_eq!(public.check_url(url), Ok(()), "{url}");
        }
        assert_eq!(Targets::Any.check_url("http://127.0.0.1/"), Ok(()));
    }

    #[test]
    fn a_list_allows_its_networks_only() {
        let only = Targets::parse("127.0.0.0/8,192.168.1.7").unwrap();
        assert!(only.allows_ip("127.9.9.9".parse().unwrap()));
        assert!(only.allows_ip("::ffff:127.0.0.1".parse().unwrap()));
        assert!(only.allows_ip("192.168.1.7".parse().unwrap()));
        assert!(!only.allows_ip("192.168.1.8".parse().unwrap()));
        assert!(!only.allows_ip("::1".parse().unwrap()));
        assert!(only.check_url("http://2130706433/").is_ok());
        assert!(only.check_url("http://10.0.0.1/").is_err());
    }
}
