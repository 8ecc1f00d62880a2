//! `rumor members`: the agent's member list, filtered like `serf members` (`--wan`: the
//! members of a server's WAN pool, in the same formats).

use std::collections::BTreeMap;
use std::io::Write;
use std::net::IpAddr;

use anyhow::Result;

use crate::cli::{Format, MembersArgs};
use crate::config::parse_tag;
use crate::rpc::proto::{Member, MembersFilteredRequest, MembersResponse};

/// The address of a member as text, `ip:port` (`[v6]:port`).
pub fn member_addr(m: &Member) -> String {
    let ip: Option<IpAddr> = match m.addr.len() {
        4 => <[u8; 4]>::try_from(&m.addr[..]).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(&m.addr[..]).ok().map(|b| {
            let v6 = std::net::Ipv6Addr::from(b);
            v6.to_ipv4_mapped()
                .map(IpAddr::V4)
                .unwrap_or(IpAddr::V6(v6))
        }),
        _ => None,
    };
    match ip {
        Some(ip) => std::net::SocketAddr::new(ip, m.port).to_string(),
        None => format!("?:{}", m.port),
    }
}

/// Run the command.
pub async fn run(args: MembersArgs) -> Result<()> {
    let mut tags = BTreeMap::new();
    for t in &args.tags {
        let (k, v) = parse_tag(t)?;
        tags.insert(k, v);
    }
    for pattern in args
        .name
        .iter()
        .chain(args.status.iter())
        .chain(tags.values())
    {
        regex::Regex::new(pattern).map_err(|e| anyhow::anyhow!("bad filter '{pattern}': {e}"))?;
    }
    let req = MembersFilteredRequest {
        name: args.name.clone().unwrap_or_default(),
        status: args.status.clone().unwrap_or_default(),
        tags,
    };
    let mut client = super::connect(&args.client).await?;
    // The WAN list always carries a body, empty when the agent is not a server.
    let (command, body_on_error) = if args.wan {
        ("wan-members-filtered", true)
    } else {
        ("members-filtered", false)
    };
    let resp: MembersResponse = client.call(command, Some(&req), body_on_error).await?;
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            let list: Vec<serde_json::Value> = resp
                .members
                .iter()
                .map(|m| {
                    serde_json::json!({
                        "name": m.name,
                        "addr": member_addr(m),
                        "port": m.port,
                        "tags": m.tags,
                        "status": m.status,
                        "protocol": { "min": m.protocol_min, "max": m.protocol_max, "version": m.protocol_cur },
                        "delegate": { "min": m.delegate_min, "max": m.delegate_max, "version": m.delegate_cur },
                    })
                })
                .collect();
            writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({ "members": list }))?
            )?;
        }
        Format::Table => {
            let rows: Vec<[String; 4]> = resp
                .members
                .iter()
                .map(|m| {
                    let tags = m
                        .tags
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(",");
                    [m.name.clone(), member_addr(m), m.status.clone(), tags]
                })
                .collect();
            let w0 = rows.iter().map(|r| r[0].len()).max().unwrap_or(0);
            let w1 = rows.iter().map(|r| r[1].len()).max().unwrap_or(0);
            let w2 = rows.iter().map(|r| r[2].len()).max().unwrap_or(0);
            for r in rows {
                writeln!(out, "{:w0$}  {:w1$}  {:w2$}  {}", r[0], r[1], r[2], r[3])?;
            }
        }
    }
    Ok(())
}
