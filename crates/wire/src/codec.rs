//! The msgpack bodies of every memberlist message: how each struct of [`crate::message`] is
//! written (go-msgpack v0.5.3 bytes: sorted Go field names, omitempty `Source*`) and read
//! (lenient: map in any key order or array in Go declaration order, unknown keys skipped,
//! missing keys and nil as zero values, any int family, str or bin or int-array for bytes).

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use bytes::Bytes;

use crate::error::DecodeError;
use crate::limits::{MAX_PUSH_STATE_NODES, MAX_USER_MSG_BYTES, MAX_USER_STATE_BYTES};
use crate::message::*;
use crate::msgpack::{self, Reader, Writer};

type Result<T> = std::result::Result<T, DecodeError>;

// ---------------------------------------------------------------------------------------------
// Generic struct reading

/// Reads a Go struct (see [`msgpack::read_struct`]) with this module's error type.
pub(crate) fn read_struct<'a>(
    r: &mut Reader<'a>,
    decl: &[&str],
    field: impl FnMut(usize, &mut Reader<'a>) -> Result<()>,
) -> Result<()> {
    msgpack::read_struct(r, decl, field)
}

/// Reads a `[]byte` field: any str or bin form, or an array of small ints (Go accepts both).
pub(crate) fn read_byte_field(r: &mut Reader<'_>) -> Result<Bytes> {
    Ok(match r.read_bytes_or_array()? {
        Cow::Borrowed(b) => Bytes::copy_from_slice(b),
        Cow::Owned(v) => Bytes::from(v),
    })
}

fn read_name(r: &mut Reader<'_>) -> Result<Name> {
    Ok(Arc::from(r.read_str()?))
}

/// 4 bytes = IPv4, 16 bytes = IPv6 (v4-mapped kept as IPv6), anything else is an error.
pub(crate) fn ip_from_bytes(b: &[u8]) -> Result<IpAddr> {
    if let Ok(a) = <[u8; 4]>::try_from(b) {
        Ok(IpAddr::V4(Ipv4Addr::from(a)))
    } else if let Ok(a) = <[u8; 16]>::try_from(b) {
        Ok(IpAddr::V6(Ipv6Addr::from(a)))
    } else {
        Err(DecodeError::BadAddr(b.len()))
    }
}

fn read_addr(r: &mut Reader<'_>) -> Result<IpAddr> {
    ip_from_bytes(&read_byte_field(r)?)
}

fn read_opt_addr(r: &mut Reader<'_>) -> Result<Option<IpAddr>> {
    let b = read_byte_field(r)?;
    if b.is_empty() {
        Ok(None)
    } else {
        ip_from_bytes(&b).map(Some)
    }
}

fn read_int_bounded(r: &mut Reader<'_>, field: &'static str, max: usize) -> Result<usize> {
    let v = r.read_int()?;
    let v = usize::try_from(v).map_err(|_| DecodeError::BadField { field })?;
    if v > max {
        return Err(DecodeError::TooLarge {
            what: field,
            len: v,
            max,
        });
    }
    Ok(v)
}

fn missing_addr() -> DecodeError {
    DecodeError::BadAddr(0)
}

// ---------------------------------------------------------------------------------------------
// Writing helpers

fn write_ip(w: &mut Writer<'_>, ip: &IpAddr) {
    match ip {
        IpAddr::V4(a) => w.write_bytes(&a.octets()),
        IpAddr::V6(a) => w.write_bytes(&a.octets()),
    }
}

fn opt_nonempty_name(n: &Option<Name>) -> Option<&str> {
    n.as_deref().filter(|s| !s.is_empty())
}

fn opt_nonzero_port(p: Option<u16>) -> Option<u16> {
    p.filter(|&p| p != 0)
}

// ---------------------------------------------------------------------------------------------
// ping (0)

const PING_DECL: &[&str] = &["SeqNo", "Node", "SourceAddr", "SourcePort", "SourceNode"];

