//! splitbrain's native fast paths: for `splitbrain check --checker list-append` (issue 14),
//! read a history file into columns and decide the list-append verdict when it is clean;
//! read EDN histories and Jepsen's log lines into ops; and the linearizability search and
//! evidence shrink of the register and kv models (issue 25: linear.rs, shrink.rs), step for
//! step as Python's. Anything it does not read returns a reason string (or None in Python),
//! and the Python path runs exactly as before.

#![allow(clippy::useless_conversion)] // in the code pyo3's #[pyfunction] generates

mod check;
mod fx;
mod linear;
mod ops;
mod read;
mod shrink;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};
use std::collections::HashMap;

enum Outcome {
    Done(Box<check::Outcome>),
    Bail(String),
}

fn run(path: &str, edn: bool, realtime: bool, process: bool) -> Outcome {
    let timing = std::env::var_os("SPLITBRAIN_NATIVE_TIMING").is_some();
    let t0 = std::time::Instant::now();
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return Outcome::Bail(format!("cannot read the file: {e}")),
    };
    let h = match read::read(&bytes, edn) {
        Ok(h) => h,
        Err(why) => return Outcome::Bail(format!("reader: {why}")),
    };
    drop(bytes);
    if timing {
        eprintln!("native: read {:.3} s", t0.elapsed().as_secs_f64());
    }
    let t1 = std::time::Instant::now();
    let out = check::check(&h, realtime, process);
    if timing {
        eprintln!("native: check {:.3} s", t1.elapsed().as_secs_f64());
    }
    match out {
        Ok(s) => Outcome::Done(Box::new(s)),
        Err(why) => Outcome::Bail(format!("checker: {why}")),
    }
}

/// check_list_append(path, edn, realtime, process) -> dict of stats when the history is
/// well-formed: with "focus" (a dict of check::Focus's fields) when it is not clean (an
/// anomaly or a cycle: check::Focus says what Python must see to find and explain them);
/// else a str: why the native path gave up.
#[pyfunction]

fn check_list_append(
    py: Python<'_>,
    path: &str,
    edn: bool,
    realtime: bool,
    process: bool,
) -> PyResult<PyObject> {
    let path = path.to_owned();
    let outcome = py.allow_threads(move || {
        std::panic::catch_unwind(|| run(&path, edn, realtime, process))
            .unwrap_or_else(|_| Outcome::Bail("native panic".to_owned()))
    });
    match outcome {
        Outcome::Bail(why) => Ok(why.into_py(py)),
        Outcome::Done(out) => {
            let (s, focus) = match *out {
                check::Outcome::Clean(s) => (s, None),
                check::Outcome::Focus(f) => {
                    let rest = (f.keys, f.proven, f.internal, f.comps);
                    (f.stats, Some((f.indices, f.spans, f.tids, rest)))
                }
            };
            let d = PyDict::new_bound(py);
            d.set_item("txns", s.txns)?;
            d.set_item("ok", s.ok)?;
            d.set_item("info", s.info)?;
            d.set_item("fail", s.fail)?;
            d.set_item("keys", s.keys)?;
            d.set_item("edges", s.edges)?;
            d.set_item("edge_records", s.edge_records)?;
            d.set_item("sccs", s.sccs)?;
            d.set_item("largest_scc", s.largest_scc)?;
            d.set_item("guessable", s.guessable)?;
            if let Some((indices, spans, tids, (keys, proven, internal, comps))) = focus {
                let f = PyDict::new_bound(py);
                f.set_item("indices", indices)?;
                f.set_item("spans", spans)?;
                f.set_item("tids", tids)?;
                f.set_item("keys", keys)?;
                f.set_item("proven", proven)?;
                f.set_item("internal", internal)?;
                f.set_item("comps", comps)?;
                d.set_item("focus", f)?;
            }
            Ok(d.into_any().unbind())
        }
    }
}

/// Python objects of parsed values; short strings (keywords, mostly) are made once.
/// A key or a process that Python's reader can key a table with (an int or a str).
#[derive(Hash, PartialEq, Eq)]
enum Name {
    Int(i64),
    Str(String),
}

fn name_of(v: &ops::V) -> Option<Name> {
    match v {
        ops::V::Int(i) => Some(Name::Int(*i)),
        ops::V::Str(s) => Some(Name::Str(s.to_string())),
        _ => None,
    }
}

