//! History reader: JSONL (one op object per line, as the harness writes it) and Jepsen EDN
//! (op maps one per line, or top-level vectors of op maps), straight from bytes into columns.
//!
//! It accepts a strict subset of what harness/history.py and harness/edn.py accept, and reads
//! it to the same values: anything outside the subset (a float, a tag, a set in a transaction,
//! an escape in a key, a big integer, a duplicate op field, invalid UTF-8, ...) is a `Bail`,
//! and the caller falls back to the Python path. Never a guess.

use crate::fx::FxMap;

pub type Bail = &'static str;
pub type R<T> = Result<T, Bail>;

/// A scalar of a transaction (key or value): an integer or a string (EDN keywords and
/// symbols are strings too, as in harness/edn.py). Strings are interned to ids.
/// Packed in 8 bytes: an integer i as i << 1, a string id as id << 1 | 1 (the reader takes
/// integers of at most 18 digits, well inside 62 bits).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Sc(u64);

impl Sc {
    pub const fn int(i: i64) -> Sc {
        Sc((i as u64) << 1)
    }
    pub const fn str(id: u32) -> Sc {
        Sc(((id as u64) << 1) | 1)
    }
    pub fn str_id(self) -> Option<u32> {
        if self.0 & 1 == 1 {
            Some((self.0 >> 1) as u32)
        } else {
            None
        }
    }
}

pub const INVOKE: u8 = 0;
pub const OK: u8 = 1;
pub const FAIL: u8 = 2;
pub const INFO: u8 = 3;

#[derive(Clone, Copy)]
pub struct Mop {
    pub append: bool,
    pub key: u32,     // key id (History::nkeys of them)
    pub v: Sc,        // the appended value (append)
    pub r_start: u32, // the read's values in Ops::rvals (r); a nil read has len 0
    pub r_len: u32,
}

pub const NO_MOPS: u32 = u32::MAX;

pub struct Op {
    pub index: i64,
    pub index_default: bool, // no index given: the op's position (made global by merge)
    pub time: i64,
    pub process: Sc,
    pub typ: u8,
    pub f: u32, // interned
    pub value_nil: bool,
    pub mop_start: u32, // NO_MOPS: the value is not a list of micro-ops
    pub mop_len: u32,
    pub span: (u32, u32), // the op's bytes in the file (lib.rs read_ops_at reads them again)
}

/// The ops of a file, in parts (one per reader thread), with global offsets: an op's
/// micro-ops and a read's values are always within one part.
pub struct History {
    parts: Vec<Builder>,
    op0: usize, // index of the first op of parts[1] (usize::MAX: one part)
    mop0: u32,
    rval0: u32,
    pub nkeys: usize,
}

impl History {
    pub fn len(&self) -> usize {
        self.parts.iter().map(|p| p.ops.len()).sum()
    }
    pub fn n_mops(&self) -> usize {
        self.parts.iter().map(|p| p.mops.len()).sum()
    }
    #[inline]
    pub fn op(&self, i: usize) -> &Op {
        if i < self.op0 {
            &self.parts[0].ops[i]
        } else {
            &self.parts[1].ops[i - self.op0]
        }
    }
    pub fn ops(&self) -> impl Iterator<Item = &Op> {
        self.parts.iter().flat_map(|p| p.ops.iter())
    }
    #[inline]
    pub fn mops(&self, start: u32, len: u32) -> &[Mop] {
        let (p, s) = if start < self.mop0 {
            (0, start)
        } else {
            (1, start - self.mop0)
        };
        &self.parts[p].mops[s as usize..(s + len) as usize]
    }
    #[inline]
    pub fn rvals(&self, start: u32, len: u32) -> &[Sc] {
        if len == 0 {
            return &[];
        }
        let (p, s) = if start < self.rval0 {
            (0, start)
        } else {
            (1, start - self.rval0)
        };
        &self.parts[p].rvals[s as usize..(s + len) as usize]
    }
}

