"""The nemesis: fault kinds, partition shapes (grudges) and seeded schedules.

Every fault is recorded in the history as two nemesis ops, Jepsen style (an `invoke` then an
`info` completion), `f` = "start-<fault>" when it begins and "stop-<fault>" when it ends,
so checkers and plots know when each fault was active (see nemesis/record.py).
"""
