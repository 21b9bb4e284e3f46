"""Run one benchmark on this tree and on an earlier commit, in the same run, and print both.

    python -m bench.against [--base REV] [--pairs N] MODULE [ARGS ...]
    python -m bench.against --base 27d4adb bench.dispatch_10k --rounds 3

The earlier commit is checked out in a temporary git worktree (removed at the end); each side
runs ``python -m MODULE ARGS`` with its own tree first on ``sys.path``, alternately (base, this
tree, base, this tree, ... ``--pairs`` times), so that a change in the machine's load falls on
both. Each run's output is printed whole, labelled; compare the figures each benchmark prints.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(tree: Path, module: str, args: list[str], label: str) -> int:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    print(f"===== {label}: python -m {module} {' '.join(args)}", flush=True)
    done = subprocess.run([sys.executable, "-m", module, *args], cwd=tree, env=env, check=False)
    print(f"===== {label}: exit {done.returncode}", flush=True)
    return done.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="HEAD~1", help="the earlier commit (default HEAD~1)")
    parser.add_argument("--pairs", type=int, default=1, help="runs of each side, alternately")
    parser.add_argument("module")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    opts = parser.parse_args()
    base = subprocess.run(
        ["git", "rev-parse", "--short", opts.base], cwd=ROOT, check=True, capture_output=True,
        text=True,
    ).stdout.strip()  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="ipfm-against-") as scratch:
        tree = Path(scratch) / "base"
        subprocess.run(
            ["git", "worktree", "add", "--detach", "-q", str(tree), base], cwd=ROOT, check=True
        )
        failed = 0
        try:
            for n in range(opts.pairs):
                failed |= run(tree, opts.module, opts.args, f"base {base} (#{n + 1})")
                failed |= run(ROOT, opts.module, opts.args, f"this tree (#{n + 1})")
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False
            )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
