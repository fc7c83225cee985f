"""Random and malformed requests: every reply is 400/413 or one the scheduler decodes.

Thousands of requests across three generators: arbitrary bytes, arbitrary JSON,
and ExtenderArgs-shaped JSON with random pods, names and node objects (the shape
most likely to reach the decision code).
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.builders import node, pod
from tests.extender.conftest import client_of, runtime_of
from tests.extender.godecode import decode_priorities, scheduler_filter, scheduler_prioritize

KEY = "joulie.io/power-profile"

CLIENT = client_of(
    runtime_of(
        [
            node("a", "performance"),
            node("b", "eco"),
            node("c", "eco", draining=True),
            node("u", managed=False),
            pod("x", "c", "performance"),
        ],
        hp_frac=0.34,
    ),
    max_body_bytes=64 * 1024,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
names = st.sampled_from(["a", "b", "c", "u", "ghost", "", 'a"b', "ünïcode", "a" * 300])
quantities = (
    st.sampled_from(["1", "500m", "2.5", "1e3", "1Ki", "-1", "abc", "", "1e999999999", "0.0001m"]) | json_values
)
pods = (
    st.fixed_dictionaries(
        {},
        optional={
            "metadata": st.fixed_dictionaries(
                {}, optional={"name": json_values | st.text(max_size=5), "namespace": json_values, "uid": json_values}
            ),
            "spec": st.fixed_dictionaries(
                {},
                optional={
                    "nodeSelector": st.dictionaries(
                        st.sampled_from([KEY, "x"]),
                        st.sampled_from(["performance", "eco", "x"]) | json_values,
                        max_size=2,
                    ),
                    "containers": st.lists(
                        st.fixed_dictionaries(
                            {},
                            optional={
                                "resources": st.fixed_dictionaries(
                                    {},
                                    optional={
                                        "requests": st.dictionaries(
                                            st.sampled_from(["cpu", "nvidia.com/gpu"]), quantities, max_size=2
                                        )
                                    },
                                )
                            },
                        )
                        | json_values,
                        max_size=3,
                    ),
                    "affinity": json_values,
                    "overhead": st.dictionaries(st.just("cpu"), quantities, max_size=1),
                },
            ),
        },
    )
    | json_values
)
node_objects = (
    st.fixed_dictionaries(
        {
            "metadata": st.fixed_dictionaries(
                {"name": names},
                optional={
                    "labels": st.dictionaries(
                        st.sampled_from([KEY, "joulie.io/managed", "joulie.io/draining"]),
                        st.sampled_from(["true", "eco", "performance"]),
                        max_size=3,
                    )
                    | json_values
                },
            )
        }
    )
    | json_values
)
shaped = st.fixed_dictionaries(
    {},
    optional={
        "Pod": pods,
        "NodeNames": st.lists(names, max_size=8) | json_values,
        "Nodes": st.fixed_dictionaries(
            {}, optional={"metadata": json_values, "items": st.lists(node_objects, max_size=5)}
        )
        | json_values,
    },
)


def check(verb: str, body: bytes) -> None:
    r = CLIENT.post(f"/{verb}", content=body)
    assert r.status_code in (200, 400, 413), (r.status_code, r.text[:300])
    if r.status_code != 200:
        assert r.json()["error"]
        return
    sent = json.loads(body)
    full = sent.get("NodeNames") is None
    inputs = [n["metadata"]["name"] for n in sent["Nodes"].get("items") or []] if full else sent["NodeNames"]
    if verb == "filter":
        got = scheduler_filter(not full, inputs, r.status_code, r.content)
        assert got.error is None, got.error
        assert set(got.feasible) | set(got.unresolvable) == set(inputs)
    else:
        assert scheduler_prioritize(r.status_code, r.content) is not None
        hosts = decode_priorities(r.content)
        assert [h for h, _ in hosts] == inputs
        assert all(0 <= s <= 10 for _, s in hosts)


SETTINGS = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)


@SETTINGS
@given(verb=st.sampled_from(["filter", "prioritize"]), body=st.binary(max_size=200))
def test_random_bytes(verb, body):
    check(verb, body)


@SETTINGS
@given(verb=st.sampled_from(["filter", "prioritize"]), value=json_values)
def test_random_json(verb, value):
    check(verb, json.dumps(value).encode())


@settings(max_examples=1200, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(verb=st.sampled_from(["filter", "prioritize"]), value=shaped)
def test_random_extender_args(verb, value):
    check(verb, json.dumps(value).encode())
