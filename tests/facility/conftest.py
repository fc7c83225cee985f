"""The API-server fixtures of the Kubernetes tests, for test_facility_kube."""

from tests.kube.conftest import cluster, kmock_cluster  # noqa: F401
