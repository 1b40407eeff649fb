"""Where runs live: the run directory, the item cache, and exports (Parquet, DuckDB SQL)."""

from kura.store.cache import ItemCache, content_key
from kura.store.run import RunStore, is_run_dir

__all__ = ["ItemCache", "RunStore", "content_key", "is_run_dir"]
