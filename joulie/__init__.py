"""Joulie: a Kubernetes energy manager.

The ``joulie`` package holds what every component shares: the API (label keys and
CRD models, :mod:`joulie.api`), logging and the command line. The components live
in their own packages: :mod:`labeller`, :mod:`extender`, :mod:`agent`.
"""

__version__ = "0.1.0"
