//! Encryption keys for the agent: base64 keys as Serf writes them (Go's `StdEncoding`, with
//! its exact error offsets), and the keyring file (`--keyring-file`): a JSON array of base64
//! keys, primary first, mode 0600, rewritten atomically whenever a key query changes our
//! keyring.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use rumor_serf::Event as SerfEvent;
use rumor_wire::{Key, Keyring};
use tokio::sync::broadcast;

use crate::agent::Agent;

/// Why a base64 key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyParseError {
    /// Not standard padded base64; the offset is the one Go's decoder reports.
    #[error("illegal base64 data at input byte {0}")]
    Base64(usize),
    /// Decoded, but not an AES key size.
    #[error("key size must be 16, 24 or 32 bytes, not {0}")]
    Length(usize),
}

/// Why the keyring file could not be loaded or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyringFileError {
    /// The file could not be read (a missing file included: Serf requires it to exist).
    #[error("cannot read keyring file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not a JSON array of strings.
    #[error("keyring file {path} is not a JSON array of base64 keys: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
    /// One entry is not a valid key.
    #[error("keyring file {path}: key {index}: {source}")]
    Key {
        /// The file.
        path: PathBuf,
        /// Index of the entry in the array (0 = primary).
        index: usize,
        /// Why.
        source: KeyParseError,
    },
    /// The array is empty (or `null`).
    #[error("keyring file {path} contains no keys")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// Writing the new file failed; the old file is left as it was.
    #[error("cannot write keyring file {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Why the encryption options were refused (each message names its option).
#[derive(Debug, thiserror::Error)]
pub enum EncryptConfigError {
    /// `--encrypt` is not a valid key.
    #[error("--encrypt: {0}")]
    Encrypt(KeyParseError),
    /// Both were given; as in Serf, a keyring file excludes an encryption key.
    #[error("--encrypt cannot be used with --keyring-file: the keyring file holds the keys")]
    Both,
    /// The keyring file could not be loaded.
    #[error("--keyring-file: {0}")]
    File(KeyringFileError),
}

/// Settle the encryption options as the Serf agent does: `--encrypt` alone gives a
/// one-key keyring; `--keyring-file` alone loads the file (which must exist); both together
/// are an error. Returns the keyring (None: no encryption) and the file to keep up to date.
pub fn from_config(
    encrypt: Option<&str>,
    keyring_file: Option<PathBuf>,
) -> Result<(Option<Keyring>, Option<PathBuf>), EncryptConfigError> {
    match (encrypt, keyring_file) {
        (Some(_), Some(_)) => Err(EncryptConfigError::Both),
        (Some(k), None) => {
            let key = parse_key(k).map_err(EncryptConfigError::Encrypt)?;
            Ok((Some(Keyring::new(key)), None))
        }
        (None, Some(p)) => {
            let ring = load(&p).map_err(EncryptConfigError::File)?;
            Ok((Some(ring), Some(p)))
        }
        (None, None) => Ok((None, None)),
    }
}

const PAD: u8 = b'=';

