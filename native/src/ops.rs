//! A Jepsen EDN history read into the fields of `harness.history.Op`, for register histories
//! (issue 14: parsing must not cost more than checking). One op map per line, or one
//! top-level vector/list of op maps (Knossos). Only the shapes whose Python reading is
//! certain are read: keywords, strings with simple escapes, 64-bit integers, nil, true,
//! false, vectors/lists, and maps with keyword/string/integer keys. Anything else (tags,
//! sets, floats, symbols, chars, discards, duplicate keys, transactions, odd bytes) is a
//! give-up with its reason, and the Python reader runs from scratch.

use std::borrow::Cow;

pub type R<T> = Result<T, String>;

const MAX_INT: i64 = i64::MAX;
const MAX_DEPTH: u32 = 50; // the Python reader allows 100 levels; give up well before that

#[derive(Debug, Clone, PartialEq)]
pub enum V<'a> {
    Nil,
    Bool(bool),
    Int(i64),
    Str(Cow<'a, str>),
    List(Vec<V<'a>>),
    Map(Vec<(V<'a>, V<'a>)>),
}

pub enum Proc<'a> {
    None,
    Int(i64),
    Str(Cow<'a, str>),
}

/// What harness.history.Op gets, field by field.
pub struct RawOp<'a> {
    pub index: i64,
    pub time: i64,
    pub process: Proc<'a>,
    pub typ: &'static str,
    pub f: Cow<'a, str>,
    pub value: V<'a>,
    pub node: Option<Cow<'a, str>>,
    pub error: Option<Cow<'a, str>>,
    pub extra: Vec<(Cow<'a, str>, V<'a>)>,
    pub line: i64,
}

struct P<'a> {
    b: &'a [u8],
    s: &'a str,
    i: usize,
    line: i64,
}

fn is_delim(c: u8) -> bool {
    matches!(
        c,
        b' ' | b'\t'
            | b'\n'
            | b'\r'
            | b','
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'('
            | b')'
            | b'"'
            | b'\''
            | b';'
            | b'\\'
    ) || c == 0x0b
        || c == 0x0c
        || (0x1c..=0x1f).contains(&c)
}

fn atom_char(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'*' | b'+' | b'!' | b'-' | b'_' | b'?' | b'<' | b'>' | b'=' | b'.' | b'/' | b':'
        )
}

impl<'a> P<'a> {
    fn ws(&mut self) {
        while self.i < self.b.len() {
            match self.b[self.i] {
                b'\n' => {
                    self.line += 1;
                    self.i += 1;
                }
                b' ' | b'\t' | b',' | b'\r' => self.i += 1,
                b';' => {
                    while self.i < self.b.len() && self.b[self.i] != b'\n' {
                        self.i += 1;
                    }
                }
                _ => return,
            }
        }
    }

    fn value(&mut self, depth: u32) -> R<V<'a>> {
        if depth > MAX_DEPTH {
            return Err("values nested too deep".into());
        }
        self.ws();
        let Some(&c) = self.b.get(self.i) else {
            return Err("unexpected end of the text".into());
        };
        match c {
            b'{' => {
                self.i += 1;
                let mut kv: Vec<(V<'a>, V<'a>)> = Vec::new();
                loop {
                    self.ws();
                    match self.b.get(self.i) {
                        None => return Err("unclosed map".into()),
                        Some(b'}') => {
                            self.i += 1;
                            break;
                        }
                        _ => {}
                    }
                    let k = self.value(depth + 1)?;
                    self.ws();
                    if self.b.get(self.i) == Some(&b'}') {
                        return Err("map with an odd number of forms".into());
                    }
                    let v = self.value(depth + 1)?;
                    match &k {
                        V::Str(_) | V::Int(_) => {}
                        _ => {
                            return Err("a map key that is not a keyword, string or integer".into())
                        }
                    }
                    if kv.iter().any(|(k2, _)| same_key(k2, &k)) {
                        return Err("a duplicate map key".into());
                    }
                    kv.push((k, v));
                }
                Ok(V::Map(kv))
            }
            b'[' | b'(' => {
                let close = if c == b'[' { b']' } else { b')' };
                self.i += 1;
                let mut items = Vec::new();
                loop {
                    self.ws();
                    match self.b.get(self.i) {
                        None => return Err("unclosed vector".into()),
                        Some(&x) if x == close => {
                            self.i += 1;
                            break;
                        }
                        _ => {}
                    }
                    items.push(self.value(depth + 1)?);
                }
                Ok(V::List(items))
            }
            b'"' => self.string(),
            _ => {
                let start = self.i;
                while self.i < self.b.len() && !is_delim(self.b[self.i]) {
                    if !atom_char(self.b[self.i]) {
                        return Err(format!("byte {:#04x} outside a string", self.b[self.i]));
                    }
                    self.i += 1;
                }
                let tok = &self.b[start..self.i];
                if tok.is_empty() {
                    return Err(format!("unexpected {:?}", c as char));
                }
                atom(tok, &self.s[start..self.i])
            }
        }
    }

    fn string(&mut self) -> R<V<'a>> {
        self.i += 1;
        let start = self.i;
        let mut owned: Option<String> = None;
        let mut run = start;
        loop {
            let Some(&c) = self.b.get(self.i) else {
                return Err("unterminated string".into());
            };
            match c {
                b'"' => {
                    let out = match owned {
                        None => Cow::Borrowed(&self.s[start..self.i]),
                        Some(mut o) => {
                            o.push_str(&self.s[run..self.i]);
                            Cow::Owned(o)
                        }
                    };
                    self.i += 1;
                    return Ok(V::Str(out));
                }
                b'\\' => {
                    let o = owned.get_or_insert_with(String::new);
                    o.push_str(&self.s[run..self.i]);
                    let e = self.b.get(self.i + 1).copied().unwrap_or(0);
                    o.push(match e {
                        b'n' => '\n',
                        b't' => '\t',
                        b'r' => '\r',
                        b'"' => '"',
                        b'\\' => '\\',
                        _ => return Err("a string escape other than \\n \\t \\r \\\" \\\\".into()),
                    });
                    self.i += 2;
                    run = self.i;
                }
                c if c < 0x20 || c == 0x7f => {
                    return Err("a control character in a string".into());
                }
                _ => self.i += 1,
            }
        }
    }
}