/// A micro-op [f k v] of scalars Python shares between an invocation and its completion
/// (harness.history._same: ints, strs and nil, equal and of the same types).
fn shareable(m: &ops::V, n: &ops::V) -> bool {
    let scalar = |v: &ops::V| matches!(v, ops::V::Int(_) | ops::V::Str(_) | ops::V::Nil);
    match (m, n) {
        (ops::V::List(a), ops::V::List(_)) => {
            a.len() == 3 && scalar(&a[1]) && scalar(&a[2]) && m == n
        }
        _ => false,
    }
}

struct Conv<'py, 'a> {
    py: Python<'py>,
    strs: HashMap<String, Bound<'py, PyString>>,
    /// keys past CPython's small ints: one object per key (harness.history._KEYS)
    keys: HashMap<i64, PyObject>,
    /// an invocation's read ["r", k, nil]: one list per key (harness.history._READS)
    reads: HashMap<Name, PyObject>,
    /// each process's pending invocation micro-ops (harness.history._PENDING)
    pending: HashMap<Name, Vec<(ops::V<'a>, PyObject)>>,
}

impl<'py, 'a> Conv<'py, 'a> {
    fn new(py: Python<'py>) -> Self {
        Conv {
            py,
            strs: HashMap::new(),
            keys: HashMap::new(),
            reads: HashMap::new(),
            pending: HashMap::new(),
        }
    }

    fn str(&mut self, s: &str) -> Bound<'py, PyString> {
        if s.len() > 32 {
            return PyString::new_bound(self.py, s);
        }
        if let Some(x) = self.strs.get(s) {
            return x.clone();
        }
        let x = PyString::intern_bound(self.py, s);
        self.strs.insert(s.to_owned(), x.clone());
        x
    }

    fn value(&mut self, v: &ops::V) -> PyResult<PyObject> {
        let py = self.py;
        Ok(match v {
            ops::V::Nil => py.None(),
            ops::V::Bool(b) => b.into_py(py),
            ops::V::Int(i) => i.into_py(py),
            ops::V::Str(s) => self.str(s).into_any().unbind(),
            ops::V::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                for x in items {
                    out.push(self.value(x)?);
                }
                PyList::new_bound(py, out).into_any().unbind()
            }
            ops::V::Map(kv) => {
                let d = PyDict::new_bound(py);
                for (k, x) in kv {
                    d.set_item(self.value(k)?, self.value(x)?)?;
                }
                d.into_any().unbind()
            }
        })
    }

    /// One micro-op, its key shared (harness.history._intern).
    fn mop(&mut self, m: &ops::V) -> PyResult<PyObject> {
        let py = self.py;
        let ops::V::List(x) = m else {
            return self.value(m);
        };
        let mut out = Vec::with_capacity(x.len());
        for (i, v) in x.iter().enumerate() {
            match v {
                ops::V::Int(k) if i == 1 && *k > 256 => {
                    let o = self.keys.entry(*k).or_insert_with(|| k.into_py(py));
                    out.push(o.clone_ref(py));
                }
                _ => out.push(self.value(v)?),
            }
        }
        Ok(PyList::new_bound(py, out).into_any().unbind())
    }

    /// The value of an op with f "txn" and a list value, sharing what
    /// harness.history._intern_heads shares (memory only: every value is the one Python reads).
    fn txn(&mut self, typ: &str, process: &ops::Proc, mops: Vec<ops::V<'a>>) -> PyResult<PyObject> {
        let py = self.py;
        let named = match process {
            ops::Proc::Int(p) => Some(Name::Int(*p)),
            ops::Proc::Str(s) => Some(Name::Str(s.to_string())),
            ops::Proc::None => None,
        };
        let mut objs: Vec<PyObject> = Vec::with_capacity(mops.len());
        if typ == "invoke" {
            for m in &mops {
                let read_key = match m {
                    ops::V::List(x)
                        if x.len() == 3
                            && x[2] == ops::V::Nil
                            && matches!(&x[0], ops::V::Str(h) if h == "r") =>
                    {
                        name_of(&x[1])
                    }
                    _ => None,
                };
                let Some(k) = read_key else {
                    objs.push(self.mop(m)?);
                    continue;
                };
                if let Some(o) = self.reads.get(&k) {
                    objs.push(o.clone_ref(py));
                } else {
                    let o = self.mop(m)?;
                    self.reads.insert(k, o.clone_ref(py));
                    objs.push(o);
                }
            }
            let list = PyList::new_bound(py, objs.iter().map(|o| o.clone_ref(py)));
            if let Some(p) = named {
                self.pending.insert(p, mops.into_iter().zip(objs).collect());
            }
            return Ok(list.into_any().unbind());
        }
        let inv = named.and_then(|p| self.pending.remove(&p));
        for (i, m) in mops.iter().enumerate() {
            match inv.as_ref().and_then(|inv| inv.get(i)) {
                Some((n, o)) if shareable(m, n) => objs.push(o.clone_ref(py)),
                _ => objs.push(self.mop(m)?),
            }
        }
        Ok(PyList::new_bound(py, objs).into_any().unbind())
    }
}

