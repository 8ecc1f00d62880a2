//! Reading back-to-back msgpack values from a TCP stream, which carries no length prefix:
//! a value is complete when the msgpack reader can walk over it.

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Largest single RPC value accepted (a member list of a big pool fits easily).
pub const MAX_VALUE_BYTES: usize = 64 * 1024 * 1024;

/// Why a value could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The connection closed (cleanly, between values, or in the middle of one).
    #[error("connection closed")]
    Closed,
    /// Reading failed.
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
    /// Bytes that are not msgpack, or a value beyond [`MAX_VALUE_BYTES`].
    #[error("malformed msgpack value: {0}")]
    Malformed(String),
}

/// Buffers a stream and hands out one complete msgpack value at a time.
#[derive(Debug, Default)]
pub struct ValueReader {
    buf: BytesMut,
}

impl ValueReader {
    /// An empty reader.
    pub fn new() -> Self {
        Self::default()
    }

    /// Length of the first complete value in the buffer, if there is one.
    fn complete(&self) -> Result<Option<usize>, FrameError> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let mut r = rumor_wire::msgpack::Reader::new(&self.buf);
        match r.skip_value() {
            Ok(()) => Ok(Some(r.position())),
            Err(rumor_wire::error::MsgpackError::Eof) => {
                if self.buf.len() > MAX_VALUE_BYTES {
                    Err(FrameError::Malformed("value too large".into()))
                } else {
                    Ok(None)
                }
            }
            Err(e) => Err(FrameError::Malformed(e.to_string())),
        }
    }

    /// The next whole value's bytes, reading from `r` as needed.
    pub async fn next<R: AsyncRead + Unpin>(&mut self, r: &mut R) -> Result<Vec<u8>, FrameError> {
        loop {
            if let Some(n) = self.complete()? {
                let v = self.buf[..n].to_vec();
                self.buf.advance(n);
                return Ok(v);
            }
            let read = r.read_buf(&mut self.buf).await?;
            if read == 0 {
                return Err(FrameError::Closed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn splits_back_to_back_values_across_reads() {
        let mut bytes = Vec::new();
        crate::rpc::proto::encode(
            &crate::rpc::proto::RequestHeader {
                command: "members".into(),
                seq: 7,
            },
            &mut bytes,
        )
        .unwrap();
        bytes.extend_from_slice(b"\x81\xa3Foo\x01");
        let (mut a, mut b) = tokio::io::duplex(4);
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            for chunk in bytes.chunks(3) {
                a.write_all(chunk).await.unwrap();
            }
        });
        let mut vr = ValueReader::new();
        let h: crate::rpc::proto::RequestHeader =
            crate::rpc::proto::decode(&vr.next(&mut b).await.unwrap()).unwrap();
        assert_eq!(h.seq, 7);
        assert_eq!(vr.next(&mut b).await.unwrap(), b"\x81\xa3Foo\x01");
        writer.await.unwrap();
        assert!(matches!(vr.next(&mut b).await, Err(FrameError::Closed)));
    }

    #[tokio::test]
    async fn garbage_is_an_error() {
        let (mut a, mut b) = tokio::io::duplex(64);
        use tokio::io::AsyncWriteExt;
        a.write_all(b"\xc1\xc1\xc1").await.unwrap();
        let mut vr = ValueReader::new();
        assert!(matches!(
            vr.next(&mut b).await,
            Err(FrameError::Malformed(_))
        ));
    }
}