fn same_key(a: &V, b: &V) -> bool {
    match (a, b) {
        (V::Str(x), V::Str(y)) => x == y,
        (V::Int(x), V::Int(y)) => x == y,
        _ => false,
    }
}

fn atom<'a>(tok: &[u8], s: &'a str) -> R<V<'a>> {
    match tok {
        b"nil" => return Ok(V::Nil),
        b"true" => return Ok(V::Bool(true)),
        b"false" => return Ok(V::Bool(false)),
        _ => {}
    }
    let c = tok[0];
    if c == b':' {
        if tok.len() == 1 {
            return Err("empty keyword".into());
        }
        return Ok(V::Str(Cow::Borrowed(&s[1..])));
    }
    if c.is_ascii_digit() || ((c == b'+' || c == b'-') && tok.len() > 1 && tok[1].is_ascii_digit())
    {
        // Python: [+-]?\d+N? is an int; floats, ratios and anything else: give up
        let (neg, mut rest) = match c {
            b'-' => (true, &tok[1..]),
            b'+' => (false, &tok[1..]),
            _ => (false, tok),
        };
        if rest.last() == Some(&b'N') {
            rest = &rest[..rest.len() - 1];
        }
        if rest.is_empty() || !rest.iter().all(u8::is_ascii_digit) {
            return Err("a number that is not a plain integer".into());
        }
        let mut n: i128 = 0;
        for &d in rest {
            n = n * 10 + i128::from(d - b'0');
            if n > i128::from(i64::MAX) + 1 {
                return Err("an integer past 64 bits".into());
            }
        }
        let n = if neg { -n } else { n };
        return i64::try_from(n)
            .map(V::Int)
            .map_err(|_| "an integer past 64 bits".into());
    }
    Err("a symbol".into())
}

/// Python's _is_txn: a list whose every element is a non-empty list headed by a string.
fn is_txn(v: &V) -> bool {
    match v {
        V::List(items) => items.iter().all(|m| match m {
            V::List(x) => matches!(x.first(), Some(V::Str(_))),
            _ => false,
        }),
        _ => false,
    }
}

/// json.dumps(s, ensure_ascii=False)
fn json_str(s: &str, out: &mut String) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// harness.edn.dumps_value (no floats, sets or tuples reach it here)
fn dumps(v: &V, out: &mut String) {
    match v {
        V::Nil => out.push_str("nil"),
        V::Bool(true) => out.push_str("true"),
        V::Bool(false) => out.push_str("false"),
        V::Int(i) => out.push_str(&i.to_string()),
        V::Str(s) => json_str(s, out),
        V::List(items) => {
            out.push('[');
            for (j, x) in items.iter().enumerate() {
                if j > 0 {
                    out.push(' ');
                }
                dumps(x, out);
            }
            out.push(']');
        }
        V::Map(kv) => {
            out.push('{');
            for (j, (k, x)) in kv.iter().enumerate() {
                if j > 0 {
                    out.push_str(", ");
                }
                dumps(k, out);
                out.push(' ');
                dumps(x, out);
            }
            out.push('}');
        }
    }
}

