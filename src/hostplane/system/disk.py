"""Measuring disk use without following links."""

from __future__ import annotations

import os
from pathlib import Path


def tree_bytes(root: Path) -> int:
    """Bytes allocated to a tree (like du): lstat only, links are counted as themselves and never followed."""
    total = 0
    stack = [str(root)]
    while stack:
        folder = stack.pop()
        try:
            entries = os.scandir(folder)
        except OSError:
            continue
        with entries:
            for entry in entries:
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                total += info.st_blocks * 512
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
    return total
