//! AES-GCM encryption with a keyring, as memberlist does it.
//!
//! Encrypted payload: version byte (0 or 1), 12-byte nonce, GCM ciphertext with its 16-byte
//! tag. Version 0 PKCS#7-pads the plaintext to a 16-byte multiple first (memberlist protocol 1);
//! version 1 does not (everyone else). The primary key (index 0 of the keyring) encrypts;
//! decryption tries every key in keyring order and the first that authenticates wins, which
//! is what lets a cluster rotate keys without downtime.

use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::aes::Aes192;
use aes_gcm::{Aes128Gcm, Aes256Gcm, AesGcm, Nonce, Tag};

use crate::error::{DecodeError, KeyError};
use crate::limits::{ENCRYPT_OVERHEAD_V0, ENCRYPT_OVERHEAD_V1};

/// Length of the GCM nonce.
pub const NONCE_LEN: usize = 12;
/// Length of the GCM tag.
pub const TAG_LEN: usize = 16;
const BLOCK: usize = 16;

type Aes192Gcm = AesGcm<Aes192, U12>;

#[derive(Clone)]
enum Cipher {
    A128(Box<Aes128Gcm>),
    A192(Box<Aes192Gcm>),
    A256(Box<Aes256Gcm>),
}

/// One AES key of 16, 24 or 32 bytes (AES-128/192/256), with its expanded cipher. `Debug`
/// never prints the key bytes.
#[derive(Clone)]
pub struct Key {
    bytes: [u8; 32],
    len: u8,
    cipher: Cipher,
}

impl Key {
    /// A key from raw bytes; any length but 16, 24 or 32 is [`KeyError::BadLength`].
    pub fn new(key: &[u8]) -> Result<Key, KeyError> {
        let bad = || KeyError::BadLength(key.len());
        let cipher = match key.len() {
            16 => Cipher::A128(Box::new(Aes128Gcm::new_from_slice(key).map_err(|_| bad())?)),
            24 => Cipher::A192(Box::new(Aes192Gcm::new_from_slice(key).map_err(|_| bad())?)),
            32 => Cipher::A256(Box::new(Aes256Gcm::new_from_slice(key).map_err(|_| bad())?)),
            _ => return Err(bad()),
        };
        let mut bytes = [0u8; 32];
        bytes[..key.len()].copy_from_slice(key);
        Ok(Key {
            bytes,
            len: key.len() as u8,
            cipher,
        })
    }

    /// The raw key bytes (for the keyring file and `serf keys -list`).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    fn seal(&self, nonce: &Nonce<U12>, aad: &[u8], buf: &mut [u8]) -> Option<Tag> {
        match &self.cipher {
            Cipher::A128(c) => c.encrypt_in_place_detached(nonce, aad, buf),
            Cipher::A192(c) => c.encrypt_in_place_detached(nonce, aad, buf),
            Cipher::A256(c) => c.encrypt_in_place_detached(nonce, aad, buf),
        }
        .ok()
    }

    fn open(&self, nonce: &Nonce<U12>, aad: &[u8], buf: &mut [u8], tag: &Tag) -> bool {
        match &self.cipher {
            Cipher::A128(c) => c.decrypt_in_place_detached(nonce, aad, buf, tag),
            Cipher::A192(c) => c.decrypt_in_place_detached(nonce, aad, buf, tag),
            Cipher::A256(c) => c.decrypt_in_place_detached(nonce, aad, buf, tag),
        }
        .is_ok()
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        // Constant-time in the key bytes.
        self.len == other.len
            && self
                .as_bytes()
                .iter()
                .zip(other.as_bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

impl Eq for Key {}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key(AES-{}, <redacted>)", usize::from(self.len) * 8)
    }
}

/// An ordered set of keys; index 0 is the primary key, used for all encryption.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Keyring {
    keys: Vec<Key>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keyring({} keys)", self.keys.len())
    }
}

impl Keyring {
    /// A keyring holding just `primary`.
    pub fn new(primary: Key) -> Keyring {
        Keyring {
            keys: vec![primary],
        }
    }

    /// A keyring of `keys` in order (the first is primary); duplicates are dropped.
    pub fn from_keys(keys: Vec<Key>) -> Keyring {
        let mut k = Keyring::default();
        for key in keys {
            k.install(key);
        }
        k
    }

    /// The primary key, if any.
    pub fn primary(&self) -> Option<&Key> {
        self.keys.first()
    }

    /// All keys, primary first.
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when there is no key (encryption is off).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Adds a key at the end (it becomes primary only if the ring was empty); a key already
    /// present is left where it is.
    pub fn install(&mut self, key: Key) {
        if !self.keys.contains(&key) {
            self.keys.push(key);
        }
    }

    /// Makes an installed key primary. [`KeyError::NotFound`] if absent (nothing changed).
    pub fn use_key(&mut self, key: &Key) -> Result<(), KeyError> {
        let i = self
            .keys
            .iter()
            .position(|k| k == key)
            .ok_or(KeyError::NotFound)?;
        let k = self.keys.remove(i);
        self.keys.insert(0, k);
        Ok(())
    }

    /// Removes a non-primary key. [`KeyError::RemovePrimary`] for the primary,
    /// [`KeyError::NotFound`] if absent (nothing changed either way).
    pub fn remove(&mut self, key: &Key) -> Result<(), KeyError> {
        let i = self
            .keys
            .iter()
            .position(|k| k == key)
            .ok_or(KeyError::NotFound)?;
        if i == 0 {
            return Err(KeyError::RemovePrimary);
        }
        self.keys.remove(i);
        Ok(())
    }
}

