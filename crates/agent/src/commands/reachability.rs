//! `rumor reachability`: list the members, send `_serf_ping` asking every member to ack, and
//! compare the acks with the live members, printing what `serf reachability` prints. Exits
//! non-zero when a live member did not ack, a non-live one did, or a name acked twice.

use std::collections::BTreeSet;
use std::io::Write;
use std::time::Instant;

use anyhow::{anyhow, bail, Result};

use crate::cli::ReachabilityArgs;
use crate::query::PING;
use crate::rpc::proto::{MembersResponse, QueryRecord, QueryRequest, RECORD_ACK, RECORD_DONE};

/// Serf's advice when a non-live member acked.
pub const TOO_MANY_ACKS: &str =
    "This could mean Serf is detecting false-failures due to a misconfiguration or network issue.";
/// Serf's advice when a live member did not ack.
pub const TOO_FEW_ACKS: &str =
    "This could mean Serf gossip packets are being lost due to a misconfiguration or network issue.";
/// Serf's advice on duplicate acks.
pub const DUPLICATE_RESPONSES: &str =
    "Duplicate responses means there is a misconfiguration. Verify that node names are unique.";
/// Serf's troubleshooting list.
pub const TROUBLESHOOTING: &str = "
Troubleshooting tips:
* Ensure that the bind addr:port is accessible by all other nodes
* If an advertise address is set, ensure it routes to the bind address
* Check that no nodes are behind a NAT
* If nodes are behind firewalls or iptables, check that Serf traffic is permitted (UDP and TCP)
* Verify networking equipment is functional";

/// The verdict on a set of acks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Text to print after the acks.
    pub text: String,
    /// Whether every live member acked exactly once and nobody else did.
    pub ok: bool,
}

/// Compare the acks (in arrival order, duplicates included) with the live members, as
/// serf's reachability command does: duplicates fail; then the ack count against the live
/// count decides (names listed in sorted order).
pub fn judge(live: &BTreeSet<String>, acks: &[String]) -> Verdict {
    let mut text = String::new();
    let mut ok = true;
    let from: BTreeSet<&String> = acks.iter().collect();
    if from.len() != acks.len() {
        text.push_str(DUPLICATE_RESPONSES);
        text.push('\n');
        ok = false;
    }
    let n = live.len();
    if acks.len() == n {
        text.push_str("Successfully contacted all live nodes\n");
    } else if acks.len() > n {
        text.push_str("Received more acks than live nodes! Acks from non-live nodes:\n");
        for m in from.iter().filter(|m| !live.contains(m.as_str())) {
            text.push_str(&format!("\t{m}\n"));
        }
        text.push_str(TOO_MANY_ACKS);
        text.push('\n');
        text.push_str(TROUBLESHOOTING);
        text.push('\n');
        ok = false;
    } else {
        text.push_str("Received less acks than live nodes! Missing acks from:\n");
        for m in live.iter().filter(|m| !from.contains(m)) {
            text.push_str(&format!("\t{m}\n"));
        }
        text.push_str(TOO_FEW_ACKS);
        text.push('\n');
        text.push_str(TROUBLESHOOTING);
        text.push('\n');
        ok = false;
    }
    Verdict { text, ok }
}

/// Run the command.
pub async fn run(args: ReachabilityArgs) -> Result<()> {
    let mut client = super::connect(&args.client).await?;
    let members: MembersResponse = client
        .call::<(), _>("members", None, false)
        .await
        .map_err(|e| anyhow!("error getting members: {e}"))?;
    let live: BTreeSet<String> = members
        .members
        .iter()
        .filter(|m| m.status == "alive")
        .map(|m| m.name.clone())
        .collect();
    let mut out = std::io::stdout();
    writeln!(
        out,
        "Total members: {}, live members: {}",
        members.members.len(),
        live.len()
    )?;
    let req = QueryRequest {
        name: PING.into(),
        request_ack: true,
        ..Default::default()
    };
    let seq = client
        .start_stream("query", &req)
        .await
        .map_err(|e| anyhow!("error sending query: {e}"))?;
    writeln!(out, "Starting reachability test...")?;
    out.flush()?;
    let start = Instant::now();
    let mut last = start;
    let mut acks = Vec::new();
    loop {
        let rec: QueryRecord = tokio::select! {
            r = client.next_record(seq) => r?,
            _ = tokio::signal::ctrl_c() => bail!("test interrupted"),
        };
        if rec.is_from_nobody() {
            continue;
        }
        match rec.kind.as_str() {
            RECORD_ACK => {
                if args.verbose {
                    writeln!(out, "\tAck from '{}'", rec.from)?;
                }
                if acks.contains(&rec.from) {
                    writeln!(out, "Duplicate response from '{}'", rec.from)?;
                }
                acks.push(rec.from);
                last = Instant::now();
            }
            RECORD_DONE => break,
            _ => {}
        }
    }
    client.end_stream(seq);
    if args.verbose {
        writeln!(
            out,
            "Query time: {:.2} sec, time to last response: {:.2} sec",
            start.elapsed().as_secs_f64(),
            last.duration_since(start).as_secs_f64()
        )?;
    }
    let verdict = judge(&live, &acks);
    write!(out, "{}", verdict.text)?;
    out.flush()?;
    if !verdict.ok {
        bail!("not every live member acknowledged exactly once");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn v(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn all_live_members_acked() {
        let verdict = judge(&set(&["a", "b"]), &v(&["b", "a"]));
        assert_eq!(
            verdict,
            Verdict {
                text: "Successfully contacted all live nodes\n".into(),
                ok: true
            }
        );
    }

    #[test]
    fn missing_acks_are_listed() {
        let verdict = judge(&set(&["a", "b", "c"]), &v(&["b"]));
        assert!(!verdict.ok);
        assert!(verdict.text.starts_with(
            "Received less acks than live nodes! Missing acks from:\n\ta\n\tc\nThis could mean Serf gossip packets"
        ), "{}", verdict.text);
        assert!(verdict
            .text
            .ends_with("* Verify networking equipment is functional\n"));
    }

    #[test]
    fn extra_and_duplicate_acks_fail() {
        let verdict = judge(&set(&["a"]), &v(&["a", "ghost"]));
        assert!(!verdict.ok);
        assert!(verdict.text.starts_with(
            "Received more acks than live nodes! Acks from non-live nodes:\n\tghost\n"
        ));
        // Two acks from one live member of two: the counts match, but duplicates fail.
        let verdict = judge(&set(&["a", "b"]), &v(&["a", "a"]));
        assert!(!verdict.ok);
        assert_eq!(
            verdict.text,
            format!("{DUPLICATE_RESPONSES}\nSuccessfully contacted all live nodes\n")
        );
    }
}
