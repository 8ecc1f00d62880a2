//! `rumor dcs`: the datacenters a server's WAN pool knows, with their alive and failed
//! servers and the estimated RTT from the agent, nearest first (RPC `dcs`).

use std::io::Write;

use anyhow::Result;

use crate::cli::{DcsArgs, Format};
use crate::rpc::proto::{DcRecord, DcsResponse};

/// The RTT column: milliseconds with three decimals, `-` when unknown.
fn rtt_text(d: &DcRecord) -> String {
    match d.rtt_nanos {
        Some(n) => format!("{:.3} ms", n as f64 / 1e6),
        None => "-".to_string(),
    }
}

/// The table: a header line, then one line per datacenter.
pub fn table(list: &[DcRecord]) -> String {
    let mut rows = vec![[
        "DATACENTER".to_string(),
        "ALIVE".to_string(),
        "FAILED".to_string(),
        "RTT".to_string(),
    ]];
    for d in list {
        rows.push([
            d.name.clone(),
            d.alive.to_string(),
            d.failed.to_string(),
            rtt_text(d),
        ]);
    }
    let w: [usize; 3] = std::array::from_fn(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0));
    let mut out = String::new();
    for r in rows {
        out.push_str(&format!(
            "{:w0$}  {:w1$}  {:w2$}  {}\n",
            r[0],
            r[1],
            r[2],
            r[3],
            w0 = w[0],
            w1 = w[1],
            w2 = w[2]
        ));
    }
    out
}

/// The JSON form: `{"datacenters": [{name, alive, failed, rtt_ms, servers}]}`.
pub fn json(list: &[DcRecord]) -> serde_json::Value {
    let dcs: Vec<serde_json::Value> = list
        .iter()
        .map(|d| {
            serde_json::json!({
                "name": d.name,
                "alive": d.alive,
                "failed": d.failed,
                "rtt_ms": d.rtt_nanos.map(|n| n as f64 / 1e6),
                "servers": d.servers,
            })
        })
        .collect();
    serde_json::json!({ "datacenters": dcs })
}

/// Run the command.
pub async fn run(args: DcsArgs) -> Result<()> {
    let mut client = super::connect(&args.client).await?;
    let resp: DcsResponse = client.call::<(), _>("dcs", None, true).await?;
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&json(&resp.datacenters))?
        )?,
        Format::Table => write!(out, "{}", table(&resp.datacenters))?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list() -> Vec<DcRecord> {
        vec![
            DcRecord {
                name: "east".into(),
                alive: 2,
                failed: 0,
                rtt_nanos: Some(1_234_567),
                servers: vec!["s1.east".into(), "s2.east".into()],
            },
            DcRecord {
                name: "far-west".into(),
                alive: 1,
                failed: 12,
                rtt_nanos: None,
                servers: vec!["w1.far-west".into()],
            },
        ]
    }

    #[test]
    fn table_lines() {
        assert_eq!(
            table(&list()),
            "DATACENTER  ALIVE  FAILED  RTT\n\
             east        2      0       1.235 ms\n\
             far-west    1      12      -\n"
        );
    }

    #[test]
    fn json_form() {
        let v = json(&list());
        assert_eq!(v["datacenters"][0]["name"], "east");
        assert_eq!(v["datacenters"][0]["rtt_ms"], 1.234567);
        assert!(v["datacenters"][1]["rtt_ms"].is_null());
        assert_eq!(v["datacenters"][1]["failed"], 12);
        assert_eq!(v["datacenters"][0]["servers"][1], "s2.east");
    }
}
