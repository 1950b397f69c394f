//! The list-append decision on columns: "clean" (no anomaly of any kind the Python checker
//! reports, and an acyclic dependency graph), with the stats Python would give; else the
//! Focus: the part of the history the Python stages must see to find and explain every
//! anomaly (harness/checkers/elle/listappend.py `_focused`); or a Bail.
//!
//! It mirrors harness/history.py `validate`, harness/checkers/elle/scan.py, internal.py,
//! versions.py and edges.py step by step (names follow them), loose keys' edges included.
//! Where Python would report an anomaly, the mirror marks the key or the txn; it bails where
//! it is unsure (a value appended twice to a key, a client op that is not a txn), which only
//! costs speed.

use crate::fx::{FxMap, FxSet};
use crate::read::{History, Mop, Sc, FAIL, INFO, INVOKE, NO_MOPS, OK, R, S_NEMESIS, S_TXN};

pub struct Stats {
    pub txns: u64,
    pub ok: u64,
    pub info: u64,
    pub fail: u64,
    pub keys: u64,
    pub edges: u64,
    pub edge_records: u64,
    pub sccs: u64,
    pub largest_scc: u64,
    /// harness.checking.guess_kind would call it list-append: every client op's value is a
    /// list of micro-ops (none is nil), and there is a micro-op
    pub guessable: bool,
}

/// What the Python checker needs to find and explain the anomalies of a history that is not
/// clean, without reading all of it: the txns it must see (with their original ids), the keys
/// whose version data it must rebuild (every txn touching one of them is among those txns),
/// and facts about the rest that it cannot see.
pub struct Focus {
    pub stats: Stats,
    /// :index of every op of the txns to see (invocations and completions), increasing
    pub indices: Vec<i64>,
    /// those ops' bytes in the file; empty if one of them has no :index (its index is its
    /// position in the whole history: the file must then be read whole)
    pub spans: Vec<(u32, u32)>,
    /// the txns to see, increasing (the n-th client pair of the focus is txn tids[n])
    pub tids: Vec<u32>,
    /// each key to rebuild, as (:index of an op among those, position of a micro-op on that
    /// key in its value: the op whose value is its txn's)
    pub keys: Vec<(i64, u32)>,
    /// info txns among `tids` that some read (maybe outside the focus) proves took effect
    pub proven: Vec<u32>,
    /// the ok txns with an internal or future-read finding
    pub internal: Vec<u32>,
    /// the strongly connected components of more than one txn, as edges.components gives
    /// them: each one's txns increasing, smallest first, ties by their first txn
    pub comps: Vec<Vec<u32>>,
}

pub enum Outcome {
    Clean(Stats),
    Focus(Focus),
}

const NEMESIS: Sc = Sc::str(S_NEMESIS);
const NO: u32 = u32::MAX;
const FAILED: u32 = 1 << 31;

/// harness.history.validate: every refusal there is a bail here (Python names the problem).
fn validate(h: &History) -> R<()> {
    if h.len() == 0 {
        return Err("empty history");
    }
    let mut pending: FxMap<Sc, usize> = FxMap::default();
    let mut invocations = 0u64;
    let mut last_index = -1i64;
    for (i, op) in h.ops().enumerate() {
        if op.index <= last_index {
            return Err("indices that do not increase");
        }
        last_index = op.index;
        let p = op.process;
        if op.typ == INVOKE {
            if pending.insert(p, i).is_some() {
                return Err("a second invocation while one is outstanding");
            }
            if p != NEMESIS {
                invocations += 1;
            }
            continue;
        }
        match pending.remove(&p) {
            None => {
                if p == NEMESIS && op.typ == INFO {
                    continue;
                }
                return Err("a completion without an invocation");
            }
            Some(j) => {
                let inv = h.op(j);
                if inv.f != op.f {
                    return Err("a completion whose f differs from its invocation's");
                }
                if op.time < inv.time && op.time >= 0 && inv.time >= 0 {
                    return Err("a completion timed before its invocation");
                }
            }
        }
    }
    if invocations == 0 {
        return Err("no client invocation");
    }
    Ok(())
}

