"""The shared package of the book *Conditional Variational Autoencoders in PyTorch*.

Every chapter imports its building blocks from the submodules (``from cvae.vae import
VAE``); each module's docstring names the chapter that explains it. The book renders
this package's own source, so the code a reader sees is the code that runs. In the
order the chapters build it up:

=====================================  ================================================
``settings``, ``data``                 the ``CVAE_*`` settings and seeding; the data
                                       sets (MNIST, Fashion-MNIST), splits, batches
``distributions``, ``elbo``            densities, KL, log-mean-exp; the ELBO's terms
``linear_gaussian``                    an exactly solvable (conditional) model
``estimators``                         importance-sampled and Monte Carlo likelihoods
``networks``, ``vae``                  the Gaussian encoder, Bernoulli decoder; the VAE
``priors``, ``label_cvae``             the priors p(z | y); the label CVAE p(x | y)
``quadrants``, ``structured``          Sohn et al.'s task and models p(y | x)
``classifier``                         the digit classifier that reads generated digits
``training``, ``experiment``           ``fit``, one loop for every model; the quadrant
                                       experiment of the structured chapter
``label_experiment``                   the label chapter's comparison of priors as one
                                       run
``report``, ``plotting``, ``source``   tables and verdicts, figures, listings
``checks``                             argument checks where data enters
``run/``                               beside the book: checkpoints, the benchmark, the
                                       command line of the resumable experiments
=====================================  ================================================

Where new things plug in:

* **A new prior** p(z | y) for the label CVAE: one class in :mod:`cvae.priors`, with
  ``log_prob(z, labels)`` and ``sample(labels)``, registered there by name.
* **A new data set**: one entry in the registry of :mod:`cvae.data`.
* **A new model**: a class with ``loss_terms(*batch) -> dict`` of per-example tensors
  with a ``"loss"`` entry (ELBO terms through :func:`cvae.elbo.elbo_terms`), and
  optionally ``check_batch(*batch)``, which :func:`cvae.training.fit` runs once over
  each data set; ``fit`` then trains it.
"""

__version__ = "0.1.0"
