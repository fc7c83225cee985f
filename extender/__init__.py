"""The kube-scheduler HTTP extender: filter and score nodes by power supply.

:mod:`joulie.core.supply` holds the pure decisions (also used by the simulator);
the HTTP layer around it is thin.
"""
