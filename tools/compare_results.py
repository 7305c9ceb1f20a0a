"""Compare two folders of result JSON: equal apart from wall time and keys only the new side
has? Used to show that a refactoring left every number where it was.

    python tools/compare_results.py OLD_DIR NEW_DIR

Prints, per file, IDENTICAL or the first differences, then the keys the new side added and
the count of files whose bytes match once wall_time_s and those added keys are dropped.
Exits 1 when a file differs or is missing on either side.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def differences(old, new, path: str = "") -> list[str]:
    """Values of ``old`` that ``new`` changed or lost (keys new adds are not differences)."""
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in old:
            if key == "wall_time_s":
                continue
            if key not in new:
                found.append(f"{path}/{key}: removed")
            else:
                found += differences(old[key], new[key], f"{path}/{key}")
        return found
    return [] if old == new else [f"{path}: {str(old)[:60]} -> {str(new)[:60]}"]


def added_keys(old, new, path: str = "") -> set[str]:
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return set()
    keys = {f"{path}/{key}" for key in new if key not in old}
    for key in set(old) & set(new):
        keys |= added_keys(old[key], new[key], f"{path}/{key}")
    return keys


def without_additions(old, new):
    """``new`` restricted to the keys ``old`` has, wall time dropped."""
    if isinstance(old, dict) and isinstance(new, dict):
        return {
            k: without_additions(old[k], new[k]) for k in new if k in old and k != "wall_time_s"
        }
    return new


def serialised(record) -> str:
    return json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(old_dir: str, new_dir: str) -> int:
    old_files = {p.name: p for p in Path(old_dir).glob("*.json")}
    new_files = {p.name: p for p in Path(new_dir).glob("*.json")}
    missing = sorted(set(old_files) ^ set(new_files))
    for name in missing:
        print(f"{name}: only in {'old' if name in old_files else 'new'}")
    added, identical, differing = set(), 0, 0
    for name in sorted(set(old_files) & set(new_files)):
        old = json.loads(old_files[name].read_text())
        new = json.loads(new_files[name].read_text())
        found = differences(old, new)
        added |= added_keys(old, new)
        old_bytes = serialised({k: v for k, v in old.items() if k != "wall_time_s"})
        identical += old_bytes == serialised(without_additions(old, new))
        differing += bool(found)
        print(f"{name}: {'IDENTICAL' if not found else '; '.join(found[:4])}")
    print(f"added keys: {', '.join(sorted(added)) or 'none'}")
    total = len(set(old_files) & set(new_files))
    print(f"byte-identical without wall_time_s and added keys: {identical}/{total}")
    return 1 if missing or differing or identical != total else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
