"""Elle-style transactional checker for list-append histories (registered as "list-append").

scan.py: shape checks and indexes; internal.py: anomalies within a txn; versions.py: version
orders and the anomalies read directly off them; edges.py: dependency edges and SCCs;
cycles.py: per-class cycle search; anomalies.py: the taxonomy as data; explain.py: evidence
in words; listappend.py: the check itself; native.py: the optional native core (native/),
which decides clean histories straight from the file (listappend.check_native).
"""

from harness.checkers.elle.anomalies import ANOMALIES
from harness.checkers.elle.listappend import OPTIONS, check

__all__ = ["ANOMALIES", "OPTIONS", "check"]
