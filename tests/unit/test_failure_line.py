"""failure_line: the line of a failed command's output that names why it failed."""

from harness.cluster import failure_line


def test_the_error_line_wins_over_a_later_clean_up_line() -> None:
    out = (
        "pg_basebackup: error: could not connect to server: Connection refused\n"
        'pg_basebackup: removing data directory "/var/lib/n2"\n'
    )
    assert failure_line(out, 1) == (
        "pg_basebackup: error: could not connect to server: Connection refused"
    )


def test_apt_marks_its_errors_with_E() -> None:
    out = (
        "Reading package lists...\n"
        "E: Unable to locate package postgresql-99\n"
        "Building dependency tree...\n"
    )
    assert failure_line(out, 100) == "E: Unable to locate package postgresql-99"


def test_without_a_marked_line_the_last_one_and_without_output_the_status() -> None:
    assert failure_line("starting\nsegmentation fault\n\n", 139) == "segmentation fault"
    assert failure_line("  \n", 3) == "exit status 3"
