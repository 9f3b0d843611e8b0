//! FHIRPath lexer and parser: text → [`Expr`] tree with byte offsets, or a [`SyntaxError`]
//! naming the offset and what was expected. Precedence follows the FHIRPath grammar (N1 §9).

use crate::func::Func;
use compact_str::CompactString;
use rust_decimal::Decimal;

use super::value::Temporal;

/// A syntax error: where (byte offset into the expression) and what.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("FHIRPath syntax error at offset {offset}: {message}")]
pub struct SyntaxError {
    pub offset: usize,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Lit {
    Empty,
    Bool(bool),
    Str(CompactString),
    Int(i64),
    Dec(Decimal),
    Temporal(Temporal),
    Quantity(Decimal, CompactString),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Mul,
    Div,
    IntDiv,
    Mod,
    Add,
    Sub,
    Concat,
    Union,
    Lt,
    Gt,
    Le,
    Ge,
    Eq,
    Ne,
    Equiv,
    NotEquiv,
    In,
    Contains,
    And,
    Or,
    Xor,
    Implies,
}

/// A type specifier: `FHIR.Quantity`, `System.String` or a bare name.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeSpec {
    pub namespace: Option<CompactString>,
    pub name: CompactString,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Lit(Lit),
    /// A name at the start of a path: a member of the input, or its type name.
    Ident(CompactString),
    Member(Box<Expr>, CompactString),
    Index(Box<Expr>, Box<Expr>),
    /// `target.name(args)`; a function at the start of a path has no target.
    Call(Option<Box<Expr>>, Func, Vec<Expr>),
    Var(CompactString),
    This,
    IndexVar,
    Total,
    Neg(Box<Expr>),
    Bin(BinOp, Box<Expr>, Box<Expr>),
    Is(Box<Expr>, TypeSpec),
    As(Box<Expr>, TypeSpec),
    /// A literal that reads as one but has no value: a time of day with a time zone
    /// (`@T14:34:28Z`; FHIRPath times have none). Evaluating it is an execution error that
    /// says why, as the reference engines have it, rather than a syntax error.
    Invalid(CompactString),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub offset: u32,
    /// The height of the tree below (a leaf is 1). Bounded by [`MAX_TREE_DEPTH`] when
    /// parsing, so evaluating, compiling and dropping an expression never recurses deeper.
    pub depth: u32,
}

/// The deepest expression tree the parser builds: a chain of operators or invocations
/// (`1+1+…`, `not().not()…`) deeper than this is a syntax error, not a stack overflow.
pub const MAX_TREE_DEPTH: u32 = 200;

impl ExprKind {
    /// The height of the deepest child (0 for a leaf).
    fn child_depth(&self) -> u32 {
        let d = |e: &Expr| e.depth;
        match self {
            ExprKind::Lit(_)
            | ExprKind::Invalid(_)
            | ExprKind::Ident(_)
            | ExprKind::Var(_)
            | ExprKind::This
            | ExprKind::IndexVar
            | ExprKind::Total => 0,
            ExprKind::Member(t, _) | ExprKind::Neg(t) | ExprKind::Is(t, _) | ExprKind::As(t, _) => {
                d(t)
            }
            ExprKind::Index(a, b) | ExprKind::Bin(_, a, b) => d(a).max(d(b)),
            ExprKind::Call(t, _, args) => args
                .iter()
                .map(d)
                .chain(t.as_deref().map(d))
                .max()
                .unwrap_or(0),
        }
    }
}