#[derive(Default)]
pub struct Strings {
    ids: FxMap<Vec<u8>, u32>,
}

impl Strings {
    pub fn id(&mut self, s: &[u8]) -> u32 {
        if let Some(&i) = self.ids.get(s) {
            return i;
        }
        let i = self.ids.len() as u32;
        self.ids.insert(s.to_vec(), i);
        i
    }
}

const MAX_DEPTH: u32 = 50; // Python refuses past 100; past 50 we leave it to Python
const MAX_DIGITS: usize = 18; // always fits an i64; longer numbers go to Python

// A value tree in an arena reused for every op (no allocation per op).
const NIL: u8 = 0;
const BOOL: u8 = 1;
const INT: u8 = 2;
const STR: u8 = 3; // a string without escapes (or a keyword / symbol): s..s+len in the text
const ESTR: u8 = 4; // a string with (valid) escapes: usable only where the text is ignored
const LIST: u8 = 5; // vector or list
const MAP: u8 = 6;
const SET: u8 = 7;
const FLOAT: u8 = 8; // a number that is not a plain integer: usable only where it is ignored

#[derive(Clone, Copy)]
struct Node {
    tag: u8,
    int: i64,
    s: u32,
    len: u32, // string length, or number of children
    first: u32,
    next: u32,
}

const NONE: u32 = u32::MAX;

struct Parser<'a> {
    b: &'a [u8],
    p: usize,
    nodes: Vec<Node>,
    edn: bool,
}

fn is_edn_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b',')
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
    ) || !(0x20..0x7f).contains(&c)
}

impl<'a> Parser<'a> {
    fn push(&mut self, tag: u8) -> u32 {
        self.nodes.push(Node {
            tag,
            int: 0,
            s: 0,
            len: 0,
            first: NONE,
            next: NONE,
        });
        (self.nodes.len() - 1) as u32
    }

    // -- EDN ---------------------------------------------------------------------------
    fn edn_skip(&mut self) -> R<()> {
        while self.p < self.b.len() {
            let c = self.b[self.p];
            if is_edn_ws(c) {
                self.p += 1;
            } else if c == b';' {
                // Python reads EDN as text with universal newlines: a lone \r ends a line too
                while self.p < self.b.len() && !matches!(self.b[self.p], b'\n' | b'\r') {
                    self.p += 1;
                }
            } else if !(0x20..0x7f).contains(&c) {
                return Err("an odd character between EDN forms");
            } else {
                break;
            }
        }
        Ok(())
    }

    fn string(&mut self) -> R<u32> {
        // at the opening quote
        let start = self.p + 1;
        let mut i = start;
        let mut esc = false;
        let b = self.b;
        loop {
            if i >= b.len() {
                return Err("unterminated string");
            }
            let c = b[i];
            if c == b'"' {
                break;
            }
            if c == b'\\' {
                esc = true;
                let e = *b.get(i + 1).ok_or("unterminated string")?;
                if e == b'u' {
                    let hex = b.get(i + 2..i + 6).ok_or("short \\u escape")?;
                    if !hex.iter().all(|h| h.is_ascii_hexdigit()) {
                        return Err("bad \\u escape");
                    }
                    if !self.edn {
                        return Err("a \\u escape in JSON"); // surrogates: leave them to Python
                    }
                    i += 6;
                    continue;
                }
                if !matches!(e, b'n' | b't' | b'r' | b'"' | b'\\' | b'b' | b'f' | b'/') {
                    return Err("unknown string escape");
                }
                i += 2;
                continue;
            }
            if !self.edn && c < 0x20 {
                return Err("a control character in a JSON string");
            }
            i += 1;
        }
        self.p = i + 1;
        let n = self.push(if esc { ESTR } else { STR });
        let node = &mut self.nodes[n as usize];
        node.s = start as u32;
        node.len = (i - start) as u32;
        Ok(n)
    }

