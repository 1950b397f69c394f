from typing import Any

from harness.checkers.set import check
from tests.builder import H


def final(h: H, t: float, node: str, content: Any) -> H:
    return h.call(t, t + 0.01, f"final-{node}", "final-read", None, content, node=node)


def test_all_acknowledged_adds_present_is_valid():
    h = H().call(0, 0.1, 0, "add", [0, 1]).call(0.2, 0.3, 1, "add", [0, 2])
    h.call(0.4, 0.5, 0, "read", [0, None], [0, [1, 2]])
    final(h, 1, "n1", [[0, [1, 2]]])
    final(h, 1, "n2", [[0, [1, 2]]])
    v = check(h.ops)
    assert v.valid is True, v.anomalies
    assert v.stats["acknowledged"] == 2 and v.stats["lost"] == 0


def test_acknowledged_add_missing_from_final_reads_is_lost():
    h = H().call(0, 0.1, 0, "add", [0, 1]).call(0.2, 0.3, 1, "add", [0, 2])
    final(h, 1, "n1", [[0, [1]]])
    v = check(h.ops)
    assert v.valid is False
    assert v.counts == {"lost-write": 1}
    lost = v.anomalies[0]
    assert lost.data["value"] == 2
    assert 3 in lost.ops  # the ok of the add proves it was acknowledged
    assert "acknowledged at 0.30 s" in lost.explanation


def test_failed_and_indeterminate_adds_are_not_lost():
    h = H().call(0, 0.1, 0, "add", [0, 1], typ="fail").call(0, 0.1, 1, "add", [0, 2], typ="info")
    h.invoke(0.2, 2, "add", [0, 3])  # never completed
    final(h, 1, "n1", [[0, [2]]])
    v = check(h.ops)
    assert v.valid is True, v.anomalies
    assert v.stats["recovered"] == 1


def test_failed_add_that_shows_up_is_reported():
    h = H().call(0, 0.1, 0, "add", [0, 1], typ="fail")
    final(h, 1, "n1", [[0, [1]]])
    v = check(h.ops)
    assert v.counts == {"failed-add-visible": 1}


def test_stale_read_reports_how_stale():
    h = H().call(0, 1.0, 0, "add", [0, 7])
    h.call(3.5, 3.6, 1, "read", [0, None], [0, []], node="n2")
    final(h, 5, "n1", [[0, [7]]])
    v = check(h.ops)
    assert v.counts == {"stale-read": 1}
    a = v.anomalies[0]
    assert abs(a.data["staleness_s"] - 2.5) < 1e-9
    assert "on n2" in a.explanation and "2.50 s stale" in a.explanation
    # the read that missed 7 completed 2.6 s after 7 was acknowledged
    assert v.stats["time_to_visibility_s"]["max"] == 2.6


def test_read_concurrent_with_add_may_miss_it():
    h = H().invoke(0, 0, "add", [0, 7])
    h.call(0.5, 2.0, 1, "read", [0, None], [0, []])
    h.ok(1.0, 0, "add", [0, 7])
    final(h, 5, "n1", [[0, [7]]])
    assert check(h.ops).valid is True


def test_lost_element_is_not_also_a_stale_read():
    h = H().call(0, 1.0, 0, "add", [0, 7])
    h.call(2, 2.1, 1, "read", [0, None], [0, []])
    final(h, 5, "n1", [[0, []]])
    assert check(h.ops).counts == {"lost-write": 1}


def test_unexpected_element():
    h = H().call(0, 0.1, 0, "read", [0, None], [0, [99]])
    final(h, 1, "n1", [[0, []]])
    assert check(h.ops).counts == {"unexpected": 1}


def test_divergent_final_reads():
    h = H().call(0, 0.1, 0, "add", [0, 1])
    final(h, 1, "n1", [[0, [1]]])
    final(h, 1, "n2", [[0, []]])
    v = check(h.ops)
    assert v.counts == {"divergence": 1}
    assert v.anomalies[0].data["missing"] == ["n2"]


def test_no_final_read_means_unknown():
    h = H().call(0, 0.1, 0, "add", [0, 1])
    v = check(h.ops)
    assert v.valid == "unknown"
    assert v.notes


