//! NumPy `.npy` files: read 0-, 1- and 2-dimensional numeric arrays, write
//! `<f8` ones.
//!
//! The format (NumPy's `numpy.lib.format`): the magic `\x93NUMPY`, a major
//! and minor version byte, the header length (u16 little-endian in version
//! 1.0, u32 in 2.0 and 3.0), a header that is a Python dict literal
//! `{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }` padded with
//! spaces and a newline, then the raw data. Every supported dtype (floats,
//! signed and unsigned integers, booleans; either byte order) is converted to
//! f64; 64-bit integers beyond 2⁵³ lose their last bits.
//!
//! ```
//! use hlab::data::npy::{npy_bytes, parse_npy, NpyArray};
//! let a = NpyArray::Vector(vec![1.0, 2.5]);
//! let b = parse_npy(&npy_bytes(&a), "v.npy".as_ref()).unwrap();
//! assert_eq!(a, b);
//! ```

use std::path::Path;

use crate::error::{Error, Result};
use crate::mat::Mat;

const LOAD: &str = "load_npy";
const SAVE: &str = "save_npy";
const MAGIC: &[u8] = b"\x93NUMPY";

/// A numeric array read from or written to a `.npy` file.
#[derive(Clone, Debug, PartialEq)]
pub enum NpyArray {
    /// A 1-D array (shape `(n,)`; a 0-D array reads as one element).
    Vector(Vec<f64>),
    /// A 2-D array (shape `(rows, cols)`).
    Matrix(Mat),
}

impl NpyArray {
    /// The NumPy shape: `[n]` or `[rows, cols]`.
    pub fn shape(&self) -> Vec<usize> {
        match self {
            NpyArray::Vector(v) => vec![v.len()],
            NpyArray::Matrix(m) => vec![m.rows(), m.cols()],
        }
    }

    /// The values in C (row-major) order.
    pub fn values(&self) -> &[f64] {
        match self {
            NpyArray::Vector(v) => v,
            NpyArray::Matrix(m) => m.data(),
        }
    }
}

/// Reads a `.npy` file (see [`parse_npy`] for what is accepted).
///
/// Errors name the path: a missing file, a directory, or a corrupt or
/// unsupported file. The header is read first; the values it promises are
/// checked against the memory budget (with what the session holds) and
/// then decoded straight from the file in chunks, so the file's bytes are
/// never all in memory beside the values, and an interrupt stops the read.
pub fn read_npy(path: &Path) -> Result<NpyArray> {
    use super::{expect_end, open_regular_file, read_exact_chunked, READ_CHUNK};
    let (mut f, size) = open_regular_file(LOAD, path, "a .npy file")?;
    let mut head = Vec::new();
    read_exact_chunked(LOAD, path, &mut f, size.min(12), &mut head)?;
    // The rest of the header, as far as the file holds it (parse_head
    // reports a short one).
    if let Some(end) = header_end(&head) {
        let end = end.min(size);
        if end > head.len() as u64 {
            let more = end - head.len() as u64;
            read_exact_chunked(LOAD, path, &mut f, more, &mut head)?;
        }
    }
    if head.len() as u64 == size {
        // All of it by its size: a special file that says 0 bytes and then
        // never ends (`/proc/self/pagemap`) is refused here.
        expect_end(LOAD, path, &mut f, size)?;
    }
    let h = parse_head(&head, path)?;
    let data_len = size - h.data_start as u64;
    if data_len != h.nbytes as u64 {
        return Err(length_error(&h, data_len as usize, path));
    }
    let count = h.nbytes / h.dtype.size;
    let copies = if h.fortran { 2.0 } else { 1.0 };
    crate::mat::check_memory(
        LOAD,
        || format!("{count} values of {}", path.display()),
        8.0 * count as f64 * copies,
        "raise HLAB_MEMORY_LIMIT or free variables",
    )?;
    let mut values: Vec<f64> = Vec::new();
    values
        .try_reserve_exact(count)
        .map_err(|_| Error::io(LOAD, path, format!("cannot allocate {count} values")))?;
    let chunk = (READ_CHUNK / 8) * 8;
    let mut buf = Vec::with_capacity(chunk);
    let mut left = h.nbytes as u64;
    while left > 0 {
        let n = left.min(chunk as u64);
        buf.clear();
        read_exact_chunked(LOAD, path, &mut f, n, &mut buf)?;
        values.extend(buf.chunks_exact(h.dtype.size).map(|c| h.dtype.read(c)));
        left -= n;
    }
    expect_end(LOAD, path, &mut f, size)?;
    build(&h, values)
}

