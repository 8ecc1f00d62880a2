//! `rumor keys`: rotate the cluster's encryption keys through one agent (rumor's or Serf's),
//! printing what `serf keys` prints; and `rumor keygen`: a new random key.

use std::io::{Read, Write};

use anyhow::{anyhow, bail, Context, Result};

use crate::cli::KeysArgs;
use crate::keyring::{encode_base64, parse_key};
use crate::rpc::proto::{KeyRequest, KeysResponse};

/// Lay out `|`-separated rows in aligned columns, as Go's `columnize.SimpleFormat` does (cells
/// trimmed, two spaces between columns, the last column unpadded).
pub fn columnize(rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            let w = cell.trim().chars().count();
            if i == widths.len() {
                widths.push(w);
            } else if widths[i] < w {
                widths[i] = w;
            }
        }
    }
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            let cell = cell.trim();
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        out.push(line.trim_end().to_string());
    }
    out.join("\n")
}

/// The lines `serf keys` prints for the members that reported failure, one per node.
pub fn failure_lines(resp: &KeysResponse) -> String {
    let rows: Vec<Vec<String>> = resp
        .messages
        .iter()
        .map(|(node, msg)| vec!["failed:".to_string(), node.clone(), msg.clone()])
        .collect();
    columnize(&rows)
}

/// The key list as `serf keys -list` prints it: `KEY  [n/total]`.
pub fn list_lines(resp: &KeysResponse) -> String {
    let rows: Vec<Vec<String>> = resp
        .keys
        .iter()
        .flatten()
        .map(|(key, n)| vec![key.clone(), format!("[{n}/{}]", resp.num_nodes)])
        .collect();
    columnize(&rows)
}

/// Run the command: exit status 0 only if every member answered and none failed.
pub async fn run(args: KeysArgs) -> Result<()> {
    let (command, key, doing, done, what) = if let Some(k) = &args.install {
        (
            "install-key",
            Some(k),
            "Installing key on all members...",
            "Successfully installed key!",
            "Error installing key",
        )
    } else if let Some(k) = &args.use_key {
        (
            "use-key",
            Some(k),
            "Changing primary key on all members...",
            "Successfully changed primary key!",
            "Error changing primary key",
        )
    } else if let Some(k) = &args.remove {
        (
            "remove-key",
            Some(k),
            "Removing key on all members...",
            "Successfully removed key!",
            "Error removing key",
        )
    } else if args.list {
        (
            "list-keys",
            None,
            "Asking all members for installed keys...",
            "Keys gathered, listing cluster keys...",
            "Failed to gather member keys",
        )
    } else {
        bail!("one of --install, --use, --remove or --list is required");
    };
    let mut client = super::connect(&args.client)
        .await
        .context("Error connecting to the agent")?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "==> {doing}")?;
    out.flush()?;
    let (err, resp): (String, KeysResponse) = match key {
        Some(k) => {
            let req = KeyRequest { key: k.clone() };
            client.call_with_body(command, Some(&req)).await
        }
        None => client.call_with_body::<(), _>(command, None).await,
    }
    .map_err(|e| anyhow!("{what}: {e}"))?;
    if !err.is_empty() {
        if !resp.messages.is_empty() {
            let mut e = std::io::stderr().lock();
            writeln!(e, "{}", failure_lines(&resp))?;
            writeln!(e)?;
        }
        bail!("{what}: {err}");
    }
    writeln!(out, "==> {done}")?;
    if args.list {
        writeln!(out)?;
        writeln!(out, "{}", list_lines(&resp))?;
    }
    Ok(())
}

/// `rumor keygen`: 32 random bytes from the operating system, base64, as `serf keygen`.
pub fn keygen() -> Result<()> {
    let mut key = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut key))
        .context("cannot read random bytes from /dev/urandom")?;
    let encoded = encode_base64(&key);
    // Never print something the agent would refuse.
    parse_key(&encoded).map_err(|e| anyhow!("generated key is invalid: {e}"))?;
    writeln!(std::io::stdout(), "{encoded}")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn columns_align_like_columnize() {
        let rows = vec![
            vec![
                "failed:".into(),
                "n1".into(),
                "Removing the primary key is not allowed".into(),
            ],
            vec!["failed:".into(), "long-node".into(), "x".into()],
        ];
        assert_eq!(
            columnize(&rows),
            "failed:  n1         Removing the primary key is not allowed\nfailed:  long-node  x"
        );
    }

    #[test]
    fn list_counts_every_member() {
        let resp = KeysResponse {
            keys: Some(BTreeMap::from([
                ("QUFBQUFBQUFBQUFBQUFBQQ==".to_string(), 4),
                ("QkJCQkJCQkJCQkJCQkJCQg==".to_string(), 2),
            ])),
            num_nodes: 4,
            num_resp: 4,
            ..Default::default()
        };
        assert_eq!(
            list_lines(&resp),
            "QUFBQUFBQUFBQUFBQUFBQQ==  [4/4]\nQkJCQkJCQkJCQkJCQkJCQg==  [2/4]"
        );
    }
}
