//! rumor-wire: every byte format rumor speaks, and nothing else.
//!
//! Pure functions over bytes, no state, no I/O: memberlist 0.2.2 messages as go-msgpack
//! writes them, compound packets, the CRC header, LZW compression, AES-GCM encryption with a
//! keyring, the label header, and stream framing. Every decoder returns a typed
//! [`DecodeError`] on bad input and never panics.

mod codec;
pub mod compound;
pub mod compress;
pub mod crc;
pub mod crypto;
pub mod error;
pub mod label;
pub mod limits;
pub mod message;
pub mod msgpack;
pub mod packet;
pub mod stream;

pub use crypto::{Key, Keyring};
pub use error::{DecodeError, KeyError, MsgpackError};
pub use message::*;
pub use packet::{decode_packet, decode_packet_lossy, encode_packet, PacketOptions};
pub use stream::{decode_stream, encode_stream, StreamOptions};