    fn int_of(tok: &[u8]) -> R<i64> {
        let (neg, digits) = match tok.first() {
            Some(b'-') => (true, &tok[1..]),
            _ => (false, tok),
        };
        if digits.is_empty() || digits.len() > MAX_DIGITS || !digits.iter().all(u8::is_ascii_digit)
        {
            return Err("a number that is not a plain integer");
        }
        if digits.len() > 1 && digits[0] == b'0' {
            return Err("an integer with a leading zero");
        }
        let mut v: i64 = 0;
        for &d in digits {
            v = v * 10 + (d - b'0') as i64;
        }
        Ok(if neg { -v } else { v })
    }

    fn edn_value(&mut self, depth: u32) -> R<u32> {
        self.edn_skip()?;
        let b = self.b;
        let c = *b.get(self.p).ok_or("EDN ends inside a form")?;
        match c {
            b'"' => self.string(),
            b'[' | b'(' | b'{' => {
                self.p += 1;
                let close = match c {
                    b'[' => b']',
                    b'(' => b')',
                    _ => b'}',
                };
                self.edn_coll(if c == b'{' { MAP } else { LIST }, close, depth)
            }
            b'#' => {
                if b.get(self.p + 1) == Some(&b'{') {
                    self.p += 2;
                    self.edn_coll(SET, b'}', depth)
                } else {
                    Err("an EDN tag, discard or symbolic value")
                }
            }
            b']' | b')' | b'}' => Err("an unexpected closing bracket"),
            b'\\' => Err("an EDN character literal"),
            b'\'' => Err("a quote character"),
            _ => {
                let start = self.p;
                let mut i = start;
                while i < b.len() && !is_delim(b[i]) {
                    i += 1;
                }
                if i < b.len() && b[i] >= 0x7f {
                    return Err("a non-ASCII atom");
                }
                if i < b.len() && b[i] < 0x20 && !is_edn_ws(b[i]) {
                    return Err("a control character after an atom");
                }
                self.p = i;
                let tok = &b[start..i];
                match tok {
                    b"nil" => Ok(self.push(NIL)),
                    b"true" | b"false" => Ok(self.push(BOOL)),
                    _ => {
                        let c0 = tok[0];
                        if c0 == b':' {
                            if tok.len() == 1 {
                                return Err("an empty keyword");
                            }
                            let n = self.push(STR);
                            self.nodes[n as usize].s = (start + 1) as u32;
                            self.nodes[n as usize].len = (tok.len() - 1) as u32;
                            return Ok(n);
                        }
                        if c0.is_ascii_digit()
                            || ((c0 == b'+' || c0 == b'-')
                                && tok.len() > 1
                                && tok[1].is_ascii_digit())
                        {
                            if let Ok(v) = Self::int_of(tok) {
                                let n = self.push(INT);
                                self.nodes[n as usize].int = v;
                                return Ok(n);
                            }
                            if edn_float(tok) {
                                return Ok(self.push(FLOAT));
                            }
                            return Err("a malformed number");
                        }
                        // a symbol: a string, as harness/edn.py reads it
                        let n = self.push(STR);
                        self.nodes[n as usize].s = start as u32;
                        self.nodes[n as usize].len = tok.len() as u32;
                        Ok(n)
                    }
                }
            }
        }
    }

    fn edn_coll(&mut self, tag: u8, close: u8, depth: u32) -> R<u32> {
        if depth >= MAX_DEPTH {
            return Err("values nested deep");
        }
        let n = self.push(tag);
        let mut last = NONE;
        let mut count = 0u32;
        loop {
            self.edn_skip()?;
            let c = *self.b.get(self.p).ok_or("EDN ends inside a collection")?;
            if c == close {
                self.p += 1;
                break;
            }
            if matches!(c, b']' | b')' | b'}') {
                return Err("a collection closed by the wrong bracket");
            }
            let child = self.edn_value(depth + 1)?;
            if last == NONE {
                self.nodes[n as usize].first = child;
            } else {
                self.nodes[last as usize].next = child;
            }
            last = child;
            count += 1;
        }
        if tag == MAP && count % 2 == 1 {
            return Err("a map with an odd number of forms");
        }
        self.nodes[n as usize].len = count;
        Ok(n)
    }