/// read_ops(path, op, no_extra) -> (list of op(index, time, process, type, f, value, node,
/// error, extra), bytes of each op's line as native i64) for a Jepsen EDN history, else a
/// str: why it gave up (then the Python reader reads the file from scratch). Each op becomes
/// Python objects as soon as it is read. `no_extra` is the shared empty dict of ops without
/// extra fields.
#[pyfunction]
#[pyo3(signature = (path, op, no_extra, keep=None))]
fn read_ops(
    py: Python<'_>,
    path: &str,
    op: &Bound<'_, PyAny>,
    no_extra: &Bound<'_, PyAny>,
    keep: Option<Vec<i64>>,
) -> PyResult<PyObject> {
    // keep: the :index of each op to make (the others are read, checked, and dropped)
    let keep: Option<std::collections::HashSet<i64>> = keep.map(|k| k.into_iter().collect());
    read_with(py, path, op, no_extra, "read_ops", |bytes, each| {
        ops::read_each(bytes, |r| {
            if keep.as_ref().is_some_and(|k| !k.contains(&r.index)) {
                return Ok(());
            }
            each(r)
        })
    })
}

/// read_log_ops(path, op, no_extra) -> read_ops's result for a Jepsen log (lines
/// `INFO  jepsen.util - 3	:invoke	:cas	[1 2]`, harness/jepsen_log.py), else a str: why it
/// gave up (the Python reader then reads it).
#[pyfunction]
fn read_log_ops(
    py: Python<'_>,
    path: &str,
    op: &Bound<'_, PyAny>,
    no_extra: &Bound<'_, PyAny>,
) -> PyResult<PyObject> {
    read_with(py, path, op, no_extra, "read_log_ops", |bytes, each| {
        ops::read_log_each(bytes, each)
    })
}

type Each<'e, 'a> = &'e mut dyn FnMut(ops::RawOp<'a>) -> ops::R<()>;

/// The ops a reader hands over, made Python objects one by one, with their lines.
fn read_with<'py>(
    py: Python<'py>,
    path: &str,
    op: &Bound<'py, PyAny>,
    no_extra: &Bound<'py, PyAny>,
    what: &str,
    reader: impl for<'a, 'e> FnOnce(&'a [u8], Each<'e, 'a>) -> ops::R<usize>,
) -> PyResult<PyObject> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return Ok(format!("cannot read the file: {e}").into_py(py)),
    };
    let timing = std::env::var_os("SPLITBRAIN_NATIVE_TIMING").is_some();
    let t0 = std::time::Instant::now();
    let mut conv = Conv::new(py);
    let mut out = Vec::new();
    let mut lines = Vec::new();
    let mut py_err: Option<PyErr> = None;
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        reader(&bytes, &mut |r| match make(&mut conv, r, op, no_extra) {
            Ok((o, line)) => {
                out.push(o);
                lines.extend_from_slice(&line.to_ne_bytes());
                Ok(())
            }
            Err(e) => {
                py_err = Some(e);
                Err("a Python error".into())
            }
        })
    }))
    .unwrap_or_else(|_| Err("native panic".into()));
    if let Some(e) = py_err {
        return Err(e);
    }
    if let Err(why) = read {
        return Ok(format!("reader: {why}").into_py(py));
    }
    if timing {
        eprintln!("native {what}: {:.3} s", t0.elapsed().as_secs_f64());
    }
    let list = PyList::new_bound(py, out);
    let lines = PyBytes::new_bound(py, &lines);
    Ok(PyTuple::new_bound(py, [list.into_any(), lines.into_any()])
        .into_any()
        .unbind())
}

/// read_ops_at(path, op, no_extra, spans) -> list of op(...) as read_ops makes them, of the
/// ops at these byte spans of an EDN file (each one op map with its :index, in file order);
/// else a str: why it gave up.
#[pyfunction]
fn read_ops_at(
    py: Python<'_>,
    path: &str,
    op: &Bound<'_, PyAny>,
    no_extra: &Bound<'_, PyAny>,
    spans: Vec<(u32, u32)>,
) -> PyResult<PyObject> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return Ok(format!("cannot read the file: {e}").into_py(py)),
    };
    let mut conv = Conv::new(py);
    let mut out = Vec::with_capacity(spans.len());
    let mut py_err: Option<PyErr> = None;
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        for &(s, e) in &spans {
            let Some(text) = bytes.get(s as usize..e as usize) else {
                return Err("a span past the end of the file".to_string());
            };
            let n = ops::read_each(text, |r| match make(&mut conv, r, op, no_extra) {
                Ok((o, _)) => {
                    out.push(o);
                    Ok(())
                }
                Err(e) => {
                    py_err = Some(e);
                    Err("a Python error".into())
                }
            })?;
            if n != 1 {
                return Err("a span that is not one op".to_string());
            }
        }
        Ok(())
    }))
    .unwrap_or_else(|_| Err("native panic".into()));
    if let Some(e) = py_err {
        return Err(e);
    }
    if let Err(why) = read {
        return Ok(format!("reader: {why}").into_py(py));
    }
    Ok(PyList::new_bound(py, out).into_any().unbind())
}

