"""Stage 4, placement: each pending task onto the best row, new instances on shortfall.

`placer.py` holds the state of one pass and routes each task class: batchable or
one-per-row classes fill ranked rows in one pass (`ranked_fill.py`); classes balanced over
one attribute replay one ranking (`balanced_fill.py`); the rest go one task at a time
(`placer.py`), opening a new instance where no row may take them; unconstrained tasks that
fit nowhere wait and are packed together (`shortfall.py`).
"""

from controlplane.planning.placement.placer import Placer

__all__ = ["Placer"]
