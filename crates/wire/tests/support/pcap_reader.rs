//! A tiny reader of classic pcap files (either byte order, µs or ns timestamps, Ethernet link
//! type, optional 802.1Q tag, IPv4), shared by the capture tests of rumor-wire and rumor-serf
//! (included with `#[path]`).
#![allow(dead_code)] // each includer uses a part

use std::time::Duration;

/// One IPv4 packet of a capture.
pub(crate) struct Frame<'a> {
    /// Index in the capture, counting every frame from 1.
    pub(crate) no: usize,
    /// Capture time, from the first frame.
    pub(crate) at: Duration,
    /// Source address.
    pub(crate) src: [u8; 4],
    /// Destination address.
    pub(crate) dst: [u8; 4],
    /// IP protocol (6 TCP, 17 UDP).
    pub(crate) proto: u8,
    /// The transport header and payload.
    pub(crate) l4: &'a [u8],
}

/// Big-endian u16 at the start of `b`.
pub(crate) fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

/// Big-endian u32 at the start of `b`.
pub(crate) fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Every IPv4 frame of a capture, in order.
pub(crate) fn frames(file: &[u8]) -> Vec<Frame<'_>> {
    assert!(file.len() >= 24, "pcap too short");
    let (le, nanos) = match &file[..4] {
        [0xd4, 0xc3, 0xb2, 0xa1] => (true, false),
        [0x4d, 0x3c, 0xb2, 0xa1] => (true, true),
        [0xa1, 0xb2, 0xc3, 0xd4] => (false, false),
        [0xa1, 0xb2, 0x3c, 0x4d] => (false, true),
        _ => panic!("not a classic pcap file"),
    };
    let u32_at = |b: &[u8]| {
        let a = [b[0], b[1], b[2], b[3]];
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    assert_eq!(u32_at(&file[20..24]), 1, "link type must be Ethernet");
    let mut out = Vec::new();
    let mut pos = 24;
    let mut no = 0;
    let mut first = None;
    while pos + 16 <= file.len() {
        let sec = u64::from(u32_at(&file[pos..pos + 4]));
        let frac = u64::from(u32_at(&file[pos + 4..pos + 8]));
        let ts = Duration::from_secs(sec)
            + if nanos {
                Duration::from_nanos(frac)
            } else {
                Duration::from_micros(frac)
            };
        let at = ts.saturating_sub(*first.get_or_insert(ts));
        let incl = u32_at(&file[pos + 8..pos + 12]) as usize;
        let frame = &file[pos + 16..pos + 16 + incl];
        pos += 16 + incl;
        no += 1;
        let mut eth_type = be16(&frame[12..14]);
        let mut ip_off = 14;
        if eth_type == 0x8100 {
            eth_type = be16(&frame[16..18]);
            ip_off = 18;
        }
        if eth_type != 0x0800 {
            continue;
        }
        let ip = &frame[ip_off..];
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let total = usize::from(be16(&ip[2..4])).min(ip.len());
        out.push(Frame {
            no,
            at,
            src: [ip[12], ip[13], ip[14], ip[15]],
            dst: [ip[16], ip[17], ip[18], ip[19]],
            proto: ip[9],
            l4: &ip[ihl..total],
        });
    }
    out
}
