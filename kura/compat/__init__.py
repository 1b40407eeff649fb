"""Kura 0.4 and 0.5 compatibility: their procedural API, model classes, checkpoint managers and
the 0.4 ``Kura`` class, built on the real stages.

Nothing in the product imports from here; the old import paths (``kura.summarisation``,
``kura.cluster``, ``kura.checkpoints``, ...) are one-line modules that re-export these, so Kura
0.5 code runs unchanged. New code uses ``kura.run`` and the stages in ``kura.stages``.
"""