    // -- JSON (one line) ------------------------------------------------------------------
    fn json_skip(&mut self) {
        while self.p < self.b.len() && matches!(self.b[self.p], b' ' | b'\t' | b'\r') {
            self.p += 1;
        }
    }

    fn json_value(&mut self, depth: u32) -> R<u32> {
        self.json_skip();
        let b = self.b;
        let c = *b.get(self.p).ok_or("a JSON line ends inside a value")?;
        match c {
            b'"' => self.string(),
            b'[' | b'{' => {
                if depth >= MAX_DEPTH {
                    return Err("values nested deep");
                }
                self.p += 1;
                let is_map = c == b'{';
                let close = if is_map { b'}' } else { b']' };
                let n = self.push(if is_map { MAP } else { LIST });
                let mut last = NONE;
                let mut count = 0u32;
                self.json_skip();
                if b.get(self.p) == Some(&close) {
                    self.p += 1;
                    return Ok(n);
                }
                loop {
                    if is_map {
                        self.json_skip();
                        if b.get(self.p) != Some(&b'"') {
                            return Err("a JSON object key that is not a string");
                        }
                        let k = self.string()?;
                        if last == NONE {
                            self.nodes[n as usize].first = k;
                        } else {
                            self.nodes[last as usize].next = k;
                        }
                        last = k;
                        self.json_skip();
                        if b.get(self.p) != Some(&b':') {
                            return Err("a JSON object without ':'");
                        }
                        self.p += 1;
                        count += 1;
                    }
                    let v = self.json_value(depth + 1)?;
                    if last == NONE {
                        self.nodes[n as usize].first = v;
                    } else {
                        self.nodes[last as usize].next = v;
                    }
                    last = v;
                    count += 1;
                    self.json_skip();
                    match b.get(self.p) {
                        Some(&b',') => self.p += 1,
                        Some(&x) if x == close => {
                            self.p += 1;
                            break;
                        }
                        _ => return Err("malformed JSON collection"),
                    }
                }
                self.nodes[n as usize].len = count;
                Ok(n)
            }
            b'n' | b't' | b'f' => {
                for (word, tag) in [(&b"null"[..], NIL), (b"true", BOOL), (b"false", BOOL)] {
                    if b[self.p..].starts_with(word) {
                        self.p += word.len();
                        return Ok(self.push(tag));
                    }
                }
                Err("a JSON literal that is not null/true/false")
            }
            b'-' | b'0'..=b'9' => {
                let start = self.p;
                let mut i = start + 1;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                if i < b.len() && matches!(b[i], b'.' | b'e' | b'E') {
                    Self::int_of(&b[start..i])?; // JSON's integer part: no leading zero
                    let mut j = i;
                    if b[j] == b'.' {
                        j += 1;
                        let d = j;
                        while j < b.len() && b[j].is_ascii_digit() {
                            j += 1;
                        }
                        if j == d {
                            return Err("a JSON number without fraction digits");
                        }
                    }
                    if j < b.len() && matches!(b[j], b'e' | b'E') {
                        j += 1;
                        if j < b.len() && matches!(b[j], b'+' | b'-') {
                            j += 1;
                        }
                        let d = j;
                        while j < b.len() && b[j].is_ascii_digit() {
                            j += 1;
                        }
                        if j == d {
                            return Err("a JSON number without exponent digits");
                        }
                    }
                    self.p = j;
                    return Ok(self.push(FLOAT));
                }
                self.p = i;
                let v = Self::int_of(&b[start..i])?;
                let n = self.push(INT);
                self.nodes[n as usize].int = v;
                Ok(n)
            }
            _ => Err("not a JSON value"),
        }
    }
}