/// A node, unless it would make the tree deeper than [`MAX_TREE_DEPTH`].
fn node(kind: ExprKind, offset: u32) -> Result<Expr, SyntaxError> {
    let depth = kind.child_depth() + 1;
    if depth > MAX_TREE_DEPTH {
        return err(
            offset as usize,
            format!(
                "the expression is too deep (more than {MAX_TREE_DEPTH} operators or invocations in a chain)"
            ),
        );
    }
    Ok(Expr {
        kind,
        offset,
        depth,
    })
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(CompactString),
    /// A backtick-quoted identifier: never a keyword.
    Quoted(CompactString),
    Str(CompactString),
    Num(CompactString),
    Temporal(Temporal),
    /// A literal with no value: why (see [`ExprKind::Invalid`]).
    Invalid(CompactString),
    Var(CompactString),
    Special(&'static str),
    Punct(&'static str),
    End,
}

struct Lexer<'s> {
    src: &'s str,
    pos: usize,
}

/// The function `name` called with `args` at `at`: an unknown name or a wrong number of
/// arguments is a syntax error there.
fn function(name: &str, args: &[Expr], at: usize) -> Result<Func, SyntaxError> {
    let Some(func) = Func::from_name(name) else {
        return err(at, format!("unknown function '{name}()'"));
    };
    let (min, max) = func.arity();
    let n = args.len();
    if n < min || max.is_some_and(|m| n > m) {
        let takes = match max {
            Some(m) if m == min => format!("{min}"),
            Some(m) => format!("{min} to {m}"),
            None => format!("{min} or more"),
        };
        return err(
            at,
            format!(
                "{name}() takes {takes} argument{}, not {n}",
                if takes == "1" { "" } else { "s" }
            ),
        );
    }
    Ok(func)
}

fn err<T>(offset: usize, message: impl Into<String>) -> Result<T, SyntaxError> {
    Err(SyntaxError {
        offset,
        message: message.into(),
    })
}

impl<'s> Lexer<'s> {
    fn skip_space(&mut self) -> Result<(), SyntaxError> {
        let b = self.src.as_bytes();
        loop {
            while self.pos < b.len() && b[self.pos].is_ascii_whitespace() {
                self.pos += 1;
            }
            if b[self.pos..].starts_with(b"//") {
                while self.pos < b.len() && b[self.pos] != b'\n' {
                    self.pos += 1;
                }
            } else if b[self.pos..].starts_with(b"/*") {
                let start = self.pos;
                match self.src[self.pos + 2..].find("*/") {
                    Some(i) => self.pos += i + 4,
                    None => return err(start, "comment is not closed: expected '*/'"),
                }
            } else {
                return Ok(());
            }
        }
    }

    fn next(&mut self) -> Result<(Tok, usize), SyntaxError> {
        self.skip_space()?;
        let start = self.pos;
        let b = self.src.as_bytes();
        let Some(&c) = b.get(self.pos) else {
            return Ok((Tok::End, start));
        };
        let tok = match c {
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                let end = self.ident_end(self.pos);
                let t = Tok::Ident(self.src[self.pos..end].into());
                self.pos = end;
                t
            }
            b'`' => Tok::Quoted(self.delimited(b'`')?),
            b'\'' => Tok::Str(self.delimited(b'\'')?),
            b'0'..=b'9' => {
                let mut end = self.pos;
                while end < b.len() && b[end].is_ascii_digit() {
                    end += 1;
                }
                if end + 1 < b.len() && b[end] == b'.' && b[end + 1].is_ascii_digit() {
                    end += 1;
                    while end < b.len() && b[end].is_ascii_digit() {
                        end += 1;
                    }
                }
                let t = Tok::Num(self.src[self.pos..end].into());
                self.pos = end;
                t
            }
            b'@' => {
                let end = temporal_end(b, self.pos + 1);
                let text = &self.src[self.pos + 1..end];
                let tok = match (Temporal::parse_literal(text), time_zone_of(text)) {
                    (Some(t), _) => Tok::Temporal(t),
                    (None, Some(zone)) => Tok::Invalid(compact_str::format_compact!(
                        "'@{text}' is a time with a time zone ('{zone}'); FHIRPath times have none"
                    )),
                    (None, None) => {
                        return err(
                            start,
                            format!("'@{text}' is not a valid date, dateTime or time"),
                        );
                    }
                };
                self.pos = end;
                tok
            }
            b'%' => {
                self.pos += 1;
                match b.get(self.pos) {
                    Some(b'`') => Tok::Var(self.delimited(b'`')?),
                    Some(b'\'') => Tok::Var(self.delimited(b'\'')?),
                    Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {
                        let end = self.ident_end(self.pos);
                        let t = Tok::Var(self.src[self.pos..end].into());
                        self.pos = end;
                        t
                    }
                    _ => return err(start, "expected a variable name after '%'"),
                }
            }
            b'$' => {
                let end = self.ident_end(self.pos + 1);
                let t = match &self.src[self.pos..end] {
                    "$this" => Tok::Special("$this"),
                    "$index" => Tok::Special("$index"),
                    "$total" => Tok::Special("$total"),
                    other => return err(start, format!("unknown special variable '{other}'")),
                };
                self.pos = end;
                t
            }
            _ => {
                const PUNCT: [&str; 21] = [
                    "<=", ">=", "!=", "!~", ".", ",", "(", ")", "[", "]", "{", "}", "+", "-", "*",
                    "/", "&", "|", "=", "~", "<",
                ];
                let rest = &self.src[self.pos..];
                match PUNCT
                    .iter()
                    .chain([">"].iter())
                    .find(|p| rest.starts_with(**p))
                {
                    Some(p) => {
                        self.pos += p.len();
                        Tok::Punct(p)
                    }
                    None => {
                        let ch = rest.chars().next().unwrap_or(' ');
                        return err(start, format!("unexpected character '{ch}'"));
                    }
                }
            }
        };
        Ok((tok, start))
    }

    fn ident_end(&self, mut end: usize) -> usize {
        let b = self.src.as_bytes();
        while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
            end += 1;
        }
        end
    }

    /// A quoted string or identifier with FHIRPath escapes; `self.pos` is at the opening quote.
    fn delimited(&mut self, quote: u8) -> Result<CompactString, SyntaxError> {
        let start = self.pos;
        let mut out = String::new();
        let mut chars = self.src[self.pos + 1..].char_indices();
        while let Some((i, ch)) = chars.next() {
            match ch {
                c if c as u32 == quote as u32 => {
                    self.pos = start + 1 + i + 1;
                    return Ok(out.into());
                }
                '\\' => {
                    let Some((_, e)) = chars.next() else { break };
                    match e {
                        'n' => out.push('\n'),
                        'r' => out.push('\r'),
                        't' => out.push('\t'),
                        'f' => out.push('\u{c}'),
                        'u' => {
                            let hex: String = (0..4)
                                .filter_map(|_| chars.next())
                                .map(|(_, c)| c)
                                .collect();
                            match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                                Some(c) => out.push(c),
                                None => {
                                    return err(
                                        start + 1 + i,
                                        format!("bad unicode escape '\\u{hex}'"),
                                    );
                                }
                            }
                        }
                        other => out.push(other),
                    }
                }
                c => out.push(c),
            }
        }
        err(
            start,
            format!(
                "{} is not closed",
                if quote == b'`' {
                    "identifier"
                } else {
                    "string"
                }
            ),
        )
    }
}

