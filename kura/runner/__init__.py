"""The stage graph and its runner: each stage declared once; caching, resume, progress and
failures handled in one place for all of them (see docs/stages.md)."""
