//! Reading what comes in from outside (a token set handed to `setTokens`, a token endpoint's
//! JSON, a stored record, another tab's message) field by field, as the rules need it.
//!
//! Why not serde's `Deserialize`: every derived type compiles its own state machine, and the
//! error paths (`invalid_type` with the value it got) pull float formatting into the module. The
//! rules here are lenient on purpose (a numeric string is a number, a wrong type is "absent"),
//! which is a few lines per type, written once. The browser layer implements [`Fields`] over a
//! JavaScript object with `Reflect.get`; host tests implement it over `serde_json::Value`.

use alloc::string::String;
use alloc::vec::Vec;

/// One field of an object, sorted into what the rules tell apart.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<O> {
    /// `undefined`, `null`, or not there at all.
    Absent,
    Bool(bool),
    /// Any number, `NaN` and the infinities included.
    Num(f64),
    Str(String),
    Obj(O),
    /// An array: its elements that are objects (others are skipped).
    List(Vec<O>),
    /// A non-empty array of strings only (an ID token's `aud`).
    Texts(Vec<String>),
    /// Anything else (a function, a symbol, a bigint).
    Other,
}

/// An object whose fields can be read.
pub trait Fields: Sized {
    /// `self[key]`; never fails (a throwing getter reads as [`Value::Absent`]).
    fn field(&self, key: &str) -> Value<Self>;
}

impl<O> Value<O> {
    pub fn is_absent(&self) -> bool {
        matches!(self, Value::Absent)
    }

    /// A string, and nothing else.
    pub fn text(self) -> Option<String> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A number, or a string that holds one (some servers send `"expires_in": "3600"`). `NaN`
    /// stays `NaN`: whether that is acceptable is the caller's rule.
    pub fn number(self) -> Option<f64> {
        match self {
            Value::Num(n) => Some(n),
            Value::Str(s) => parse_decimal(&s),
            _ => None,
        }
    }

    pub fn flag(self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn object(self) -> Option<O> {
        match self {
            Value::Obj(o) => Some(o),
            _ => None,
        }
    }
}

/// The first of `keys` that is present on `o` (the spellings of one field: `access_token`,
/// `accessToken`, `AccessToken`).
pub fn first<O: Fields>(o: &O, keys: &[&str]) -> Value<O> {
    for k in keys {
        let v = o.field(k);
        if !v.is_absent() {
            return v;
        }
    }
    Value::Absent
}

/// The one of `known` nearest to `key` (edit distance, case-insensitive): the "did you mean" of
/// an unknown option.
pub fn nearest<'a>(known: &[&'a str], key: &str) -> &'a str {
    known.iter().min_by_key(|k| distance(k, key)).copied().unwrap_or("")
}

fn distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = alloc::vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let same = ca.eq_ignore_ascii_case(cb);
            cur.push((prev[j] + usize::from(!same)).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// A plain decimal number (`3600`, `1.5`, `-2`): what `Retry-After` and numeric strings in
/// token answers hold. No exponents, no `inf`/`nan`: a small parser instead of `f64::from_str`
/// keeps its tables out of the wasm module.
pub fn parse_decimal(s: &str) -> Option<f64> {
    let s = s.trim_ascii();
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int, frac) = digits.bytes().position(|b| b == b'.').map_or((digits, ""), |i| (&digits[..i], &digits[i + 1..]));
    if int.is_empty() && frac.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut v = int.bytes().fold(0.0f64, |n, b| n * 10.0 + f64::from(b - b'0'));
    let mut scale = 1.0;
    for b in frac.bytes().take(17) {
        scale /= 10.0;
        v += f64::from(b - b'0') * scale;
    }
    Some(if neg { -v } else { v })
}

#[cfg(all(test, not(target_arch = "wasm32")))]
pub(crate) mod tests {
    //! [`Fields`] over `serde_json::Value`, so host tests read JSON text as the browser reads
    //! what `JSON.parse` made.
    use super::*;

    impl Fields for serde_json::Value {
        fn field(&self, key: &str) -> Value<Self> {
            match self.get(key) {
                None | Some(serde_json::Value::Null) => Value::Absent,
                Some(serde_json::Value::Bool(b)) => Value::Bool(*b),
                Some(serde_json::Value::Number(n)) => Value::Num(n.as_f64().unwrap_or(f64::NAN)),
                Some(serde_json::Value::String(s)) => Value::Str(s.clone()),
                Some(o @ serde_json::Value::Object(_)) => Value::Obj(o.clone()),
                Some(serde_json::Value::Array(a)) if !a.is_empty() && a.iter().all(serde_json::Value::is_string) => {
                    Value::Texts(a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
                }
                Some(serde_json::Value::Array(a)) => Value::List(a.iter().filter(|v| v.is_object()).cloned().collect()),
            }
        }
    }

    /// JSON text as an object to read; `None` if it is not a JSON object.
    pub fn json(text: &str) -> Option<serde_json::Value> {
        serde_json::from_str::<serde_json::Value>(text).ok().filter(serde_json::Value::is_object)
    }

    #[test]
    fn distance_counts_edits_ignoring_case() {
        for (a, b, d) in [
            ("", "abc", 3),
            ("abc", "", 3),
            ("kitten", "sitting", 3),
            ("flaw", "lawn", 2),
            ("retry", "RETRY", 0),
            ("ab", "ba", 2),
            ("storageKey", "storagekey", 0),
            ("maxRetries", "maxRetry", 3),
        ] {
            assert_eq!(distance(a, b), d, "{a} → {b}");
        }
    }

    #[test]
    fn the_nearest_known_name_is_suggested() {
        assert_eq!(nearest(&["storage", "allowedOrigins", "crossTab"], "allowedOrigin"), "allowedOrigins");
        assert_eq!(nearest(&["scope", "tokenUrl"], "tokenURL"), "tokenUrl");
        assert_eq!(nearest(&[], "x"), "");
    }

    #[test]
    fn numbers_are_lenient_and_strings_strict() {
        let o = json(r#"{"n":1.5,"s":"60","x":"soon","b":true,"o":{},"l":[{},1]}"#).unwrap();
        assert_eq!(o.field("n").number(), Some(1.5));
        assert_eq!(o.field("s").number(), Some(60.0));
        assert_eq!(o.field("x").number(), None);
        assert_eq!(o.field("b").number(), None);
        assert_eq!(o.field("n").text(), None);
        assert_eq!(o.field("b").flag(), Some(true));
        assert!(o.field("o").object().is_some());
        assert!(matches!(o.field("l"), Value::List(l) if l.len() == 1));
        assert!(o.field("missing").is_absent());
        assert_eq!(first(&o, &["missing", "s"]).text().as_deref(), Some("60"));
    }
}
