"""Hunt and shrink (issue 27): find an anomaly in fewer runs, and hand back the smallest run
that still shows it.

The search is pure and tested with fake runs; only hunt.py and shrink.py call a RunFn (a
function that runs a spec into a results folder, harness.runner.run in production):
- stats.py: confidence intervals of a rate (Clopper-Pearson, Wilson), the k-of-n acceptance
  rule, budgets;
- targets.py: what counts as showing the anomaly looked for;
- steer.py: what a hunt may vary (what the flags leave open) and the score that steers it;
- candidates.py: the smaller specs a shrink tries, in order;
- hunt.py, shrink.py: the loops, their folders and summaries.
"""
