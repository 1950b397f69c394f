//! splitbrain's native fast path for `splitbrain check --checker list-append` (issue 14):
//! read a history file into columns and decide the list-append verdict when it is clean.
//! Anything else returns a reason string, and the Python path runs exactly as before.

#![allow(clippy::useless_conversion)] // in the code pyo3's #[pyfunction] generates

mod check;
mod fx;
mod ops;
mod read;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};
use std::collections::HashMap;

enum Outcome {
    Clean(check::Stats),
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
        Ok(s) => Outcome::Clean(s),
        Err(why) => Outcome::Bail(format!("checker: {why}")),
    }
}

/// check_list_append(path, edn, realtime, process) -> dict of stats when the history is
/// well-formed and clean (no anomaly, no cycle), else a str: why the native path gave up.
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
        Outcome::Clean(s) => {
            let d = PyDict::new_bound(py);
            d.set_item("txns", s.txns)?;
            d.set_item("ok", s.ok)?;
            d.set_item("info", s.info)?;
            d.set_item("fail", s.fail)?;
            d.set_item("keys", s.keys)?;
            d.set_item("edges", s.edges)?;
            d.set_item("edge_records", s.edge_records)?;
            Ok(d.into_any().unbind())
        }
    }
}

/// Python objects of parsed values; short strings (keywords, mostly) are made once.
struct Conv<'py> {
    py: Python<'py>,
    strs: HashMap<String, Bound<'py, PyString>>,
}

impl<'py> Conv<'py> {
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
}

/// read_ops(path, op, no_extra) -> (list of op(index, time, process, type, f, value, node,
/// error, extra), bytes of each op's line as native i64) for a Jepsen EDN register history,
/// else a str: why it gave up (then the Python reader reads the file from scratch).
/// `no_extra` is the shared empty dict of ops without extra fields.
#[pyfunction]
fn read_ops(
    py: Python<'_>,
    path: &str,
    op: &Bound<'_, PyAny>,
    no_extra: &Bound<'_, PyAny>,
) -> PyResult<PyObject> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return Ok(format!("cannot read the file: {e}").into_py(py)),
    };
    let timing = std::env::var_os("SPLITBRAIN_NATIVE_TIMING").is_some();
    let t0 = std::time::Instant::now();
    let parsed = py.allow_threads(|| {
        std::panic::catch_unwind(|| ops::read(&bytes))
            .unwrap_or_else(|_| Err("native panic".into()))
    });
    let raw = match parsed {
        Ok(r) => r,
        Err(why) => return Ok(format!("reader: {why}").into_py(py)),
    };
    if timing {
        eprintln!("native read_ops: parse {:.3} s", t0.elapsed().as_secs_f64());
    }
    let t1 = std::time::Instant::now();
    let mut conv = Conv {
        py,
        strs: HashMap::new(),
    };
    let mut out = Vec::with_capacity(raw.len());
    let mut lines = Vec::with_capacity(raw.len() * 8);
    for r in &raw {
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
        let args = PyTuple::new_bound(
            py,
            [
                r.index.into_py(py),
                r.time.into_py(py),
                process,
                conv.str(r.typ).into_any().unbind(),
                conv.str(&r.f).into_any().unbind(),
                conv.value(&r.value)?,
                node,
                error,
                extra,
            ],
        );
        out.push(op.call1(args)?.unbind());
        lines.extend_from_slice(&r.line.to_ne_bytes());
    }
    if timing {
        eprintln!(
            "native read_ops: objects {:.3} s",
            t1.elapsed().as_secs_f64()
        );
    }
    let list = PyList::new_bound(py, out);
    let lines = PyBytes::new_bound(py, &lines);
    Ok(PyTuple::new_bound(py, [list.into_any(), lines.into_any()])
        .into_any()
        .unbind())
}

#[pymodule]
fn splitbrain_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(check_list_append, m)?)?;
    m.add_function(wrap_pyfunction!(read_ops, m)?)?;
    m.add("VERSION", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
