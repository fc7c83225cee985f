"""The labeller's Kubernetes adapter: watches, writes, leader election and the live runtime.

Everything here is thin I/O around the pure core in :mod:`labeller`: informers feed
raw objects into :class:`joulie.core.store.ClusterStore` and
:class:`labeller.reconciler.ProfileCache`, the :class:`labeller.kube.writer.KubeWriter`
carries the reconciler's writes to the API server.
"""