fn rd(h: &History, start: u32, len: u32) -> &[Sc] {
    h.rvals(start, len)
}

/// internal.py: does this (ok) txn's own sequence of micro-ops have an internal or
/// future-read finding?
fn internal_bad(h: &History, mops: &[Mop]) -> bool {
    // later: keys -> values appended, if some append follows a read of its key
    let mut read_keys: Vec<u32> = Vec::new();
    let mut later: Option<Vec<(u32, Vec<Sc>)>> = None;
    for m in mops {
        if !m.append {
            read_keys.push(m.key);
        } else if read_keys.contains(&m.key) {
            let mut l: Vec<(u32, Vec<Sc>)> = Vec::new();
            for m2 in mops.iter().filter(|m2| m2.append) {
                match l.iter_mut().find(|(k, _)| *k == m2.key) {
                    Some((_, vs)) => {
                        if !vs.contains(&m2.v) {
                            vs.push(m2.v)
                        }
                    }
                    None => l.push((m2.key, vec![m2.v])),
                }
            }
            later = Some(l);
            break;
        }
    }
    // key -> (the whole list is known, the expected list)
    let mut state: Vec<(u32, bool, Vec<Sc>)> = Vec::new();
    for m in mops {
        if m.append {
            match state.iter_mut().find(|s| s.0 == m.key) {
                Some(s) => s.2.push(m.v),
                None => state.push((m.key, false, vec![m.v])),
            }
            if let Some(l) = later.as_mut() {
                if let Some((_, vs)) = l.iter_mut().find(|(k, _)| *k == m.key) {
                    vs.retain(|x| *x != m.v);
                }
            }
            continue;
        }
        let r = rd(h, m.r_start, m.r_len);
        if let Some(l) = later.as_ref() {
            if let Some((_, fut)) = l.iter().find(|(k, _)| *k == m.key) {
                if r.iter().any(|x| fut.contains(x)) {
                    return true; // future-read
                }
            }
        }
        match state.iter_mut().find(|s| s.0 == m.key) {
            Some(s) => {
                let vals = &s.2;
                let good = if s.1 {
                    r == &vals[..]
                } else {
                    r.len() >= vals.len() && r[r.len() - vals.len()..] == vals[..]
                };
                if !good {
                    return true; // internal
                }
                s.1 = true;
                s.2.clear();
                s.2.extend_from_slice(r);
            }
            None => state.push((m.key, true, r.to_vec())),
        }
    }
    false
}