/// The zone of `text` when it is a time of day (`T14:34:28`) followed by one (`Z`, `+10:00`).
fn time_zone_of(text: &str) -> Option<&str> {
    let time = text.strip_prefix('T')?;
    let at = time.find(['Z', '+', '-'])?;
    Temporal::parse_literal(&text[..=at])
        .is_some()
        .then_some(&time[at..])
}

/// End of a date/time literal starting at `i` (after `@`): digits with `-` and `:`
/// separators, a `T`, a fraction (a `.` only when digits follow), and a zone.
fn temporal_end(b: &[u8], mut i: usize) -> usize {
    let digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    loop {
        match b.get(i) {
            Some(c)
                if c.is_ascii_digit() || *c == b'-' || *c == b':' || *c == b'T' || *c == b'Z' =>
            {
                i += 1
            }
            Some(b'.') if digit(i + 1) => i += 1,
            Some(b'+') if digit(i + 1) => i += 1,
            _ => return i,
        }
    }
}

/// Parse a FHIRPath expression.
pub fn parse(src: &str) -> Result<Expr, SyntaxError> {
    let mut lexer = Lexer { src, pos: 0 };
    let mut toks = Vec::new();
    loop {
        let (t, at) = lexer.next()?;
        let end = t == Tok::End;
        toks.push((t, at));
        if end {
            break;
        }
    }
    let mut p = Parser {
        toks,
        i: 0,
        depth: 0,
    };
    let e = p.expr(0)?;
    match p.peek() {
        Tok::End => Ok(e),
        t => err(
            p.at(),
            format!("unexpected {} after a complete expression", describe(t)),
        ),
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s) | Tok::Quoted(s) => format!("'{s}'"),
        Tok::Str(s) => format!("string '{s}'"),
        Tok::Num(s) => format!("number {s}"),
        Tok::Temporal(_) | Tok::Invalid(_) => "date/time literal".into(),
        Tok::Var(s) => format!("%{s}"),
        Tok::Special(s) | Tok::Punct(s) => format!("'{s}'"),
        Tok::End => "end of expression".into(),
    }
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    i: usize,
    depth: u32,
}

