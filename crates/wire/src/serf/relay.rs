//! Relay messages (type 9): "forward these bytes to that address". Used so a query's ack or
//! response reaches its source over more than one path.
//!
//! Layout: `[9][relayHeader msgpack][inner Serf message, type byte included]`. The relay node
//! sends the inner bytes unchanged, as a user message, to `DestAddr`.

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;

use super::error::SerfDecodeError;
use super::read::{
    ip_bytes, read_ip, read_name, read_string, read_struct, read_uint_field, Result,
};
use crate::msgpack::{Reader, Writer};
use crate::Name;

/// `relayHeader`: keys `DestAddr` (a Go `net.UDPAddr`: `IP`, `Port`, `Zone`) and `DestName`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayHeader {
    /// Where to forward the inner message.
    pub dest_addr: SocketAddr,
    /// IPv6 zone of the destination ("" for none).
    pub dest_zone: String,
    /// Name of the destination node.
    pub dest_name: Name,
}

/// A relay message: the header and the inner message to forward (type byte included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relay {
    /// Where to forward.
    pub header: RelayHeader,
    /// The Serf message to forward, as raw bytes (normally a [`super::QueryResponse`]).
    pub message: Bytes,
}

impl Relay {
    pub(super) fn write(&self, w: &mut Writer<'_>) {
        let h = &self.header;
        w.write_map_len(2);
        w.write_str("DestAddr");
        w.write_map_len(3);
        w.write_str("IP");
        w.write_bytes(&ip_bytes(&h.dest_addr.ip()));
        w.write_str("Port");
        w.write_uint(u64::from(h.dest_addr.port()));
        w.write_str("Zone");
        w.write_str(&h.dest_zone);
        w.write_str("DestName");
        w.write_str(&h.dest_name);
        w.write_raw(&self.message);
    }

    pub(super) fn read(r: &mut Reader<'_>) -> Result<Self> {
        let mut ip: Option<IpAddr> = None;
        let mut port: u16 = 0;
        let mut zone = String::new();
        let mut name = Name::from("");
        read_struct(r, &["DestAddr", "DestName"], |i, r| {
            match i {
                0 => read_struct(r, &["IP", "Port", "Zone"], |j, r| {
                    match j {
                        0 => ip = Some(read_ip(r)?),
                        1 => port = read_uint_field(r, "Port")?,
                        _ => zone = read_string(r)?,
                    }
                    Ok(())
                })?,
                _ => name = read_name(r)?,
            }
            Ok(())
        })?;
        let ip = ip.ok_or(SerfDecodeError::BadAddr(0))?;
        let header = RelayHeader {
            dest_addr: SocketAddr::new(ip, port),
            dest_zone: zone,
            dest_name: name,
        };
        Ok(Relay {
            header,
            message: Bytes::copy_from_slice(r.remaining()),
        })
    }
}
