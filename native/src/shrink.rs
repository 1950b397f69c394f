//! The evidence shrink of harness/checkers/linearizable/evidence.py (`Shrinker.run`,
//! `_try_drop`, `_droppable`, `_blockers`), step for step: the same chunks tried in the same
//! order, the same sound drops, the same searches under the same caps, the same work counted
//! (the same float operations in the same order), so the same ops kept. The prefix it shrinks
//! is a `linear::Calls` (positions 0..m); effects are what `Model.effects` says of each op,
//! for the models whose effects are on one register: what value it needs, what it sets.

use crate::fx::FxMap;
use crate::linear::{search, Budget, Calls, Model, Res, States, Status};

const ATTEMPT_FACTOR: f64 = 4.0; // evidence.py ATTEMPT_FACTOR
const ATTEMPT_FLOOR: f64 = 1000.0; // evidence.py ATTEMPT_FLOOR
const WINDOW_START: usize = 8; // evidence.py WINDOW_START

/// Each op's effects: None when unknown (Model.effects gave None); else the value it needs
/// and the value it sets (each None if it needs or sets nothing).
pub type Effect = Option<(Option<u32>, Option<u32>)>;

pub struct Shrink<'a> {
    pub calls: &'a Calls,
    pub model: Model,
    pub init: u32,
    pub states: &'a mut States,
    pub eff: &'a [Effect],
    /// the model's initial value (what no write needs to have set), if it has one
    pub initial: Option<u32>,
    pub x: u32,
    pub pinned: Vec<bool>,
    /// the shrink's budget: its deadline, states, memory; max_steps is the budget's own
    pub budget: &'a Budget,
    pub work: f64,
    pub cost: f64,
}

pub struct Outcome {
    pub keep: Vec<u32>,
    pub res: Option<Res>,
    pub done: bool,
}

const INF: i64 = i64::MAX; // a return at +infinity (indeterminate)
const NEG_INF: i64 = i64::MIN;

fn ret_of(c: &Calls, i: u32) -> i64 {
    c.ret[i as usize].unwrap_or(INF)
}

