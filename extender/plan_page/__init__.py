"""``/plan`` for people: a live page in the browser beside the JSON, on the same routes.

``GET /plan`` answers JSON, byte for byte as before, to every client that does not prefer HTML
(:func:`prefers_html`); a browser gets :func:`plan_page`, which reads that same JSON every few
seconds and renders it. ``GET /`` is the page on every listener that serves ``/plan`` (the
extender port, or the loopback ``--plan-port``), and nowhere else: the page shows nothing the
JSON does not, and holds no secret itself.
"""

from __future__ import annotations

from extender.plan_page.negotiate import prefers_html
from extender.plan_page.page import HTML_MEDIA_TYPE, PlanPage, build_page, plan_page

__all__ = ["HTML_MEDIA_TYPE", "PlanPage", "build_page", "plan_page", "prefers_html"]
