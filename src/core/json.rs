//! A small JSON reader and writer that never panics.
//!
//! Why not serde_json: the core must read a handful of fields out of untrusted bodies (token
//! endpoint answers, JWT payloads, our own storage record) and write one record back. serde_json
//! plus its float formatting and parsing costs several KB of wasm for that, and this reader is
//! easy to fuzz. Depth, and so recursion, is bounded; numbers are parsed by hand (no `dec2flt`).

use alloc::string::String;
use alloc::vec::Vec;

/// A parsed JSON value. Objects keep their order; a repeated key answers with its first value.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

const MAX_DEPTH: u32 = 64;

impl Json {
    /// Parses a whole document; anything malformed, too deep or with trailing bytes is `None`.
    pub fn parse(text: &str) -> Option<Json> {
        let mut p = Parser { b: text.as_bytes(), i: 0 };
        let v = p.value(0)?;
        p.ws();
        if p.i == p.b.len() {
            Some(v)
        } else {
            None
        }
    }

    /// The value under `key` when this is an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A number, or a string that holds one (`"exp": "1700000000"` is seen in the wild).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Num(n) => Some(*n),
            Json::Str(s) => parse_number(s.trim()),
            _ => None,
        }
    }

    /// `get(key)` as a non-empty string.
    pub fn str_field(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Json::as_str).filter(|s| !s.is_empty())
    }
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while let Some(c) = self.b.get(self.i) {
            if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    fn eat(&mut self, lit: &[u8]) -> bool {
        if self.b.get(self.i..self.i + lit.len()) == Some(lit) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: u32) -> Option<Json> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.ws();
        match *self.b.get(self.i)? {
            b'n' => self.eat(b"null").then_some(Json::Null),
            b't' => self.eat(b"true").then_some(Json::Bool(true)),
            b'f' => self.eat(b"false").then_some(Json::Bool(false)),
            b'"' => self.string().map(Json::Str),
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.eat(b"]") {
                    return Some(Json::Arr(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    if self.eat(b"]") {
                        return Some(Json::Arr(items));
                    }
                    if !self.eat(b",") {
                        return None;
                    }
                }
            }
            b'{' => {
                self.i += 1;
                let mut fields = Vec::new();
                self.ws();
                if self.eat(b"}") {
                    return Some(Json::Obj(fields));
                }
                loop {
                    self.ws();
                    if self.b.get(self.i) != Some(&b'"') {
                        return None;
                    }
                    let k = self.string()?;
                    self.ws();
                    if !self.eat(b":") {
                        return None;
                    }
                    let v = self.value(depth + 1)?;
                    fields.push((k, v));
                    self.ws();
                    if self.eat(b"}") {
                        return Some(Json::Obj(fields));
                    }
                    if !self.eat(b",") {
                        return None;
                    }
                }
            }
            _ => {
                let start = self.i;
                while let Some(c) = self.b.get(self.i) {
                    if matches!(c, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') {
                        self.i += 1;
                    } else {
                        break;
                    }
                }
                let s = core::str::from_utf8(self.b.get(start..self.i)?).ok()?;
                parse_number(s).map(Json::Num)
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..4 {
            let d = (*self.b.get(self.i)? as char).to_digit(16)?;
            v = v * 16 + d;
            self.i += 1;
        }
        Some(v)
    }

    fn string(&mut self) -> Option<String> {
        self.i += 1; // opening quote
        let mut out = String::new();
        loop {
            let start = self.i;
            while let Some(&c) = self.b.get(self.i) {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.i += 1;
            }
            out.push_str(core::str::from_utf8(self.b.get(start..self.i)?).ok()?);
            match *self.b.get(self.i)? {
                b'"' => {
                    self.i += 1;
                    return Some(out);
                }
                b'\\' => {
                    self.i += 1;
                    let e = *self.b.get(self.i)?;
                    self.i += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            if (0xD800..0xDC00).contains(&hi) {
                                if !self.eat(b"\\u") {
                                    return None;
                                }
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return None;
                                }
                                char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))?
                            } else {
                                char::from_u32(hi)?
                            }
                        }
                        _ => return None,
                    };
                    out.push(c);
                }
                _ => return None, // raw control character
            }
        }
    }
}