pub(crate) fn write_ping(w: &mut Writer<'_>, p: &Ping) {
    let sa = p.source_addr.as_ref();
    let sn = opt_nonempty_name(&p.source_node);
    let sp = opt_nonzero_port(p.source_port);
    w.write_map_len(
        2 + usize::from(sa.is_some()) + usize::from(sn.is_some()) + usize::from(sp.is_some()),
    );
    w.write_str("Node");
    w.write_str(&p.node);
    w.write_str("SeqNo");
    w.write_uint(u64::from(p.seq_no));
    if let Some(a) = sa {
        w.write_str("SourceAddr");
        write_ip(w, a);
    }
    if let Some(n) = sn {
        w.write_str("SourceNode");
        w.write_str(n);
    }
    if let Some(port) = sp {
        w.write_str("SourcePort");
        w.write_uint(u64::from(port));
    }
}

pub(crate) fn read_ping(r: &mut Reader<'_>) -> Result<Ping> {
    let mut p = Ping {
        seq_no: 0,
        node: Arc::from(""),
        source_addr: None,
        source_port: None,
        source_node: None,
    };
    read_struct(r, PING_DECL, |i, r| {
        match i {
            0 => p.seq_no = r.read_uint_as()?,
            1 => p.node = read_name(r)?,
            2 => p.source_addr = read_opt_addr(r)?,
            3 => p.source_port = Some(r.read_uint_as::<u16>()?).filter(|&v| v != 0),
            _ => p.source_node = Some(read_name(r)?).filter(|n| !n.is_empty()),
        }
        Ok(())
    })?;
    Ok(p)
}

// ---------------------------------------------------------------------------------------------
// indirectPingReq (1)

const INDIRECT_DECL: &[&str] = &[
    "SeqNo",
    "Target",
    "Port",
    "Node",
    "Nack",
    "SourceAddr",
    "SourcePort",
    "SourceNode",
];

pub(crate) fn write_indirect_ping(w: &mut Writer<'_>, p: &IndirectPing) {
    let sa = p.source_addr.as_ref();
    let sn = opt_nonempty_name(&p.source_node);
    let sp = opt_nonzero_port(p.source_port);
    w.write_map_len(
        5 + usize::from(sa.is_some()) + usize::from(sn.is_some()) + usize::from(sp.is_some()),
    );
    w.write_str("Nack");
    w.write_bool(p.nack);
    w.write_str("Node");
    w.write_str(&p.node);
    w.write_str("Port");
    w.write_uint(u64::from(p.port));
    w.write_str("SeqNo");
    w.write_uint(u64::from(p.seq_no));
    if let Some(a) = sa {
        w.write_str("SourceAddr");
        write_ip(w, a);
    }
    if let Some(n) = sn {
        w.write_str("SourceNode");
        w.write_str(n);
    }
    if let Some(port) = sp {
        w.write_str("SourcePort");
        w.write_uint(u64::from(port));
    }
    w.write_str("Target");
    write_ip(w, &p.target);
}

pub(crate) fn read_indirect_ping(r: &mut Reader<'_>) -> Result<IndirectPing> {
    let mut seq_no = 0;
    let mut target = None;
    let mut port = 0;
    let mut node: Name = Arc::from("");
    let mut nack = false;
    let mut source_addr = None;
    let mut source_port = None;
    let mut source_node = None;
    read_struct(r, INDIRECT_DECL, |i, r| {
        match i {
            0 => seq_no = r.read_uint_as()?,
            1 => target = Some(read_addr(r)?),
            2 => port = r.read_uint_as()?,
            3 => node = read_name(r)?,
            4 => nack = r.read_bool()?,
            5 => source_addr = read_opt_addr(r)?,
            6 => source_port = Some(r.read_uint_as::<u16>()?).filter(|&v| v != 0),
            _ => source_node = Some(read_name(r)?).filter(|n| !n.is_empty()),
        }
        Ok(())
    })?;
    Ok(IndirectPing {
        seq_no,
        target: target.ok_or_else(missing_addr)?,
        port,
        node,
        nack,
        source_addr,
        source_port,
        source_node,
    })
}

