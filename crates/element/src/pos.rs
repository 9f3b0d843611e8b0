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
/// position has to be shown, so parsing pays nothing for it.
#[derive(Clone, Debug)]
pub struct LineIndex {
    line_starts: Vec<u32>,
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        let mut line_starts = vec![0];
        line_starts.extend(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i as u32 + 1));
        LineIndex { line_starts }
    }

    /// Line and column of `pos` in `text` (the text this index was built from).
    /// Returns `None` for [`Pos::NONE`] or an offset past the end.
    pub fn line_col(&self, text: &str, pos: Pos) -> Option<LineCol> {
        if pos.is_none() || pos.0 as usize > text.len() {
            return None;
        }
        let line = self.line_starts.partition_point(|&s| s <= pos.0) - 1;
        let start = self.line_starts[line] as usize;
        let end = (pos.0 as usize).min(text.len());
        let col = text
            .get(start..end)
            .map_or(end - start, |s| s.chars().count());
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
}
