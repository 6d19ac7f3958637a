"""When backups run and what Prometheus learns of them: the outcome of each run for
node_exporter's textfile collector (``METRICS_DIR/koha_backup_SERVICE.prom``, read by
KohaBackupStale and KohaBackupFailing), and the schedule of ``backup run --loop``."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from .backup import BackupError, archives

METRICS = {
    "koha_backup_last_success_timestamp_seconds":
        "When the last backup that was written and verified was made (0: none yet).",
    "koha_backup_last_attempt_timestamp_seconds": "When the last backup run ended.",
    "koha_backup_last_failed": "1 if the last backup run failed.",
    "koha_backup_last_size_bytes": "Size of the newest archive.",
    "koha_backup_last_duration_seconds": "How long the last backup run took.",
    "koha_backup_interval_seconds": "How often backups are meant to run.",
    "koha_backup_archives": "Archives kept.",
}


def write_metrics(metrics_dir: Path, service: str, dest: Path, *, interval: float,
                  failed: bool, duration: float) -> Path:
    kept = archives(dest, service)
    newest = kept[-1] if kept else None
    values = {
        "koha_backup_last_success_timestamp_seconds": newest.created.timestamp() if newest else 0,
        "koha_backup_last_attempt_timestamp_seconds": time.time(),
        "koha_backup_last_failed": int(failed),
        "koha_backup_last_size_bytes": newest.size if newest else 0,
        "koha_backup_last_duration_seconds": round(duration, 3),
        "koha_backup_interval_seconds": interval,
        "koha_backup_archives": len(kept),
    }
    lines = []
    for name, help_ in METRICS.items():
        lines += [f"# HELP {name} {help_}", f"# TYPE {name} gauge",
                  f'{name}{{service="{service}"}} {values[name]}']
    metrics_dir.mkdir(parents=True, exist_ok=True)
    out = metrics_dir / f"koha_backup_{service}.prom"
    tmp = metrics_dir / f".{out.name}.{os.getpid()}"
    tmp.write_text("\n".join(lines) + "\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, out)  # the collector never reads half a file
    return out


def parse_duration(text: str) -> float:
    """``90``, ``30s``, ``15m``, ``6h``, ``1d`` → seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text or "")
    if not m or float(m[1]) <= 0:
        raise BackupError(f"{text!r} is not a duration (like 30m, 6h or 1d)")
    return float(m[1]) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m[2]]


def due_in(dest: Path, service: str, interval: float, now: float | None = None) -> float:
    """Seconds until the next backup is due (0 or less: now)."""
    kept = archives(dest, service)
    if not kept:
        return 0
    return kept[-1].created.timestamp() + interval - (now if now is not None else time.time())