// ---------------------------------------------------------------------------------------------
// ackResp (2), nackResp (11), errResp (13)

const ACK_DECL: &[&str] = &["SeqNo", "Payload"];

pub(crate) fn write_ack(w: &mut Writer<'_>, a: &Ack) {
    w.write_map_len(2);
    w.write_str("Payload");
    w.write_opt_bytes(a.payload.as_deref());
    w.write_str("SeqNo");
    w.write_uint(u64::from(a.seq_no));
}

pub(crate) fn read_ack(r: &mut Reader<'_>) -> Result<Ack> {
    let mut a = Ack {
        seq_no: 0,
        payload: None,
    };
    read_struct(r, ACK_DECL, |i, r| {
        match i {
            0 => a.seq_no = r.read_uint_as()?,
            _ => a.payload = Some(read_byte_field(r)?),
        }
        Ok(())
    })?;
    Ok(a)
}

const NACK_DECL: &[&str] = &["SeqNo"];

pub(crate) fn write_nack(w: &mut Writer<'_>, n: &Nack) {
    w.write_map_len(1);
    w.write_str("SeqNo");
    w.write_uint(u64::from(n.seq_no));
}

pub(crate) fn read_nack(r: &mut Reader<'_>) -> Result<Nack> {
    let mut n = Nack { seq_no: 0 };
    read_struct(r, NACK_DECL, |_, r| {
        n.seq_no = r.read_uint_as()?;
        Ok(())
    })?;
    Ok(n)
}

const ERR_DECL: &[&str] = &["Error"];

pub(crate) fn write_err(w: &mut Writer<'_>, e: &ErrResp) {
    w.write_map_len(1);
    w.write_str("Error");
    w.write_str(&e.error);
}

pub(crate) fn read_err(r: &mut Reader<'_>) -> Result<ErrResp> {
    let mut e = ErrResp {
        error: String::new(),
    };
    read_struct(r, ERR_DECL, |_, r| {
        e.error = r.read_str()?.to_owned();
        Ok(())
    })?;
    Ok(e)
}

// ---------------------------------------------------------------------------------------------
// suspect (3), dead (5): same shape

const ACCUSE_DECL: &[&str] = &["Incarnation", "Node", "From"];

fn write_accusation(w: &mut Writer<'_>, incarnation: u32, node: &str, from: &str) {
    w.write_map_len(3);
    w.write_str("From");
    w.write_str(from);
    w.write_str("Incarnation");
    w.write_uint(u64::from(incarnation));
    w.write_str("Node");
    w.write_str(node);
}

fn read_accusation(r: &mut Reader<'_>) -> Result<(u32, Name, Name)> {
    let mut inc = 0;
    let mut node: Name = Arc::from("");
    let mut from: Name = Arc::from("");
    read_struct(r, ACCUSE_DECL, |i, r| {
        match i {
            0 => inc = r.read_uint_as()?,
            1 => node = read_name(r)?,
            _ => from = read_name(r)?,
        }
        Ok(())
    })?;
    Ok((inc, node, from))
}

pub(crate) fn write_suspect(w: &mut Writer<'_>, s: &Suspect) {
    write_accusation(w, s.incarnation, &s.node, &s.from);
}

pub(crate) fn read_suspect(r: &mut Reader<'_>) -> Result<Suspect> {
    let (incarnation, node, from) = read_accusation(r)?;
    Ok(Suspect {
        incarnation,
        node,
        from,
    })
}

pub(crate) fn write_dead(w: &mut Writer<'_>, d: &Dead) {
    write_accusation(w, d.incarnation, &d.node, &d.from);
}

pub(crate) fn read_dead(r: &mut Reader<'_>) -> Result<Dead> {
    let (incarnation, node, from) = read_accusation(r)?;
    Ok(Dead {
        incarnation,
        node,
        from,
    })
}

// ---------------------------------------------------------------------------------------------
// alive (4)

const ALIVE_DECL: &[&str] = &["Incarnation", "Node", "Addr", "Port", "Meta", "Vsn"];

