"""Real jobs from a CSV file: replay a day from your own records with ``--trace jobs.csv``.

One row per job, a header naming the columns (any order, case-insensitive)::

    id,arrival,duration,cpu,gpus,class
    train-1,2026-03-02T08:00:00Z,3600,8,1,performance
    etl-7,2026-03-02T08:00:30Z,900,500m,0,eco

- ``arrival`` (required): seconds after the start of the trace, or an RFC 3339 timestamp
  (the earliest one becomes time 0). All rows use the same form.
- ``duration`` (seconds) or ``end`` (same form as ``arrival``): how long the job ran; one of
  them per row. It is taken as the run time at full speed (uncapped).
- ``cpu`` (required): the CPU request as a Kubernetes quantity (``8``, ``500m``, ``1.5``).
- ``gpus`` (default 0): GPUs requested.
- ``class`` (default ``general``): ``performance``, ``eco`` or ``general``.
- ``id`` (default ``row-N``): unique.

Blank lines and lines starting with ``#`` are skipped. A bad row is an error naming the file,
the line and the column; nothing is guessed.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from joulie.core.model import cpu_millis, parse_quantity, timestamp
from simulator.workload import Job, TraceError

REQUIRED = ("arrival", "cpu")
KNOWN = ("id", "arrival", "duration", "end", "cpu", "gpus", "class")
CLASSES = ("performance", "eco", "general")


@dataclass(frozen=True, slots=True)
class _Row:
    line: int
    id: str
    arrival: float
    end: float | None
    duration: float | None
    cpu_millis: int
    gpus: int
    demand: str


class _Times:
    """Arrival and end values: all numbers (seconds) or all RFC 3339 timestamps."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.absolute: bool | None = None

    def parse(self, value: str, line: int, column: str) -> float:
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        absolute = math.isnan(number)
        if absolute:
            parsed = timestamp(text)
            if parsed is None:
                raise TraceError(
                    f"{self.source}:{line}: {column}: {value!r} is neither seconds nor an RFC 3339 timestamp"
                )
            number = parsed
        elif not math.isfinite(number) or number < 0:
            raise TraceError(f"{self.source}:{line}: {column}: {value!r} must be a finite number of seconds >= 0")
        if self.absolute is None:
            self.absolute = absolute
        elif self.absolute != absolute:
            raise TraceError(f"{self.source}:{line}: {column}: mixes timestamps and seconds; use one form throughout")
        return number


def _positive(value: str, source: str, line: int, column: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise TraceError(f"{source}:{line}: {column}: {value!r} is not a number of seconds") from None
    if not math.isfinite(number) or number <= 0:
        raise TraceError(f"{source}:{line}: {column}: {value!r} must be more than 0 seconds")
    return number


def _cpu(value: str, source: str, line: int) -> int:
    try:
        parse_quantity(value.strip())
    except ValueError:
        raise TraceError(f"{source}:{line}: cpu: {value!r} is not a CPU quantity (e.g. 4, 500m, 1.5)") from None
    millis = cpu_millis(value.strip())
    if millis < 1:
        raise TraceError(f"{source}:{line}: cpu: {value!r} must be more than 0")
    return millis


def _gpus(value: str, source: str, line: int) -> int:
    text = value.strip() or "0"
    if not text.isdigit():
        raise TraceError(f"{source}:{line}: gpus: {value!r} is not a whole number of GPUs")
    return int(text)


def read_csv(path: Path) -> list[Job]:
    """Jobs from a CSV of real jobs (the module docstring lists the columns)."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # spreadsheets write a byte-order mark
    except OSError as exc:
        raise TraceError(f"cannot read trace {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise TraceError(f"{path}: not a UTF-8 text file") from None
    lines = [
        (n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip() and not line.startswith("#")
    ]
    if not lines:
        raise TraceError(f"{path}: no header row (expected columns {', '.join(KNOWN)})")
    header_line, header_text = lines[0]
    header = [h.strip().lower() for h in next(csv.reader([header_text]))]
    unknown = [h for h in header if h not in KNOWN]
    if unknown:
        raise TraceError(f"{path}:{header_line}: unknown column(s) {unknown}; known: {', '.join(KNOWN)}")
    if len(set(header)) != len(header):
        raise TraceError(f"{path}:{header_line}: a column is named twice")
    missing = [c for c in REQUIRED if c not in header]
    if missing or not ({"duration", "end"} & set(header)):
        need = missing + ([] if {"duration", "end"} & set(header) else ["duration or end"])
        raise TraceError(f"{path}:{header_line}: missing column(s): {', '.join(need)}")
    times = _Times(str(path))
    rows: list[_Row] = []
    seen: set[str] = set()
    for line, text_row in lines[1:]:
        fields = next(csv.reader([text_row]))
        if len(fields) != len(header):
            raise TraceError(f"{path}:{line}: {len(fields)} fields, the header has {len(header)}")
        row = dict(zip(header, fields, strict=True))
        job_id = row.get("id", "").strip() or f"row-{line}"
        if job_id in seen:
            raise TraceError(f"{path}:{line}: id: duplicate job id {job_id!r}")
        seen.add(job_id)
        duration_text, end_text = row.get("duration", "").strip(), row.get("end", "").strip()
        if bool(duration_text) == bool(end_text):
            raise TraceError(f"{path}:{line}: give exactly one of duration and end")
        demand = (row.get("class", "").strip() or "general").lower()
        if demand not in CLASSES:
            raise TraceError(f"{path}:{line}: class: {demand!r} is not one of {', '.join(CLASSES)}")
        rows.append(
            _Row(
                line=line,
                id=job_id,
                arrival=times.parse(row["arrival"], line, "arrival"),
                end=times.parse(end_text, line, "end") if end_text else None,
                duration=_positive(duration_text, str(path), line, "duration") if duration_text else None,
                cpu_millis=_cpu(row["cpu"], str(path), line),
                gpus=_gpus(row.get("gpus", ""), str(path), line),
                demand=demand,
            )
        )
    if not rows:
        raise TraceError(f"{path}: no jobs after the header")
    start = min(r.arrival for r in rows) if times.absolute else 0.0
    jobs = []
    for r in rows:
        work = r.duration if r.duration is not None else (r.end or 0.0) - r.arrival
        if work <= 0:
            raise TraceError(f"{path}:{r.line}: end: the job ends before it arrives")
        jobs.append(
            Job(
                id=r.id,
                arrival=round(r.arrival - start, 3),
                demand=r.demand,
                cpu_millis=r.cpu_millis,
                gpus=r.gpus,
                work_seconds=work,
            )
        )
    jobs.sort(key=lambda j: (j.arrival, j.id))
    return jobs


__all__ = ["read_csv"]