/// Where the header ends (the data starts), from the preamble, when the
/// preamble is a valid one.
fn header_end(pre: &[u8]) -> Option<u64> {
    if pre.len() < 10 || &pre[..MAGIC.len()] != MAGIC {
        return None;
    }
    match (pre[6], pre[7]) {
        (1, 0) => Some(10 + u16::from_le_bytes([pre[8], pre[9]]) as u64),
        (2, 0) | (3, 0) if pre.len() >= 12 => {
            Some(12 + u32::from_le_bytes([pre[8], pre[9], pre[10], pre[11]]) as u64)
        }
        _ => None,
    }
}

/// A parsed preamble and header: what the data must be.
struct Head {
    descr: String,
    dtype: Dtype,
    shape: Vec<usize>,
    fortran: bool,
    /// Where the data starts.
    data_start: usize,
    /// How many data bytes the shape and dtype promise.
    nbytes: usize,
}

fn length_error(h: &Head, got: usize, path: &Path) -> Error {
    let what = if got < h.nbytes {
        "truncated data"
    } else {
        "trailing bytes after the data"
    };
    Error::format(
        LOAD,
        path,
        format!(
            "{what}: expected {} bytes for shape {} of {}, got {got}",
            h.nbytes,
            shape_str(&h.shape),
            h.descr,
        ),
    )
}

/// The array from its decoded values (C order, or Fortran order as the
/// header says).
fn build(h: &Head, values: Vec<f64>) -> Result<NpyArray> {
    Ok(match h.shape[..] {
        [] | [_] => NpyArray::Vector(values),
        [r, c] => {
            let m = if h.fortran {
                // Column-major: element (i, j) is at j·r + i.
                Mat::from_fn(r, c, |i, j| values[j * r + i])
            } else {
                Mat::from_vec(r, c, values)?
            };
            NpyArray::Matrix(m)
        }
        _ => {
            return Err(Error::format(
                LOAD,
                Path::new(""),
                format!("expected at most 2 dimensions, got {}", h.shape.len()),
            ))
        }
    })
}

/// Parses the bytes of a `.npy` file; `path_for_messages` only names it in errors.
///
/// Accepts format versions 1.0, 2.0 and 3.0; dtypes `f2 f4 f8`, `i1 i2 i4
/// i8`, `u1 u2 u4 u8` and `b1` in either byte order; `fortran_order` True or
/// False; shapes `()` (read as a 1-element vector), `(n,)` and `(r, c)`.
/// Rejects anything else — bad magic, unknown versions, malformed header
/// dicts, object, string, complex or structured dtypes, more than 2
/// dimensions, and data shorter or longer than the shape says — with an
/// error, never a panic; memory used is bounded by 8× the input size.
pub fn parse_npy(bytes: &[u8], path_for_messages: &Path) -> Result<NpyArray> {
    let h = parse_head(bytes, path_for_messages)?;
    let data = &bytes[h.data_start..];
    if data.len() != h.nbytes {
        return Err(length_error(&h, data.len(), path_for_messages));
    }
    let values: Vec<f64> = data
        .chunks_exact(h.dtype.size)
        .map(|c| h.dtype.read(c))
        .collect();
    build(&h, values)
}

