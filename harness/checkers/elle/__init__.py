"""Elle-style transactional checker for list-append histories (registered as "list-append").

graph.py: dependency graph + iterative Tarjan; cycles.py: per-class cycle search;
anomalies.py: the taxonomy as data; listappend.py: inference from reads and explanations.
"""

from harness.checkers.elle.listappend import check

__all__ = ["check"]
