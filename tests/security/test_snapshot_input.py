"""Snapshot files are user input: deep nesting, YAML bombs, bad encodings and invalid objects (issue item 8)."""

from __future__ import annotations

import logging
import time

import pytest

from joulie.cli import main
from labeller.snapshot import SnapshotError, load_snapshot, parse_snapshot

NODE = "apiVersion: v1\nkind: Node\nmetadata: {name: a, labels: {joulie.io/managed: 'true'}}\n"


def test_a_list_nested_5000_deep_is_a_clear_error(tmp_path, capsys):
    path = tmp_path / "deep.yaml"
    path.write_text("[" * 5000 + "]" * 5000)
    assert main(["plan", "--snapshot", str(path)]) == 2
    assert "nested too deeply" in capsys.readouterr().err
    with pytest.raises(SnapshotError, match="nested"):
        parse_snapshot("x:\n" + "".join("  " * i + "- \n" for i in range(100)) + "  " * 100 + "- 1\n")


def test_a_yaml_alias_bomb_is_refused_at_once():
    bomb = "\n".join(
        [NODE, "---", 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
        + [f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]" for i in range(25)]
    )
    started = time.process_time()
    with pytest.raises(SnapshotError, match="YAML aliases"):
        parse_snapshot(bomb, "bomb.yaml")
    assert time.process_time() - started < 1.0


def test_a_non_utf8_file_is_named_in_the_error(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(NODE.encode() + "# caf\xe9\n".encode("latin-1"))
    with pytest.raises(SnapshotError) as err:
        load_snapshot(path)
    assert str(path) in str(err.value) and "UTF-8" in str(err.value)


def test_an_invalid_node_power_profile_is_reported_by_name(caplog):
    bad = (
        NODE + "---\napiVersion: joulie.io/v1alpha1\nkind: NodePowerProfile\nmetadata: {name: node-a}\n"
        "spec: {nodeName: a, profile: turbo}\n"
    )
    with caplog.at_level(logging.WARNING):
        parse_snapshot(bad, "snap.yaml")
    assert "NodePowerProfile node-a is invalid" in caplog.text and "snap.yaml" in caplog.text


def test_yaml_booleans_in_labels_and_strings_in_booleans_are_read_with_a_warning(caplog):
    text = (
        "apiVersion: v1\nkind: Node\nmetadata: {name: a, labels: {joulie.io/managed: true}}\n"
        "spec: {unschedulable: 'false'}\n"
    )
    with caplog.at_level(logging.WARNING):
        snap = parse_snapshot(text)
    a = snap.store.node("a")
    assert a.labels["joulie.io/managed"] == "true" and a.unschedulable is False
    assert "non-string value True" in caplog.text and "spec.unschedulable is 'false'" in caplog.text