pub fn check(h: &History, realtime: bool, process: bool) -> R<Outcome> {
    validate(h)?;
    // -- scan.py _pair: client invocations in history order, each with its completion
    let mut pairs: Vec<(u32, u32)> = Vec::with_capacity(h.len() / 2 + 1);
    let mut pending: FxMap<Sc, u32> = FxMap::default();
    let mut events: Vec<u32> = Vec::with_capacity(h.len());
    for (i, op) in h.ops().enumerate() {
        let p = op.process;
        if p == NEMESIS {
            continue;
        }
        if op.typ == INVOKE {
            let pnum = pairs.len() as u32;
            pending.insert(p, pnum);
            events.push(2 * pnum);
            pairs.push((i as u32, NO));
        } else if let Some(pnum) = pending.remove(&p) {
            pairs[pnum as usize].1 = i as u32;
            events.push(2 * pnum + 1);
        }
    }
    if pairs.len() >= (FAILED as usize) || h.len() >= u32::MAX as usize {
        return Err("a history too big for 31-bit txn ids");
    }
    // -- scan.py scan: every client pair is a txn here (else Python skips it: we bail)
    let n = pairs.len();
    let mut tx_typ: Vec<u8> = Vec::with_capacity(n);
    let mut tx_src: Vec<u32> = Vec::with_capacity(n);
    // sized once (a rehash of millions of entries costs more than the slack)
    let cap = h.n_mops() / 2 + 16; // each txn's micro-ops are in its invocation and completion
    let mut appended: FxMap<(u32, Sc), u32> = FxMap::default(); // tid | FAILED
    appended.reserve(cap);
    let mut nonfail_apps: Vec<(u32, Sc, u32)> = Vec::new();
    let nk = h.nkeys;
    let mut writer_key: Vec<bool> = vec![false; nk];
    // keys with a finding of their own (Python reports it from that key's reads and appends)
    let mut bad_key: Vec<bool> = vec![false; nk];
    let mut bad_txn: Vec<u32> = Vec::new(); // ok txns with an internal or future-read finding
    let mut reads: Vec<(u32, u32, u32, u32)> = Vec::new(); // key, tid, start, len (external)
    let mut inner_reads: Vec<(u32, u32, u32, u32)> = Vec::new();
    let mut multi: Vec<(u32, u32)> = Vec::new(); // (tid, key)
    let mut rmw: FxSet<(u32, u64, u32)> = FxSet::default(); // (key, hash of read, len)
    let mut info: Vec<u32> = Vec::new();
    let (mut n_ok, mut n_info, mut n_fail) = (0u64, 0u64, 0u64);
    let mut touched: Vec<u32> = Vec::new();
    let mut exts: Vec<(u32, u32, u32)> = Vec::new();
    let mut keys_here: Vec<u32> = Vec::new();
    for (tid, &(inv, done)) in pairs.iter().enumerate() {
        let tid = tid as u32;
        let typ = if done != NO {
            h.op(done as usize).typ
        } else {
            INFO
        };
        let src = if typ == OK && !h.op(done as usize).value_nil {
            done
        } else {
            inv
        };
        if h.op(inv as usize).f != S_TXN {
            return Err("a client op that is not a txn");
        }
        let sop = h.op(src as usize);
        if sop.mop_start == NO_MOPS {
            return Err("a txn whose value is not a list of micro-ops");
        }
        tx_typ.push(typ);
        tx_src.push(src);
        match typ {
            OK => n_ok += 1,
            INFO => {
                n_info += 1;
                info.push(tid)
            }
            _ => n_fail += 1,
        }
        let ok = typ == OK;
        let mops = h.mops(sop.mop_start, sop.mop_len);
        touched.clear();
        exts.clear();
        keys_here.clear();
        let mut inner = false;
        for m in mops {
            let k = m.key;
            let seen = touched.contains(&k);
            if seen {
                inner = true;
            }
            if m.append {
                // the appends (scan's second loop, in the same order)
                let tag = if typ == FAIL { tid | FAILED } else { tid };
                if appended.insert((k, m.v), tag).is_some() {
                    return Err("a value appended twice to one key");
                }
                if typ != FAIL {
                    nonfail_apps.push((k, m.v, tid));
                    writer_key[k as usize] = true;
                }
                if keys_here.contains(&k) {
                    if typ != FAIL && multi.last() != Some(&(tid, k)) {
                        multi.push((tid, k));
                    }
                } else {
                    keys_here.push(k);
                }
            } else if !seen {
                exts.push((k, m.r_start, m.r_len));
            } else if ok && m.r_len > 0 {
                inner_reads.push((k, tid, m.r_start, m.r_len));
            }
            touched.push(k);
        }
        if ok {
            for &(k, s, l) in exts.iter() {
                if keys_here.contains(&k) {
                    // lost-update: two rmw txns that read k at the same version
                    let mut hs = crate::fx::Fx::default();
                    std::hash::Hash::hash_slice(rd(h, s, l), &mut hs);
                    let hv = std::hash::Hasher::finish(&hs);
                    if !rmw.insert((k, hv, l)) {
                        bad_key[k as usize] = true; // lost-update (or a hash collision: harmless)
                    }
                }
                reads.push((k, tid, s, l));
            }
            if inner && internal_bad(h, mops) {
                bad_txn.push(tid);
            }
        }
    }
    let mops_of = |tid: u32| {
        let op = h.op(tx_src[tid as usize] as usize);
        h.mops(op.mop_start, op.mop_len)
    };
    // appends of key k (an id) by txn tid, in order: looked up through `appended`
    let appends_of = |tid: u32, k: u32| -> Vec<Sc> {
        mops_of(tid)
            .iter()
            .filter(|m| m.append && m.key == k)
            .map(|m| m.v)
            .collect()
    };
    // intermediate: non-final appends of txns appending k twice or more
    let mut inter: FxSet<(u32, Sc)> = FxSet::default();
    let mut multi_of: FxMap<u32, Vec<u32>> = FxMap::default();
    for &(tid, k) in &multi {
        let mine = appends_of(tid, k);
        for v in &mine[..mine.len().saturating_sub(1)] {
            inter.insert((k, *v));
        }
        multi_of.entry(k).or_default().push(tid);
    }
    // -- versions.py infer: reads grouped by key (counting sort; history order kept)
    let mut by_key_n = vec![0u32; nk + 1];
    for r in reads.iter().chain(inner_reads.iter()) {
        by_key_n[r.0 as usize + 1] += 1;
    }
    for i in 0..nk {
        by_key_n[i + 1] += by_key_n[i];
    }
    let mut fill = by_key_n.clone();
    let mut grouped = vec![(0u32, 0u32, 0u32); reads.len() + inner_reads.len()];
    for r in reads.iter().chain(inner_reads.iter()) {
        let at = &mut fill[r.0 as usize];
        grouped[*at as usize] = (r.1, r.2, r.3);
        *at += 1;
    }
    drop(fill);
    let mut has_order = vec![false; nk];
    let mut loose = vec![false; nk]; // no trusted version order: edges.loose_edges
    let mut order: Vec<(u32, u32)> = vec![(0, 0); nk]; // (rvals start, len) of the version order
    let mut pos: FxMap<(u32, Sc), u32> = FxMap::default();
    let mut seen_loose: FxSet<(u32, Sc)> = FxSet::default(); // values read of loose keys
    let mut longest_t: Vec<u32> = vec![NO; nk]; // the txn whose read is the version order
    for k in 0..nk {
        let rs = &grouped[by_key_n[k] as usize..by_key_n[k + 1] as usize];
        if rs.is_empty() {
            continue;
        }
        has_order[k] = true; // read (externally or not): an order, maybe empty
        let mut longest = rs[0];
        for r in rs {
            if r.2 > longest.2 {
                longest = *r;
            }
        }
        if longest.2 == 0 {
            continue;
        }
        let lv = rd(h, longest.1, longest.2);
        let k32 = k as u32;
        // versions.py _compatible, _own_order: is the longest read a trusted order?
        let mut trusted = true;
        for (i, v) in lv.iter().enumerate() {
            if pos.insert((k32, *v), i as u32).is_some() {
                trusted = false; // a duplicate
            }
        }
        for r in rs {
            let rv = rd(h, r.1, r.2);
            if !rv.is_empty() && &lv[..rv.len()] != rv {
                trusted = false; // incompatible reads
                break;
            }
        }
        if trusted {
            if let Some(tids) = multi_of.get(&k32) {
                'own: for &tid in tids {
                    let mut prev: Option<u32> = None;
                    for v in appends_of(tid, k32) {
                        if let Some(&p) = pos.get(&(k32, v)) {
                            if let Some(q) = prev {
                                if p < q {
                                    trusted = false; // a read reversing a txn's own appends
                                    break 'own;
                                }
                            }
                            prev = Some(p);
                        }
                    }
                }
            }
        }
        // garbage (no append wrote it), G1a and dirty updates (a failed append read)
        let mut check_value = |v: &Sc| match appended.get(&(k32, *v)) {
            None => true,
            Some(t) => t & FAILED != 0,
        };
        let mut bad = if trusted {
            lv.iter().any(&mut check_value)
        } else {
            rs.iter()
                .any(|r| rd(h, r.1, r.2).iter().any(&mut check_value))
        };
        // G1b: a read ending in an intermediate append of another txn
        for r in rs {
            if let Some(last) = rd(h, r.1, r.2).last() {
                if inter.contains(&(k32, *last)) {
                    let w = appended[&(k32, *last)] & !FAILED;
                    if w != r.0 {
                        bad = true;
                    }
                }
            }
        }
        if trusted {
            order[k] = (longest.1, longest.2);
            longest_t[k] = longest.0;
        } else {
            bad = true;
            loose[k] = true;
            for v in lv {
                pos.remove(&(k32, *v));
            }
            for r in rs {
                for v in rd(h, r.1, r.2) {
                    seen_loose.insert((k32, *v));
                }
            }
        }
        if bad {
            bad_key[k] = true;
        }
    }
    // info txns some read proves took effect
    let mut proven = vec![false; n];
    for &tid in &info {
        if mops_of(tid).iter().any(|m| {
            m.append && (pos.contains_key(&(m.key, m.v)) || seen_loose.contains(&(m.key, m.v)))
        }) {
            proven[tid as usize] = true;
        }
    }
    // unread committed appends, per key, sorted
    let mut unread_pairs: Vec<(u32, u32)> = Vec::new();
    for &(k, v, tid) in &nonfail_apps {
        has_order[k as usize] = true;
        if !loose[k as usize]
            && !pos.contains_key(&(k, v))
            && (tx_typ[tid as usize] == OK || proven[tid as usize])
        {
            unread_pairs.push((k, tid));
        }
    }
    unread_pairs.sort_unstable();
    unread_pairs.dedup();
    let mut unread_at = vec![0u32; nk + 1];
    for &(k, _) in &unread_pairs {
        unread_at[k as usize + 1] += 1;
    }
    for i in 0..nk {
        unread_at[i + 1] += unread_at[i];
    }
    let unread =
        |k: u32| &unread_pairs[unread_at[k as usize] as usize..unread_at[k as usize + 1] as usize];
    let keys = has_order.iter().filter(|x| **x).count() as u64;

    // -- edges.py data_edges
    let mut src: Vec<u32> = Vec::with_capacity(8 * n + 16);
    let mut dst: Vec<u32> = Vec::with_capacity(8 * n + 16);
    let mut ekey: Vec<u32> = Vec::with_capacity(8 * n + 16); // each data edge's key
    let writer = |k: u32, v: Sc| -> Option<u32> {
        match appended.get(&(k, v)) {
            Some(&t) if t & FAILED == 0 => Some(t),
            _ => None,
        }
    };
    for k in 0..nk as u32 {
        if !has_order[k as usize] || !writer_key[k as usize] || loose[k as usize] {
            continue;
        }
        let (s, l) = order[k as usize];
        let mut prev: Option<u32> = None;
        for v in rd(h, s, l) {
            let cur = writer(k, *v);
            if let (Some(p), Some(c)) = (prev, cur) {
                if p != c {
                    src.push(p);
                    dst.push(c);
                    ekey.push(k);
                }
            }
            prev = cur;
        }
        if let Some(p) = prev {
            for &(_, u) in unread(k) {
                src.push(p);
                dst.push(u);
                ekey.push(k);
            }
        }
    }
    for &(k, tid, s, m) in &reads {
        if loose[k as usize] {
            continue;
        }
        let (os, on) = order[k as usize];
        let ord = rd(h, os, on);
        let r = rd(h, s, m);
        if let Some(last) = r.last() {
            if let Some(a) = writer(k, *last) {
                src.push(a);
                dst.push(tid);
                ekey.push(k);
            }
        }
        if m < on {
            if let Some(b) = writer(k, ord[m as usize]) {
                src.push(tid);
                dst.push(b);
                ekey.push(k);
            }
        } else {
            for &(_, u) in unread(k) {
                src.push(tid);
                dst.push(u);
                ekey.push(k);
            }
        }
    }
    drop(pos);
    // -- edges.py loose_edges: what each read of a key without a trusted order proves
    {
        let mut push = |a: Option<u32>, b: Option<u32>, k: u32| {
            if let (Some(a), Some(b)) = (a, b) {
                if a != b {
                    src.push(a);
                    dst.push(b);
                    ekey.push(k);
                }
            }
        };
        let mut child: FxMap<(u32, Sc), u32> = FxMap::default(); // (node, value) -> node
        let mut kids: Vec<Vec<Sc>> = Vec::new(); // node -> its values, for the walk's end
        let mut roots: Vec<u32> = vec![NO; nk]; // each loose key's trie root
        let mut seen: FxSet<Sc> = FxSet::default();
        let mut distinct: FxSet<&[Sc]> = FxSet::default();
        for k in 0..nk {
            if !loose[k] {
                continue;
            }
            let k32 = k as u32;
            let root = kids.len() as u32;
            roots[k] = root;
            kids.push(Vec::new());
            distinct.clear();
            for r in &grouped[by_key_n[k] as usize..by_key_n[k + 1] as usize] {
                let rv = rd(h, r.1, r.2);
                if !distinct.insert(rv) {
                    continue;
                }
                let mut node = root;
                seen.clear();
                for (i, v) in rv.iter().enumerate() {
                    if !seen.insert(*v) {
                        break; // past a repeated value the read proves no order
                    }
                    if i > 0 {
                        push(writer(k32, rv[i - 1]), writer(k32, *v), k32);
                    }
                    node = match child.get(&(node, *v)) {
                        Some(&c) => c,
                        None => {
                            let c = kids.len() as u32;
                            kids.push(Vec::new());
                            kids[node as usize].push(*v);
                            child.insert((node, *v), c);
                            c
                        }
                    };
                }
            }
        }
        for &(k, tid, s, m) in &reads {
            if !loose[k as usize] {
                continue;
            }
            let r = rd(h, s, m);
            if let Some(last) = r.last() {
                push(writer(k, *last), Some(tid), k);
            }
            let mut node = Some(roots[k as usize]);
            for v in r {
                node = node.and_then(|x| child.get(&(x, *v)).copied());
            }
            if let Some(end) = node {
                for v in &kids[end as usize] {
                    push(Some(tid), writer(k, *v), k);
                }
            }
        }
    }
    // -- edges.py order_edges
    if realtime || process {
        let mut frontier: Vec<u32> = Vec::new();
        let mut where_: Vec<u32> = vec![NO; if realtime { n } else { 0 }];
        let mut preds_at: Vec<(u32, u32)> = vec![(0, 0); if realtime { n } else { 0 }];
        let mut preds: Vec<u32> = Vec::new();
        let mut last: FxMap<Sc, u32> = FxMap::default();
        for &c in &events {
            let t = c >> 1; // every client pair is a txn: the pair number is the txn id
            let p = h.op(pairs[t as usize].0 as usize).process;
            if c & 1 == 0 {
                if realtime && !frontier.is_empty() {
                    preds_at[t as usize] = (preds.len() as u32, frontier.len() as u32);
                    preds.extend_from_slice(&frontier);
                    for &f in &frontier {
                        src.push(f);
                        dst.push(t);
                    }
                }
                if process {
                    if let Some(&l) = last.get(&p) {
                        src.push(l);
                        dst.push(t);
                    }
                }
            } else if tx_typ[t as usize] == OK {
                if realtime {
                    let (ps, pl) = std::mem::take(&mut preds_at[t as usize]);
                    for i in ps..ps + pl {
                        let f = preds[i as usize];
                        let w = where_[f as usize];
                        if w != NO {
                            let moved = *frontier.last().unwrap();
                            frontier.swap_remove(w as usize);
                            if moved != f {
                                where_[moved as usize] = w;
                            }
                            where_[f as usize] = NO;
                        }
                    }
                    where_[t as usize] = frontier.len() as u32;
                    frontier.push(t);
                }
                if process {
                    last.insert(p, t);
                }
            }
        }
    }
    let edge_records = src.len() as u64;
    // -- edges.py components: distinct (src, dst) pairs (scipy's nnz), and the SCCs
    let mut row = vec![0u32; n + 1];
    for &s in &src {
        row[s as usize + 1] += 1;
    }
    for i in 0..n {
        row[i + 1] += row[i];
    }
    let mut col = vec![0u32; src.len()];
    {
        let mut fill = row.clone();
        for (s, d) in src.iter().zip(dst.iter()) {
            let at = &mut fill[*s as usize];
            col[*at as usize] = *d;
            *at += 1;
        }
    }
    // dedupe each row in place, compacting
    let mut out = 0usize;
    let mut new_row = vec![0u32; n + 1];
    for v in 0..n {
        let (a, b) = (row[v] as usize, row[v + 1] as usize);
        let seg = &mut col[a..b];
        seg.sort_unstable();
        let mut prev = NO;
        for i in a..b {
            let d = col[i];
            if d != prev {
                col[out] = d;
                out += 1;
                prev = d;
            }
        }
        new_row[v + 1] = out as u32;
    }
    col.truncate(out);
    drop(row);
    let distinct = out as u64;
    let (label, sizes) = components(n, &new_row, &col);
    drop(new_row);
    drop(col);
    let mut inner_keys: Vec<bool> = vec![false; nk]; // keys of data edges inside a component
    for ((&a, &b), &k) in src.iter().zip(dst.iter()).zip(ekey.iter()) {
        let c = label[a as usize];
        if c == label[b as usize] && sizes[c as usize] > 1 {
            inner_keys[k as usize] = true;
        }
    }
    drop(src);
    drop(dst);
    drop(ekey);
    let in_cycle = |t: u32| sizes[label[t as usize] as usize] > 1;
    let mut guessable = false;
    for op in h.ops() {
        if op.process == NEMESIS {
            continue;
        }
        if op.f != S_TXN || op.value_nil || op.mop_start == NO_MOPS {
            guessable = false;
            break;
        }
        guessable |= op.mop_len > 0;
    }
    let stats = Stats {
        txns: n as u64,
        ok: n_ok,
        info: n_info,
        fail: n_fail,
        keys,
        edges: distinct,
        edge_records,
        sccs: sizes.iter().filter(|&&x| x > 1).count() as u64,
        largest_scc: sizes.iter().copied().filter(|&x| x > 1).max().unwrap_or(0) as u64,
        guessable,
    };
    if stats.sccs == 0 && bad_txn.is_empty() && !bad_key.iter().any(|&b| b) {
        return Ok(Outcome::Clean(stats));
    }
    // -- the focus: txns in cycles and with findings; every txn on a key with a finding (the
    // finding's words cite them); for a key only edges inside a component are on (an edge's
    // words look only at the keys it is on): its appenders, the read that is its order and
    // its first reads (which keep the keys in Python's order). Other reads of it prove no
    // edge inside a component unless their txn is in it, and then it is kept anyway.
    let mut first_read: Vec<u32> = vec![NO; nk];
    for &(k, tid, _, _) in &reads {
        if first_read[k as usize] == NO {
            first_read[k as usize] = tid;
        }
    }
    let mut first_inner: Vec<u32> = vec![NO; nk];
    for &(k, tid, _, _) in &inner_reads {
        if first_inner[k as usize] == NO {
            first_inner[k as usize] = tid;
        }
    }
    let mut keep = vec![false; n];
    for &t in &bad_txn {
        keep[t as usize] = true;
    }
    let mut keys_at: Vec<(i64, u32)> = vec![(-1, 0); nk];
    let mut tids: Vec<u32> = Vec::new();
    let mut at: Vec<usize> = Vec::new();
    for t in 0..n as u32 {
        let mops = mops_of(t);
        let mine = keep[t as usize]
            || in_cycle(t)
            || mops.iter().any(|m| {
                let k = m.key as usize;
                bad_key[k]
                    || (inner_keys[k]
                        && ((m.append && tx_typ[t as usize] != FAIL)
                            || first_read[k] == t
                            || first_inner[k] == t
                            || longest_t[k] == t))
            });
        if !mine {
            continue;
        }
        for (i, m) in mops.iter().enumerate() {
            let k = m.key as usize;
            if (bad_key[k] || inner_keys[k]) && keys_at[k].0 < 0 {
                keys_at[k] = (h.op(tx_src[t as usize] as usize).index, i as u32);
            }
        }
        tids.push(t);
        let (inv, done) = pairs[t as usize];
        at.push(inv as usize);
        if done != NO {
            at.push(done as usize);
        }
    }
    at.sort_unstable();
    let mut comp_of: FxMap<u32, usize> = FxMap::default();
    let mut comps: Vec<Vec<u32>> = Vec::new();
    for t in 0..n as u32 {
        if in_cycle(t) {
            let next = comps.len();
            let c = *comp_of.entry(label[t as usize]).or_insert(next);
            if c == next {
                comps.push(Vec::new());
            }
            comps[c].push(t);
        }
    }
    comps.sort_by_key(|c| c.len()); // stable
    let proven = tids
        .iter()
        .copied()
        .filter(|&t| proven[t as usize])
        .collect();
    Ok(Outcome::Focus(Focus {
        stats,
        indices: at.iter().map(|&i| h.op(i).index).collect(),
        spans: if at.iter().any(|&i| h.op(i).index_default) {
            Vec::new()
        } else {
            at.iter().map(|&i| h.op(i).span).collect()
        },
        tids,
        keys: keys_at.into_iter().filter(|x| x.0 >= 0).collect(),
        proven,
        internal: bad_txn,
        comps,
    }))
}

