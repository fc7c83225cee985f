"""Who gets the page and who keeps getting JSON, by the ``Accept`` headers real clients send."""

from __future__ import annotations

import pytest

from extender.plan_page import prefers_html

CHROME = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,"
    "application/signed-exchange;v=b3;q=0.7"
)
FIREFOX = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
SAFARI = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.mark.parametrize("accept", [CHROME, FIREFOX, SAFARI, "text/html", "text/*", "application/xhtml+xml"])
def test_a_browser_navigating_to_plan_gets_the_page(accept):
    assert prefers_html(accept)


@pytest.mark.parametrize(
    "accept",
    [
        None,  # Python's urllib, many scripts
        "",
        "*/*",  # curl, httpx, fetch() without headers
        "application/json",  # the page's own fetch, jq pipelines with -H
        "application/json, text/html",  # a tie keeps JSON
        "text/html;q=0.5, application/json",
        "text/html;q=0",  # HTML refused outright
        "application/*",
        "text/plain",
        "text/html;q=banana",  # an invalid weight drops the range
        "garbage",
        ",,,;;;",
    ],
)
def test_every_other_client_keeps_json(accept):
    assert not prefers_html(accept)


def test_the_most_specific_range_sets_a_types_weight():
    # */* would rank JSON 1.0, but application/json itself says 0.1: HTML at 0.5 wins
    assert prefers_html("*/*, application/json;q=0.1, text/html;q=0.5")
    # text/* says 1.0 but text/html itself says 0.1: JSON (via */* at 0.8) wins
    assert not prefers_html("text/*, text/html;q=0.1, */*;q=0.8")


def test_a_huge_header_is_read_only_so_far():
    assert not prefers_html("application/json," * 10_000 + "text/html")