/// Binary operators by precedence level, lowest first (`implies` binds loosest).
fn binop(t: &Tok) -> Option<(u8, BinOp)> {
    let s = match t {
        Tok::Ident(s) => s.as_str(),
        Tok::Punct(p) => p,
        _ => return None,
    };
    Some(match s {
        "implies" => (1, BinOp::Implies),
        "or" => (2, BinOp::Or),
        "xor" => (2, BinOp::Xor),
        "and" => (3, BinOp::And),
        "in" => (4, BinOp::In),
        "contains" => (4, BinOp::Contains),
        "=" => (5, BinOp::Eq),
        "~" => (5, BinOp::Equiv),
        "!=" => (5, BinOp::Ne),
        "!~" => (5, BinOp::NotEquiv),
        "<" => (6, BinOp::Lt),
        ">" => (6, BinOp::Gt),
        "<=" => (6, BinOp::Le),
        ">=" => (6, BinOp::Ge),
        "|" => (7, BinOp::Union),
        "+" => (9, BinOp::Add),
        "-" => (9, BinOp::Sub),
        "&" => (9, BinOp::Concat),
        "*" => (10, BinOp::Mul),
        "/" => (10, BinOp::Div),
        "div" => (10, BinOp::IntDiv),
        "mod" => (10, BinOp::Mod),
        _ => return None,
    })
}