/// Parses the preamble and header at the start of `bytes` (the data may
/// follow or not).
fn parse_head(bytes: &[u8], path_for_messages: &Path) -> Result<Head> {
    let path = path_for_messages;
    let bad = |msg: String| Error::format(LOAD, path, msg);
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        let got: Vec<String> = bytes.iter().take(6).map(|b| format!("{b:02x}")).collect();
        return Err(bad(format!(
            "expected the .npy magic 93 4e 55 4d 50 59 (\\x93NUMPY), got {}",
            if got.is_empty() {
                "an empty file".to_string()
            } else {
                got.join(" ")
            }
        )));
    }
    if bytes.len() < 8 {
        return Err(bad(format!(
            "expected a version after the magic, got a file of {} bytes",
            bytes.len()
        )));
    }
    let (major, minor) = (bytes[6], bytes[7]);
    let (hlen, start) = match (major, minor) {
        (1, 0) => {
            if bytes.len() < 10 {
                return Err(bad(format!(
                    "expected a 10-byte preamble, got a file of {} bytes",
                    bytes.len()
                )));
            }
            (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10)
        }
        (2, 0) | (3, 0) => {
            if bytes.len() < 12 {
                return Err(bad(format!(
                    "expected a 12-byte preamble, got a file of {} bytes",
                    bytes.len()
                )));
            }
            let l = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
            (l as usize, 12)
        }
        _ => {
            return Err(bad(format!(
                "expected format version 1.0, 2.0 or 3.0, got {major}.{minor}"
            )))
        }
    };
    let data_start = start + hlen;
    if data_start > bytes.len() {
        return Err(bad(format!(
            "truncated header: expected {hlen} header bytes, got {}",
            bytes.len() - start
        )));
    }
    let raw = &bytes[start..data_start];
    let text: String = if major == 3 {
        std::str::from_utf8(raw)
            .map_err(|e| bad(format!("expected a UTF-8 header, got invalid bytes ({e})")))?
            .to_string()
    } else {
        // Latin-1: every byte is the code point of the same value.
        raw.iter().map(|&b| b as char).collect()
    };
    let header = parse_header(&text).map_err(|m| bad(format!("malformed header {m}")))?;
    let dtype = Dtype::parse(&header.descr).map_err(bad)?;
    if header.shape.len() > 2 {
        return Err(bad(format!(
            "expected at most 2 dimensions, got shape {} ({} dimensions)",
            shape_str(&header.shape),
            header.shape.len()
        )));
    }
    let nbytes = header
        .shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .and_then(|c| c.checked_mul(dtype.size));
    let Some(nbytes) = nbytes else {
        return Err(bad(format!(
            "shape {} is too large to address",
            shape_str(&header.shape)
        )));
    };
    Ok(Head {
        descr: header.descr,
        dtype,
        shape: header.shape,
        fortran: header.fortran_order,
        data_start,
        nbytes,
    })
}

