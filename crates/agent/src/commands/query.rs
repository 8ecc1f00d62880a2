//! `rumor query`: send a query through the agent and print the acks and responses as they
//! arrive, the way `serf query` prints them (text, or `-format=json`'s object at the end).

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use anyhow::{anyhow, Result};

use crate::cli::{Format, QueryArgs};
use crate::config::parse_tag;
use crate::rpc::client::Client;
use crate::rpc::proto::{
    DcQueryRequest, QueryRecord, QueryRequest, RECORD_ACK, RECORD_DONE, RECORD_RESPONSE,
};

/// Parse a Go duration (`time.ParseDuration`): `0`, or a sequence of decimal numbers with
/// units `ns`, `us` (`µs`), `ms`, `s`, `m`, `h`, e.g. `1m30s`, `1.5s`, `250ms`. Negative
/// durations are refused (a query cannot end before it starts).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration '{s}'");
    let body = s.strip_prefix('+').unwrap_or(s);
    if body.starts_with('-') {
        return Err(format!(
            "invalid duration '{s}': a timeout cannot be negative"
        ));
    }
    if body == "0" {
        return Ok(Duration::ZERO);
    }
    if body.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    let mut rest = body;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let (num, after) = rest.split_at(num_len);
        if num.is_empty() || num == "." {
            return Err(bad());
        }
        let value: f64 = num.parse().map_err(|_| bad())?;
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(format!("invalid duration '{s}': unknown unit '{unit}'")),
        };
        total += value * scale;
        rest = next;
    }
    Duration::try_from_secs_f64(total).map_err(|_| bad())
}

/// How the answers are shown: serf's text or JSON formatter.
pub trait Printer {
    /// The query was sent.
    fn started(&mut self, out: &mut dyn Write) -> std::io::Result<()>;
    /// An ack arrived.
    fn ack(&mut self, out: &mut dyn Write, from: &str) -> std::io::Result<()>;
    /// A response arrived.
    fn response(&mut self, out: &mut dyn Write, from: &str, payload: &[u8]) -> std::io::Result<()>;
    /// The query closed.
    fn finished(&mut self, out: &mut dyn Write) -> std::io::Result<()>;
}

/// `serf query`'s text output, streamed as answers arrive.
#[derive(Debug)]
pub struct TextPrinter {
    name: String,
    no_ack: bool,
    acks: usize,
    responses: usize,
}

impl TextPrinter {
    /// For query `name`; with `no_ack` the ack total is not printed.
    pub fn new(name: &str, no_ack: bool) -> Self {
        TextPrinter {
            name: name.to_string(),
            no_ack,
            acks: 0,
            responses: 0,
        }
    }
}

impl Printer for TextPrinter {
    fn started(&mut self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(out, "Query '{}' dispatched", self.name)?;
        out.flush()
    }

    fn ack(&mut self, out: &mut dyn Write, from: &str) -> std::io::Result<()> {
        self.acks += 1;
        writeln!(out, "Ack from '{from}'")?;
        out.flush()
    }

    fn response(&mut self, out: &mut dyn Write, from: &str, payload: &[u8]) -> std::io::Result<()> {
        self.responses += 1;
        // One trailing newline is dropped, as serf does.
        let payload = payload.strip_suffix(b"\n").unwrap_or(payload);
        write!(out, "Response from '{from}': ")?;
        out.write_all(payload)?;
        writeln!(out)?;
        out.flush()
    }

    fn finished(&mut self, out: &mut dyn Write) -> std::io::Result<()> {
        if !self.no_ack {
            writeln!(out, "Total Acks: {}", self.acks)?;
        }
        writeln!(out, "Total Responses: {}", self.responses)?;
        out.flush()
    }
}

/// `serf query -format=json`: `{"Acks": [...], "Responses": {node: payload}}` at the end,
/// indented by two spaces, with Go's HTML-safe escaping.
#[derive(Debug, Default)]
pub struct JsonPrinter {
    acks: Option<Vec<String>>,
    responses: BTreeMap<String, String>,
}