pub struct Builder {
    ops: Vec<Op>,
    mops: Vec<Mop>,
    rvals: Vec<Sc>,
    strings: Strings,
    key_ids: FxMap<Sc, u32>,
    s_append: u32,
    s_r: u32,
}

const TYPES: [(&[u8], u8); 4] = [
    (b"invoke", INVOKE),
    (b"ok", OK),
    (b"fail", FAIL),
    (b"info", INFO),
];

impl Builder {
    fn new() -> Self {
        let mut strings = Strings::default();
        let s_append = strings.id(b"append");
        let s_r = strings.id(b"r");
        strings.id(b"txn");
        strings.id(b"nemesis");
        strings.id(b"\xff");
        Builder {
            ops: Vec::new(),
            mops: Vec::new(),
            rvals: Vec::new(),
            strings,
            key_ids: FxMap::default(),
            s_append,
            s_r,
        }
    }

    fn text<'b>(b: &'b [u8], n: &Node) -> &'b [u8] {
        &b[n.s as usize..(n.s + n.len) as usize]
    }

    fn scalar(&mut self, b: &[u8], n: &Node) -> R<Sc> {
        match n.tag {
            INT => Ok(Sc::int(n.int)),
            STR => {
                let t = Self::text(b, n);
                if t.contains(&b'\r') {
                    // EDN read as text: Python sees \r and \r\n as \n (JSON: a control
                    // character, refused by the string reader already)
                    return Err("a carriage return in a key or value");
                }
                Ok(Sc::str(self.strings.id(t)))
            }
            _ => Err("a key or value that is not an integer or a plain string"),
        }
    }

    /// The micro-ops of a txn value, or Err: a value Python reads differently or refuses.
    fn mops_of(&mut self, b: &[u8], nodes: &[Node], v: u32) -> R<(u32, u32)> {
        let list = &nodes[v as usize];
        if list.tag != LIST {
            return Err("a txn value that is not a list of micro-ops");
        }
        let start = self.mops.len() as u32;
        let mut c = list.first;
        while c != NONE {
            let m = nodes[c as usize];
            if m.tag != LIST || m.len != 3 {
                return Err("a micro-op that is not an [f k v] triple");
            }
            let fnode = nodes[m.first as usize];
            let knode = nodes[fnode.next as usize];
            let vnode = nodes[knode.next as usize];
            if fnode.tag != STR {
                return Err("a micro-op function that is not a name");
            }
            let f = Self::text(b, &fnode);
            let key_sc = self.scalar(b, &knode)?;
            let next = self.key_ids.len() as u32;
            let key = *self.key_ids.entry(key_sc).or_insert(next);
            if f == b"append" {
                let val = self.scalar(b, &vnode)?;
                self.mops.push(Mop {
                    append: true,
                    key,
                    v: val,
                    r_start: 0,
                    r_len: 0,
                });
            } else if f == b"r" {
                let r_start = self.rvals.len() as u32;
                match vnode.tag {
                    NIL => {}
                    LIST => {
                        let mut e = vnode.first;
                        while e != NONE {
                            let en = nodes[e as usize];
                            let s = self.scalar(b, &en)?;
                            self.rvals.push(s);
                            e = en.next;
                        }
                    }
                    _ => return Err("a read that is not a list"),
                }
                let r_len = self.rvals.len() as u32 - r_start;
                self.mops.push(Mop {
                    append: false,
                    key,
                    v: Sc::int(0),
                    r_start,
                    r_len,
                });
            } else {
                return Err("a micro-op function other than append and r");
            }
            c = m.next;
        }
        let _ = (self.s_append, self.s_r);
        Ok((start, self.mops.len() as u32 - start))
    }

    fn op(
        &mut self,
        b: &[u8],
        nodes: &[Node],
        root: u32,
        edn: bool,
        span: (usize, usize),
    ) -> R<()> {
        let m = nodes[root as usize];
        if m.tag != MAP {
            return Err("an op that is not a map");
        }
        let (mut index, mut time, mut process, mut typ, mut f, mut value) =
            (None, None, None, None, None, None);
        let mut c = m.first;
        while c != NONE {
            let k = nodes[c as usize];
            let v = k.next;
            let vn = nodes[v as usize];
            c = vn.next;
            if k.tag != STR {
                if k.tag == ESTR {
                    return Err("an op key with an escape");
                }
                continue; // not a core key (EDN): an extra field, which no checker reads
            }
            let slot = match Self::text(b, &k) {
                b"index" => &mut index,
                b"time" => &mut time,
                b"process" => &mut process,
                b"type" => &mut typ,
                b"f" => &mut f,
                b"value" => &mut value,
                b"node" => {
                    if !edn && vn.tag != NIL && vn.tag != STR && vn.tag != ESTR {
                        return Err("a node that is not a string");
                    }
                    continue;
                }
                _ => continue, // error and extra fields: whatever they hold, no checker reads
            };
            if slot.is_some() {
                return Err("an op field given twice");
            }
            *slot = Some(v);
        }
        let get_int = |x: u32, lo: i64| -> R<i64> {
            let n = nodes[x as usize];
            if n.tag != INT || n.int < lo {
                return Err("an index or time that is not a plain non-negative integer");
            }
            Ok(n.int)
        };
        // Missing fields as Python reads them: index = the op's position, time = -1;
        // in EDN also process = None and f = "txn" for a value of micro-op lists, else "".
        let (index, index_default) = match index {
            Some(x) => (get_int(x, 0)?, false),
            // the op's position in the whole history, in both formats (harness/edn.py too)
            None => (self.ops.len() as i64, true),
        };
        let time = match time {
            Some(x) => get_int(x, -1)?,
            None => -1,
        };
        let process = match process {
            Some(x) => self.scalar(b, &nodes[x as usize])?,
            None if edn => Sc::str(S_NONE),
            None => return Err("an op without a process"),
        };
        let tn = nodes[typ.ok_or("an op without a type")? as usize];
        if tn.tag != STR {
            return Err("a type that is not a name");
        }
        let tt = Self::text(b, &tn);
        let typ = TYPES
            .iter()
            .find(|(w, _)| *w == tt)
            .ok_or("an unknown op type")?
            .1;
        let f = match f {
            Some(x) => {
                let fnode = nodes[x as usize];
                if fnode.tag != STR {
                    return Err("an f that is not a plain name");
                }
                self.strings.id(Self::text(b, &fnode))
            }
            None if edn => {
                if value.is_some_and(|v| looks_like_txn(nodes, v)) {
                    S_TXN
                } else {
                    self.strings.id(b"")
                }
            }
            None => return Err("an op without f"),
        };
        let (value_nil, mop_start, mop_len) = match value {
            None => (true, NO_MOPS, 0),
            Some(v) => {
                let vn = nodes[v as usize];
                if vn.tag == NIL {
                    (true, NO_MOPS, 0)
                } else if f == S_TXN {
                    // f txn: micro-ops, or Python's way with it (an error, or tuples) is kept
                    let (s, n) = self.mops_of(b, nodes, v)?;
                    (false, s, n)
                } else {
                    (false, NO_MOPS, 0)
                }
            }
        };
        self.ops.push(Op {
            index,
            index_default,
            time,
            process,
            typ,
            f,
            value_nil,
            mop_start,
            mop_len,
            span: (span.0 as u32, span.1 as u32),
        });
        Ok(())
    }
}

