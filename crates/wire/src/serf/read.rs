//! Reading helpers shared by the Serf codecs: Go structs as msgpack maps, and the field types
//! Serf uses (strings, byte slices, IPs, string maps and lists).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use bytes::Bytes;
use rmp::Marker;

use super::error::SerfDecodeError;
use crate::msgpack::Reader;
use crate::Name;

pub(super) type Result<T> = std::result::Result<T, SerfDecodeError>;

/// Reads a Go struct exactly as memberlist's are read ([`crate::msgpack::read_struct`]), with
/// Serf's error type.
pub(super) fn read_struct<'a>(
    r: &mut Reader<'a>,
    decl: &[&str],
    field: impl FnMut(usize, &mut Reader<'a>) -> Result<()>,
) -> Result<()> {
    crate::msgpack::read_struct::<SerfDecodeError>(r, decl, field)
}

/// A `[]byte`: any str or bin form, or an array of small ints (go-msgpack accepts both).
pub(super) fn read_blob(r: &mut Reader<'_>) -> Result<Bytes> {
    match r.peek()? {
        Marker::FixArray(_) | Marker::Array16 | Marker::Array32 => {
            let n = r.read_array_len()?;
            if n > r.remaining_len() {
                return Err(SerfDecodeError::Truncated);
            }
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push(r.read_uint_as::<u8>()?);
            }
            Ok(Bytes::from(v))
        }
        _ => Ok(Bytes::copy_from_slice(r.read_bytes()?)),
    }
}

/// A Go `string`.
pub(super) fn read_string(r: &mut Reader<'_>) -> Result<String> {
    Ok(r.read_str()?.to_owned())
}

/// A node name.
pub(super) fn read_name(r: &mut Reader<'_>) -> Result<Name> {
    Ok(Arc::from(r.read_str()?))
}

/// A Go `net.IP`: 4 bytes = IPv4, 16 bytes = IPv6 (a v4-mapped address stays IPv6, so it
/// re-encodes to the same 16 bytes).
pub(super) fn ip_from_bytes(b: &[u8]) -> Result<IpAddr> {
    if let Ok(a) = <[u8; 4]>::try_from(b) {
        Ok(IpAddr::V4(Ipv4Addr::from(a)))
    } else if let Ok(a) = <[u8; 16]>::try_from(b) {
        Ok(IpAddr::V6(Ipv6Addr::from(a)))
    } else {
        Err(SerfDecodeError::BadAddr(b.len()))
    }
}

/// Reads a `net.IP` field.
pub(super) fn read_ip(r: &mut Reader<'_>) -> Result<IpAddr> {
    ip_from_bytes(&read_blob(r)?)
}

/// The bytes of an IP as Go carries it: 4 for IPv4, 16 for IPv6.
pub(super) fn ip_bytes(ip: &IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// A Go `map[string]string` (nil reads as empty; a nil value as "").
pub(super) fn read_str_map(r: &mut Reader<'_>) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    if r.try_read_nil()? {
        return Ok(out);
    }
    let n = r.read_map_len()?;
    for _ in 0..n {
        let k = read_string(r)?;
        let v = if r.try_read_nil()? {
            String::new()
        } else {
            read_string(r)?
        };
        out.insert(k, v);
    }
    Ok(out)
}

/// A Go `[]string` (nil reads as empty).
pub(super) fn read_str_list(r: &mut Reader<'_>) -> Result<Vec<String>> {
    if r.try_read_nil()? {
        return Ok(Vec::new());
    }
    let n = r.read_array_len()?;
    let mut out = Vec::with_capacity(n.min(r.remaining_len()));
    for _ in 0..n {
        out.push(if r.try_read_nil()? {
            String::new()
        } else {
            read_string(r)?
        });
    }
    Ok(out)
}

/// Checks an integer fits a field of type `T`, naming the field when it does not.
pub(super) fn read_uint_field<T: TryFrom<u64>>(
    r: &mut Reader<'_>,
    field: &'static str,
) -> Result<T> {
    let v = r.read_uint()?;
    T::try_from(v).map_err(|_| SerfDecodeError::BadField { field })
}
