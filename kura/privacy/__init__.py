"""Privacy as Clio does it, in layers (``kura run --privacy strict``).

- ``scrub``: personal data in summaries, names and descriptions replaced by typed placeholders
  (``[NAME]``, ``[EMAIL]``...), in every mode.
- ``thresholds``: base clusters kept only above a minimum number of conversations and of
  distinct users; smaller ones are merged into their nearest neighbour.
- ``audit``: a language model rates each cluster for identifying content; low ones are withheld.
- ``report``: what was scrubbed, merged and withheld, and why (``privacy.json`` in the run).
"""
