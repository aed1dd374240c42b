//! The SSRF guard: outbound webhooks never reach the operator's own network
//! unless `webhooks.allow_private_destinations` says so. A URL is checked
//! when an endpoint is saved (422 naming `url`), and every request checks
//! again at connect time — the resolver below drops forbidden addresses, so
//! a name that later resolves to 127.0.0.1 (DNS rebinding) fails the attempt
//! instead of reaching it. Redirects are never followed (the client's policy).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;

/// Longest URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// Whether an address is loopback, private, link-local, multicast,
/// unspecified, shared (CGNAT), reserved or broadcast.
pub fn forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_v4(v4);
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
                // NAT64 64:ff9b::/96 carries an IPv4 address.
                || (s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0]
                    && forbidden_v4(Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8)))
        }
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || o[0] == 0 // "this network"
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // shared address space 100.64/10
        || o[0] >= 240 // reserved
}

/// Why a URL is refused (the message of a 422 on `url`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub code: &'static str,
    pub message: String,
}

fn refused(code: &'static str, message: impl Into<String>) -> Refused {
    Refused { code, message: message.into() }
}

/// Parses an endpoint URL: http(s), a host, no credentials, at most 2 KiB.
pub fn parse(url: &str) -> Result<Url, Refused> {
    if url.len() > MAX_URL_LEN {
        return Err(refused("too_long", format!("at most {MAX_URL_LEN} characters")));
    }
    let u = Url::parse(url).map_err(|e| refused("invalid_url", format!("not a URL: {e}")))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(refused("invalid_url", "the scheme must be http or https"));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(refused("invalid_url", "the URL needs a host"));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(refused("invalid_url", "credentials in the URL are not accepted; verify the signature instead"));
    }
    Ok(u)
}

/// The URL's host as an address when it is an IP literal.
pub fn literal(u: &Url) -> Option<IpAddr> {
    match u.host()? {
        url::Host::Ipv4(a) => Some(IpAddr::V4(a)),
        url::Host::Ipv6(a) => Some(IpAddr::V6(a)),
        url::Host::Domain(_) => None,
    }
}

/// Checks a URL an operator saves: parsed, and (unless private destinations
/// are allowed) neither an IP literal nor a name resolving now to a
/// forbidden address. A name that does not resolve now is accepted: every
/// request is guarded again when it connects.
pub async fn check(url: &str, allow_private: bool) -> Result<Url, Refused> {
    let u = parse(url)?;
    if allow_private {
        return Ok(u);
    }
    let private =
        || refused("private_destination", "the URL reaches a loopback, private, link-local or multicast address");
    if let Some(ip) = literal(&u) {
        return if forbidden(ip) { Err(private()) } else { Ok(u) };
    }
    let host = u.host_str().unwrap_or_default().to_owned();
    let port = u.port_or_known_default().unwrap_or(443);
    let lookup = tokio::time::timeout(std::time::Duration::from_secs(5), tokio::net::lookup_host((host, port))).await;
    if let Ok(Ok(addrs)) = lookup {
        if addrs.into_iter().any(|a| forbidden(a.ip())) {
            return Err(private());
        }
    }
    Ok(u)
}

/// The outbound client's resolver: the system's, minus forbidden addresses
/// (unless allowed). A name with only forbidden addresses fails to connect.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    pub allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept: Vec<SocketAddr> = found.into_iter().filter(|a| allow || !forbidden(a.ip())).collect();
            if kept.is_empty() {
                return Err(format!("{host} resolves to no permitted address (SSRF guard)").into());
            }
            let addrs: Addrs = Box::new(kept.into_iter());
            Ok(addrs)
        })
    }
}

/// Whether a refused-by-guard error is what a request failed with.
pub fn is_guard_error(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.to_string().contains("(SSRF guard)") {
            return true;
        }
        cur = err.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_addresses_are_forbidden_and_public_ones_not() {
        for s in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "224.0.0.1",
            "255.255.255.255",
            "0.0.0.0",
            "100.64.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(forbidden(ip(s)), "{s} should be forbidden");
        }
        for s in ["8.8.8.8", "172.32.0.1", "100.128.0.1", "2001:4860:4860::8888", "::ffff:8.8.8.8", "64:ff9b::808:808"]
        {
            assert!(!forbidden(ip(s)), "{s} should be allowed");
        }
        assert!(forbidden(IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2))));
    }

    #[test]
    fn urls_need_http_a_host_and_no_credentials() {
        assert!(parse("https://shop.example.com/hooks").is_ok());
        assert_eq!(parse("ftp://x.example.com").unwrap_err().code, "invalid_url");
        assert_eq!(parse("https://user:pw@x.example.com").unwrap_err().code, "invalid_url");
        assert_eq!(parse("not a url").unwrap_err().code, "invalid_url");
        assert_eq!(parse(&format!("https://x.example.com/{}", "a".repeat(2100))).unwrap_err().code, "too_long");
    }

    #[tokio::test]
    async fn loopback_literals_and_names_are_refused_unless_allowed() {
        assert_eq!(check("http://127.0.0.1:9/x", false).await.unwrap_err().code, "private_destination");
        assert_eq!(check("http://[::1]:9/x", false).await.unwrap_err().code, "private_destination");
        assert_eq!(check("http://localhost:9/x", false).await.unwrap_err().code, "private_destination");
        assert!(check("http://127.0.0.1:9/x", true).await.is_ok());
    }
}
