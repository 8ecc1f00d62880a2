//! Address parsing, in one place: what `--bind`, `--join` and the RPC `join` accept.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use crate::error::NetError;

/// Parse or resolve `addr` into socket addresses. Accepted forms:
///
/// - `IP:PORT` and `[IPv6]:PORT`;
/// - `IP`, `IPv6` or `[IPv6]` alone: `default_port`;
/// - `host:PORT` or `host` alone (`default_port`): resolved by the system resolver, which
///   may return several addresses.
///
/// Resolution happens on every call, so a caller that retries calls this again each time.
pub async fn resolve(addr: &str, default_port: u16) -> Result<Vec<SocketAddr>, NetError> {
    let invalid = |reason: &str| NetError::InvalidAddress {
        input: addr.to_string(),
        reason: reason.to_string(),
    };
    let s = addr.trim();
    if s.is_empty() {
        return Err(invalid("empty address"));
    }
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Ok(vec![sa]);
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, default_port)]);
    }
    if let Some(inner) = s.strip_prefix('[') {
        // `[v6]` without a port (`[v6]:port` was handled by the SocketAddr parse).
        return match inner.strip_suffix(']').map(str::parse::<Ipv6Addr>) {
            Some(Ok(ip)) => Ok(vec![SocketAddr::new(IpAddr::V6(ip), default_port)]),
            _ => Err(invalid("expected [IPv6] or [IPv6]:PORT")),
        };
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((host, port)) => {
            if host.contains(':') {
                return Err(invalid(
                    "IPv6 addresses with a port need brackets: [IPv6]:PORT",
                ));
            }
            let port = port
                .parse::<u16>()
                .map_err(|_| invalid("port must be a number from 0 to 65535"))?;
            (host, port)
        }
        None => (s, default_port),
    };
    check_host(host).map_err(invalid)?;
    let found: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|source| NetError::Resolve {
            input: addr.to_string(),
            source,
        })?
        .collect();
    if found.is_empty() {
        return Err(NetError::NoAddresses {
            input: addr.to_string(),
        });
    }
    Ok(found)
}

/// A DNS name: dot-separated labels of letters, digits, `-` and `_`, at most 253 bytes.
fn check_host(host: &str) -> Result<(), &'static str> {
    if host.is_empty() {
        return Err("missing host");
    }
    if host.len() > 253 {
        return Err("host name longer than 253 characters");
    }
    let host = host.strip_suffix('.').unwrap_or(host);
    for label in host.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err("host name has an empty or over-long label");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err("host name may contain only letters, digits, '-', '_' and '.'");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("host name label starts or ends with '-'");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_host;

    #[test]
    fn host_names() {
        assert!(check_host("localhost").is_ok());
        assert!(check_host("node-1.dc1.example.com.").is_ok());
        assert!(check_host("").is_err());
        assert!(check_host("a..b").is_err());
        assert!(check_host("-a").is_err());
        assert!(check_host("a b").is_err());
        assert!(check_host(&"a".repeat(64)).is_err());
    }
}