/// Python's bisect.bisect_right / bisect_left, the same probes on any list.
fn bisect_right(a: &[i64], x: i64) -> usize {
    let (mut lo, mut hi) = (0, a.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        if x < a[mid] {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

fn bisect_left(a: &[i64], x: i64) -> usize {
    let (mut lo, mut hi) = (0, a.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        if a[mid] < x {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

impl Shrink<'_> {
    fn spent(&self) -> bool {
        self.work <= 0.0 || self.budget.expired()
    }

    /// Shrinker.run: (kept positions, their search result, done).
    pub fn run(&mut self, likely: &[bool]) -> Outcome {
        let m = self.calls.call.len() as u32;
        let mut keep: Vec<u32> = (0..m).collect();
        let mut res: Option<Res> = None;
        let first: Vec<u32> = keep
            .iter()
            .copied()
            .filter(|&i| !likely[i as usize])
            .collect();
        if let Some((k, r)) = self.try_drop(&keep, &first, true) {
            keep = k;
            res = Some(r);
        } else {
            let mut w = WINDOW_START;
            while 2 * w <= first.len() {
                if self.spent() {
                    return Outcome {
                        keep,
                        res,
                        done: false,
                    };
                }
                if let Some((k, r)) = self.try_drop(&keep, &first[..first.len() - w], false) {
                    keep = k;
                    res = Some(r);
                    break;
                }
                w *= 4;
            }
        }
        let mut n = 1usize;
        let mut progress = true;
        loop {
            let cands: Vec<u32> = keep
                .iter()
                .copied()
                .filter(|&i| !self.pinned[i as usize])
                .collect();
            if cands.is_empty() || (!progress && n >= cands.len()) {
                return Outcome {
                    keep,
                    res,
                    done: true,
                };
            }
            if self.spent() {
                return Outcome {
                    keep,
                    res,
                    done: false,
                };
            }
            if !progress {
                n = (2 * n).min(cands.len());
            }
            let size = cands.len().div_ceil(n);
            progress = false;
            let mut j = 0;
            while j < cands.len() {
                if self.spent() {
                    return Outcome {
                        keep,
                        res,
                        done: false,
                    };
                }
                let chunk = &cands[j..(j + size).min(cands.len())];
                if let Some((k, r)) = self.try_drop(&keep, chunk, false) {
                    keep = k;
                    res = Some(r);
                    progress = true;
                }
                j += size;
            }
        }
    }

    /// Shrinker._try_drop: (the ops left, their result) if the sound part of `chunk` can go.
    fn try_drop(
        &mut self,
        keep: &[u32],
        chunk: &[u32],
        unlimited: bool,
    ) -> Option<(Vec<u32>, Res)> {
        let drop = self.droppable(keep, chunk);
        if drop.is_empty() {
            return None;
        }
        let mut gone = vec![false; self.calls.call.len()];
        for &i in &drop {
            gone[i as usize] = true;
        }
        let rest: Vec<u32> = keep
            .iter()
            .copied()
            .filter(|&i| !gone[i as usize])
            .collect();
        let cap = if unlimited {
            f64::INFINITY
        } else {
            // Python's min(work, 4 * cost + 1000)
            let c = ATTEMPT_FACTOR * self.cost + ATTEMPT_FLOOR;
            if c < self.work {
                c
            } else {
                self.work
            }
        };
        let b = Budget {
            deadline: self.budget.deadline,
            max_states: self.budget.max_states,
            max_bytes: self.budget.max_bytes,
            max_steps: if cap < self.budget.max_steps {
                cap
            } else {
                self.budget.max_steps
            },
        };
        let r = search(
            self.calls,
            Some(&rest),
            self.model,
            self.init,
            self.states,
            &b,
        );
        self.work -= r.steps as f64;
        if r.status == Status::Invalid && r.blocked_op >= 0 && rest[r.blocked_op as usize] == self.x
        {
            self.cost = r.steps as f64;
            return Some((rest, r));
        }
        None
    }

    /// Shrinker._droppable: the ops of `chunk` that can be dropped together, soundly.
    fn droppable(&mut self, keep: &[u32], chunk: &[u32]) -> Vec<u32> {
        let eff = self.eff;
        let known = keep.iter().all(|&i| eff[i as usize].is_some());
        let mut in_drop = vec![false; self.calls.call.len()];
        let mut drop: Vec<u32> = Vec::new();
        for &i in chunk {
            let ok = !self.pinned[i as usize]
                && match eff[i as usize] {
                    None => false,
                    Some((_, set)) => known || set.is_none(),
                };
            if ok && !in_drop[i as usize] {
                in_drop[i as usize] = true;
                drop.push(i);
            }
        }
        while !drop.is_empty() {
            let rest: Vec<u32> = keep
                .iter()
                .copied()
                .filter(|&i| !in_drop[i as usize])
                .collect();
            self.work -= (2 * rest.len()) as f64;
            let bad = self.blockers(&drop, &rest);
            if bad.is_empty() {
                break;
            }
            for &b in &bad {
                in_drop[b as usize] = false;
            }
            drop.retain(|&i| in_drop[i as usize]);
        }
        drop
    }

    /// Shrinker._blockers: the ops of `drop` that must stay for `rest` to be sound evidence.
    fn blockers(&self, drop: &[u32], rest: &[u32]) -> Vec<u32> {
        let c = self.calls;
        let eff = self.eff;
        // one register: needers and writers by value, the separators are the writers that
        // returned (of any value), all in the order of `rest`
        let mut needers: FxMap<u32, Vec<u32>> = FxMap::default();
        let mut need_order: Vec<u32> = Vec::new(); // values in the order first needed
        let mut writers: FxMap<u32, Vec<u32>> = FxMap::default();
        let mut separators: Vec<u32> = Vec::new();
        for &i in rest {
            let Some((need, set)) = eff[i as usize] else {
                continue;
            };
            if let Some(v) = need {
                let e = needers.entry(v).or_default();
                if e.is_empty() {
                    need_order.push(v);
                }
                e.push(i);
            }
            if let Some(v) = set {
                writers.entry(v).or_default().push(i);
                if c.ret[i as usize].is_some() {
                    separators.push(i);
                }
            }
        }
        let sep_calls: Vec<i64> = separators.iter().map(|&z| c.call[z as usize]).collect();
        let mut suffix = vec![INF; separators.len() + 1];
        for j in (0..separators.len()).rev() {
            suffix[j] = ret_of(c, separators[j]).min(suffix[j + 1]);
        }
        let mut need_index: FxMap<u32, (Vec<i64>, Vec<i64>)> = FxMap::default();
        for (&v, rs) in &needers {
            let mut prefix = vec![NEG_INF; rs.len() + 1];
            for (j, &r) in rs.iter().enumerate() {
                prefix[j + 1] = prefix[j].max(ret_of(c, r));
            }
            need_index.insert(
                v,
                (rs.iter().map(|&r| c.call[r as usize]).collect(), prefix),
            );
        }
        let mut bad: Vec<u32> = Vec::new();
        let mut is_bad: FxMap<u32, ()> = FxMap::default();
        let mut add = |bad: &mut Vec<u32>, w: u32| {
            if is_bad.insert(w, ()).is_none() {
                bad.push(w);
            }
        };
        for &w in drop {
            let Some((_, Some(v))) = eff[w as usize] else {
                continue;
            };
            let Some((calls_, prefix)) = need_index.get(&v) else {
                continue;
            };
            let sep = if separators.is_empty() {
                INF
            } else {
                suffix[bisect_right(&sep_calls, ret_of(c, w))]
            };
            if prefix[bisect_left(calls_, sep)] > c.call[w as usize] {
                add(&mut bad, w);
            }
        }
        let mut by_call: Vec<u32> = drop.to_vec();
        by_call.sort_by_key(|&w| c.call[w as usize]);
        let mut dropped_writers: FxMap<u32, Vec<u32>> = FxMap::default();
        for &w in &by_call {
            if let Some((_, Some(v))) = eff[w as usize] {
                dropped_writers.entry(v).or_default().push(w);
            }
        }
        for &v in &need_order {
            if Some(v) == self.initial {
                continue;
            }
            let Some(back) = dropped_writers.get(&v) else {
                continue;
            };
            let zs: &[u32] = writers.get(&v).map_or(&[], |z| z.as_slice());
            let back_calls: Vec<i64> = back.iter().map(|&w| c.call[w as usize]).collect();
            for &r in &needers[&v] {
                let z = zs.iter().take(2).copied().find(|&z| z != r);
                if z.is_some_and(|z| c.call[z as usize] < ret_of(c, r)) {
                    continue;
                }
                let j = bisect_left(&back_calls, ret_of(c, r));
                if j > 0 {
                    add(&mut bad, back[j - 1]);
                }
            }
        }
        bad
    }
}
