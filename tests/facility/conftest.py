"""The API-server fixture of the Kubernetes tests, for test_facility_kube."""

from tests.kube.conftest import cluster  # noqa: F401
