//! The linearizability search of harness/checkers/linearizable/search.py (Wing & Gong with
//! Lowe's memo, the symmetry of interchangeable indeterminate ops and their subsumption),
//! step for step: the same events in the same order, the same configurations memoised, the
//! same iterations counted, so it gives the same Result (status, configurations, steps, the
//! op no order places, the states met there and who set them, the ops it could not order).
//! Only faster. Values are ids the caller gives (equal ids for equal values); a kv state is a
//! string, made by its appends and interned here.

use crate::fx::FxMap;
use std::time::{Duration, Instant};

/// The models it knows (harness/checkers/models.py), and their ops' f codes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Model {
    /// read (0) / write (1); a cas (2) is illegal in every state, as Register.step says
    Register,
    /// read (0) / write (1) / cas (2) [old new]
    CasRegister,
    /// get (0) / put (1) / append (2) on strings
    Kv,
}

pub const F0: u8 = 0;
pub const F1: u8 = 1;
pub const F2: u8 = 2;

/// One key's calls. `ret` is None for an indeterminate op (Python's INF). Values are ids:
/// `a` the input (a cas's old value), `b` a cas's new value, `out` a read's (get's) output.
pub struct Calls {
    pub call: Vec<i64>,
    pub ret: Vec<Option<i64>>,
    pub f: Vec<u8>,
    pub a: Vec<u32>,
    pub b: Vec<u32>,
    pub out: Vec<u32>,
}

pub struct Budget {
    pub deadline: Option<Instant>,
    pub max_states: u64,
    pub max_bytes: u64,
    /// search iterations (Python compares an int with a float: so do we, exactly)
    pub max_steps: f64,
}

