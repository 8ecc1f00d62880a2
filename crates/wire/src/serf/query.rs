//! Queries (type 4), their acks and responses (type 5), and query filters.
//!
//! A query is gossiped like a user event; each receiver that passes the filters may ack it
//! and respond, by direct UDP to the query's source address (optionally via relays).

use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;

use super::error::SerfDecodeError;
use super::read::{
    ip_bytes, read_blob, read_ip, read_name, read_str_list, read_string, read_struct,
    read_uint_field, Result,
};
use super::{LamportTime, QUERY_FLAG_ACK, QUERY_FLAG_NO_BROADCAST};
use crate::msgpack::{Reader, Writer};
use crate::Name;

/// `messageQuery`. Keys `Addr`, `Filters`, `Flags`, `ID`, `LTime`, `Name`, `Payload`,
/// `Port`, `RelayFactor`, `SourceNode`, `Timeout`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Query clock time.
    pub ltime: LamportTime,
    /// Random id chosen by the source (`rand.Int31`); dedupe key together with `ltime`.
    pub id: u32,
    /// Source IP, where acks and responses go.
    pub addr: IpAddr,
    /// Source port.
    pub port: u16,
    /// Source node name.
    pub source_node: Name,
    /// Encoded filters, each `[filter type][msgpack]` (see [`Filter`]). Kept as bytes so a
    /// query with a filter we cannot read is still gossiped on, as Serf does. Empty is written
    /// as nil (`c0`), as Go writes a query without filters.
    pub filters: Vec<Bytes>,
    /// [`QUERY_FLAG_ACK`] and [`QUERY_FLAG_NO_BROADCAST`].
    pub flags: u32,
    /// How many extra members relay each ack and response.
    pub relay_factor: u8,
    /// How long the source waits for answers (Go `time.Duration`, int64 ns on the wire; a
    /// negative value reads as zero).
    pub timeout: Duration,
    /// Query name.
    pub name: String,
    /// Payload; `None` is nil (`c0`).
    pub payload: Option<Bytes>,
}

/// `messageQueryResponse`: an ack (flag [`QUERY_FLAG_ACK`], no payload) or a response.
/// Keys `Flags`, `From`, `ID`, `LTime`, `Payload`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryResponse {
    /// The query's time.
    pub ltime: LamportTime,
    /// The query's id.
    pub id: u32,
    /// The responding node.
    pub from: Name,
    /// [`QUERY_FLAG_ACK`] for an ack, 0 for a response.
    pub flags: u32,
    /// Response payload; `None` is nil (`c0`), as in acks.
    pub payload: Option<Bytes>,
}

/// One decoded query filter (an element of [`Query::filters`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// Type 0 (`filterNodeType`): only these nodes process the query.
    Nodes(Vec<String>),
    /// Type 1 (`filterTagType`): the receiver's tag `tag` ("" if absent) must match the
    /// unanchored RE2 regular expression `expr`.
    Tag {
        /// Tag name.
        tag: String,
        /// Regular expression (Go RE2 syntax, unanchored).
        expr: String,
    },
}

/// Filter type byte of [`Filter::Nodes`].
pub const FILTER_NODES: u8 = 0;
/// Filter type byte of [`Filter::Tag`].
pub const FILTER_TAG: u8 = 1;

fn write_duration_ns(w: &mut Writer<'_>, d: Duration) {
    let ns = i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
    w.write_int(ns);
}

impl Query {
    /// Whether receivers are asked to ack.
    pub fn wants_ack(&self) -> bool {
        self.flags & QUERY_FLAG_ACK != 0
    }

    /// Whether receivers must not gossip the query on.
    pub fn no_broadcast(&self) -> bool {
        self.flags & QUERY_FLAG_NO_BROADCAST != 0
    }

    /// The filters, decoded; the first one that cannot be read is an error (Serf then does not
    /// process the query, but still gossips it on).
    pub fn decoded_filters(&self) -> Result<Vec<Filter>> {
        self.filters.iter().map(|f| Filter::decode(f)).collect()
    }

    pub(super) fn write(&self, w: &mut Writer<'_>) {
        w.write_map_len(11);
        w.write_str("Addr");
        w.write_bytes(&ip_bytes(&self.addr));
        w.write_str("Filters");
        if self.filters.is_empty() {
            w.write_nil();
        } else {
            w.write_array_len(self.filters.len());
            for f in &self.filters {
                w.write_bytes(f);
            }
        }
        w.write_str("Flags");
        w.write_uint(u64::from(self.flags));
        w.write_str("ID");
        w.write_uint(u64::from(self.id));
        w.write_str("LTime");
        w.write_uint(self.ltime);
        w.write_str("Name");
        w.write_str(&self.name);
        w.write_str("Payload");
        w.write_opt_bytes(self.payload.as_deref());
        w.write_str("Port");
        w.write_uint(u64::from(self.port));
        w.write_str("RelayFactor");
        w.write_uint(u64::from(self.relay_factor));
        w.write_str("SourceNode");
        w.write_str(&self.source_node);
        w.write_str("Timeout");
        write_duration_ns(w, self.timeout);
    }

