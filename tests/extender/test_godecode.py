"""The Go-decoding model in godecode.py reproduces what a real kube-scheduler did with each reply."""

from __future__ import annotations

import json

import pytest

from tests.extender.godecode import (
    GoDecodeError,
    decode_priorities,
    scheduler_filter,
    scheduler_prioritize,
)


def reactions(fixtures_dir):
    return json.loads((fixtures_dir / "scheduler-reactions.json").read_text())


def test_every_captured_reaction_is_reproduced(fixtures_dir):
    for case in reactions(fixtures_dir):
        inputs = ["node-a", "node-b"]
        feasible: list[str] | None = None
        errored = False
        scores: dict[str, int] = {}
        for r in case["extender_responses"]:
            body = json.dumps(r["response"]).encode()
            if r["verb"] == "filter":
                got = scheduler_filter(case["nodeCacheCapable"], inputs, r["status"], body)
                errored = got.error is not None
                feasible = got.feasible
            else:
                scores = scheduler_prioritize(r["status"], body) or {}
        bound = case["result_nodeName"]
        if bound is None:
            assert errored or feasible == [], case["case"]
        else:
            assert not errored and bound in feasible, case["case"]
            if scores and len(set(scores.values())) > 1:
                assert bound == max(scores, key=scores.get), case["case"]


def test_names_only_reply_in_full_mode_filters_out_everything():
    body = b'{"Nodes":null,"NodeNames":["node-a"],"FailedNodes":{},"FailedAndUnresolvableNodes":{},"Error":""}'
    assert scheduler_filter(False, ["node-a"], 200, body).feasible == []
    assert scheduler_filter(True, ["node-a"], 200, body).feasible == ["node-a"]


def test_names_outside_the_input_are_an_error():
    body = b'{"NodeNames":["node-z"]}'
    assert scheduler_filter(True, ["node-a"], 200, body).error


@pytest.mark.parametrize("score", [b"7.0", b"7.5", b'"7"', b"1e1", b"true", b"9223372036854775808"])
def test_non_integer_scores_fail_decoding(score):
    with pytest.raises(GoDecodeError):
        decode_priorities(b'[{"Host":"a","Score":' + score + b"}]")
    assert scheduler_prioritize(200, b'[{"Host":"a","Score":' + score + b"}]") is None


def test_keys_match_case_insensitively_like_go():
    assert decode_priorities(b'[{"host":"a","SCORE":3}]') == [("a", 3)]