/// Parses a decimal number (`-12`, `3.5`, `1e3`) by hand. Good to about 15 significant digits,
/// which is all that times and lifetimes need. Rejects anything else, including NaN and
/// infinities and empty strings.
pub fn parse_number(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let mut i = 0;
    let neg = match b.first() {
        Some(b'-') => {
            i = 1;
            true
        }
        Some(b'+') => {
            i = 1;
            false
        }
        _ => false,
    };
    let mut mant: f64 = 0.0;
    let mut digits = 0;
    let mut exp10: i32 = 0;
    while let Some(c @ b'0'..=b'9') = b.get(i) {
        mant = mant * 10.0 + f64::from(c - b'0');
        digits += 1;
        i += 1;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while let Some(c @ b'0'..=b'9') = b.get(i) {
            if digits < 18 {
                mant = mant * 10.0 + f64::from(c - b'0');
                exp10 -= 1;
            }
            digits += 1;
            i += 1;
        }
    }
    if digits == 0 {
        return None;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        let eneg = match b.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let mut e: i32 = 0;
        let mut any = false;
        while let Some(c @ b'0'..=b'9') = b.get(i) {
            e = e.saturating_mul(10).saturating_add(i32::from(c - b'0'));
            any = true;
            i += 1;
        }
        if !any {
            return None;
        }
        exp10 = exp10.saturating_add(if eneg { -e } else { e });
    }
    if i != b.len() {
        return None;
    }
    let v = mant * pow10(exp10);
    if !v.is_finite() {
        return None;
    }
    Some(if neg { -v } else { v })
}

fn pow10(e: i32) -> f64 {
    let mut r = 1.0;
    let mut n = e.unsigned_abs().min(400);
    let mut base = 10.0f64;
    while n > 0 {
        if n & 1 == 1 {
            r *= base;
        }
        base *= base;
        n >>= 1;
    }
    if e < 0 {
        1.0 / r
    } else {
        r
    }
}

/// Appends `s` as a JSON string literal.
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                out.push_str("\\u00");
                let n = c as u32;
                out.push(hex_digit(n >> 4));
                out.push(hex_digit(n & 0xF));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn hex_digit(n: u32) -> char {
    char::from_digit(n, 16).unwrap_or('0')
}

/// Appends a number rounded to an integer (times in ms and lifetimes in s are all we write).
pub fn write_int(out: &mut String, v: f64) {
    let v = if v.is_finite() { v.round() } else { 0.0 };
    if v < 0.0 {
        out.push('-');
    }
    let mut n = v.abs().min(9.007_199_254_740_991e15) as u64;
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &buf[i..] {
        out.push(d as char);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_documents() {
        let v = Json::parse(r#" {"a": [1, -2.5e1, true, null], "b": "x\"\u00e9\ud83d\ude00", "a": 3} "#).unwrap();
        assert_eq!(v.get("a"), Some(&Json::Arr(vec![Json::Num(1.0), Json::Num(-25.0), Json::Bool(true), Json::Null])));
        assert_eq!(v.get("b").and_then(Json::as_str), Some("x\"é😀"));
        assert_eq!(Json::parse("\"12\"").and_then(|j| j.as_f64()), Some(12.0));
    }

    #[test]
    fn rejects_malformed() {
        for bad in ["", "{", "[1,]", "{\"a\" 1}", "01x", "\"\\x\"", "nul", "{} x", "\"\\ud800\"", "1e", "-", "."] {
            assert_eq!(Json::parse(bad), None, "{bad}");
        }
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert_eq!(Json::parse(&deep), None);
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number("1700000000"), Some(1.7e9));
        assert_eq!(parse_number("1.5"), Some(1.5));
        assert_eq!(parse_number("2E3"), Some(2000.0));
        assert_eq!(parse_number("1e999"), None);
        assert_eq!(parse_number("NaN"), None);
    }

    #[test]
    fn writes_round_trip() {
        let mut s = String::new();
        write_str(&mut s, "a\"b\\c\n\u{1}é");
        assert_eq!(Json::parse(&s).unwrap().as_str(), Some("a\"b\\c\n\u{1}é"));
        let mut n = String::new();
        write_int(&mut n, -1234.6);
        assert_eq!(n, "-1235");
    }

    proptest! {
        #[test]
        fn never_panics(s in ".{0,200}") {
            let _ = Json::parse(&s);
            let _ = parse_number(&s);
        }

        #[test]
        fn strings_round_trip(s in ".{0,60}") {
            let mut out = String::new();
            write_str(&mut out, &s);
            prop_assert_eq!(Json::parse(&out), Some(Json::Str(s)));
        }

        #[test]
        fn integers_round_trip(n in -9_000_000_000_000_000i64..9_000_000_000_000_000i64) {
            let mut out = String::new();
            write_int(&mut out, n as f64);
            prop_assert_eq!(parse_number(&out), Some((n as f64).round()));
        }
    }
}
