"""Reports built from a results folder alone: HTML run report, JUnit XML, run comparison.

Every function here reads spec.json / history.jsonl / verdict.json and writes files beside
them; nothing needs the cluster, so reports can be regenerated from old results."""
