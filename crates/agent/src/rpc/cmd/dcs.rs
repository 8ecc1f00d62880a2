//! `dcs`: the datacenters the WAN pool knows, nearest first (a rumor extension). The reply
//! body always follows the header, empty when the header carries an error (an agent that is
//! not a server).

use serde::{Deserialize, Serialize};

use super::Next;
use crate::rpc::proto::nil_default;
use crate::rpc::server::Connection;

/// One datacenter in the `dcs` reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct DcRecord {
    /// Its name.
    pub name: String,
    /// Servers alive.
    pub alive: u32,
    /// Servers failed.
    pub failed: u32,
    /// Median estimated RTT to its alive servers, in nanoseconds (nil: unknown).
    pub rtt_nanos: Option<u64>,
    /// The WAN names of its alive servers.
    #[serde(deserialize_with = "nil_default")]
    pub servers: Vec<String>,
}

impl From<&crate::wan::DcInfo> for DcRecord {
    fn from(d: &crate::wan::DcInfo) -> Self {
        DcRecord {
            name: d.name.clone(),
            alive: u32::try_from(d.alive).unwrap_or(u32::MAX),
            failed: u32::try_from(d.failed).unwrap_or(u32::MAX),
            rtt_nanos: d
                .rtt
                .map(|r| u64::try_from(r.as_nanos()).unwrap_or(u64::MAX)),
            servers: d.servers.clone(),
        }
    }
}

/// `dcs` reply body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct DcsResponse {
    /// The datacenters, nearest first.
    #[serde(deserialize_with = "nil_default")]
    pub datacenters: Vec<DcRecord>,
}

/// Reply with the datacenters (no request body).
pub(super) async fn apply(conn: &mut Connection, seq: u64) -> Next {
    let (err, datacenters) = match conn.agent.datacenters() {
        Ok(list) => (String::new(), list.iter().map(DcRecord::from).collect()),
        Err(e) => (format!("{e:#}"), Vec::new()),
    };
    conn.reply_body(seq, &err, &DcsResponse { datacenters })
        .await;
    Next::Continue
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::rpc::cmd::test_util::enc;
    use crate::rpc::proto;

    #[test]
    fn reply_round_trips() {
        let r = DcsResponse {
            datacenters: vec![
                DcRecord {
                    name: "east".into(),
                    alive: 2,
                    failed: 1,
                    rtt_nanos: Some(1_500_000),
                    servers: vec!["s1.east".into(), "s2.east".into()],
                },
                DcRecord {
                    name: "west".into(),
                    ..Default::default()
                },
            ],
        };
        let bytes = enc(&r);
        assert_eq!(proto::decode::<DcsResponse>(&bytes).unwrap(), r);
        let info = crate::wan::DcInfo {
            name: "x".into(),
            alive: 3,
            failed: 0,
            rtt: Some(std::time::Duration::from_micros(250)),
            servers: vec!["a.x".into()],
        };
        let rec = DcRecord::from(&info);
        assert_eq!((rec.alive, rec.rtt_nanos), (3, Some(250_000)));
    }
}
