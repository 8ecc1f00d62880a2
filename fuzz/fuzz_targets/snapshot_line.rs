//! Fuzzes the snapshot parser (`rumor_serf::snapshot`): any bytes, as one line and as a whole
//! file, must parse or give a typed error without panicking, and a record that parses must
//! be written back as a line that parses to the same text again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rumor_serf::snapshot::{lines, parse_line, replay};

fuzz_target!(|data: &[u8]| {
    let line = data.split(|&b| b == b'\n').next().unwrap_or(&[]);
    if let Ok(rec) = parse_line(line) {
        let text = rec.encode().expect("a parsed record has no newline");
        let again = parse_line(text.trim_end_matches('\n').as_bytes()).expect("re-parse");
        assert_eq!(again.encode().expect("encode"), text);
    }
    let newlines = data.iter().filter(|&&b| b == b'\n').count();
    let cut = usize::from(!data.is_empty() && data.last() != Some(&b'\n'));
    assert_eq!(lines(data).count(), newlines + cut);
    let r = replay(data, false);
    assert!(r.errors.len() <= newlines + cut);
    let _ = replay(data, true);
});
