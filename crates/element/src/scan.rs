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

/// The index of the first byte at or after `from` that must be escaped. On x86-64, sixteen
/// bytes are tested at once with SSE2 (part of the x86-64 baseline, so always present) and
/// the match is located from the comparison mask; elsewhere plain words are skipped eight
/// bytes at a time and only a word that may hold one is scanned bytewise.
pub(super) fn next_escape(bytes: &[u8], from: usize) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    let from = match sse2::next_escape(bytes, from) {
        Ok(found) => return Some(found),
        Err(rest) => rest,
    };
    let mut i = from;
    while i + 8 <= bytes.len() && word_is_plain(word_at(bytes, i)) {
        i += 8;
    }
    bytes[i..]
        .iter()
        .position(|&b| ESCAPE[b as usize] != 0)
        .map(|offset| i + offset)
}

#[cfg(target_arch = "x86_64")]
mod sse2 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };

    /// `Ok(index)` of the first byte at or after `from` that must be escaped, found in a
    /// whole 16-byte block; `Err(i)` when none is before `i`, and fewer than 16 bytes
    /// remain from `i` (the caller scans those).
    pub(super) fn next_escape(bytes: &[u8], from: usize) -> Result<usize, usize> {
        let mut i = from;
        // SAFETY: SSE2 is in every x86-64 CPU. Each load reads bytes[i..i + 16], which the
        // loop condition keeps inside the slice; `loadu` has no alignment requirement.
        unsafe {
            let quote = _mm_set1_epi8(b'"' as i8);
            let backslash = _mm_set1_epi8(b'\\' as i8);
            let last_control = _mm_set1_epi8(0x1f);
            while i + 16 <= bytes.len() {
                let block = _mm_loadu_si128(bytes.as_ptr().add(i).cast::<__m128i>());
                // Unsigned `b <= 0x1f` is `min(b, 0x1f) == b`.
                let control = _mm_cmpeq_epi8(_mm_min_epu8(block, last_control), block);
                let special = _mm_or_si128(
                    _mm_or_si128(
                        _mm_cmpeq_epi8(block, quote),
                        _mm_cmpeq_epi8(block, backslash),
                    ),
                    control,
                );
                let mask = _mm_movemask_epi8(special) as u32;
                if mask != 0 {
                    return Ok(i + mask.trailing_zeros() as usize);
                }
                i += 16;
            }
        }
        Err(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive(bytes: &[u8], from: usize) -> Option<usize> {
        (from..bytes.len()).find(|&i| bytes[i] < 0x20 || bytes[i] == b'"' || bytes[i] == b'\\')
    }

    proptest! {
        /// Block and word scanning find exactly the byte a bytewise scan finds, wherever
        /// it sits (first, last, straddling blocks) and whatever the high bytes are.
        #[test]
        fn next_escape_matches_a_bytewise_scan(
            bytes in proptest::collection::vec(
                prop_oneof![Just(b'"'), Just(b'\\'), Just(0x1fu8), Just(0x20u8), Just(0x7fu8),
                    Just(0x80u8), Just(0xffu8), b'a'..=b'z'],
                0..80,
            ),
            plain_prefix in 0usize..40,
            from in 0usize..50,
        ) {
            let mut all = vec![b'x'; plain_prefix];
            all.extend(bytes);
            let from = from.min(all.len());
            prop_assert_eq!(next_escape(&all, from), naive(&all, from));
            prop_assert_eq!(is_plain(&all), naive(&all, 0).is_none());
        }
    }
}
