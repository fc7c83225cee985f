"""The plan page: one HTML document with its stylesheet and script inlined, built once per process.

The assets ship as package data (``assets/plan.html``, ``plan.css``, ``plan.js``) and nothing is
fetched from anywhere but the server that served the page: clusters are often offline, and a
page that loads code from a CDN would hand that CDN the operator's session. The script reads
the plan with ``fetch("plan")`` from the URL it was served at, so the page works under the
extender's URL prefix, on the loopback plan port and through ``kubectl port-forward`` or the
API server's service proxy alike.

The Content-Security-Policy allows exactly the inlined script and stylesheet (by hash),
requests to the page's own origin, and nothing else: node names, pod names and reasons come
from the cluster, and even if a rendering bug let one into the markup it could neither run
nor send anything away.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Final

HTML_MEDIA_TYPE: Final = "text/html; charset=utf-8"
STYLE_SLOT: Final = "/*@plan.css@*/"
SCRIPT_SLOT: Final = "/*@plan.js@*/"


@dataclass(frozen=True, slots=True)
class PlanPage:
    """The page's bytes and the headers every response carrying it must send."""

    body: bytes
    headers: Mapping[str, str]
    media_type: str = HTML_MEDIA_TYPE


def _asset(name: str) -> str:
    return (resources.files(__package__) / "assets" / name).read_text(encoding="utf-8")


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def build_page(html: str, css: str, js: str) -> PlanPage:
    """Inline ``css`` and ``js`` into ``html``'s slots and derive the headers that allow only them."""
    if html.count(STYLE_SLOT) != 1 or html.count(SCRIPT_SLOT) != 1:
        raise ValueError(f"the page template must hold {STYLE_SLOT} and {SCRIPT_SLOT} once each")
    if "</script" in js.lower() or "</style" in css.lower():
        raise ValueError("an asset closes its own element: it would end the inlined block early")
    # The hash covers the element's text exactly: the slot is the whole content of its element.
    body = html.replace(STYLE_SLOT, css).replace(SCRIPT_SLOT, js)
    policy = "; ".join(
        [
            "default-src 'none'",
            f"script-src {_sha256(js)}",
            f"style-src {_sha256(css)}",
            "connect-src 'self'",
            "img-src data:",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )
    headers = {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
        "Vary": "Accept",
    }
    return PlanPage(body.encode(), MappingProxyType(headers))


@cache
def plan_page() -> PlanPage:
    """The packaged page (read from the package data once)."""
    return build_page(_asset("plan.html"), _asset("plan.css"), _asset("plan.js"))
