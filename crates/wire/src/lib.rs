//! rumor-wire: every byte format rumor speaks, and nothing else.
//!
//! Pure functions over bytes, no state, no I/O: memberlist 0.2.2 messages as go-msgpack
//! writes them, compound packets, the CRC header, LZW compression, AES-GCM encryption with a
//! keyring, the label header, and stream framing. Every decoder returns a typed
//! [`DecodeError`] on bad input and never panics.
//!
//! ```
//! use rumor_wire::{decode_packet, encode_packet, Key, Keyring, Message, Nack, PacketOptions};
//!
//! let ring = Keyring::new(Key::new(&[7; 32]).expect("32-byte key"));
//! let opts = PacketOptions { keyring: Some(&ring), ..Default::default() };
//!
//! let msg = Message::Nack(Nack { seq_no: 5 }).to_bytes();   // 0b 81 a5 "SeqNo" 05
//! let mut datagram = Vec::new();
//! let nonce = [0u8; 12];                                    // use fresh random bytes
//! encode_packet(&msg, true, true, &opts, nonce, &mut datagram);
//!
//! assert_eq!(decode_packet(&datagram, &opts)?, vec![Message::Nack(Nack { seq_no: 5 })]);
//! # Ok::<(), rumor_wire::DecodeError>(())
//! ```
//!
//! Layers, outermost first: [`label`], [`crypto`], [`crc`], then [`compound`] and
//! [`compress`] around the messages of [`message`]; [`packet`] and [`stream`] run the whole
//! pipeline; [`msgpack`] holds the go-msgpack-compatible reader and writer; [`limits`] names
//! every size bound.

mod codec;
pub mod compound;
pub mod compress;
pub mod crc;
pub mod crypto;
pub mod error;
pub mod framer;
pub mod label;
pub mod limits;
pub mod message;
pub mod msgpack;
pub mod packet;
pub mod serf;
pub mod stream;

pub use crypto::{Key, Keyring};
pub use error::{DecodeError, KeyError, MsgpackError};
pub use framer::StreamFramer;
pub use message::*;
pub use packet::{decode_packet, decode_packet_lossy, encode_packet, PacketOptions};
pub use stream::{decode_stream, encode_stream, StreamOptions};