pub const S_TXN: u32 = 2;
pub const S_NEMESIS: u32 = 3;
pub const S_NONE: u32 = 4; // a missing EDN process (Python's None): no text is this byte

/// harness/edn.py _is_txn: a list of non-empty lists, each headed by a string.
fn looks_like_txn(nodes: &[Node], v: u32) -> bool {
    let n = nodes[v as usize];
    if n.tag != LIST {
        return false;
    }
    let mut c = n.first;
    while c != NONE {
        let m = nodes[c as usize];
        if m.tag != LIST || m.len == 0 || !matches!(nodes[m.first as usize].tag, STR | ESTR) {
            return false;
        }
        c = m.next;
    }
    true
}

/// Read a whole history. Big files are read in two halves on two threads when the split
/// point (a line start) is provably a boundary between top-level forms: the first half must
/// read to its very end on its own; if it does not, the whole is read again in one piece.
pub fn read(bytes: &[u8], edn: bool) -> R<History> {
    if std::str::from_utf8(bytes).is_err() {
        return Err("not UTF-8");
    }
    if bytes.len() >= u32::MAX as usize {
        return Err("a file too big for 32-bit offsets");
    }
    // SPLITBRAIN_NATIVE_SPLIT_BYTES: the size from which to split (tests split small files)
    let from = std::env::var("SPLITBRAIN_NATIVE_SPLIT_BYTES")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(PARALLEL_BYTES);
    let split = if bytes.len() >= from.max(2) {
        split_point(bytes, edn)
    } else {
        None
    };
    let one = |bld: Builder| {
        let nkeys = bld.key_ids.len();
        History {
            parts: vec![bld],
            op0: usize::MAX,
            mop0: u32::MAX,
            rval0: u32::MAX,
            nkeys,
        }
    };
    Ok(match split {
        None => one(read_part(bytes, edn)?),
        Some(at) => {
            let timing = std::env::var_os("SPLITBRAIN_NATIVE_TIMING").is_some();
            let t0 = std::time::Instant::now();
            let (a, b) = std::thread::scope(|sc| {
                let tb = sc.spawn(|| {
                    let r = read_part(&bytes[at..], edn);
                    if timing {
                        eprintln!("native:   second half {:.3} s", t0.elapsed().as_secs_f64());
                    }
                    r
                });
                let a = read_part(&bytes[..at], edn);
                if timing {
                    eprintln!("native:   first half {:.3} s", t0.elapsed().as_secs_f64());
                }
                (a, tb.join().unwrap_or(Err("a reader thread panicked")))
            });
            match (a, b) {
                (Ok(a), Ok(b)) => {
                    let t1 = std::time::Instant::now();
                    let m = merge(a, b, at as u32);
                    if timing {
                        eprintln!("native:   merge {:.3} s", t1.elapsed().as_secs_f64());
                    }
                    m
                }
                (Ok(_), Err(e)) => return Err(e), // the first half is sound: so is the split
                (Err(_), _) => one(read_part(bytes, edn)?), // the split may be inside a form
            }
        }
    })
}

