"""What every public function and method of the math modules accepts: their argument contracts.

Each contract takes the arguments of the function it guards (``self`` first for a
method) and raises a ``TypeError`` or ``ValueError`` naming the bad argument. The
function declares it with ``@checked(contracts.<name>)`` (:func:`cvae.checks.checked`),
so the contract runs once, at the outermost call, and not at all when validation is
off; the function's own body is the math only. Kept in one place so that the modules a
reader studies (:mod:`cvae.distributions`, :mod:`cvae.networks`, the models) read like
the equations they implement.

Sections follow the modules, in the order the chapters introduce them.
"""

from __future__ import annotations

# ----------------------------------------------------------------- cvae.distributions, cvae.elbo, cvae.estimators

# ----------------------------------------------------------------- cvae.networks, cvae.vae, cvae.classifier

# ----------------------------------------------------------------- cvae.label_cvae

# ----------------------------------------------------------------- cvae.quadrants, cvae.structured

# ----------------------------------------------------------------- cvae.linear_gaussian
