"""The Dockerfile and its build context.

No container engine exists where these tests run, so the image is not built here. What
can be checked without one is checked with maintained parsers: the Dockerfile's
instructions (dockerfile-parse) and the build context that .dockerignore leaves
(docker-py's implementation of Docker's ignore rules).
"""

from __future__ import annotations

import io
import tomllib

import docker.utils.build
import yaml
from dockerfile_parse import DockerfileParser

from tests.install.chart import CHART_DIR, ROOT, container, render


def _dockerfile() -> DockerfileParser:
    return DockerfileParser(fileobj=io.BytesIO((ROOT / "Dockerfile").read_bytes()))


def _final_stage(instructions: list[dict]) -> list[dict]:
    starts = [i for i, ins in enumerate(instructions) if ins["instruction"] == "FROM"]
    return instructions[starts[-1] :]


def test_image_is_slim_python_311_with_joulie_as_entrypoint():
    df = _dockerfile()
    args = {
        i["value"].split("=", 1)[0]: i["value"].split("=", 1)[1]
        for i in df.structure
        if i["instruction"] == "ARG" and "=" in i["value"]
    }
    assert args["PYTHON_IMAGE"] == "python:3.11-slim"
    froms = [i["value"].split()[0] for i in df.structure if i["instruction"] == "FROM"]
    assert froms == ["${PYTHON_IMAGE}", "${PYTHON_IMAGE}"]
    final = _final_stage(df.structure)
    entry = [i["value"] for i in final if i["instruction"] == "ENTRYPOINT"]
    assert entry == ['["joulie"]']
    runs = " ".join(i["value"] for i in df.structure if i["instruction"] == "RUN")
    assert 'pip install ".[gpu]"' in runs  # the project itself, with the NVML extra


def test_image_user_is_non_root_and_matches_the_chart_serve_uid():
    final = _final_stage(_dockerfile().structure)
    users = [i["value"] for i in final if i["instruction"] == "USER"]
    assert users, "the final stage sets no USER: the image would run as root"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) != 0, "use a numeric uid so runAsNonRoot can verify it"
    pod = render().get("Deployment", "joulie")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == int(uid)
    assert pod["securityContext"]["runAsGroup"] == int(gid)
    agent = container(render().get("DaemonSet", "joulie-agent"), "agent")
    assert agent["securityContext"]["runAsUser"] == 0  # the agent overrides it for sysfs writes


def test_build_context_holds_what_pip_install_needs_and_nothing_else():
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    context = docker.utils.build.exclude_paths(str(ROOT), patterns)
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "pyproject.toml" in context and pyproject["project"]["readme"] in context
    includes = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {
        p.name
        for p in ROOT.iterdir()
        if (p / "__init__.py").exists() and any(p.name == inc.rstrip("*") for inc in includes)
    }
    assert {"joulie", "labeller", "extender", "agent"} <= packages
    for package in packages:
        sources = {str(f.relative_to(ROOT)) for f in (ROOT / package).rglob("*.py") if "__pycache__" not in f.parts}
        assert sources <= context, f"{package}: {sorted(sources - context)[:5]} missing from the build context"
    for data in pyproject["tool"]["setuptools"].get("package-data", {}).get("joulie", []):
        matched = {str(f.relative_to(ROOT)) for f in (ROOT / "joulie").glob(data)}
        assert matched <= context
    for unwanted in ("tests", ".git", ".venv", "charts", "bench", "docs"):
        assert not any(p == unwanted or p.startswith(unwanted + "/") for p in context), unwanted


def test_chart_image_defaults_to_the_chart_app_version():
    chart = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())
    image = container(render().get("Deployment", "joulie"), "serve")["image"]
    assert image == f"joulie:{chart['appVersion']}"
    pinned = container(
        render({"image": {"repository": "ghcr.io/acme/joulie", "digest": "sha256:" + "a" * 64}}).get(
            "DaemonSet", "joulie-agent"
        ),
        "agent",
    )["image"]
    assert pinned == "ghcr.io/acme/joulie@sha256:" + "a" * 64
