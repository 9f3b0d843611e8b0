//! Source positions: byte offsets stored in nodes, turned into line:column on demand.

/// A byte offset into the source text. Nodes built in code (not parsed) have [`Pos::NONE`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Pos(pub u32);

impl Pos {
    /// The position of a node that did not come from source text.
    pub const NONE: Pos = Pos(u32::MAX);

    pub fn is_none(self) -> bool {
        self == Pos::NONE
    }
}

/// A 1-based line and column (columns count Unicode scalar values, as editors do).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct LineCol {
    pub line: u32,
    pub col: u32,
}

impl std::fmt::Display for LineCol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// Maps byte offsets of one source text to line:column. Built once per document, only when a
/// position has to be shown, so parsing pays nothing for it. Each lookup costs a binary
/// search and a count of at most [`BLOCK`] bytes, however long the line: minified JSON and
/// NDJSON are one long line, and counting characters from the line's start for each issue
/// made many issues on one line quadratic.
#[derive(Clone, Debug)]
pub struct LineIndex {
    line_starts: Vec<u32>,
    /// The number of characters before each [`BLOCK`]-byte block of the text, counted the
    /// first time a column far from its line's start is asked for.
    chars_before_block: std::sync::OnceLock<Vec<u32>>,
}

/// The span of the character-count checkpoints, in bytes.
pub const BLOCK: usize = 4096;

/// Characters (Unicode scalar values) in UTF-8 `bytes`: the bytes that are not continuation
/// bytes (`10xxxxxx`).
fn count_chars(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| (b as i8) >= -0x40).count()
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        let bytes = text.as_bytes();
        let mut line_starts = vec![0];
        line_starts.extend(memchr::memchr_iter(b'\n', bytes).map(|i| i as u32 + 1));
        LineIndex {
            line_starts,
            chars_before_block: std::sync::OnceLock::new(),
        }
    }

    /// Characters before byte offset `at` (at most `text.len()`).
    fn chars_before(&self, bytes: &[u8], at: usize) -> usize {
        let blocks = self.chars_before_block.get_or_init(|| {
            let mut counts = Vec::with_capacity(bytes.len() / BLOCK + 2);
            let mut seen = 0u32;
            for block in bytes.chunks(BLOCK) {
                counts.push(seen);
                seen += count_chars(block) as u32;
            }
            counts.push(seen);
            counts
        });
        let k = at / BLOCK;
        blocks[k] as usize + count_chars(&bytes[k * BLOCK..at])
    }

    /// Line and column of `pos` in `text` (the text this index was built from).
    /// Returns `None` for [`Pos::NONE`] or an offset past the end.
    pub fn line_col(&self, text: &str, pos: Pos) -> Option<LineCol> {
        if pos.is_none() || pos.0 as usize > text.len() {
            return None;
        }
        let line = self.line_starts.partition_point(|&s| s <= pos.0) - 1;
        let start = self.line_starts[line] as usize;
        let end = pos.0 as usize;
        let bytes = text.as_bytes();
        // Near its line's start a column is counted directly; far along a long line, from
        // the checkpoints.
        let col = if end - start <= 2 * BLOCK {
            count_chars(&bytes[start..end])
        } else {
            self.chars_before(bytes, end) - self.chars_before(bytes, start)
        };
        Some(LineCol {
            line: line as u32 + 1,
            col: col as u32 + 1,
        })
    }
}

/// Line and column of an offset without an index (for one-off error messages).
pub fn line_col_of(text: &str, offset: usize) -> LineCol {
    let offset = offset.min(text.len());
    let before = &text.as_bytes()[..offset];
    let line = memchr::memchr_iter(b'\n', before).count() as u32 + 1;
    let start = memchr::memrchr(b'\n', before).map_or(0, |i| i + 1);
    let col = String::from_utf8_lossy(&before[start..]).chars().count() as u32 + 1;
    LineCol { line, col }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters_not_bytes() {
        let text = "{\n  \"a\": \"é\", \"b\": 1\n}";
        let idx = LineIndex::new(text);
        let b = text.find("\"b\"").unwrap() as u32;
        assert_eq!(
            idx.line_col(text, Pos(b)),
            Some(LineCol { line: 2, col: 13 })
        );
        assert_eq!(line_col_of(text, b as usize), LineCol { line: 2, col: 13 });
        assert_eq!(
            idx.line_col(text, Pos(0)),
            Some(LineCol { line: 1, col: 1 })
        );
        assert_eq!(idx.line_col(text, Pos::NONE), None);
    }

    /// The indexed lookup agrees with counting from the start, on texts long enough to span
    /// many checkpoint blocks, with multi-byte characters across block edges.
    #[test]
    fn indexed_columns_agree_with_counting() {
        let mut text = String::new();
        for i in 0..3000 {
            text.push_str(match i % 7 {
                0 => "é",
                1 => "\n",
                2 => "漢字",
                3 => "😀",
                _ => "ab",
            });
            if i % 500 == 0 {
                text.push_str(&"x".repeat(5000));
            }
        }
        let idx = LineIndex::new(&text);
        for (at, _) in text.char_indices().step_by(7) {
            assert_eq!(
                idx.line_col(&text, Pos(at as u32)),
                Some(line_col_of(&text, at)),
                "at {at}"
            );
        }
        let end = text.len();
        assert_eq!(
            idx.line_col(&text, Pos(end as u32)),
            Some(line_col_of(&text, end))
        );
    }
}