/// `is` / `as` sit between `|` (7) and `+` (9).
const TYPE_OP_LEVEL: u8 = 8;
/// Nesting limit: far above any real invariant (R4 core's deepest is under 20), low enough
/// that parsing and evaluation stay well inside a thread's stack even in debug builds.
const MAX_DEPTH: u32 = 64;

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.i].0
    }
    fn at(&self) -> usize {
        self.toks[self.i].1
    }
    fn bump(&mut self) -> (Tok, usize) {
        let t = self.toks[self.i].clone();
        if self.i + 1 < self.toks.len() {
            self.i += 1;
        }
        t
    }
    fn eat(&mut self, p: &str) -> bool {
        if matches!(self.peek(), Tok::Punct(q) if *q == p) {
            self.bump();
            true
        } else {
            false
        }
    }
    fn expect(&mut self, p: &str) -> Result<(), SyntaxError> {
        if self.eat(p) {
            Ok(())
        } else {
            err(
                self.at(),
                format!("expected '{p}', found {}", describe(self.peek())),
            )
        }
    }

    fn expr(&mut self, min: u8) -> Result<Expr, SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err(self.at(), "expression is nested too deeply");
        }
        let mut lhs = self.unary()?;
        loop {
            let at = self.at();
            if let Tok::Ident(s) = self.peek()
                && (s == "is" || s == "as")
                && TYPE_OP_LEVEL >= min
            {
                let is = s == "is";
                self.bump();
                let ty = self.type_spec()?;
                let kind = if is {
                    ExprKind::Is(Box::new(lhs), ty)
                } else {
                    ExprKind::As(Box::new(lhs), ty)
                };
                lhs = node(kind, at as u32)?;
                continue;
            }
            let Some((level, op)) = binop(self.peek()) else {
                break;
            };
            if level < min {
                break;
            }
            self.bump();
            let rhs = self.expr(level + 1)?;
            lhs = node(ExprKind::Bin(op, Box::new(lhs), Box::new(rhs)), at as u32)?;
        }
        self.depth -= 1;
        Ok(lhs)
    }

    fn type_spec(&mut self) -> Result<TypeSpec, SyntaxError> {
        let first = self.name()?;
        if self.eat(".") {
            let name = self.name()?;
            Ok(TypeSpec {
                namespace: Some(first),
                name,
            })
        } else {
            Ok(TypeSpec {
                namespace: None,
                name: first,
            })
        }
    }

    fn name(&mut self) -> Result<CompactString, SyntaxError> {
        match self.bump() {
            (Tok::Ident(s) | Tok::Quoted(s), _) => Ok(s),
            (t, at) => err(at, format!("expected a name, found {}", describe(&t))),
        }
    }

    fn unary(&mut self) -> Result<Expr, SyntaxError> {
        // Signs are read in a loop, not by recursion; their count is bounded like nesting.
        let mut signs = Vec::new();
        loop {
            let at = self.at();
            if self.eat("-") {
                signs.push(at);
            } else if !self.eat("+") {
                break;
            }
            if signs.len() as u32 + self.depth > MAX_DEPTH {
                return err(at, "expression is nested too deeply");
            }
        }
        let term = self.term()?;
        let mut e = self.postfix(term)?;
        for at in signs.into_iter().rev() {
            e = node(ExprKind::Neg(Box::new(e)), at as u32)?;
        }
        Ok(e)
    }

    fn postfix(&mut self, mut e: Expr) -> Result<Expr, SyntaxError> {
        loop {
            let at = self.at() as u32;
            if self.eat(".") {
                let name_at = self.at();
                let name = self.name()?;
                if self.eat("(") {
                    let args = self.args()?;
                    let func = function(&name, &args, name_at)?;
                    e = node(ExprKind::Call(Some(Box::new(e)), func, args), at)?;
                } else {
                    e = node(ExprKind::Member(Box::new(e), name), at)?;
                }
            } else if self.eat("[") {
                let index = self.expr(0)?;
                self.expect("]")?;
                e = node(ExprKind::Index(Box::new(e), Box::new(index)), at)?;
            } else {
                return Ok(e);
            }
        }
    }

    fn args(&mut self) -> Result<Vec<Expr>, SyntaxError> {
        let mut args = Vec::new();
        if self.eat(")") {
            return Ok(args);
        }
        loop {
            args.push(self.expr(0)?);
            if self.eat(")") {
                return Ok(args);
            }
            self.expect(",")?;
        }
    }

    fn term(&mut self) -> Result<Expr, SyntaxError> {
        let (tok, at) = self.bump();
        let offset = at as u32;
        let kind = match tok {
            Tok::Punct("(") => {
                let e = self.expr(0)?;
                self.expect(")")?;
                return Ok(e);
            }
            Tok::Punct("{") => {
                self.expect("}")?;
                ExprKind::Lit(Lit::Empty)
            }
            Tok::Str(s) => ExprKind::Lit(Lit::Str(s)),
            Tok::Temporal(t) => ExprKind::Lit(Lit::Temporal(t)),
            Tok::Invalid(why) => ExprKind::Invalid(why),
            Tok::Num(n) => {
                // A number followed by a unit is a quantity.
                let unit = match self.peek() {
                    Tok::Str(u) => Some(u.clone()),
                    Tok::Ident(u) if super::value::calendar_unit(u).is_some() => Some(u.clone()),
                    _ => None,
                };
                let value: Decimal = n.parse().map_err(|_| SyntaxError {
                    offset: at,
                    message: format!("number {n} is out of range"),
                })?;
                if let Some(unit) = unit {
                    self.bump();
                    ExprKind::Lit(Lit::Quantity(value, unit))
                } else if n.contains('.') {
                    ExprKind::Lit(Lit::Dec(value))
                } else {
                    match n.parse::<i64>() {
                        Ok(i) => ExprKind::Lit(Lit::Int(i)),
                        Err(_) => ExprKind::Lit(Lit::Dec(value)),
                    }
                }
            }
            Tok::Var(v) => ExprKind::Var(v),
            Tok::Special("$this") => ExprKind::This,
            Tok::Special("$index") => ExprKind::IndexVar,
            Tok::Special(_) => ExprKind::Total,
            Tok::Ident(s) if s == "true" => ExprKind::Lit(Lit::Bool(true)),
            Tok::Ident(s) if s == "false" => ExprKind::Lit(Lit::Bool(false)),
            Tok::Ident(s) | Tok::Quoted(s) => {
                if self.eat("(") {
                    let args = self.args()?;
                    ExprKind::Call(None, function(&s, &args, at)?, args)
                } else {
                    ExprKind::Ident(s)
                }
            }
            t => {
                return err(
                    at,
                    format!("expected an expression, found {}", describe(&t)),
                );
            }
        };
        node(kind, offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence() {
        let e = parse("1 + 2 * 3 = 7 and true").unwrap();
        let ExprKind::Bin(BinOp::And, lhs, _) = e.kind else {
            panic!()
        };
        let ExprKind::Bin(BinOp::Eq, sum, _) = lhs.kind else {
            panic!()
        };
        let ExprKind::Bin(BinOp::Add, _, product) = sum.kind else {
            panic!()
        };
        assert!(matches!(product.kind, ExprKind::Bin(BinOp::Mul, _, _)));
    }

    #[test]
    fn errors_have_offsets() {
        assert_eq!(parse("2 + 2 /").unwrap_err().offset, 7);
        assert_eq!(parse("2 + 2 /* open").unwrap_err().offset, 6);
        assert_eq!(parse("name.where(").unwrap_err().offset, 11);
        assert!(parse("'abc").unwrap_err().message.contains("not closed"));
    }
}