impl Budget {
    pub fn new(seconds_left: f64, max_states: u64, max_bytes: u64, max_steps: f64) -> Budget {
        let deadline = if seconds_left.is_finite() {
            Some(Instant::now() + Duration::from_secs_f64(seconds_left.max(0.0)))
        } else {
            None
        };
        Budget {
            deadline,
            max_states,
            max_bytes,
            max_steps,
        }
    }
    pub fn expired(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() > d)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Status {
    Invalid = 0,
    Valid = 1,
    Time = 2,
    States = 3,
    Steps = 4,
}

pub struct Res {
    pub status: Status,
    pub states: u64,
    pub steps: u64,
    pub blocked_op: i64,
    /// (state, the op that set it on that branch, -1 the initial value), in the order met
    pub blocked_states: Vec<(u32, i64)>,
    pub blocked_count: u64,
    pub linearised: u64,
    pub max_states: u64,
    pub unordered: Vec<u32>,
}

const CHECK_EVERY: u64 = 2048; // search.py CHECK_EVERY
const MAX_EVIDENCE_STATES: usize = 8; // search.py MAX_EVIDENCE_STATES

/// The states of a search: ids of the caller's values, and for kv the strings appends make.
pub struct States {
    strs: Vec<Box<str>>,
    ids: FxMap<Box<str>, u32>,
}

impl States {
    /// For kv: the caller's strings (its ids are their positions; distinct strings).
    pub fn new(strs: Vec<String>) -> States {
        let mut s = States {
            strs: Vec::with_capacity(strs.len()),
            ids: FxMap::default(),
        };
        for x in strs {
            s.intern(x);
        }
        s
    }
    fn intern(&mut self, x: String) -> u32 {
        if let Some(&i) = self.ids.get(x.as_str()) {
            return i;
        }
        let i = self.strs.len() as u32;
        let b: Box<str> = x.into_boxed_str();
        self.strs.push(b.clone());
        self.ids.insert(b, i);
        i
    }
    pub fn text(&self, id: u32) -> &str {
        &self.strs[id as usize]
    }
}

#[inline]
fn step(
    model: Model,
    states: &mut States,
    state: u32,
    f: u8,
    a: u32,
    b: u32,
    out: u32,
) -> Option<u32> {
    match (model, f) {
        (_, F0) => (state == out).then_some(state),
        (_, F1) => Some(a),
        (Model::CasRegister, F2) => (state == a).then_some(b),
        (Model::Kv, F2) => {
            let mut s = String::with_capacity(states.text(state).len() + states.text(a).len());
            s.push_str(states.text(state));
            s.push_str(states.text(a));
            Some(states.intern(s))
        }
        _ => None,
    }
}

/// A set of ops (bit i: the op with bit number i), as a fixed array of words for up to 1,024
/// ops, so that the memo's keys need no allocation; boxed beyond.
trait Set: Clone + Eq + std::hash::Hash {
    fn empty(bits: usize) -> Self;
    fn flip(&mut self, b: usize);
    /// self is a subset of `of`
    fn within(&self, of: &Self) -> bool;
}

impl<const W: usize> Set for [u64; W] {
    fn empty(_: usize) -> Self {
        [0; W]
    }
    #[inline]
    fn flip(&mut self, b: usize) {
        self[b >> 6] ^= 1 << (b & 63);
    }
    #[inline]
    fn within(&self, of: &Self) -> bool {
        self.iter().zip(of).all(|(x, y)| x | y == *y)
    }
}

impl Set for Box<[u64]> {
    fn empty(bits: usize) -> Self {
        vec![0; bits.div_ceil(64)].into_boxed_slice()
    }
    #[inline]
    fn flip(&mut self, b: usize) {
        self[b >> 6] ^= 1 << (b & 63);
    }
    #[inline]
    fn within(&self, of: &Self) -> bool {
        self.iter().zip(of.iter()).all(|(x, y)| x | y == *y)
    }
}

/// The indeterminate sets memoised with one (definite set, state): the first inline.
struct Seen<S> {
    first: S,
    more: Vec<S>,
}

/// search.py `search` over `calls`, or over the calls at `only` (then indices in the result
/// are positions in `only`, as when Python searches the list of those calls).
pub fn search(
    calls: &Calls,
    only: Option<&[u32]>,
    model: Model,
    init: u32,
    states: &mut States,
    budget: &Budget,
) -> Res {
    let n = only.map_or(calls.call.len(), |o| o.len());
    match n {
        0..=64 => search_in::<[u64; 1]>(calls, only, model, init, states, budget),
        65..=128 => search_in::<[u64; 2]>(calls, only, model, init, states, budget),
        129..=256 => search_in::<[u64; 4]>(calls, only, model, init, states, budget),
        257..=512 => search_in::<[u64; 8]>(calls, only, model, init, states, budget),
        513..=1024 => search_in::<[u64; 16]>(calls, only, model, init, states, budget),
        _ => search_in::<Box<[u64]>>(calls, only, model, init, states, budget),
    }
}

fn search_in<S: Set>(
    calls: &Calls,
    only: Option<&[u32]>,
    model: Model,
    init: u32,
    states: &mut States,
    budget: &Budget,
) -> Res {
    let ix: Vec<usize> = match only {
        Some(o) => o.iter().map(|&i| i as usize).collect(),
        None => (0..calls.call.len()).collect(),
    };
    let n = ix.len();
    let callp: Vec<i64> = ix.iter().map(|&i| calls.call[i]).collect();
    let retp: Vec<Option<i64>> = ix.iter().map(|&i| calls.ret[i]).collect();
    let fs: Vec<u8> = ix.iter().map(|&i| calls.f[i]).collect();
    let ins_a: Vec<u32> = ix.iter().map(|&i| calls.a[i]).collect();
    let ins_b: Vec<u32> = ix.iter().map(|&i| calls.b[i]).collect();
    let outs: Vec<u32> = ix.iter().map(|&i| calls.out[i]).collect();

    let mut res = Res {
        status: Status::Invalid,
        states: 0,
        steps: 0,
        blocked_op: -1,
        blocked_states: Vec::new(),
        blocked_count: 0,
        linearised: 0,
        max_states: 0,
        unordered: Vec::new(),
    };
    let required = retp.iter().filter(|r| r.is_some()).count();
    if required == 0 {
        res.status = Status::Valid;
        return res;
    }

    // events sorted as Python sorts (position, op, is_call): a return before a call at a tie
    let mut events: Vec<(i64, usize, bool)> = Vec::with_capacity(2 * n);
    for i in 0..n {
        events.push((callp[i], i, true));
        if let Some(r) = retp[i] {
            events.push((r, i, false));
        }
    }
    events.sort_unstable();
    let size = events.len() + 2;
    let mut nxt: Vec<usize> = (1..=size).collect();
    let mut prv: Vec<isize> = (-1..(size as isize - 1)).collect();
    let mut is_call = vec![false; size];
    let mut op_of = vec![0usize; size];
    let mut call_e = vec![0usize; n];
    let mut ret_e: Vec<isize> = vec![-1; n];
    for (k, &(_, i, c)) in events.iter().enumerate() {
        let e = k + 1;
        is_call[e] = c;
        op_of[e] = i;
        if c {
            call_e[i] = e;
        } else {
            ret_e[i] = e as isize;
        }
    }

    let definite: Vec<bool> = retp.iter().map(|r| r.is_some()).collect();
    let mut bit = vec![0usize; n];
    let (mut nd, mut ni) = (0usize, 0usize);
    for i in 0..n {
        if definite[i] {
            bit[i] = nd;
            nd += 1;
        } else {
            bit[i] = ni;
            ni += 1;
        }
    }
    // symmetry: indeterminate ops of the same f and input, taken earliest first
    let mut klass = vec![0usize; n];
    let mut rank = vec![0u64; n];
    let mut by_call: Vec<usize> = (0..n).collect();
    by_call.sort_by_key(|&i| callp[i]);
    let mut classes: FxMap<(u8, u32, u32), usize> = FxMap::default();
    let mut members: Vec<u64> = Vec::new();
    for &i in &by_call {
        if !definite[i] {
            let next = classes.len();
            let c = *classes.entry((fs[i], ins_a[i], ins_b[i])).or_insert(next);
            if c == members.len() {
                members.push(0);
            }
            klass[i] = c;
            rank[i] = members[c];
            members[c] += 1;
        }
    }
    let mut used = vec![0u64; members.len()];
    let max_states = budget
        .max_states
        .min(budget.max_bytes / (120 + ((nd + ni) / 8) as u64));

    let mut state = init;
    let mut lin = S::empty(nd);
    let mut linfo = S::empty(ni);
    let mut stack: Vec<(usize, u32)> = Vec::new();
    // (lin, state) -> the indeterminate sets seen with it
    let mut cache: FxMap<(S, u32), Seen<S>> = FxMap::default();
    let mut n_states: u64 = 0;
    let mut remaining = required;
    let mut block_e = 0usize;
    let mut deepest: Vec<usize> = Vec::new();
    let (mut ticks, mut steps) = (0u64, 0u64);
    let mut entry = nxt[0];
    loop {
        ticks += 1;
        if ticks >= CHECK_EVERY {
            steps += ticks;
            ticks = 0;
            if budget.expired() {
                res.status = Status::Time;
                break;
            }
            if (steps as f64) > budget.max_steps {
                res.status = Status::Steps;
                break;
            }
        }
        if is_call[entry] {
            let o = op_of[entry];
            if !definite[o] && rank[o] != used[klass[o]] {
                entry = nxt[entry];
                continue;
            }
            if let Some(new) = step(model, states, state, fs[o], ins_a[o], ins_b[o], outs[o]) {
                // the configuration after o: (lin + o, new) or (lin, new) with linfo + o
                if definite[o] {
                    lin.flip(bit[o]);
                } else {
                    linfo.flip(bit[o]);
                    used[klass[o]] += 1;
                }
                let fresh = match cache.entry((lin.clone(), new)) {
                    std::collections::hash_map::Entry::Vacant(v) => {
                        v.insert(Seen {
                            first: linfo.clone(),
                            more: Vec::new(),
                        });
                        true
                    }
                    std::collections::hash_map::Entry::Occupied(mut o) => {
                        let seen = o.get_mut();
                        let fresh = !seen.first.within(&linfo)
                            && !seen.more.iter().any(|s| s.within(&linfo));
                        if fresh {
                            seen.more.push(linfo.clone());
                        }
                        fresh
                    }
                };
                if fresh {
                    n_states += 1;
                    stack.push((o, state));
                    state = new;
                    // lift the op's call and return out of the list
                    nxt[prv[entry] as usize] = nxt[entry];
                    prv[nxt[entry]] = prv[entry];
                    let r = ret_e[o];
                    if r >= 0 {
                        let r = r as usize;
                        nxt[prv[r] as usize] = nxt[r];
                        prv[nxt[r]] = prv[r];
                        remaining -= 1;
                        if remaining == 0 {
                            res.status = Status::Valid;
                            break;
                        }
                    }
                    if n_states > max_states {
                        res.status = Status::States;
                        break;
                    }
                    entry = nxt[0];
                    continue;
                }
                // not fresh: undo
                if definite[o] {
                    lin.flip(bit[o]);
                } else {
                    linfo.flip(bit[o]);
                    used[klass[o]] -= 1;
                }
            }
            entry = nxt[entry];
        } else {
            // the return of an op not linearised yet: this order cannot work
            if entry >= block_e {
                if entry > block_e {
                    block_e = entry;
                    res.blocked_states.clear();
                    res.blocked_count = 0;
                    res.linearised = stack.len() as u64;
                    deepest = stack.iter().map(|&(o, _)| o).collect();
                }
                res.blocked_count += 1;
                if res.blocked_states.len() < MAX_EVIDENCE_STATES
                    && !res.blocked_states.iter().any(|&(s, _)| s == state)
                {
                    res.blocked_states.push((state, setter(&stack, state)));
                }
            }
            let Some((o, before)) = stack.pop() else {
                break; // every order failed
            };
            state = before;
            if definite[o] {
                lin.flip(bit[o]);
            } else {
                linfo.flip(bit[o]);
                used[klass[o]] -= 1;
            }
            let e = call_e[o];
            let r = ret_e[o];
            if r >= 0 {
                let r = r as usize;
                nxt[prv[r] as usize] = r;
                prv[nxt[r]] = r as isize;
                remaining += 1;
            }
            nxt[prv[e] as usize] = e;
            prv[nxt[e]] = e as isize;
            entry = nxt[e];
        }
    }
    res.states = n_states;
    res.steps = steps + ticks;
    if !matches!(res.status, Status::Valid | Status::Invalid) && block_e != 0 {
        let mut done = vec![false; n];
        for &o in &deepest {
            done[o] = true;
        }
        res.unordered = (0..n)
            .filter(|&i| call_e[i] < block_e && !done[i] && definite[i])
            .map(|i| i as u32)
            .collect();
    }
    res.max_states = max_states;
    if block_e != 0 {
        res.blocked_op = op_of[block_e] as i64;
    }
    res
}

/// search.py `setter`: the op that produced `state` on this branch (-1: the initial value).
fn setter(stack: &[(usize, u32)], state: u32) -> i64 {
    for &(o, before) in stack.iter().rev() {
        if before != state {
            return o as i64;
        }
    }
    -1
}