/// Length of the encrypted payload for `plain_len` plaintext bytes.
pub fn encrypted_len(vsn: u8, plain_len: usize) -> usize {
    if vsn == 0 {
        1 + NONCE_LEN + plain_len + (BLOCK - plain_len % BLOCK) + TAG_LEN
    } else {
        1 + NONCE_LEN + plain_len + TAG_LEN
    }
}

/// Appends the encrypted payload of `plaintext`: `vsn`, `nonce`, ciphertext and tag, with
/// `aad` authenticated. `vsn` 0 pads (PKCS#7); any other value is treated as 1. Real senders
/// pass a fresh random nonce per message; tests pass a fixed one.
pub fn encrypt(
    vsn: u8,
    key: &Key,
    nonce: [u8; 12],
    plaintext: &[u8],
    aad: &[u8],
    out: &mut Vec<u8>,
) {
    let vsn = u8::from(vsn != 0);
    out.reserve(encrypted_len(vsn, plaintext.len()));
    out.push(vsn);
    out.extend_from_slice(&nonce);
    let start = out.len();
    out.extend_from_slice(plaintext);
    if vsn == 0 {
        let pad = BLOCK - plaintext.len() % BLOCK;
        out.extend(std::iter::repeat_n(pad as u8, pad));
    }
    // GCM fails only for plaintexts over 64 GiB, far beyond every size limit here.
    match key.seal(Nonce::from_slice(&nonce), aad, &mut out[start..]) {
        Some(tag) => out.extend_from_slice(&tag),
        None => out.truncate(start - 1 - NONCE_LEN),
    }
}

/// Decrypts an encrypted payload with the first key of `keyring` that authenticates it.
/// Errors: empty keyring [`DecodeError::NoKeyring`]; empty input or shorter than the version's
/// minimum [`DecodeError::Truncated`]; version > 1 [`DecodeError::UnknownEncryptionVersion`];
/// no key fits [`DecodeError::Decrypt`].
pub fn decrypt(keyring: &Keyring, buf: &[u8], aad: &[u8]) -> Result<Vec<u8>, DecodeError> {
    if keyring.is_empty() {
        return Err(DecodeError::NoKeyring);
    }
    let (&vsn, _) = buf.split_first().ok_or(DecodeError::Truncated)?;
    let min = match vsn {
        0 => ENCRYPT_OVERHEAD_V0,
        1 => ENCRYPT_OVERHEAD_V1,
        v => return Err(DecodeError::UnknownEncryptionVersion(v)),
    };
    if buf.len() < min {
        return Err(DecodeError::Truncated);
    }
    let nonce = Nonce::from_slice(&buf[1..1 + NONCE_LEN]);
    let ct = &buf[1 + NONCE_LEN..buf.len() - TAG_LEN];
    let tag = Tag::from_slice(&buf[buf.len() - TAG_LEN..]);
    let mut plain = Vec::with_capacity(ct.len());
    for key in keyring.keys() {
        plain.clear();
        plain.extend_from_slice(ct);
        if key.open(nonce, aad, &mut plain, tag) {
            if vsn == 0 {
                // memberlist drops `last byte` bytes without checking them.
                let pad = usize::from(plain.last().copied().unwrap_or(0));
                if pad > plain.len() {
                    return Err(DecodeError::Decrypt);
                }
                plain.truncate(plain.len() - pad);
            }
            return Ok(plain);
        }
    }
    Err(DecodeError::Decrypt)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn key(n: usize) -> Key {
        Key::new(&(0..n as u8).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn keyring_ops() {
        assert_eq!(Key::new(&[0; 10]).unwrap_err(), KeyError::BadLength(10));
        let (a, b) = (key(16), key(32));
        assert_eq!(format!("{a:?}"), "Key(AES-128, <redacted>)");
        let mut r = Keyring::new(a.clone());
        r.install(b.clone());
        r.install(a.clone());
        assert_eq!(r.len(), 2);
        assert_eq!(r.remove(&a), Err(KeyError::RemovePrimary));
        r.use_key(&b).unwrap();
        assert_eq!(r.primary(), Some(&b));
        r.remove(&a).unwrap();
        assert_eq!(r.remove(&a), Err(KeyError::NotFound));
        assert_eq!(r.use_key(&a), Err(KeyError::NotFound));
        assert_eq!(r.keys(), &[b]);
    }

    #[test]
    fn roundtrip_all_sizes_and_versions() {
        for n in [16, 24, 32] {
            for vsn in [0, 1] {
                for len in [0usize, 1, 15, 16, 17, 100] {
                    let k = key(n);
                    let pt = vec![7u8; len];
                    let mut out = Vec::new();
                    encrypt(vsn, &k, [9; 12], &pt, b"aad", &mut out);
                    assert_eq!(out.len(), encrypted_len(vsn, len));
                    let ring = Keyring::from_keys(vec![key(24 + 8 * usize::from(n == 24)), k]);
                    assert_eq!(decrypt(&ring, &out, b"aad").unwrap(), pt);
                    assert_eq!(decrypt(&ring, &out, b"aa"), Err(DecodeError::Decrypt));
                }
            }
        }
    }

    #[test]
    fn rejects() {
        let ring = Keyring::new(key(16));
        assert_eq!(decrypt(&ring, &[], b""), Err(DecodeError::Truncated));
        assert_eq!(
            decrypt(&ring, &[2; 40], b""),
            Err(DecodeError::UnknownEncryptionVersion(2))
        );
        assert_eq!(decrypt(&ring, &[1; 28], b""), Err(DecodeError::Truncated));
        assert_eq!(decrypt(&ring, &[0; 44], b""), Err(DecodeError::Truncated));
        assert_eq!(
            decrypt(&Keyring::default(), &[1; 40], b""),
            Err(DecodeError::NoKeyring)
        );
    }
}