fn sextet(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Decode standard padded base64 exactly as Go's `base64.StdEncoding.DecodeString` does:
/// `\r` and `\n` are skipped, trailing bits need not be zero, and an error carries the
/// input offset Go reports (`illegal base64 data at input byte N`).
pub fn decode_base64(src: &str) -> Result<Vec<u8>, KeyParseError> {
    let src = src.as_bytes();
    let mut out = Vec::with_capacity(src.len() / 4 * 3);
    let mut si = 0usize;
    while si < src.len() {
        let mut quantum = [0u8; 4];
        let mut j = 0usize;
        let mut len = 4usize;
        while j < 4 {
            if si == src.len() {
                if j == 0 {
                    return Ok(out);
                }
                // Padding is required: an incomplete last quantum is an error at its start.
                return Err(KeyParseError::Base64(si - j));
            }
            let c = src[si];
            si += 1;
            if c == b'\n' || c == b'\r' {
                continue;
            }
            if let Some(v) = sextet(c) {
                quantum[j] = v;
                j += 1;
                continue;
            }
            if c != PAD {
                return Err(KeyParseError::Base64(si - 1));
            }
            // Padding: only after two or three symbols.
            match j {
                0 | 1 => return Err(KeyParseError::Base64(si - 1)),
                2 => {
                    while si < src.len() && (src[si] == b'\n' || src[si] == b'\r') {
                        si += 1;
                    }
                    if si == src.len() {
                        return Err(KeyParseError::Base64(src.len()));
                    }
                    if src[si] != PAD {
                        return Err(KeyParseError::Base64(si - 1));
                    }
                    si += 1;
                }
                _ => {}
            }
            while si < src.len() && (src[si] == b'\n' || src[si] == b'\r') {
                si += 1;
            }
            if si < src.len() {
                // Nothing may follow the padding.
                return Err(KeyParseError::Base64(si));
            }
            len = j;
            break;
        }
        let n = (u32::from(quantum[0]) << 18)
            | (u32::from(quantum[1]) << 12)
            | (u32::from(quantum[2]) << 6)
            | u32::from(quantum[3]);
        let bytes = n.to_be_bytes();
        match len {
            4 => out.extend_from_slice(&bytes[1..4]),
            3 => out.extend_from_slice(&bytes[1..3]),
            _ => out.push(bytes[1]),
        }
        if len < 4 {
            break;
        }
    }
    Ok(out)
}

/// Standard padded base64, as Serf prints keys.
pub fn encode_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A key from its base64 form: decoded as Go does, then checked for an AES size.
pub fn parse_key(s: &str) -> Result<Key, KeyParseError> {
    let raw = decode_base64(s)?;
    Key::new(&raw).map_err(|_| KeyParseError::Length(raw.len()))
}

/// The keyring file's text: Go's `json.MarshalIndent(keys, "", "  ")`, as Serf writes it.
pub fn to_json(keys: &[Key]) -> String {
    let encoded: Vec<String> = keys.iter().map(|k| encode_base64(k.as_bytes())).collect();
    if encoded.is_empty() {
        return "[]".to_string();
    }
    let mut s = String::from("[\n");
    for (i, k) in encoded.iter().enumerate() {
        s.push_str("  \"");
        s.push_str(k);
        s.push('"');
        if i + 1 < encoded.len() {
            s.push(',');
        }
        s.push('\n');
    }
    s.push(']');
    s
}

/// Parse a keyring file's text (`path` is only for messages).
pub fn from_json(path: &Path, text: &str) -> Result<Keyring, KeyringFileError> {
    let entries: Option<Vec<String>> =
        serde_json::from_str(text).map_err(|source| KeyringFileError::Json {
            path: path.to_path_buf(),
            source,
        })?;
    let entries = entries.unwrap_or_default();
    if entries.is_empty() {
        return Err(KeyringFileError::Empty {
            path: path.to_path_buf(),
        });
    }
    let mut keys = Vec::with_capacity(entries.len());
    for (index, e) in entries.iter().enumerate() {
        keys.push(parse_key(e).map_err(|source| KeyringFileError::Key {
            path: path.to_path_buf(),
            index,
            source,
        })?);
    }
    Ok(Keyring::from_keys(keys))
}

/// Load the keyring file (it must exist, as in Serf).
pub fn load(path: &Path) -> Result<Keyring, KeyringFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyringFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    from_json(path, &text)
}

/// Write the keyring file atomically: a temporary file (mode 0600) in the same directory,
/// written and fsynced, renamed over `path`, then the directory fsynced. On error the old
/// file is untouched and the temporary file removed.
pub fn save(path: &Path, keys: &[Key]) -> Result<(), KeyringFileError> {
    let err = |source| KeyringFileError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path.file_name().ok_or_else(|| {
        err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the path names no file",
        ))
    })?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let write = || -> std::io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        // The mode of open() is masked by the umask and ignored for an existing file.
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        f.write_all(to_json(keys).as_bytes())?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(&dir)?.sync_all()
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        err(e)
    })
}