/// Strongly connected components (iterative Tarjan): each node's component, and each
/// component's size (self loops are no cycle between txns).
fn components(n: usize, row: &[u32], col: &[u32]) -> (Vec<u32>, Vec<u32>) {
    let mut label = vec![NO; n];
    let mut sizes: Vec<u32> = Vec::new();
    let mut index = vec![NO; n];
    let mut low = vec![0u32; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<u32> = Vec::new();
    let mut work: Vec<(u32, u32)> = Vec::new(); // (node, next edge position)
    let mut counter = 0u32;
    for root in 0..n as u32 {
        if index[root as usize] != NO {
            continue;
        }
        index[root as usize] = counter;
        low[root as usize] = counter;
        counter += 1;
        stack.push(root);
        on_stack[root as usize] = true;
        work.push((root, row[root as usize]));
        while let Some(&mut (v, ref mut e)) = work.last_mut() {
            let end = row[v as usize + 1];
            let mut descended = false;
            while *e < end {
                let w = col[*e as usize];
                *e += 1;
                if w == v {
                    continue;
                }
                if index[w as usize] == NO {
                    index[w as usize] = counter;
                    low[w as usize] = counter;
                    counter += 1;
                    stack.push(w);
                    on_stack[w as usize] = true;
                    work.push((w, row[w as usize]));
                    descended = true;
                    break;
                }
                if on_stack[w as usize] && index[w as usize] < low[v as usize] {
                    low[v as usize] = index[w as usize];
                }
            }
            if descended {
                continue;
            }
            work.pop();
            if let Some(&(u, _)) = work.last() {
                if low[v as usize] < low[u as usize] {
                    low[u as usize] = low[v as usize];
                }
            }
            if low[v as usize] == index[v as usize] {
                let id = sizes.len() as u32;
                let mut size = 0;
                loop {
                    let w = stack.pop().unwrap();
                    on_stack[w as usize] = false;
                    label[w as usize] = id;
                    size += 1;
                    if w == v {
                        break;
                    }
                }
                sizes.push(size);
            }
        }
    }
    (label, sizes)
}
