"""How long `load()` takes over 10,000 ward files (target: under 10 seconds).

Generates a station with 10,000 realistic, varied and valid ward files in a temp folder, then
times, in the same run:

* the baseline: reading every file and parsing it with plain ``yaml.load(text, CSafeLoader)``
  (what any YAML-based loader must at least do);
* ``ipfm_scheduler.config.loader.load()``: parsing to nodes, every check with file:line
  problems, the window-fit check against the real audio duration (ffprobe, once), and the
  weekly minimum of every ward from 2022-W27 on.

Prints both, and the ratio. Usage: .venv/bin/python bench/validate_10k.py [--wards N]
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import yaml

from ipfm_scheduler.config.loader import load

ROOT = Path(__file__).resolve().parent.parent
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
TET = [date(2027, 2, 5) + timedelta(days=i) for i in range(5)]  # Fri 5 .. Tue 9 Feb 2027
PLACES = ("Tổ {n}, khu {k}", "Nhà văn hóa khu {k}", "Chợ khu {k}", "Trường THCS số {n}", "Thôn {n}")
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def ward_text(index: int, rng: random.Random) -> str:
    """One valid ward file: 2-6 receivers, a morning and an evening window, 1-3 airings."""
    quote = (lambda t: f'"{t}"') if rng.random() < 0.7 else (lambda t: t)
    lines = [
        "# yaml-language-server: $schema=../ward.schema.json",
        f"id: w{index:05d}",
        f"name: Phường thử nghiệm số {index}",
        "receivers:",
    ]
    for r in range(rng.randint(2, 6)):
        place = rng.choice(PLACES).format(n=rng.randint(1, 20), k=rng.randint(1, 12))
        lines += [f"  - id: loa-{r + 1:02d}", f'    location: "{place}"']
        if rng.random() < 0.1:
            lines.append("    enabled: false")
    morning = rng.choice((300, 330, 345, 360))  # 05:00 .. 06:00, open every day
    evening = rng.choice((990, 1020, 1050, 1080))  # 16:30 .. 18:00, weekdays
    lines += [
        "windows:",
        f"  - days: [{', '.join(DAYS)}]",
        f"    from: {quote(hhmm(morning))}",
        f"    to: {quote(hhmm(morning + 60))}",
        f"  - days: [{', '.join(DAYS[:5])}]",
        f"    from: {quote(hhmm(evening))}",
        f"    to: {quote(hhmm(evening + 45))}",
        "airings:",
    ]
    skip = rng.random() < 0.4
    for a in range(rng.randint(1, 3)):
        days = set(rng.sample(DAYS, rng.randint(1, 3)))
        if a == 0 and skip:
            days.add(rng.choice(("wed", "thu")))  # Tết falls Fri-Tue: keep a day in each week
        start = morning + rng.randint(0, 55)
        ordered = sorted(days, key=DAYS.index)
        lines += [
            "  - programme: kh179",
            f"    days: [{', '.join(ordered)}]",
            f"    at: {quote(hhmm(start))}",
            f"    volume: {rng.randint(60, 100)}",
        ]
    if rng.random() < 0.3:
        one_off = date(2026, 1, 5) + timedelta(days=rng.randint(0, 600))
        if not (skip and one_off in TET):
            lines += [
                "  - programme: kh179",
                f"    dates: [{one_off}]",
                f"    at: {quote(hhmm(evening + 10))}"
                if one_off.weekday() < 5
                else f"    at: {quote(hhmm(morning + 5))}",
            ]
    if skip:
        lines.append(f"skip_dates: [{', '.join(str(d) for d in TET)}]")
    return "\n".join(lines) + "\n"


def make_station(folder: Path, count: int, seed: int) -> None:
    (folder / "wards").mkdir(parents=True)
    shutil.copytree(ROOT / "audio", folder.parent / "audio")
    shutil.copy(ROOT / "config" / "ipfm.yaml", folder / "ipfm.yaml")
    rng = random.Random(seed)
    for index in range(1, count + 1):
        (folder / "wards" / f"w{index:05d}.yaml").write_text(ward_text(index, rng), "utf-8")


def baseline(wards: Path) -> float:
    started = time.perf_counter()
    for path in sorted(wards.glob("*.yaml")):
        yaml.load(path.read_text(encoding="utf-8"), Loader=LOADER)
    return time.perf_counter() - started


def timed_load(station: Path, count: int) -> float:
    started = time.perf_counter()
    loaded = load(station, today=date(2026, 11, 27), environ={})
    elapsed = time.perf_counter() - started
    if not loaded.ok or loaded.schedule is None or len(loaded.schedule.wards) != count:
        for problem in loaded.problems[:20]:
            print(problem, file=sys.stderr)
        raise SystemExit(f"the generated station is not valid ({len(loaded.problems)} problems)")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wards", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=179)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ipfm-bench-") as tmp:
        folder = Path(tmp) / "config"
        started = time.perf_counter()
        make_station(folder, args.wards, args.seed)
        print(f"generated {args.wards} ward files in {time.perf_counter() - started:.1f} s")
        base = baseline(folder / "wards")
        ours = timed_load(folder / "ipfm.yaml", args.wards)
    print(f"baseline  yaml.load (CSafeLoader) of every file : {base:6.2f} s")
    print(f"load()    with every check and the weekly minimum: {ours:6.2f} s")
    print(f"ratio     load() / baseline                      : {ours / base:6.2f}")
    print(f"target    under 10 s for {args.wards} wards       : {'met' if ours < 10 else 'MISSED'}")


if __name__ == "__main__":
    main()
