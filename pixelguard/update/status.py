"""How every list is doing, for ``pixelguard lists``, the UI's lists screen and ``doctor``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pixelguard.config import Config, ListSpec
from pixelguard.update.expiry import due, read_meta


def list_status(cfg: Config, engine: Any = None) -> list[dict[str, Any]]:
    """One row per list for ``pixelguard lists``: name, source, enabled, rules, skipped, updated_ts, path."""
    from pixelguard.engine import Engine

    entries: list[tuple[str, str, bool, Path, ListSpec | None]] = []
    for spec in cfg.lists:
        source = "bundled" if spec.bundled else spec.url or str(spec.file)
        entries.append((spec.name, source, spec.enabled, spec.file, spec))
    entries.append(("user", "your rules (pixelguard allow, UI)", True, cfg.user_list, None))
    entries.append(("learned", "learned by the proxy", True, cfg.learned_list, None))
    if engine is None:
        files = [path for *_, path, _ in entries if path.is_file()]
        engine = Engine.from_files(files, cache_dir=cfg.cache_dir)
    stats = getattr(engine, "stats", {}) or {}
    rows = []
    for name, source, enabled, path, listed in entries:
        exists = path.is_file()
        st = stats.get(path.stem) if exists else None
        # Files the list includes (!#include) are lists of their own in the engine: NAME/file.
        parts = [v for k, v in stats.items() if k.startswith(f"{path.stem}/")] if exists else []
        meta = read_meta(listed) if listed is not None and listed.url else {}
        updated = meta.get("updated")
        if updated is None and exists and source != "bundled":
            updated = (
                path.stat().st_mtime
            )  # a bundled list's file is as old as the installation: no age to show
        rows.append(
            {
                "name": name,
                "source": source,
                "enabled": enabled,
                "rules": st.rules + sum(p.rules for p in parts) if st else None,
                "skipped": sum(st.skipped.values()) + sum(sum(p.skipped.values()) for p in parts)
                if st
                else None,
                "skipped_reasons": dict(st.skipped) if st else {},
                "included_files": len(parts),
                "updated_ts": updated,
                "path": str(path),
                "exists": exists,
                "due": due(listed) if listed is not None and listed.url and enabled else False,
            }
        )
    return rows