pub(crate) fn write_alive(w: &mut Writer<'_>, a: &Alive) {
    w.write_map_len(6);
    w.write_str("Addr");
    write_ip(w, &a.addr);
    w.write_str("Incarnation");
    w.write_uint(u64::from(a.incarnation));
    w.write_str("Meta");
    w.write_opt_bytes(a.meta.as_deref());
    w.write_str("Node");
    w.write_str(&a.node);
    w.write_str("Port");
    w.write_uint(u64::from(a.port));
    w.write_str("Vsn");
    w.write_opt_bytes(a.vsn.as_deref());
}

pub(crate) fn read_alive(r: &mut Reader<'_>) -> Result<Alive> {
    let mut incarnation = 0;
    let mut node: Name = Arc::from("");
    let mut addr = None;
    let mut port = 0;
    let mut meta = None;
    let mut vsn = None;
    read_struct(r, ALIVE_DECL, |i, r| {
        match i {
            0 => incarnation = r.read_uint_as()?,
            1 => node = read_name(r)?,
            2 => addr = Some(read_addr(r)?),
            3 => port = r.read_uint_as()?,
            4 => meta = Some(read_byte_field(r)?),
            _ => vsn = Some(read_byte_field(r)?),
        }
        Ok(())
    })?;
    Ok(Alive {
        incarnation,
        node,
        addr: addr.ok_or_else(missing_addr)?,
        port,
        meta,
        vsn,
    })
}

// ---------------------------------------------------------------------------------------------
// push-pull (6): header, node states, raw user state

const PP_HEADER_DECL: &[&str] = &["Nodes", "UserStateLen", "Join"];
const PUSH_NODE_DECL: &[&str] = &[
    "Name",
    "Addr",
    "Port",
    "Meta",
    "Incarnation",
    "State",
    "Vsn",
];

/// Decoded `pushPullHeader`.
pub(crate) struct PushPullHeader {
    pub(crate) nodes: usize,
    pub(crate) user_state_len: usize,
    pub(crate) join: bool,
}

pub(crate) fn write_push_pull_header(w: &mut Writer<'_>, h: &PushPullHeader) {
    w.write_map_len(3);
    w.write_str("Join");
    w.write_bool(h.join);
    w.write_str("Nodes");
    w.write_uint(h.nodes as u64);
    w.write_str("UserStateLen");
    w.write_uint(h.user_state_len as u64);
}

pub(crate) fn read_push_pull_header(r: &mut Reader<'_>) -> Result<PushPullHeader> {
    let mut h = PushPullHeader {
        nodes: 0,
        user_state_len: 0,
        join: false,
    };
    read_struct(r, PP_HEADER_DECL, |i, r| {
        match i {
            0 => h.nodes = read_int_bounded(r, "Nodes", MAX_PUSH_STATE_NODES)?,
            1 => h.user_state_len = read_int_bounded(r, "UserStateLen", MAX_USER_STATE_BYTES)?,
            _ => h.join = r.read_bool()?,
        }
        Ok(())
    })?;
    Ok(h)
}

pub(crate) fn write_push_node(w: &mut Writer<'_>, n: &PushNodeState) {
    w.write_map_len(7);
    w.write_str("Addr");
    write_ip(w, &n.addr);
    w.write_str("Incarnation");
    w.write_uint(u64::from(n.incarnation));
    w.write_str("Meta");
    w.write_opt_bytes(n.meta.as_deref());
    w.write_str("Name");
    w.write_str(&n.name);
    w.write_str("Port");
    w.write_uint(u64::from(n.port));
    w.write_str("State");
    w.write_uint(n.state as u64);
    w.write_str("Vsn");
    w.write_opt_bytes(n.vsn.as_deref());
}

fn wire_state(v: u64) -> Result<WireState> {
    Ok(match v {
        0 => WireState::Alive,
        1 => WireState::Suspect,
        2 => WireState::Dead,
        3 => WireState::Left,
        _ => return Err(DecodeError::BadField { field: "State" }),
    })
}

