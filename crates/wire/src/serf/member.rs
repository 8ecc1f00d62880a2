//! The member record Serf sends as a `_serf_conflict` answer (type 6): the responder's view of
//! the contested name.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::error::SerfDecodeError;
use super::read::{
    ip_bytes, read_ip, read_name, read_str_map, read_struct, read_uint_field, Result,
};
use crate::msgpack::{Reader, Writer};
use crate::Name;

/// `serf.Member`. Keys `Addr`, `DelegateCur`, `DelegateMax`, `DelegateMin`, `Name`, `Port`,
/// `ProtocolCur`, `ProtocolMax`, `ProtocolMin`, `Status`, `Tags`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRecord {
    /// Member name.
    pub name: Name,
    /// Member IP.
    pub addr: IpAddr,
    /// Member port.
    pub port: u16,
    /// Member tags (written sorted; Go writes them in random order).
    pub tags: BTreeMap<String, String>,
    /// Status: 0 none, 1 alive, 2 leaving, 3 left, 4 failed.
    pub status: u8,
    /// memberlist protocol min.
    pub protocol_min: u8,
    /// memberlist protocol max.
    pub protocol_max: u8,
    /// memberlist protocol in use.
    pub protocol_cur: u8,
    /// Serf (delegate) protocol min.
    pub delegate_min: u8,
    /// Serf (delegate) protocol max.
    pub delegate_max: u8,
    /// Serf (delegate) protocol in use.
    pub delegate_cur: u8,
}

impl MemberRecord {
    pub(super) fn write(&self, w: &mut Writer<'_>) {
        w.write_map_len(11);
        w.write_str("Addr");
        w.write_bytes(&ip_bytes(&self.addr));
        for (k, v) in [
            ("DelegateCur", self.delegate_cur),
            ("DelegateMax", self.delegate_max),
            ("DelegateMin", self.delegate_min),
        ] {
            w.write_str(k);
            w.write_uint(u64::from(v));
        }
        w.write_str("Name");
        w.write_str(&self.name);
        w.write_str("Port");
        w.write_uint(u64::from(self.port));
        for (k, v) in [
            ("ProtocolCur", self.protocol_cur),
            ("ProtocolMax", self.protocol_max),
            ("ProtocolMin", self.protocol_min),
            ("Status", self.status),
        ] {
            w.write_str(k);
            w.write_uint(u64::from(v));
        }
        w.write_str("Tags");
        w.write_map_len(self.tags.len());
        for (k, v) in &self.tags {
            w.write_str(k);
            w.write_str(v);
        }
    }

    pub(super) fn read(r: &mut Reader<'_>) -> Result<Self> {
        let mut addr = None;
        let mut m = MemberRecord {
            name: Name::from(""),
            addr: IpAddr::from([0, 0, 0, 0]),
            port: 0,
            tags: BTreeMap::new(),
            status: 0,
            protocol_min: 0,
            protocol_max: 0,
            protocol_cur: 0,
            delegate_min: 0,
            delegate_max: 0,
            delegate_cur: 0,
        };
        let decl = [
            "Name",
            "Addr",
            "Port",
            "Tags",
            "Status",
            "ProtocolMin",
            "ProtocolMax",
            "ProtocolCur",
            "DelegateMin",
            "DelegateMax",
            "DelegateCur",
        ];
        read_struct(r, &decl, |i, r| {
            match i {
                0 => m.name = read_name(r)?,
                1 => addr = Some(read_ip(r)?),
                2 => m.port = read_uint_field(r, "Port")?,
                3 => m.tags = read_str_map(r)?,
                4 => m.status = read_uint_field(r, "Status")?,
                5 => m.protocol_min = read_uint_field(r, "ProtocolMin")?,
                6 => m.protocol_max = read_uint_field(r, "ProtocolMax")?,
                7 => m.protocol_cur = read_uint_field(r, "ProtocolCur")?,
                8 => m.delegate_min = read_uint_field(r, "DelegateMin")?,
                9 => m.delegate_max = read_uint_field(r, "DelegateMax")?,
                _ => m.delegate_cur = read_uint_field(r, "DelegateCur")?,
            }
            Ok(())
        })?;
        m.addr = addr.ok_or(SerfDecodeError::BadAddr(0))?;
        Ok(m)
    }
}