def test_nemesis_ops_are_ignored():
    h = H().invoke(0, "nemesis", "start-partition", {"shape": "halves"})
    h.info(0.01, "nemesis", "start-partition", {"shape": "halves"})
    h.call(0, 0.1, 0, "add", [0, 1])
    final(h, 1, "n1", [[0, [1]]])
    assert check(h.ops).valid is True


# -- wrong shapes (issue 11): one-line HistoryErrors naming the op --------------------------

import math  # noqa: E402

import pytest  # noqa: E402

from harness.errors import HistoryError, SpecError  # noqa: E402


@pytest.mark.parametrize(
    "build,message",
    [
        (lambda h: h.call(0, 0.1, 0, "add", {"k": 0, "v": 1}), r"op 0 \(invoke add\): value must"),
        (
            lambda h: h.call(0, 0.1, 0, "add", 7),
            r"op 0 \(invoke add\): value must be \[key value\]",
        ),
        (
            lambda h: h.call(0, 0.1, 0, "add", [0, {"x": 1}]),
            "an element must be a scalar or a list",
        ),
        (lambda h: h.call(0, 0.1, 0, "add", [0, math.inf]), "an element must be finite"),
        (lambda h: h.call(0, 0.1, 0, "add", [0, 10**400]), "an element is out of range"),
        (lambda h: h.call(0, 0.1, 0, "read", [0, None], [0, 5]), r"op 1 \(ok read\): a read's"),
        (lambda h: h.call(0, 0.1, 0, "read", [0, None], {"0": [1]}), r"op 1 \(ok read\): value"),
        (lambda h: final(h, 0, "n1", {"0": [1]}), r"op 1 \(ok final-read\): a final read is"),
        (lambda h: final(h, 0, "n1", [[0, 1]]), "a read's elements must be a list, got 1"),
    ],
)
def test_wrong_shapes_are_history_errors(build, message) -> None:
    with pytest.raises(HistoryError, match=message):
        check(build(H()).ops)


def test_keys_and_elements_that_are_lists_are_values_like_others() -> None:
    h = H().call(0, 0.1, 0, "add", [[0, "a"], [1, 2]])
    h.call(0.2, 0.3, 1, "read", [[0, "a"], None], [[0, "a"], [[1, 2]]])
    final(h, 1, "n1", [[[0, "a"], [[1, 2]]]])
    assert check(h.ops).valid is True


def test_a_history_without_set_ops_is_unknown() -> None:
    h = H().call(0, 0.1, 0, "transfer", {"from": 0, "to": 1, "amount": 5})
    v = check(h.ops)
    assert v.valid == "unknown"
    assert v.notes == ["no add or read op in the history: nothing to check"]


def test_the_set_checker_takes_no_options() -> None:
    with pytest.raises(SpecError, match="set option accounts: unknown option here; known: none"):
        check([], accounts=3)


def test_an_unacknowledged_add_read_then_lost_is_reported():
    # Jepsen's set-full counts an element as lost once any read saw it: a write that was never
    # acknowledged, read by a client, then gone after the cluster healed
    h = H().call(0, 5.0, 0, "add", [0, 1], typ="info")
    h.call(1.0, 1.1, 1, "read", [0, None], [0, [1]], node="n1")
    h.invoke(2.0, 2, "add", [0, 2])  # never completed, never read: nothing to say
    final(h, 9, "n2", [[0, []]])
    v = check(h.ops)
    assert v.counts == {"read-then-lost": 1}
    a = v.anomalies[0]
    assert a.data["value"] == 1 and "never acknowledged" in a.explanation
    assert "on n1" in a.explanation and v.stats["read_then_lost"] == 1 and v.stats["lost"] == 0


def test_an_acknowledged_add_read_then_lost_is_a_lost_write_only():
    h = H().call(0, 0.1, 0, "add", [0, 1])
    h.call(1.0, 1.1, 1, "read", [0, None], [0, [1]])
    final(h, 9, "n2", [[0, []]])
    assert check(h.ops).counts == {"lost-write": 1}
