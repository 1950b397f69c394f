"""Cassandra's generated node files and JVM command line (no JVM runs here)."""

from __future__ import annotations

from pathlib import PurePosixPath

import yaml

from harness.db.cassandra import (
    LOG_PREFIX,
    RACKDC,
    Cassandra,
    cassandra_yaml,
    initial_tokens,
    jvm_argv,
)
from harness.db.cassandra_clients import schema
from harness.spec import TestSpec

D = PurePosixPath("/var/tmp/splitbrain/r1/nodes/n2")


def test_tokens_are_distinct_evenly_spaced_and_in_range() -> None:
    for n in (1, 3, 5):
        t = initial_tokens(n)
        assert len(set(t)) == n and t[0] == -(2**63)
        assert all(-(2**63) <= x < 2**63 for x in t)
        steps = {b - a for a, b in zip(t, t[1:], strict=False)}
        assert len(steps) <= 1


def test_yaml_names_the_node_its_seeds_and_its_directories() -> None:
    y = yaml.safe_load(cassandra_yaml("198.18.0.12", ["198.18.0.11"], D, 42))
    assert y["listen_address"] == y["rpc_address"] == "198.18.0.12"
    assert y["seed_provider"][0]["parameters"][0]["seeds"] == "198.18.0.11"
    assert (y["num_tokens"], y["initial_token"], y["auto_bootstrap"]) == (1, 42, False)
    assert y["endpoint_snitch"] == "GossipingPropertyFileSnitch"
    assert (y["commitlog_sync"], y["auto_snapshot"], y["concurrent_compactors"]) == (
        "periodic",
        False,
        1,
    )
    assert y["data_file_directories"] == [str(D / "data")]
    for key in ("commitlog_directory", "hints_directory", "saved_caches_directory"):
        assert y[key].startswith(str(D) + "/")


def test_snitch_datacenter_is_the_keyspaces() -> None:
    assert "dc=dc1" in RACKDC.splitlines()
    ks = schema(2)[0]
    assert "'NetworkTopologyStrategy', 'dc1': 2" in ks


def test_jvm_argv_heap_classpath_java17_flags_and_config() -> None:
    argv = jvm_argv("/usr/bin/java", "/opt/cassandra", D, "512M", "/opt/cassandra/lib/jamm.jar")
    assert argv[0] == "/usr/bin/java" and argv[-1] == "org.apache.cassandra.service.CassandraDaemon"
    assert "-Xms512M" in argv and "-Xmx512M" in argv
    assert argv[argv.index("-cp") + 1] == "/opt/cassandra/lib/*"
    assert f"-Dcassandra.config=file://{D}/conf/cassandra.yaml" in argv
    assert "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED" in argv
    assert "-javaagent:/opt/cassandra/lib/jamm.jar" in argv
    assert "-Dcassandra.skip_wait_for_gossip_to_settle=0" in argv
    assert "-XX:TieredStopAtLevel=1" in argv  # c1_only by default
    full = jvm_argv("java", "/c", D, "1G", "/c/lib/jamm.jar", c1_only=False)
    assert not any(a.startswith("-XX:TieredStopAtLevel") for a in full)


def test_deployment_facts() -> None:
    d = Cassandra.deployment
    assert d.user == "cassandra" and d.ports == {"client": 9042}  # peers use storage_port
    assert d.image == "splitbrain/cassandra:5.0.6" and d.required()[0][0] == "java"
    assert d.required(lambda k, v: "/opt/cassandra" if k == "cassandra_home" else v)[1][0] == (
        "/opt/cassandra/lib"
    )
    names = {o.name for o in Cassandra.options}
    assert {
        "write_cl",
        "read_cl",
        "serial_cl",
        "replication_factor",
        "lwt",
        "clock_skew_ms",
    } <= names
    assert {"heap"} <= names
    Cassandra(TestSpec(db="cassandra", workload="set", nemesis=("partition",))).validate()


def test_a_wildcard_bind_announces_the_peer_address() -> None:
    y = yaml.safe_load(cassandra_yaml("n2", ["n1"], D, 0, bind="0.0.0.0"))
    assert "listen_address" not in y  # Cassandra takes its host name's address
    assert (y["broadcast_address"], y["rpc_address"], y["broadcast_rpc_address"]) == (
        "n2",
        "0.0.0.0",
        "n2",
    )
    y = yaml.safe_load(cassandra_yaml("198.18.0.12", ["198.18.0.11"], D, 0, bind="10.0.0.2"))
    assert (y["listen_address"], y["broadcast_address"]) == ("10.0.0.2", "198.18.0.12")


def test_log_prefix_is_cut_from_error_lines() -> None:
    line = "INFO  [main] 2026-12-01 21:17:27,742 Keyspace.java:379 - Creating replication"
    assert LOG_PREFIX.sub("", line) == "Creating replication"
    assert LOG_PREFIX.sub("", "Terminating due to java.lang.OutOfMemoryError") == (
        "Terminating due to java.lang.OutOfMemoryError"
    )