/// Rewrite `path` whenever a key query changes the agent's keyring
/// ([`SerfEvent::KeyringChanged`]), until the agent shuts down. If events were lost, the
/// core's current keyring is written instead.
pub fn spawn_file_writer(agent: Arc<Agent>, path: PathBuf) {
    let mut rx = agent.lan.subscribe();
    let mut stop = agent.shutdown_signal();
    tokio::spawn(async move {
        loop {
            let ev = tokio::select! {
                _ = stop.changed() => return,
                ev = rx.recv() => ev,
            };
            let keys = match ev {
                Ok(SerfEvent::KeyringChanged { keys }) => keys,
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(
                        lost = n,
                        "keyring writer fell behind; writing the current keyring"
                    );
                    match agent
                        .lan
                        .call(|serf, _| serf.keyring().map(|k| k.keys().to_vec()))
                    {
                        Some(keys) => keys,
                        None => continue,
                    }
                }
                Err(_) => return,
            };
            let p = path.clone();
            let n = keys.len();
            match tokio::task::spawn_blocking(move || save(&p, &keys)).await {
                Ok(Ok(())) => {
                    tracing::info!(path = %path.display(), keys = n, "keyring file written")
                }
                Ok(Err(e)) => tracing::error!(error = %e, "keyring file not written"),
                Err(e) => tracing::error!(error = %e, "keyring file writer failed"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn key(b: u8, len: usize) -> Key {
        Key::new(&vec![b; len]).unwrap()
    }

    #[test]
    fn go_error_offsets() {
        // Offsets as the serf 0.9.4 agent (Go 1.19) reports them for `serf keys -install S`.
        let cases: &[(&str, usize)] = &[
            ("!!!!", 0),
            ("abc", 0),
            ("abcde", 4),
            ("ab!d", 2),
            ("a===", 1),
            ("ab=", 3),
            ("ab=x", 2),
            ("abc=x", 4),
            ("ab==ab==", 4),
            ("=", 0),
        ];
        for (s, off) in cases {
            assert_eq!(
                decode_base64(s),
                Err(KeyParseError::Base64(*off)),
                "input {s:?}"
            );
        }
        assert_eq!(
            KeyParseError::Base64(7).to_string(),
            "illegal base64 data at input byte 7"
        );
    }

    #[test]
    fn go_accepts_what_go_accepts() {
        assert_eq!(decode_base64("").unwrap(), b"");
        assert_eq!(decode_base64("YWJj").unwrap(), b"abc");
        assert_eq!(decode_base64("YWI=").unwrap(), b"ab");
        assert_eq!(decode_base64("YQ==").unwrap(), b"a");
        // Non-zero trailing bits are accepted (StdEncoding is not Strict).
        assert_eq!(decode_base64("YR==").unwrap(), b"a");
        // Newlines are skipped.
        assert_eq!(decode_base64("YW\nJj\r\n").unwrap(), b"abc");
    }

    proptest! {
        #[test]
        fn roundtrip(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            prop_assert_eq!(decode_base64(&encode_base64(&bytes)).unwrap(), bytes);
        }

        #[test]
        fn agrees_with_the_base64_crate_when_it_accepts(s in "[A-Za-z0-9+/=]{0,12}") {
            let ours = decode_base64(&s);
            let engine = base64::engine::GeneralPurpose::new(
                &base64::alphabet::STANDARD,
                base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
            );
            match engine.decode(&s) {
                Ok(v) => prop_assert_eq!(ours.unwrap(), v),
                Err(_) => prop_assert!(ours.is_err()),
            }
        }
    }

    #[test]
    fn key_sizes() {
        for len in [16, 24, 32] {
            let k = parse_key(&encode_base64(&vec![7u8; len])).unwrap();
            assert_eq!(k.as_bytes(), vec![7u8; len].as_slice());
        }
        assert_eq!(parse_key("YWJj"), Err(KeyParseError::Length(3)));
        assert_eq!(
            parse_key("YWJj").unwrap_err().to_string(),
            "key size must be 16, 24 or 32 bytes, not 3"
        );
        assert_eq!(parse_key("x"), Err(KeyParseError::Base64(0)));
    }

    #[test]
    fn options_as_serf_settles_them() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.json");
        let k1 = encode_base64(&[1; 16]);
        assert!(matches!(from_config(None, None), Ok((None, None))));
        let (ring, file) = from_config(Some(&k1), None).unwrap();
        assert_eq!(ring.unwrap().keys(), &[key(1, 16)]);
        assert!(file.is_none());
        assert_eq!(
            from_config(Some("abc"), None).unwrap_err().to_string(),
            "--encrypt: illegal base64 data at input byte 0"
        );
        assert_eq!(
            from_config(Some("YWJj"), None).unwrap_err().to_string(),
            "--encrypt: key size must be 16, 24 or 32 bytes, not 3"
        );
        assert_eq!(
            from_config(Some(&k1), Some(p.clone()))
                .unwrap_err()
                .to_string(),
            "--encrypt cannot be used with --keyring-file: the keyring file holds the keys"
        );
        assert!(from_config(None, Some(p.clone()))
            .unwrap_err()
            .to_string()
            .starts_with("--keyring-file: cannot read keyring file "));
        save(&p, &[key(2, 32), key(1, 16)]).unwrap();
        let (ring, file) = from_config(None, Some(p.clone())).unwrap();
        assert_eq!(ring.unwrap().keys(), &[key(2, 32), key(1, 16)]);
        assert_eq!(file, Some(p));
    }

    #[test]
    fn file_roundtrip_keeps_order_and_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("keyring.json");
        let keys = vec![key(2, 32), key(1, 16), key(3, 24)];
        save(&p, &keys).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(
            text,
            format!(
                "[\n  \"{}\",\n  \"{}\",\n  \"{}\"\n]",
                encode_base64(&[2; 32]),
                encode_base64(&[1; 16]),
                encode_base64(&[3; 24])
            )
        );
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let ring = load(&p).unwrap();
        assert_eq!(ring.keys(), keys.as_slice());
        // The temporary file is gone.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("keyring.json")]);
    }

    #[test]
    fn rewrite_replaces_the_file_and_tightens_its_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.json");
        std::fs::write(&p, "[\"old\"]").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        save(&p, &[key(9, 16)]).unwrap();
        assert_eq!(load(&p).unwrap().keys(), &[key(9, 16)]);
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn failed_write_leaves_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.json");
        save(&p, &[key(1, 16)]).unwrap();
        let before = std::fs::read_to_string(&p).unwrap();
        // A directory where the temporary file would go makes the write fail.
        let tmp = dir
            .path()
            .join(format!(".k.json.tmp-{}", std::process::id()));
        std::fs::create_dir(&tmp).unwrap();
        let e = save(&p, &[key(2, 16)]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with(&format!("cannot write keyring file {}: ", p.display())),
            "{e}"
        );
        assert_eq!(std::fs::read_to_string(&p).unwrap(), before);
        // The temporary path (ours was a directory) is left to the caller; nothing else.
        assert!(tmp.is_dir());
    }

    #[test]
    fn load_errors_are_exact() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.json");
        let d = p.display().to_string();
        let missing = load(&p).unwrap_err().to_string();
        assert_eq!(
            missing,
            format!("cannot read keyring file {d}: No such file or directory (os error 2)")
        );
        for (text, want) in [
            ("[]", format!("keyring file {d} contains no keys")),
            ("null", format!("keyring file {d} contains no keys")),
            (
                "[\"YWJj\"]",
                format!("keyring file {d}: key 0: key size must be 16, 24 or 32 bytes, not 3"),
            ),
            (
                &format!("[\"{}\", \"ab!d\"]", encode_base64(&[1; 16])),
                format!("keyring file {d}: key 1: illegal base64 data at input byte 2"),
            ),
        ] {
            std::fs::write(&p, text).unwrap();
            assert_eq!(load(&p).unwrap_err().to_string(), want, "{text}");
        }
        std::fs::write(&p, "{\"a\": 1}").unwrap();
        assert!(load(&p).unwrap_err().to_string().starts_with(&format!(
            "keyring file {d} is not a JSON array of base64 keys: "
        )));
        // Duplicates collapse, as memberlist's keyring does.
        std::fs::write(
            &p,
            format!(
                "[\"{0}\", \"{1}\", \"{0}\"]",
                encode_base64(&[1; 16]),
                encode_base64(&[2; 16])
            ),
        )
        .unwrap();
        assert_eq!(load(&p).unwrap().keys(), &[key(1, 16), key(2, 16)]);
    }
}
