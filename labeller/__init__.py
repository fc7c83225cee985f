"""The labeller: turns pod demand into node supply.

Pure decision logic lives in :mod:`joulie.core.classify`, :mod:`labeller.policies`,
:mod:`joulie.core.guard` and :mod:`labeller.planner`; :mod:`joulie.core.store` keeps the
compact cluster view they read; :mod:`labeller.kube` is the thin Kubernetes adapter.
"""
