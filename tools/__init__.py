"""The book's build tooling (not part of the ``cvae`` package): run from the repository
root.

``python -m tools.toc``                the notebooks of ``_toc.yml``, in reading order
``python -m tools.execute_notebooks``  re-execute the notebooks (``make execute``,
                                       ``make book``)
``python -m tools.compare_revisions``  training-step speed across git revisions
"""