pub(crate) fn read_push_node(r: &mut Reader<'_>) -> Result<PushNodeState> {
    let mut name: Name = Arc::from("");
    let mut addr = None;
    let mut port = 0;
    let mut meta = None;
    let mut incarnation = 0;
    let mut state = WireState::Alive;
    let mut vsn = None;
    read_struct(r, PUSH_NODE_DECL, |i, r| {
        match i {
            0 => name = read_name(r)?,
            1 => addr = Some(read_addr(r)?),
            2 => port = r.read_uint_as()?,
            3 => meta = Some(read_byte_field(r)?),
            4 => incarnation = r.read_uint_as()?,
            5 => state = wire_state(r.read_uint()?)?,
            _ => vsn = Some(read_byte_field(r)?),
        }
        Ok(())
    })?;
    Ok(PushNodeState {
        name,
        addr: addr.ok_or_else(missing_addr)?,
        port,
        meta,
        incarnation,
        state,
        vsn,
    })
}

pub(crate) fn write_push_pull(w: &mut Writer<'_>, p: &PushPull) {
    write_push_pull_header(
        w,
        &PushPullHeader {
            nodes: p.nodes.len(),
            user_state_len: p.user_state.len(),
            join: p.join,
        },
    );
    for n in &p.nodes {
        write_push_node(w, n);
    }
    w.write_raw(&p.user_state);
}

pub(crate) fn read_push_pull(r: &mut Reader<'_>) -> Result<PushPull> {
    let h = read_push_pull_header(r)?;
    // Never trust the declared count for the allocation: grow as entries actually decode.
    let mut nodes = Vec::with_capacity(h.nodes.min(1024));
    for _ in 0..h.nodes {
        nodes.push(read_push_node(r)?);
    }
    let user_state = Bytes::copy_from_slice(r.read_raw(h.user_state_len)?);
    Ok(PushPull {
        join: h.join,
        nodes,
        user_state,
    })
}

// ---------------------------------------------------------------------------------------------
// userMsgHeader (stream form of a user message)

const USER_HEADER_DECL: &[&str] = &["UserMsgLen"];

pub(crate) fn write_user_stream(w: &mut Writer<'_>, payload: &[u8]) {
    w.write_map_len(1);
    w.write_str("UserMsgLen");
    w.write_uint(payload.len() as u64);
    w.write_raw(payload);
}

pub(crate) fn read_user_stream(r: &mut Reader<'_>) -> Result<Bytes> {
    let len = read_user_len(r)?;
    Ok(Bytes::copy_from_slice(r.read_raw(len)?))
}

/// The `userMsgHeader` alone: how many raw bytes follow.
pub(crate) fn read_user_len(r: &mut Reader<'_>) -> Result<usize> {
    let mut len = 0;
    read_struct(r, USER_HEADER_DECL, |_, r| {
        len = read_int_bounded(r, "UserMsgLen", MAX_USER_MSG_BYTES)?;
        Ok(())
    })?;
    Ok(len)
}

// ---------------------------------------------------------------------------------------------
// compress (9) wrapper body

const COMPRESS_DECL: &[&str] = &["Algo", "Buf"];

pub(crate) fn write_compress(w: &mut Writer<'_>, buf: &[u8]) {
    w.write_map_len(2);
    w.write_str("Algo");
    w.write_uint(0);
    w.write_str("Buf");
    w.write_bytes(buf);
}

/// Reads the `compress` struct and returns its `Buf` (LZW data), checking `Algo == 0`.
pub(crate) fn read_compress(r: &mut Reader<'_>) -> Result<Bytes> {
    let mut algo = 0;
    let mut buf = Bytes::new();
    read_struct(r, COMPRESS_DECL, |i, r| {
        match i {
            0 => algo = r.read_uint()?,
            _ => buf = read_byte_field(r)?,
        }
        Ok(())
    })?;
    if algo != 0 {
        return Err(DecodeError::UnknownCompression(algo));
    }
    Ok(buf)
}

// ---------------------------------------------------------------------------------------------
// Dispatch by type

