"""The pure decision core every part of Joulie shares.

Nothing here does I/O or reads a clock: callers pass ``now`` in. The labeller, the
extender, the agent and the simulator import from here; this package imports none of
them (an import-linter contract in ``pyproject.toml`` keeps it so).

- :mod:`joulie.core.model`: compact Node and Pod records, resource quantities, demand counts;
- :mod:`joulie.core.classify`: a pod's demand class from its scheduling constraints;
- :mod:`joulie.core.selector`: label selectors, parsed once;
- :mod:`joulie.core.store`: the in-memory cluster view and its aggregates;
- :mod:`joulie.core.guard`: the downgrade guard's node states;
- :mod:`joulie.core.plan`: the plan types (eligibility, decisions, floors, caps);
- :mod:`joulie.core.supply`: a node's supply, the extender's filter rule and score formula;
- :mod:`joulie.core.rounding`: Go-style rounding and clamping.
"""
