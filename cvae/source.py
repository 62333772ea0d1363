"""Show the package's own source in a chapter, so the code a reader sees is the code that runs.

Used by every chapter (first in :chapter:`From likelihood to the ELBO <book/elbo>`):
a cell tagged ``remove-input`` calls :func:`show_source` and the page shows only the
highlighted source of the function or class.
"""

from __future__ import annotations

import inspect


def show_source(*objects: object):
    """Syntax-highlighted source of functions, classes or modules of :mod:`cvae`, one after another.

    Returns an ``IPython.display.Code`` object (rendered as highlighted Python in
    notebooks and on the website).
    """
    from IPython.display import Code

    if not objects:
        raise ValueError("show_source needs at least one function, class or module")
    parts = []
    for position, obj in enumerate(objects):
        if not (inspect.ismodule(obj) or inspect.isclass(obj) or inspect.isfunction(obj) or inspect.ismethod(obj)):
            raise TypeError(f"objects[{position}] must be a function, class or module, got {type(obj).__name__}")
        module = inspect.getmodule(obj)
        if module is None or not module.__name__.startswith("cvae"):
            raise ValueError(f"show_source shows the book's package only; {obj!r} is not from cvae")
        parts.append(inspect.getsource(obj).rstrip())
    return Code("\n\n\n".join(parts), language="python")