const PARALLEL_BYTES: usize = 4 << 20;

fn split_point(b: &[u8], edn: bool) -> Option<usize> {
    let mid = b.len() / 2;
    let mut i = mid;
    while i + 1 < b.len() {
        if b[i] == b'\n' && (!edn || b[i + 1] == b'{') {
            return Some(i + 1);
        }
        i += 1;
    }
    None
}

/// The two parts as one history: b's string and key ids mapped to a's, and its offsets
/// made global, in place (copying them would cost more than reading them: page faults).
fn merge(mut a: Builder, mut b: Builder, at: u32) -> History {
    let mut sid = vec![0u32; b.strings.ids.len()];
    for (text, &i) in b.strings.ids.iter() {
        sid[i as usize] = a.strings.id(text);
    }
    let sc = |x: Sc| match x.str_id() {
        Some(i) => Sc::str(sid[i as usize]),
        None => x,
    };
    let mut kid = vec![0u32; b.key_ids.len()];
    for (&k, &i) in b.key_ids.iter() {
        let next = a.key_ids.len() as u32;
        kid[i as usize] = *a.key_ids.entry(sc(k)).or_insert(next);
    }
    let (m0, r0) = (a.mops.len() as u32, a.rvals.len() as u32);
    let op0 = a.ops.len();
    for x in b.rvals.iter_mut() {
        *x = sc(*x);
    }
    for m in b.mops.iter_mut() {
        m.key = kid[m.key as usize];
        m.v = sc(m.v);
        m.r_start += r0;
    }
    for o in b.ops.iter_mut() {
        o.process = sc(o.process);
        o.f = sid[o.f as usize];
        if o.mop_start != NO_MOPS {
            o.mop_start += m0;
        }
        if o.index_default {
            o.index += op0 as i64;
        }
        o.span = (o.span.0 + at, o.span.1 + at);
    }
    let nkeys = a.key_ids.len();
    History {
        parts: vec![a, b],
        op0,
        mop0: m0,
        rval0: r0,
        nkeys,
    }
}

