//! A light lexer for Rhai source: the brackets left open at the end of
//! some code, and whether it ends inside a string or a comment. Completion
//! uses it to find the call and option map around the cursor; the session
//! uses it to refuse code that ends inside a `/* …` comment.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Open {
    Paren,
    Bracket,
    Brace,
    Map,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Opened {
    pub(crate) kind: Open,
    /// Byte offset of the opening `(`, `[`, `{` or the `#` of `#{`.
    pub(crate) pos: usize,
}

#[derive(Debug, Default)]
pub(crate) struct Scan {
    pub(crate) stack: Vec<Opened>,
    pub(crate) in_string: bool,
    /// In a `//` or `/* */` comment.
    pub(crate) in_comment: bool,
    /// In a `/* */` comment (which, unlike `//`, continues on the next line).
    pub(crate) in_block_comment: bool,
    /// Byte offset of the `/*` that opened the outermost block comment.
    pub(crate) block_start: usize,
}

/// Where an unclosed `/* …` comment starts (1-based line and column), if
/// `code` ends inside one: Rhai would silently skip the rest of the input.
pub fn unclosed_block_comment(code: &str) -> Option<(usize, usize)> {
    let sc = scan(code);
    if !sc.in_block_comment {
        return None;
    }
    let before = &code[..sc.block_start];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Some((line, col))
}

/// A light lexer: the brackets left open at the end of `s`, and whether it
/// ends inside a string or comment.
pub(crate) fn scan(s: &str) -> Scan {
    #[derive(PartialEq)]
    enum St {
        Code,
        Line,
        Block(usize),
        Str(char),
    }
    let mut st = St::Code;
    let mut stack = Vec::new();
    let mut block_start = 0;
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        match st {
            St::Code => match c {
                b'/' if next == Some(b'/') => {
                    st = St::Line;
                    i += 1;
                }
                b'/' if next == Some(b'*') => {
                    st = St::Block(1);
                    block_start = i;
                    i += 1;
                }
                b'"' | b'`' | b'\'' => st = St::Str(c as char),
                b'#' if next == Some(b'{') => {
                    stack.push(Opened {
                        kind: Open::Map,
                        pos: i,
                    });
                    i += 1;
                }
                b'(' | b'[' | b'{' => stack.push(Opened {
                    kind: match c {
                        b'(' => Open::Paren,
                        b'[' => Open::Bracket,
                        _ => Open::Brace,
                    },
                    pos: i,
                }),
                b')' | b']' | b'}' => {
                    stack.pop();
                }
                _ => {}
            },
            St::Line => {
                if c == b'\n' {
                    st = St::Code;
                }
            }
            St::Block(depth) => {
                if c == b'*' && next == Some(b'/') {
                    st = if depth == 1 {
                        St::Code
                    } else {
                        St::Block(depth - 1)
                    };
                    i += 1;
                } else if c == b'/' && next == Some(b'*') {
                    st = St::Block(depth + 1);
                    i += 1;
                }
            }
            St::Str(q) => {
                if c == b'\\' && q != '`' {
                    i += 1;
                } else if c as char == q {
                    st = St::Code;
                }
            }
        }
        i += 1;
    }
    Scan {
        stack,
        in_string: matches!(st, St::Str(_)),
        in_comment: matches!(st, St::Line | St::Block(_)),
        in_block_comment: matches!(st, St::Block(_)),
        block_start,
    }
}