/// harness.edn._text: Op.node and Op.error are text
fn text<'a>(v: V<'a>) -> Option<Cow<'a, str>> {
    match v {
        V::Nil => None,
        V::Str(s) => Some(s),
        other => {
            let mut s = String::new();
            dumps(&other, &mut s);
            Some(Cow::Owned(s))
        }
    }
}

const CORE: [&str; 8] = [
    "index", "time", "process", "type", "f", "value", "node", "error",
];

/// harness.edn._op (through _plain_op/plain_op or make_op), for the shapes read here.
fn op_of<'a>(kv: Vec<(V<'a>, V<'a>)>, position: i64, line: i64) -> R<RawOp<'a>> {
    let mut core: [Option<V<'a>>; 8] = Default::default();
    let mut extra = Vec::new();
    for (k, v) in kv {
        let V::Str(k) = k else {
            return Err("an op key that is not a keyword or string".into());
        };
        match CORE.iter().position(|c| *c == k) {
            Some(j) => core[j] = Some(v),
            None => extra.push((k, v)),
        }
    }
    let [index, time, process, typ, f, value, node, error] = core;
    let typ = match typ {
        Some(V::Str(t)) => match &*t {
            "invoke" => "invoke",
            "ok" => "ok",
            "fail" => "fail",
            "info" => "info",
            _ => return Err("a :type other than invoke/ok/fail/info".into()),
        },
        _ => return Err("no :type keyword".into()),
    };
    let index = match index {
        None => position,
        Some(V::Int(i)) if i >= 0 => i,
        Some(_) => return Err("an :index that is no non-negative integer".into()),
    };
    let time = match time {
        None => -1,
        Some(V::Int(t)) if t >= -1 => t,
        Some(_) => return Err("a :time that is no integer from -1".into()),
    };
    let process = match process {
        None | Some(V::Nil) => Proc::None,
        Some(V::Int(p)) if p >= -MAX_INT => Proc::Int(p),
        Some(V::Str(s)) => Proc::Str(s),
        Some(_) => return Err("a :process that is no integer or name".into()),
    };
    let value = value.unwrap_or(V::Nil);
    let f = match f {
        None if is_txn(&value) => return Err("a transaction (Elle's omitted :f)".into()),
        None | Some(V::Nil) => Cow::Borrowed(""),
        Some(V::Str(f)) => f,
        Some(_) => return Err("an :f that is no name".into()),
    };
    if f != "txn" && is_txn(&value) && matches!(&value, V::List(x) if !x.is_empty()) {
        return Err("micro-ops under an :f other than :txn".into());
    }
    Ok(RawOp {
        index,
        time,
        process,
        typ,
        f,
        value,
        node: node.and_then(text),
        error: error.and_then(text),
        extra,
        line,
    })
}

/// Each op of an EDN history in turn, handed to `each` as soon as it is read (so a big
/// history's parsed values are never all held at once); the number of ops, or why not.
pub fn read_each<'a>(bytes: &'a [u8], mut each: impl FnMut(RawOp<'a>) -> R<()>) -> R<usize> {
    let s = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())?;
    // Python reads text with universal newlines: a lone CR is a line break there
    let mut prev = 0u8;
    for &c in bytes {
        if prev == b'\r' && c != b'\n' {
            return Err("a carriage return without a line feed".into());
        }
        prev = c;
    }
    if prev == b'\r' {
        return Err("a carriage return without a line feed".into());
    }
    let mut p = P {
        b: bytes,
        s,
        i: 0,
        line: 1,
    };
    let mut count = 0usize;
    p.ws();
    let vector = matches!(p.b.get(p.i), Some(b'[') | Some(b'('));
    let close = match p.b.get(p.i) {
        Some(b'[') => b']',
        _ => b')',
    };
    if vector {
        p.i += 1;
    }
    loop {
        p.ws();
        match p.b.get(p.i) {
            None if vector => return Err("the top-level vector is never closed".into()),
            None => break,
            Some(&c) if vector && c == close => {
                p.i += 1;
                p.ws();
                if p.i < p.b.len() {
                    return Err("forms after the top-level vector".into());
                }
                break;
            }
            Some(b'{') => {}
            Some(_) => return Err("a top-level form that is not an op map".into()),
        }
        let line = p.line;
        let V::Map(kv) = p.value(1)? else {
            unreachable!("a form starting with a brace is a map")
        };
        each(op_of(kv, count as i64, line)?)?;
        count += 1;
    }
    if count == 0 {
        return Err("no ops".into());
    }
    Ok(count)
}

