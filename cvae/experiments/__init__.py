"""Full-size experiments: the code a chapter runs, as a command with checkpoints and a results file.

Each module runs one chapter's experiment with the chapter's own functions and a larger
budget, e.g. ``python -m cvae.experiments.quadrants`` for the chapter
:chapter:`Structured output prediction: completing digits <book/quadrants>`.
"""
