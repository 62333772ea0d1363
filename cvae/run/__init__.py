"""Run machinery beside the book's code: the command line, checkpoints, benchmark.

* ``python -m cvae.run``: the quadrant experiment of :mod:`cvae.experiment` with a large
  budget, resumable, with checkpoints, ``results.csv``, ``scores.pt`` and ``run.json``
  (:mod:`cvae.run.cli`); ``python -m cvae.run labels``: the same for the comparison of
  priors of :mod:`cvae.label_experiment` (:mod:`cvae.run.labels`).
* :mod:`cvae.run.checkpoints`: atomic, verified checkpoints and output folders.
* ``python -m cvae.run.bench``: the Performance appendix's measurements
  (:mod:`cvae.run.bench`).

This file imports nothing, so that ``python -m cvae.run`` answers Ctrl-C while torch is
still loading.
"""

INTERRUPTED_EARLY = "interrupted before the run started; nothing was written"
