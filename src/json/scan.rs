//! Byte scanning shared by the parser and the writer: finding the bytes a JSON string
//! cannot hold as they are (`"`, `\\` and control characters), eight at a time.

/// For each byte: 0 if it is written as is, otherwise the letter of its short escape
/// (`"`, `\\`, `n`, `r`, `t`) or `u` for a `\u00XX` escape.
pub(super) static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = b'u';
        b += 1;
    }
    t[b'\n' as usize] = b'n';
    t[b'\r' as usize] = b'r';
    t[b'\t' as usize] = b't';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// Whether none of the eight bytes of `w` must be escaped (SWAR): no byte below 0x20 and
/// no `"` or `\\`. Exact: the borrow tricks can only mark a byte above a true match.
fn word_is_plain(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let control = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    control | has_zero(w ^ (ONES * b'"' as u64)) | has_zero(w ^ (ONES * b'\\' as u64)) == 0
}

fn word_at(bytes: &[u8], i: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[i..i + 8]);
    u64::from_le_bytes(word)
}

/// Whether `bytes` holds nothing that must be escaped, eight bytes at a time; the last word
/// overlaps the one before it rather than falling back to bytes. Most FHIR strings are plain
/// and take only this path.
pub(super) fn is_plain(bytes: &[u8]) -> bool {
    let n = bytes.len();
    if n < 8 {
        return bytes.iter().all(|&b| ESCAPE[b as usize] == 0);
    }
    let mut i = 0;
    while i + 8 < n {
        if !word_is_plain(word_at(bytes, i)) {
            return false;
        }
        i += 8;
    }
    word_is_plain(word_at(bytes, n - 8))
}

/// The index of the first byte at or after `from` that must be escaped. Plain words are
/// skipped at once; only a word that may hold one is scanned bytewise.
pub(super) fn next_escape(bytes: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + 8 <= bytes.len() && word_is_plain(word_at(bytes, i)) {
        i += 8;
    }
    bytes[i..]
        .iter()
        .position(|&b| ESCAPE[b as usize] != 0)
        .map(|offset| i + offset)
}