/// Go's encoding/json escapes these inside strings (they only occur inside strings).
fn go_json_escape(s: &str) -> String {
    s.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

impl Printer for JsonPrinter {
    fn started(&mut self, _out: &mut dyn Write) -> std::io::Result<()> {
        Ok(())
    }

    fn ack(&mut self, _out: &mut dyn Write, from: &str) -> std::io::Result<()> {
        self.acks
            .get_or_insert_with(Vec::new)
            .push(from.to_string());
        Ok(())
    }

    fn response(
        &mut self,
        _out: &mut dyn Write,
        from: &str,
        payload: &[u8],
    ) -> std::io::Result<()> {
        self.responses.insert(
            from.to_string(),
            String::from_utf8_lossy(payload).into_owned(),
        );
        Ok(())
    }

    fn finished(&mut self, out: &mut dyn Write) -> std::io::Result<()> {
        let v = serde_json::json!({ "Acks": self.acks, "Responses": self.responses });
        let text = serde_json::to_string_pretty(&v).map_err(std::io::Error::other)?;
        writeln!(out, "{}", go_json_escape(&text))?;
        out.flush()
    }
}

/// Follow query stream `seq` until `done`, handing every answer to `printer`.
pub async fn follow(
    client: &mut Client,
    seq: u64,
    printer: &mut dyn Printer,
    out: &mut dyn Write,
) -> Result<()> {
    loop {
        let rec: QueryRecord = client.next_record(seq).await?;
        if rec.is_from_nobody() {
            continue;
        }
        match rec.kind.as_str() {
            RECORD_ACK => printer.ack(out, &rec.from)?,
            RECORD_RESPONSE => {
                printer.response(out, &rec.from, rec.payload.as_deref().unwrap_or_default())?
            }
            RECORD_DONE => break,
            other => tracing::debug!(kind = other, "unknown query record"),
        }
    }
    client.end_stream(seq);
    Ok(())
}

/// The `dc-query` body for `req` in datacenter `dc`.
fn dc_request(dc: &str, req: QueryRequest) -> DcQueryRequest {
    DcQueryRequest {
        dc: dc.to_string(),
        filter_nodes: req.filter_nodes,
        filter_tags: req.filter_tags,
        name: req.name,
        payload: req.payload,
        relay_factor: req.relay_factor,
        request_ack: req.request_ack,
        timeout: req.timeout,
    }
}

/// Run the command.
pub async fn run(args: QueryArgs) -> Result<()> {
    let mut filter_tags = BTreeMap::new();
    for t in &args.tags {
        let (k, v) = parse_tag(t)?;
        filter_tags.insert(k, v);
    }
    let timeout = match args.timeout {
        None => 0,
        Some(d) => i64::try_from(d.as_nanos()).map_err(|_| anyhow!("timeout too large"))?,
    };
    let req = QueryRequest {
        filter_nodes: args.nodes.clone(),
        filter_tags,
        name: args.name.clone(),
        payload: args.payload.clone().map(String::into_bytes),
        relay_factor: args.relay_factor,
        request_ack: !args.no_ack,
        timeout,
    };
    let mut client = super::connect(&args.client()).await?;
    let mut printer: Box<dyn Printer> = match args.format {
        Format::Table => Box::new(TextPrinter::new(&args.name, args.no_ack)),
        Format::Json => Box::new(JsonPrinter::default()),
    };
    let seq = match &args.dc {
        None => client
            .start_stream("query", &req)
            .await
            .map_err(|e| anyhow!("error sending query: {e}"))?,
        Some(dc) => client
            .start_stream("dc-query", &dc_request(dc, req))
            .await
            .map_err(|e| anyhow!("error sending query to datacenter {dc}: {e}"))?,
    };
    let mut out = std::io::stdout();
    printer.started(&mut out)?;
    tokio::select! {
        r = follow(&mut client, seq, printer.as_mut(), &mut out) => r?,
        _ = tokio::signal::ctrl_c() => return Err(anyhow!("interrupted")),
    }
    printer.finished(&mut out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn go_durations() {
        let ms = Duration::from_millis;
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("15s"), Ok(ms(15_000)));
        assert_eq!(parse_duration("250ms"), Ok(ms(250)));
        assert_eq!(parse_duration("1m30s"), Ok(ms(90_000)));
        assert_eq!(parse_duration("1.5s"), Ok(ms(1500)));
        assert_eq!(parse_duration("+2s"), Ok(ms(2000)));
        assert_eq!(parse_duration("1h"), Ok(ms(3_600_000)));
        assert_eq!(parse_duration("3us"), Ok(Duration::from_micros(3)));
        assert_eq!(parse_duration("3µs"), Ok(Duration::from_micros(3)));
        assert_eq!(parse_duration("7ns"), Ok(Duration::from_nanos(7)));
        for bad in ["", "5", "s", "1x", "-1s", ".s", "1.2.3s", "ms5"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    fn run_printer(p: &mut dyn Printer) -> String {
        let mut out = Vec::new();
        p.started(&mut out).unwrap();
        p.ack(&mut out, "n1").unwrap();
        p.response(&mut out, "n1", b"up 3 days\n").unwrap();
        p.ack(&mut out, "n2").unwrap();
        p.response(&mut out, "n2", b"a <b> & c\n\n").unwrap();
        p.finished(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn text_output_is_serfs() {
        assert_eq!(
            run_printer(&mut TextPrinter::new("uptime", false)),
            "Query 'uptime' dispatched\nAck from 'n1'\nResponse from 'n1': up 3 days\n\
             Ack from 'n2'\nResponse from 'n2': a <b> & c\n\nTotal Acks: 2\nTotal Responses: 2\n"
        );
        let mut p = TextPrinter::new("q", true);
        let mut out = Vec::new();
        p.started(&mut out).unwrap();
        p.finished(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Query 'q' dispatched\nTotal Responses: 0\n"
        );
    }

    #[test]
    fn json_output_is_serfs() {
        assert_eq!(
            run_printer(&mut JsonPrinter::default()),
            "{\n  \"Acks\": [\n    \"n1\",\n    \"n2\"\n  ],\n  \"Responses\": {\n    \
             \"n1\": \"up 3 days\\n\",\n    \"n2\": \"a \\u003cb\\u003e \\u0026 c\\n\\n\"\n  }\n}\n"
        );
        // No answers: Go prints a nil slice as null and an empty map as {}.
        let mut out = Vec::new();
        JsonPrinter::default().finished(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\n  \"Acks\": null,\n  \"Responses\": {}\n}\n"
        );
    }
}