/// A Jepsen log's keyword as harness/jepsen_log.py `_name` reads it: `:` and a name of
/// ASCII letters, digits and dashes with at least one letter or digit.
fn log_name(tok: &str) -> Option<&str> {
    let name = tok.strip_prefix(':')?;
    let ok = name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
        && name.bytes().any(|c| c.is_ascii_alphanumeric());
    ok.then_some(name)
}

/// A simple keyword as harness.edn reads it (a letter, then letters, digits and dashes).
fn log_keyword(tok: &str) -> Option<&str> {
    let name = tok.strip_prefix(':')?;
    let mut b = name.bytes();
    let first = b.next()?;
    (first.is_ascii_alphabetic() && b.all(|c| c.is_ascii_alphanumeric() || c == b'-'))
        .then_some(name)
}

/// An integer `-?\d+` of at most 18 digits (leading zeros allowed, as int() reads them).
fn log_int(tok: &str) -> Option<i64> {
    let digits = tok.strip_prefix('-').unwrap_or(tok);
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    tok.parse().ok()
}

/// harness/jepsen_log.py `_value`, for the shapes register logs have: nil (or nothing), an
/// integer, [a b] of integers, a simple keyword. Anything else: None (give up).
fn log_value(text: &str) -> Option<V<'_>> {
    if text.is_empty() || text == "nil" {
        return Some(V::Nil);
    }
    if let Some(i) = log_int(text) {
        return Some(V::Int(i));
    }
    if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        let mut parts = inner.split([' ', '\t']).filter(|p| !p.is_empty());
        let (a, b) = (parts.next()?, parts.next()?);
        // Python's pair pattern wants the first integer right after the bracket
        if parts.next().is_some() || inner.starts_with([' ', '\t']) || inner.ends_with([' ', '\t'])
        {
            return None;
        }
        return Some(V::List(vec![V::Int(log_int(a)?), V::Int(log_int(b)?)]));
    }
    log_keyword(text).map(|k| V::Str(Cow::Borrowed(k)))
}

/// Each op of a Jepsen log (harness/jepsen_log.py `read`): the lines
/// `LEVEL jepsen.util - PROCESS TYPE F VALUE`, each an op numbered by its position, no time;
/// other lines skipped. Only printable ASCII, tabs and line feeds are read (Python splits
/// lines at more characters than these); a field it does not read surely is a give-up.
pub fn read_log_each<'a>(bytes: &'a [u8], mut each: impl FnMut(RawOp<'a>) -> R<()>) -> R<usize> {
    if let Some(c) = bytes
        .iter()
        .find(|&&c| !(c == b'\t' || c == b'\n' || (0x20..0x7f).contains(&c)))
    {
        return Err(format!("a byte 0x{c:02x} the log reader does not read"));
    }
    let s = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())?;
    let mut count = 0usize;
    for (n, line) in s.split('\n').enumerate() {
        if line.is_empty() || line.starts_with([' ', '\t']) {
            continue; // `^\S+` cannot match
        }
        let mut rest = line;
        let mut toks: [&str; 6] = [""; 6];
        let mut found = 0;
        while found < 6 {
            rest = rest.trim_start_matches([' ', '\t']);
            if rest.is_empty() {
                break;
            }
            let end = rest.find([' ', '\t']).unwrap_or(rest.len());
            toks[found] = &rest[..end];
            rest = &rest[end..];
            found += 1;
            // each of the first five tokens must be followed by whitespace
            if found < 6 && rest.is_empty() {
                break;
            }
        }
        if found < 6 || toks[1] != "jepsen.util" || toks[2] != "-" {
            continue; // not an op line
        }
        let [_, _, _, process, typ, f] = toks;
        let value_text = rest.trim_matches([' ', '\t']);
        let process = if process.bytes().all(|c| c.is_ascii_digit()) {
            match log_int(process) {
                Some(p) => Proc::Int(p),
                None => return Err("a process past 18 digits".into()),
            }
        } else {
            match log_keyword(process) {
                Some(p) => Proc::Str(Cow::Borrowed(p)),
                None => return Err("a process that is no integer or simple keyword".into()),
            }
        };
        let typ = match log_name(typ) {
            Some("invoke") => "invoke",
            Some("ok") => "ok",
            Some("fail") => "fail",
            Some("info") => "info",
            _ => return Err("a type other than :invoke :ok :fail :info".into()),
        };
        let Some(f) = log_name(f) else {
            return Err("an f that is no simple keyword".into());
        };
        let Some(value) = log_value(value_text) else {
            return Err("a value other than nil, an integer, [a b] or a keyword".into());
        };
        each(RawOp {
            index: count as i64,
            time: -1,
            process,
            typ,
            f: Cow::Borrowed(f),
            value,
            node: None,
            error: None,
            extra: Vec::new(),
            line: n as i64 + 1,
        })?;
        count += 1;
    }
    Ok(count)
}