/// Reads the body of a msgpack-bodied message type from `r` (not User, not wrappers).
pub(crate) fn read_body(t: MessageType, r: &mut Reader<'_>) -> Result<Message> {
    Ok(match t {
        MessageType::Ping => Message::Ping(read_ping(r)?),
        MessageType::IndirectPing => Message::IndirectPing(read_indirect_ping(r)?),
        MessageType::Ack => Message::Ack(read_ack(r)?),
        MessageType::Suspect => Message::Suspect(read_suspect(r)?),
        MessageType::Alive => Message::Alive(read_alive(r)?),
        MessageType::Dead => Message::Dead(read_dead(r)?),
        MessageType::PushPull => Message::PushPull(read_push_pull(r)?),
        MessageType::Nack => Message::Nack(read_nack(r)?),
        MessageType::Err => Message::Err(read_err(r)?),
        other => return Err(DecodeError::UnexpectedType(other)),
    })
}

/// Writes type byte and body; `stream_user` selects the stream form of a user message.
pub(crate) fn write_message(m: &Message, stream_user: bool, out: &mut Vec<u8>) {
    out.push(m.message_type() as u8);
    let mut w = Writer::new(out);
    match m {
        Message::Ping(p) => write_ping(&mut w, p),
        Message::IndirectPing(p) => write_indirect_ping(&mut w, p),
        Message::Ack(a) => write_ack(&mut w, a),
        Message::Suspect(s) => write_suspect(&mut w, s),
        Message::Alive(a) => write_alive(&mut w, a),
        Message::Dead(d) => write_dead(&mut w, d),
        Message::PushPull(p) => write_push_pull(&mut w, p),
        Message::User(b) if stream_user => write_user_stream(&mut w, b),
        Message::User(b) => w.write_raw(b),
        Message::Nack(n) => write_nack(&mut w, n),
        Message::Err(e) => write_err(&mut w, e),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn hexr(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    #[test]
    fn struct_forms() {
        // nack as array, as nil, with an int key (skipped) and a duplicate key (last wins)
        for (hex_, want) in [
            ("91 05", 5),
            ("c0", 0),
            ("82 01 02 a5 5365714e6f 07", 7),
            ("82 a5 5365714e6f 01 a5 5365714e6f 09", 9),
            ("92 05 81a178c0", 5),
        ] {
            let b = hexr(hex_);
            assert_eq!(
                read_nack(&mut Reader::new(&b)).unwrap().seq_no,
                want,
                "{hex_}"
            );
        }
        assert!(read_nack(&mut Reader::new(&hexr("05"))).is_err());
        assert_eq!(
            read_nack(&mut Reader::new(&hexr("81 a5 5365714e6f"))),
            Err(DecodeError::Truncated)
        );
    }

    #[test]
    fn byte_fields() {
        for hex_ in ["a3 010203", "c4 03 010203", "93 01 02 03", "d9 03 010203"] {
            let b = hexr(hex_);
            assert_eq!(
                &read_byte_field(&mut Reader::new(&b)).unwrap()[..],
                &[1, 2, 3]
            );
        }
        assert!(read_byte_field(&mut Reader::new(&hexr("91 cd 0100"))).is_err());
        assert_eq!(ip_from_bytes(&[1, 2, 3]), Err(DecodeError::BadAddr(3)));
    }

    #[test]
    fn header_bounds() {
        // Nodes negative, Nodes too many, UserStateLen too large
        for hex_ in [
            "81 a5 4e6f646573 ff",
            "81 a5 4e6f646573 ce 00100001",
            "81 ac 5573657253746174654c656e ce 01400001",
        ] {
            assert!(read_push_pull_header(&mut Reader::new(&hexr(hex_))).is_err());
        }
    }

    #[test]
    fn unknown_state_rejected() {
        let b = hexr("82 a5 5374617465 04 a4 41646472 a4 0a000001");
        assert_eq!(
            read_push_node(&mut Reader::new(&b)),
            Err(DecodeError::BadField { field: "State" })
        );
    }
}