/// One op's Python object and its line.
fn make<'py, 'a>(
    conv: &mut Conv<'py, 'a>,
    r: ops::RawOp<'a>,
    op: &Bound<'py, PyAny>,
    no_extra: &Bound<'py, PyAny>,
) -> PyResult<(PyObject, i64)> {
    let py = conv.py;
    let process = match &r.process {
        ops::Proc::None => py.None(),
        ops::Proc::Int(p) => p.into_py(py),
        ops::Proc::Str(s) => conv.str(s).into_any().unbind(),
    };
    let node = match &r.node {
        None => py.None(),
        Some(s) => PyString::new_bound(py, s).into_any().unbind(),
    };
    let error = match &r.error {
        None => py.None(),
        Some(s) => PyString::new_bound(py, s).into_any().unbind(),
    };
    let extra = if r.extra.is_empty() {
        no_extra.clone().unbind()
    } else {
        let d = PyDict::new_bound(py);
        for (k, v) in &r.extra {
            d.set_item(conv.str(k), conv.value(v)?)?;
        }
        d.into_any().unbind()
    };
    let typ = conv.str(r.typ).into_any().unbind();
    let f = conv.str(&r.f).into_any().unbind();
    let value = match r.value {
        ops::V::List(mops) if r.f == "txn" => conv.txn(r.typ, &r.process, mops)?,
        v => conv.value(&v)?,
    };
    let args = PyTuple::new_bound(
        py,
        [
            r.index.into_py(py),
            r.time.into_py(py),
            process,
            typ,
            f,
            value,
            node,
            error,
            extra,
        ],
    );
    Ok((op.call1(args)?.unbind(), r.line))
}

/// One key's calls for the linearizability search (harness/checkers/linearizable/search.py
/// `Native`): model 0 register, 1 cas-register, 2 kv; values are ids the caller made (equal
/// values, equal ids), kv's ids are positions in `strs`; a ret of -1 is indeterminate.
#[pyclass(module = "splitbrain_native")]
struct LinKey {
    calls: linear::Calls,
    model: linear::Model,
    init: u32,
    states: linear::States,
}

