"""The labeller: turns pod demand into node supply.

Pure decision logic lives in :mod:`labeller.classify`, :mod:`labeller.policies`,
:mod:`labeller.guard` and :mod:`labeller.planner`; :mod:`labeller.store` keeps the
compact cluster view they read; :mod:`labeller.kube` is the thin Kubernetes adapter.
"""