    pub(super) fn read(r: &mut Reader<'_>) -> Result<Self> {
        let mut addr = None;
        let mut m = Query {
            ltime: 0,
            id: 0,
            addr: IpAddr::from([0, 0, 0, 0]),
            port: 0,
            source_node: Name::from(""),
            filters: Vec::new(),
            flags: 0,
            relay_factor: 0,
            timeout: Duration::ZERO,
            name: String::new(),
            payload: None,
        };
        let decl = [
            "LTime",
            "ID",
            "Addr",
            "Port",
            "SourceNode",
            "Filters",
            "Flags",
            "RelayFactor",
            "Timeout",
            "Name",
            "Payload",
        ];
        read_struct(r, &decl, |i, r| {
            match i {
                0 => m.ltime = r.read_uint()?,
                1 => m.id = read_uint_field(r, "ID")?,
                2 => addr = Some(read_ip(r)?),
                3 => m.port = read_uint_field(r, "Port")?,
                4 => m.source_node = read_name(r)?,
                5 => {
                    let n = r.read_array_len()?;
                    m.filters = Vec::with_capacity(n.min(r.remaining_len()));
                    for _ in 0..n {
                        m.filters.push(if r.try_read_nil()? {
                            Bytes::new()
                        } else {
                            read_blob(r)?
                        });
                    }
                }
                6 => m.flags = read_uint_field(r, "Flags")?,
                7 => m.relay_factor = read_uint_field(r, "RelayFactor")?,
                8 => m.timeout = Duration::from_nanos(u64::try_from(r.read_int()?).unwrap_or(0)),
                9 => m.name = read_string(r)?,
                _ => m.payload = Some(read_blob(r)?),
            }
            Ok(())
        })?;
        m.addr = addr.ok_or(SerfDecodeError::BadAddr(0))?;
        Ok(m)
    }
}

impl QueryResponse {
    /// Whether this is an ack rather than a response.
    pub fn is_ack(&self) -> bool {
        self.flags & QUERY_FLAG_ACK != 0
    }

    pub(super) fn write(&self, w: &mut Writer<'_>) {
        w.write_map_len(5);
        w.write_str("Flags");
        w.write_uint(u64::from(self.flags));
        w.write_str("From");
        w.write_str(&self.from);
        w.write_str("ID");
        w.write_uint(u64::from(self.id));
        w.write_str("LTime");
        w.write_uint(self.ltime);
        w.write_str("Payload");
        w.write_opt_bytes(self.payload.as_deref());
    }

    pub(super) fn read(r: &mut Reader<'_>) -> Result<Self> {
        let mut m = QueryResponse {
            ltime: 0,
            id: 0,
            from: Name::from(""),
            flags: 0,
            payload: None,
        };
        read_struct(r, &["LTime", "ID", "From", "Flags", "Payload"], |i, r| {
            match i {
                0 => m.ltime = r.read_uint()?,
                1 => m.id = read_uint_field(r, "ID")?,
                2 => m.from = read_name(r)?,
                3 => m.flags = read_uint_field(r, "Flags")?,
                _ => m.payload = Some(read_blob(r)?),
            }
            Ok(())
        })?;
        Ok(m)
    }
}

impl Filter {
    /// Encodes the filter as Serf puts it in [`Query::filters`]: type byte, then msgpack.
    pub fn encode(&self) -> Bytes {
        let mut out = Vec::new();
        match self {
            Filter::Nodes(nodes) => {
                out.push(FILTER_NODES);
                let mut w = Writer::new(&mut out);
                w.write_array_len(nodes.len());
                for n in nodes {
                    w.write_str(n);
                }
            }
            Filter::Tag { tag, expr } => {
                out.push(FILTER_TAG);
                let mut w = Writer::new(&mut out);
                w.write_map_len(2);
                w.write_str("Expr");
                w.write_str(expr);
                w.write_str("Tag");
                w.write_str(tag);
            }
        }
        Bytes::from(out)
    }

    /// Decodes one filter. An unknown type byte is [`SerfDecodeError::BadField`] (`Filters`).
    pub fn decode(buf: &[u8]) -> Result<Filter> {
        let (&ty, body) = buf
            .split_first()
            .ok_or(SerfDecodeError::BadField { field: "Filters" })?;
        let mut r = Reader::new(body);
        match ty {
            FILTER_NODES => Ok(Filter::Nodes(read_str_list(&mut r)?)),
            FILTER_TAG => {
                let (mut tag, mut expr) = (String::new(), String::new());
                read_struct(&mut r, &["Tag", "Expr"], |i, r| {
                    match i {
                        0 => tag = read_string(r)?,
                        _ => expr = read_string(r)?,
                    }
                    Ok(())
                })?;
                Ok(Filter::Tag { tag, expr })
            }
            _ => Err(SerfDecodeError::BadField { field: "Filters" }),
        }
    }
}