#[pymethods]
impl LinKey {
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(
        model: u8,
        init: u32,
        call: Vec<i64>,
        ret: Vec<i64>,
        f: Vec<u8>,
        a: Vec<u32>,
        b: Vec<u32>,
        out: Vec<u32>,
        strs: Vec<String>,
    ) -> PyResult<Self> {
        let n = call.len();
        if [ret.len(), f.len(), a.len(), b.len(), out.len()]
            .iter()
            .any(|&m| m != n)
        {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "columns of different lengths",
            ));
        }
        let model = match model {
            0 => linear::Model::Register,
            1 => linear::Model::CasRegister,
            2 => linear::Model::Kv,
            _ => return Err(pyo3::exceptions::PyValueError::new_err("unknown model")),
        };
        if model == linear::Model::Kv {
            let too_big = |v: &u32| *v as usize >= strs.len();
            if too_big(&init) || a.iter().chain(&out).any(too_big) {
                return Err(pyo3::exceptions::PyValueError::new_err(
                    "a string id past strs",
                ));
            }
        }
        let ret = ret.into_iter().map(|r| (r >= 0).then_some(r)).collect();
        Ok(LinKey {
            calls: linear::Calls {
                call,
                ret,
                f,
                a,
                b,
                out,
            },
            model,
            init,
            states: linear::States::new(strs),
        })
    }

    /// search(only, seconds_left, max_states, max_bytes, max_steps) -> (status, states,
    /// steps, blocked_op, [(state, setter)], blocked_count, linearised, max_states,
    /// unordered): search.py's Result of the calls at `only` (None: all), status 0 invalid,
    /// 1 valid, 2 time, 3 states, 4 steps budget; a state is its id (kv: its string).
    #[pyo3(signature = (only, seconds_left, max_states, max_bytes, max_steps))]
    fn search(
        &mut self,
        py: Python<'_>,
        only: Option<Vec<u32>>,
        seconds_left: f64,
        max_states: u64,
        max_bytes: u64,
        max_steps: f64,
    ) -> PyResult<PyObject> {
        let n = self.calls.call.len() as u32;
        if only.as_ref().is_some_and(|o| o.iter().any(|&i| i >= n)) {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "an op past the key's calls",
            ));
        }
        let budget = linear::Budget::new(seconds_left, max_states, max_bytes, max_steps);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            linear::search(
                &self.calls,
                only.as_deref(),
                self.model,
                self.init,
                &mut self.states,
                &budget,
            )
        }))
        .map_err(|_| pyo3::exceptions::PyRuntimeError::new_err("native panic in search"))?;
        self.result(py, &r)
    }

    /// shrink(x, pinned, likely, need, sets, initial, seconds_left, max_states, max_bytes,
    /// max_steps, work, cost) -> (kept positions, search's result of them or None, done,
    /// work, cost): evidence.py Shrinker.run of these calls (the prefix: positions), x the
    /// op no order places, `need`/`sets` each op's effects (-2 unknown, -1 none, else a value
    /// id; an unknown `need` makes the whole effect unknown), `initial` the model's initial
    /// value id (-1 none); `work` and `cost` as the Shrinker holds them, returned as it
    /// leaves them.
    #[pyo3(signature = (x, pinned, likely, need, sets, initial, seconds_left, max_states,
        max_bytes, max_steps, work, cost))]
    #[allow(clippy::too_many_arguments)]
    fn shrink(
        &mut self,
        py: Python<'_>,
        x: u32,
        pinned: Vec<u32>,
        likely: Vec<u32>,
        need: Vec<i64>,
        sets: Vec<i64>,
        initial: i64,
        seconds_left: f64,
        max_states: u64,
        max_bytes: u64,
        max_steps: f64,
        work: f64,
        cost: f64,
    ) -> PyResult<PyObject> {
        let n = self.calls.call.len();
        let bad = |v: &[u32]| v.iter().any(|&i| i as usize >= n);
        if need.len() != n || sets.len() != n || x as usize >= n || bad(&pinned) || bad(&likely) {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "shrink: bad positions",
            ));
        }
        let id = |v: i64| (v >= 0).then_some(v as u32);
        let eff: Vec<shrink::Effect> = need
            .iter()
            .zip(&sets)
            .map(|(&a, &b)| (a != -2 && b != -2).then(|| (id(a), id(b))))
            .collect();
        let mut pin = vec![false; n];
        for &i in pinned.iter().chain(std::iter::once(&x)) {
            pin[i as usize] = true;
        }
        let mut like = vec![false; n];
        for &i in &likely {
            like[i as usize] = true;
        }
        let budget = linear::Budget::new(seconds_left, max_states, max_bytes, max_steps);
        let mut sh = shrink::Shrink {
            calls: &self.calls,
            model: self.model,
            init: self.init,
            states: &mut self.states,
            eff: &eff,
            initial: id(initial),
            x,
            pinned: pin,
            budget: &budget,
            work,
            cost,
        };
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sh.run(&like)))
            .map_err(|_| pyo3::exceptions::PyRuntimeError::new_err("native panic in shrink"))?;
        let (work, cost) = (sh.work, sh.cost);
        let res = match &out.res {
            Some(r) => self.result(py, r)?,
            None => py.None(),
        };
        Ok((out.keep, res, out.done, work, cost).into_py(py))
    }
}

impl LinKey {
    fn result(&self, py: Python<'_>, r: &linear::Res) -> PyResult<PyObject> {
        let blocked = PyList::empty_bound(py);
        for &(s, o) in &r.blocked_states {
            let state = if self.model == linear::Model::Kv {
                self.states.text(s).into_py(py)
            } else {
                s.into_py(py)
            };
            blocked.append((state, o))?;
        }
        Ok((
            r.status as u8,
            r.states,
            r.steps,
            r.blocked_op,
            blocked,
            r.blocked_count,
            r.linearised,
            r.max_states,
            r.unordered.clone(),
        )
            .into_py(py))
    }
}

#[pymodule]
fn splitbrain_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(check_list_append, m)?)?;
    m.add_function(wrap_pyfunction!(read_ops, m)?)?;
    m.add_function(wrap_pyfunction!(read_ops_at, m)?)?;
    m.add_function(wrap_pyfunction!(read_log_ops, m)?)?;
    m.add_class::<LinKey>()?;
    m.add("VERSION", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