fn read_part(bytes: &[u8], edn: bool) -> R<Builder> {
    let mut bld = Builder::new();
    let mut ps = Parser {
        b: bytes,
        p: 0,
        nodes: Vec::with_capacity(256),
        edn,
    };
    if edn {
        loop {
            ps.edn_skip()?;
            if ps.p >= bytes.len() {
                break;
            }
            let c = bytes[ps.p];
            if c == b'[' || c == b'(' {
                let close = if c == b'[' { b']' } else { b')' };
                ps.p += 1;
                loop {
                    ps.edn_skip()?;
                    let c = *bytes.get(ps.p).ok_or("a top-level vector never closed")?;
                    if c == close {
                        ps.p += 1;
                        break;
                    }
                    ps.nodes.clear();
                    let at = ps.p;
                    let root = ps.edn_value(1)?;
                    bld.op(bytes, &ps.nodes, root, true, (at, ps.p))?;
                }
            } else {
                ps.nodes.clear();
                let at = ps.p;
                let root = ps.edn_value(0)?;
                bld.op(bytes, &ps.nodes, root, true, (at, ps.p))?;
            }
        }
    } else {
        let mut start = 0;
        while start < bytes.len() {
            let end = memchr_nl(bytes, start);
            ps.p = start;
            ps.json_skip();
            if ps.p < end {
                if bytes[ps.p] != b'{' {
                    return Err("a JSONL line that is not an object");
                }
                // the parser must not run past the line: JSON has no raw newline in a value
                ps.b = &bytes[..end];
                ps.nodes.clear();
                let root = ps.json_value(0)?;
                ps.json_skip();
                if ps.p != end {
                    return Err("text after the object on a JSONL line");
                }
                bld.op(bytes, &ps.nodes, root, false, (start, end))?;
                ps.b = bytes;
            }
            start = end + 1;
        }
    }
    Ok(bld)
}

fn skip_digits(t: &[u8], mut i: usize) -> usize {
    while i < t.len() && t[i].is_ascii_digit() {
        i += 1;
    }
    i
}

/// harness/edn.py _FLOAT: [+-]?\d+(\.\d*)?([eE][+-]?\d+)?M? (float() takes them all).
fn edn_float(t: &[u8]) -> bool {
    let mut i = 0;
    if i < t.len() && matches!(t[i], b'+' | b'-') {
        i += 1;
    }
    let d = i;
    i = skip_digits(t, i);
    if i == d {
        return false;
    }
    if i < t.len() && t[i] == b'.' {
        i = skip_digits(t, i + 1);
    }
    if i < t.len() && matches!(t[i], b'e' | b'E') {
        i += 1;
        if i < t.len() && matches!(t[i], b'+' | b'-') {
            i += 1;
        }
        let d = i;
        i = skip_digits(t, i);
        if i == d {
            return false;
        }
    }
    if i < t.len() && t[i] == b'M' {
        i += 1;
    }
    i == t.len()
}

fn memchr_nl(b: &[u8], from: usize) -> usize {
    b[from..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(b.len(), |i| from + i)
}
