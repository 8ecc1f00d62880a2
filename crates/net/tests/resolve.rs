//! `resolve`: every accepted form, clear errors for the rest.

#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use std::time::Duration;

use rumor_net::{resolve, NetError};

fn v4(a: u8, b: u8, c: u8, d: u8, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(a, b, c, d)), port)
}

fn v6_local(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port)
}

/// Every lookup bounded: a machine without a working resolver fails instead of hanging.
async fn resolve_bounded(addr: &str, port: u16) -> Result<Vec<SocketAddr>, NetError> {
    tokio::time::timeout(Duration::from_secs(20), resolve(addr, port))
        .await
        .expect("resolve hangs")
}

#[tokio::test]
async fn accepted_forms() {
    assert_eq!(
        resolve_bounded("127.0.0.1:7000", 7946).await.unwrap(),
        vec![v4(127, 0, 0, 1, 7000)]
    );
    assert_eq!(
        resolve_bounded(" 10.1.2.3 ", 7946).await.unwrap(),
        vec![v4(10, 1, 2, 3, 7946)]
    );
    assert_eq!(
        resolve_bounded("[::1]:7000", 7946).await.unwrap(),
        vec![v6_local(7000)]
    );
    assert_eq!(
        resolve_bounded("::1", 7946).await.unwrap(),
        vec![v6_local(7946)]
    );
    assert_eq!(
        resolve_bounded("[::1]", 7946).await.unwrap(),
        vec![v6_local(7946)]
    );
    let scoped = resolve_bounded("[fe80::1%1]:80", 7946).await.unwrap();
    assert_eq!(scoped[0].port(), 80);

    let local = resolve_bounded("localhost:7946", 1).await.unwrap();
    assert!(!local.is_empty());
    assert!(
        local
            .iter()
            .all(|a| a.port() == 7946 && a.ip().is_loopback()),
        "{local:?}"
    );
    let local = resolve_bounded("localhost", 8000).await.unwrap();
    assert!(local.iter().all(|a| a.port() == 8000), "{local:?}");
}

#[tokio::test]
async fn rejects_garbage_naming_the_input() {
    for bad in [
        "",
        "   ",
        "127.0.0.1:99999",
        "127.0.0.1:",
        "host:port",
        "bad host:80",
        "[::1",
        "[zz]:80",
        "[::1]:x",
        "a..b:1",
        "-a:1",
        "fe80::1::2:80",
        "under_score!:1",
        ":80",
    ] {
        let err = resolve_bounded(bad, 7946).await.expect_err(bad);
        assert!(
            matches!(err, NetError::InvalidAddress { .. }),
            "{bad:?}: {err:?}"
        );
        assert!(
            err.to_string().contains(&format!("{bad:?}")),
            "{bad:?}: {err}"
        );
    }
    // Well formed but unknown: a resolve error that still names the input.
    let err = resolve_bounded("no-such-host.invalid:80", 7946)
        .await
        .unwrap_err();
    assert!(
        matches!(err, NetError::Resolve { .. } | NetError::NoAddresses { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("no-such-host.invalid:80"), "{err}");
}