/// The bytes of a `.npy` file holding `a`: version 1.0, `<f8`, C order, the
/// header padded with spaces to a multiple of 64 bytes as NumPy does.
pub fn npy_bytes(a: &NpyArray) -> Vec<u8> {
    let shape = match a {
        NpyArray::Vector(v) => format!("({},)", v.len()),
        NpyArray::Matrix(m) => format!("({}, {})", m.rows(), m.cols()),
    };
    let mut header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}");
    // 10 preamble bytes + header + '\n' to a multiple of 64.
    let total = (10 + header.len() + 1).div_ceil(64) * 64;
    while 10 + header.len() + 1 < total {
        header.push(' ');
    }
    header.push('\n');
    let values = a.values();
    let mut out = Vec::with_capacity(total + 8 * values.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    // A 2-D shape's header is far below 65535 bytes.
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Writes `a` to `path` as `.npy` (see [`npy_bytes`]), atomically.
///
/// Through [`crate::fsio::write_atomic`]: a failed save leaves an existing
/// file as it was; devices, FIFOs and folders are refused.
pub fn write_npy(path: &Path, a: &NpyArray) -> Result<()> {
    let bytes = npy_bytes(a);
    crate::fsio::write_atomic(SAVE, path, &bytes)
}

fn shape_str(shape: &[usize]) -> String {
    match shape {
        [d] => format!("({d},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// An element type: byte order, kind and size.
#[derive(Clone, Copy, Debug)]
struct Dtype {
    big: bool,
    kind: u8,
    size: usize,
}

impl Dtype {
    fn parse(descr: &str) -> std::result::Result<Dtype, String> {
        let unsupported = |why: &str| format!("unsupported dtype '{descr}': {why}");
        let b = descr.as_bytes();
        if b.len() < 2 {
            return Err(unsupported("expected a byte order, a kind and a size"));
        }
        let (order, kind, size) = (b[0], b[1], descr.get(2..).unwrap_or(""));
        if !matches!(order, b'<' | b'>' | b'|' | b'=') {
            return Err(unsupported("expected a byte order '<', '>' or '|'"));
        }
        match kind {
            b'O' => return Err(unsupported("object arrays hold Python pickles")),
            b'c' => return Err(unsupported("complex numbers")),
            b'U' | b'S' | b'a' => return Err(unsupported("strings")),
            b'M' | b'm' => return Err(unsupported("dates and times")),
            _ => {}
        }
        let size: usize = size
            .parse()
            .map_err(|_| unsupported("expected a kind letter then a size in bytes"))?;
        let ok = match kind {
            b'f' => matches!(size, 2 | 4 | 8),
            b'i' | b'u' => matches!(size, 1 | 2 | 4 | 8),
            b'b' => size == 1,
            _ => false,
        };
        if !ok {
            return Err(unsupported(
                "expected f2/f4/f8, i1/i2/i4/i8, u1/u2/u4/u8 or b1",
            ));
        }
        if order == b'|' && size != 1 {
            return Err(unsupported("byte order '|' is only for 1-byte types"));
        }
        // '=' is native order; NumPy writes '<' or '>' for multi-byte types,
        // and every platform hlab runs on is little-endian.
        Ok(Dtype {
            big: order == b'>',
            kind,
            size,
        })
    }

    /// One element; `c.len() == self.size`.
    fn read(&self, c: &[u8]) -> f64 {
        let mut b = [0u8; 8];
        b[..self.size].copy_from_slice(c);
        if self.big {
            b[..self.size].reverse();
        }
        match (self.kind, self.size) {
            (b'f', 2) => f16_to_f64(u16::from_le_bytes([b[0], b[1]])),
            (b'f', 4) => f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
            (b'f', _) => f64::from_le_bytes(b),
            (b'i', 1) => b[0] as i8 as f64,
            (b'i', 2) => i16::from_le_bytes([b[0], b[1]]) as f64,
            (b'i', 4) => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
            (b'i', _) => i64::from_le_bytes(b) as f64,
            (b'b', _) => f64::from(u8::from(b[0] != 0)),
            // Unsigned: the zero-padded little-endian bytes are the value.
            _ => u64::from_le_bytes(b) as f64,
        }
    }
}

/// IEEE half precision to f64.
fn f16_to_f64(h: u16) -> f64 {
    let sign = if h >> 15 == 1 { -1.0 } else { 1.0 };
    let exp = ((h >> 10) & 0x1f) as i32;
    let frac = (h & 0x3ff) as f64;
    match exp {
        0 => sign * frac * 2f64.powi(-24),
        31 if frac == 0.0 => sign * f64::INFINITY,
        31 => f64::NAN,
        _ => sign * (1.0 + frac / 1024.0) * 2f64.powi(exp - 15),
    }
}

/// The three keys of a `.npy` header.
#[derive(Debug, PartialEq)]
struct Header {
    descr: String,
    fortran_order: bool,
    shape: Vec<usize>,
}

/// A value of the header's Python literal.
#[derive(Debug)]
enum Lit {
    Str(String),
    Bool(bool),
    Int(usize),
    Tuple(Vec<Lit>),
    List,
}

impl Lit {
    /// How an error message shows the value.
    fn describe(&self) -> String {
        match self {
            Lit::Str(s) => format!("'{s}'"),
            Lit::Bool(b) => if *b { "True" } else { "False" }.into(),
            Lit::Int(d) => d.to_string(),
            Lit::Tuple(_) => "a tuple".into(),
            Lit::List => "a list".into(),
        }
    }
}

/// Deepest nesting of tuples the header parser follows.
const MAX_DEPTH: usize = 4;

/// Parses the header dict; errors are "(…)" phrases appended to "malformed header".
fn parse_header(text: &str) -> std::result::Result<Header, String> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    p.ws();
    p.expect(b'{')?;
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    loop {
        p.ws();
        if p.eat(b'}') {
            break;
        }
        let key = match p.value(0)? {
            Lit::Str(s) => s,
            other => return Err(format!("(expected a string key, got {})", other.describe())),
        };
        p.ws();
        p.expect(b':')?;
        p.ws();
        let val = p.value(0)?;
        let dup = |k: &str| format!("(key '{k}' given twice)");
        match (key.as_str(), val) {
            ("descr", Lit::Str(s)) => {
                if descr.replace(s).is_some() {
                    return Err(dup("descr"));
                }
            }
            ("descr", Lit::List) => {
                return Err(
                    "(structured dtypes, a list as 'descr', are not supported; expected a \
                     simple dtype such as '<f8')"
                        .into(),
                )
            }
            ("fortran_order", Lit::Bool(b)) => {
                if fortran.replace(b).is_some() {
                    return Err(dup("fortran_order"));
                }
            }
            ("shape", Lit::Tuple(items)) => {
                let dims = items
                    .into_iter()
                    .map(|it| match it {
                        Lit::Int(d) => Ok(d),
                        other => Err(format!(
                            "(expected integer dimensions, got {})",
                            other.describe()
                        )),
                    })
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                if shape.replace(dims).is_some() {
                    return Err(dup("shape"));
                }
            }
            (k @ ("descr" | "fortran_order" | "shape"), v) => {
                return Err(format!("(unexpected value {} for '{k}')", v.describe()))
            }
            (k, _) => {
                return Err(format!(
                    "(expected only the keys 'descr', 'fortran_order', 'shape', got '{k}')"
                ))
            }
        }
        p.ws();
        if p.eat(b',') {
            continue;
        }
        p.ws();
        p.expect(b'}')?;
        break;
    }
    p.ws();
    if p.i != p.s.len() {
        return Err(format!("(unexpected text after the dict at byte {})", p.i));
    }
    match (descr, fortran, shape) {
        (Some(descr), Some(fortran_order), Some(shape)) => Ok(Header {
            descr,
            fortran_order,
            shape,
        }),
        _ => Err("(expected the keys 'descr', 'fortran_order' and 'shape')".into()),
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) -> std::result::Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!(
                "(expected '{}' at byte {}, got {})",
                c as char,
                self.i,
                match self.peek() {
                    Some(g) => format!("'{}'", g as char),
                    None => "the end".into(),
                }
            ))
        }
    }

    fn value(&mut self, depth: usize) -> std::result::Result<Lit, String> {
        match self.peek() {
            Some(q @ (b'\'' | b'"')) => {
                self.i += 1;
                let start = self.i;
                while let Some(c) = self.peek() {
                    if c == q {
                        let s = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
                        self.i += 1;
                        return Ok(Lit::Str(s));
                    }
                    if c == b'\\' {
                        return Err("(escapes in strings are not supported)".into());
                    }
                    self.i += 1;
                }
                Err("(unterminated string)".into())
            }
            Some(b'(') => {
                if depth >= MAX_DEPTH {
                    return Err(format!("(tuples nested more than {MAX_DEPTH} deep)"));
                }
                self.i += 1;
                let mut items = Vec::new();
                loop {
                    self.ws();
                    if self.eat(b')') {
                        return Ok(Lit::Tuple(items));
                    }
                    if items.len() >= 64 {
                        return Err("(a tuple of more than 64 items)".into());
                    }
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    if !self.eat(b',') {
                        self.ws();
                        self.expect(b')')?;
                        return Ok(Lit::Tuple(items));
                    }
                }
            }
            Some(b'[') => Ok(Lit::List),
            Some(c) if c.is_ascii_digit() => {
                let start = self.i;
                while matches!(self.peek(), Some(c) if c.is_ascii_digit()) {
                    self.i += 1;
                }
                let digits = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
                // Python 2 wrote long integers as `3L`.
                self.eat(b'L');
                digits
                    .parse()
                    .map(Lit::Int)
                    .map_err(|_| format!("(dimension {digits} is too large)"))
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let start = self.i;
                while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == b'_') {
                    self.i += 1;
                }
                match &self.s[start..self.i] {
                    b"True" => Ok(Lit::Bool(true)),
                    b"False" => Ok(Lit::Bool(false)),
                    w => Err(format!(
                        "(expected True or False, got '{}')",
                        String::from_utf8_lossy(w)
                    )),
                }
            }
            Some(c) => Err(format!("(unexpected '{}' at byte {})", c as char, self.i)),
            None => Err("(unexpected end of the header)".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn p() -> &'static Path {
        Path::new("t.npy")
    }

    /// A file with a hand-written header.
    fn file(major: u8, header: &str, data: &[u8]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&[major, 0]);
        if major == 1 {
            out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        } else {
            out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        }
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    fn err(bytes: &[u8]) -> String {
        let e = parse_npy(bytes, p()).unwrap_err().to_string();
        assert!(e.starts_with("load_npy: t.npy: "), "{e}");
        e
    }

    #[test]
    fn written_bytes_match_numpy_layout() {
        let b = npy_bytes(&NpyArray::Vector(vec![1.0, 2.0, 3.0]));
        assert_eq!(&b[..8], b"\x93NUMPY\x01\x00");
        let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
        assert_eq!((10 + hlen) % 64, 0);
        // NumPy 1.x writes exactly this for np.save(f, np.array([1., 2., 3.])).
        let want = "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }";
        assert_eq!(&b[10..10 + want.len()], want.as_bytes());
        assert_eq!(b[10 + hlen - 1], b'\n');
        assert_eq!(&b[10 + hlen..10 + hlen + 8], &1.0f64.to_le_bytes());
        assert_eq!(b.len(), 10 + hlen + 24);
    }

    #[test]
    fn roundtrip_vector_and_matrix() {
        let m = Mat::from_fn(3, 5, |i, j| i as f64 * 10.0 + j as f64 - 0.5);
        for a in [
            NpyArray::Vector(vec![]),
            NpyArray::Vector(vec![-1.5, f64::MAX, 1e-300, f64::INFINITY]),
            NpyArray::Matrix(m),
            NpyArray::Matrix(Mat::zeros(0, 4)),
        ] {
            let back = parse_npy(&npy_bytes(&a), p()).unwrap();
            assert_eq!(back, a);
        }
    }

    #[test]
    fn roundtrip_through_a_file_atomically() {
        let dir = std::env::temp_dir().join(format!("hlab-npy-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let f = dir.join("m.npy");
        let a = NpyArray::Matrix(Mat::from_fn(2, 3, |i, j| (i * 3 + j) as f64));
        write_npy(&f, &a).unwrap();
        assert_eq!(read_npy(&f).unwrap(), a);
        // A failed save (target is a directory) leaves the old file and no temp files.
        let sub = dir.join("sub");
        fs::create_dir_all(&sub).unwrap();
        let e = write_npy(&sub, &NpyArray::Vector(vec![1.0])).unwrap_err();
        assert!(e.to_string().starts_with("save_npy: "), "{e}");
        assert_eq!(read_npy(&f).unwrap(), a);
        let e = write_npy(&dir.join("no/such/dir/x.npy"), &a).unwrap_err();
        assert!(e.to_string().starts_with("save_npy: "), "{e}");
        let names: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap()).collect();
        assert_eq!(names.len(), 2, "{names:?}");
        let e = read_npy(&dir.join("missing.npy")).unwrap_err().to_string();
        assert!(
            e.starts_with("load_npy: ") && e.contains("missing.npy"),
            "{e}"
        );
        let e = read_npy(&sub).unwrap_err().to_string();
        assert!(e.contains("is a directory"), "{e}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn float32_fortran_order_by_hand() {
        // np.asfortranarray(np.array([[1, 2, 3], [4, 5, 6]], np.float32)):
        // stored column by column: 1 4 2 5 3 6.
        let mut data = Vec::new();
        for v in [1.0f32, 4.0, 2.0, 5.0, 3.0, 6.5] {
            data.extend_from_slice(&v.to_le_bytes());
        }
        let h = "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }          \n";
        let a = parse_npy(&file(1, h, &data), p()).unwrap();
        let NpyArray::Matrix(m) = a else {
            panic!("expected a matrix")
        };
        assert_eq!(m.shape(), (2, 3));
        assert_eq!(m.data(), &[1.0, 2.0, 3.0, 4.0, 5.0, 6.5]);
    }

    #[test]
    fn big_endian_and_integer_dtypes() {
        let h = |d: &str, s: &str| {
            format!("{{'descr': '{d}', 'fortran_order': False, 'shape': {s}, }}\n")
        };
        let cases: Vec<(String, Vec<u8>, Vec<f64>)> = vec![
            (
                h(">f8", "(2,)"),
                [1.5f64.to_be_bytes(), (-2.0f64).to_be_bytes()].concat(),
                vec![1.5, -2.0],
            ),
            (h(">f4", "(1,)"), 0.25f32.to_be_bytes().to_vec(), vec![0.25]),
            (
                h(">i4", "(2,)"),
                [(-7i32).to_be_bytes(), 9i32.to_be_bytes()].concat(),
                vec![-7.0, 9.0],
            ),
            (h(">u2", "(1,)"), vec![0x01, 0x02], vec![258.0]),
            (h("<u2", "(1,)"), vec![0x01, 0x02], vec![513.0]),
            (
                h("<i2", "(1,)"),
                (-300i16).to_le_bytes().to_vec(),
                vec![-300.0],
            ),
            (h("<i8", "(1,)"), (-5i64).to_le_bytes().to_vec(), vec![-5.0]),
            (
                h(">i8", "(1,)"),
                (1i64 << 40).to_be_bytes().to_vec(),
                vec![(1u64 << 40) as f64],
            ),
            (
                h("<u4", "(1,)"),
                u32::MAX.to_le_bytes().to_vec(),
                vec![u32::MAX as f64],
            ),
            (h("<u8", "(1,)"), 7u64.to_le_bytes().to_vec(), vec![7.0]),
            (
                h("|i1", "(3,)"),
                vec![0xff, 0x7f, 0x80],
                vec![-1.0, 127.0, -128.0],
            ),
            (h("|u1", "(2,)"), vec![0xff, 0x00], vec![255.0, 0.0]),
            (h("|b1", "(3,)"), vec![1, 0, 1], vec![1.0, 0.0, 1.0]),
            (
                h("<f2", "(3,)"),
                vec![0x00, 0x3c, 0x00, 0xc0, 0x00, 0x35],
                vec![1.0, -2.0, 0.3125],
            ),
            (h("<f8", "()"), 42.0f64.to_le_bytes().to_vec(), vec![42.0]),
            (h("<f8", "(0,)"), vec![], vec![]),
        ];
        for (header, data, want) in cases {
            let got = parse_npy(&file(1, &header, &data), p()).unwrap();
            assert_eq!(got, NpyArray::Vector(want), "{header}");
        }
    }

    #[test]
    fn versions_two_and_three_and_loose_headers() {
        let data = 3.0f64.to_le_bytes();
        for (major, h) in [
            (
                2,
                "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }\n",
            ),
            (
                3,
                "{\"shape\": (1, 1), \"fortran_order\": False, \"descr\": \"<f8\"}",
            ),
            (1, "{'descr':'<f8','fortran_order':False,'shape':(1L,)}"),
        ] {
            let a = parse_npy(&file(major, h, &data), p()).unwrap();
            assert_eq!(a.values(), &[3.0], "{h}");
        }
    }

    #[test]
    fn corrupt_files_are_errors() {
        let ok = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }\n";
        let two = [1.0f64.to_le_bytes(), 2.0f64.to_le_bytes()].concat();
        assert!(parse_npy(&file(1, ok, &two), p()).is_ok());
        assert!(err(b"").contains("an empty file"));
        assert!(err(b"PK\x03\x04 not npy").contains("magic"));
        assert!(err(b"\x93NUMPY").contains("version"));
        assert!(err(b"\x93NUMPY\x01\x00\x40").contains("preamble"));
        assert!(err(&file(4, ok, &two)).contains("version 1.0, 2.0 or 3.0, got 4.0"));
        let mut short = file(1, ok, &two);
        short.truncate(30);
        assert!(err(&short).contains("truncated header"));
        assert!(err(&file(1, ok, &two[..12])).contains("truncated data: expected 16 bytes"));
        assert!(err(&file(1, ok, &[two.clone(), vec![0]].concat())).contains("trailing"));
        let h = |d: &str, f: &str, s: &str| {
            format!("{{'descr': {d}, 'fortran_order': {f}, 'shape': {s}, }}")
        };
        for (header, want) in [
            (h("'|O'", "False", "(2,)"), "object arrays"),
            (h("'<c16'", "False", "(2,)"), "complex"),
            (h("'<U3'", "False", "(2,)"), "strings"),
            (h("'<f16'", "False", "(2,)"), "unsupported dtype '<f16'"),
            (h("'|f8'", "False", "(2,)"), "only for 1-byte"),
            (h("'f8'", "False", "(2,)"), "byte order"),
            (h("[('a', '<f8')]", "False", "(2,)"), "structured"),
            (h("'<f8'", "false", "(2,)"), "True or False"),
            (h("'<f8'", "False", "(1, 1, 2)"), "at most 2 dimensions"),
            (h("'<f8'", "False", "(2.0,)"), "got '.'"),
            (h("'<f8'", "False", "((2,),)"), "got a tuple"),
            (h("'<é8'", "False", "(2,)"), "unsupported dtype"),
            (h("'<f8'", "False", &"(".repeat(10000)), "nested"),
            (h("'<f8'", "False", "(-2,)"), "unexpected '-'"),
            (
                h("'<f8'", "False", "(99999999999999999999999,)"),
                "too large",
            ),
            (
                h("'<f8'", "False", "(4294967296, 4294967296)"),
                "too large to address",
            ),
            (h("'<f8'", "False", "'(2,)'"), "unexpected value"),
            (h("'<f8'", "0", "(2,)"), "unexpected value"),
            (
                "{'descr': '<f8', 'shape': (2,)}".into(),
                "expected the keys",
            ),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), 'x': 1}".into(),
                "got 'x'",
            ),
            (
                "{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (2,)}".into(),
                "twice",
            ),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (2,)".into(),
                "expected '}'",
            ),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (2,)} x".into(),
                "after the dict",
            ),
            ("{'descr: '<f8'}".into(), "expected ':'"),
            ("".into(), "expected '{'"),
        ] {
            let e = err(&file(1, &header, &two));
            assert!(e.contains(want), "{header}: {e} (wanted {want})");
        }
        // A v2 header length far beyond the file must not allocate or panic.
        let mut huge = MAGIC.to_vec();
        huge.extend_from_slice(&[2, 0, 0xff, 0xff, 0xff, 0xff]);
        assert!(err(&huge).contains("truncated header"));
    }

    #[test]
    fn every_prefix_of_a_valid_file_fails_cleanly() {
        let full = npy_bytes(&NpyArray::Matrix(Mat::from_fn(2, 2, |i, j| (i + j) as f64)));
        for n in 0..full.len() {
            assert!(parse_npy(&full[..n], p()).is_err(), "prefix {n}");
        }
        assert!(parse_npy(&full, p()).is_ok());
    }
}
