"""A benchmark of two checkouts in one run: before and after a change, alternating.

    python benchmarks/before_after.py --before /path/to/old/checkout --after . --rounds 2 \
        -- featurizer_speed.py --only end-to-end --images 16

Runs the ``--after`` checkout's ``benchmarks/<script>`` (so both sides measure the same
thing: scripts that use the public API) with each checkout first on ``PYTHONPATH``,
before, after, before, after... (``--rounds`` times each, so that a change of the machine's
load during the run hits both alike), collects every ``NAME: VALUE img/s`` line it prints,
and reports each line's median per checkout and the ratio after/before. Prints the CPU
model and flags; ``--save`` writes the JSON and the log under ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from cpu_speed import cpu_flags, cpu_line  # noqa: E402  (the benchmarks' one CPU description)

# One line each: a name without colons or brackets, not spanning the lines above it.
RATE = re.compile(r"^[ \t]*(?P<name>[^:\[\]\n]+?):[ \t]+(?P<value>[0-9.]+) img/s", re.M)


def run(checkout: Path, scripts: Path, script: list[str]) -> tuple[str, dict[str, float]]:
    env = dict(os.environ, PYTHONPATH=str(checkout))
    command = [sys.executable, str(scripts / "benchmarks" / script[0]), *script[1:]]
    out = subprocess.run(command, env=env, cwd=checkout, capture_output=True, text=True, check=True).stdout
    return out, {m.group("name").strip(): float(m.group("value")) for m in RATE.finditer(out)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True, help="the checkout before the change")
    parser.add_argument("--after", type=Path, default=HERE.parent, help="the checkout after it (default: this one)")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each checkout, alternating (default: 2)")
    parser.add_argument("--save", metavar="NAME", help="write benchmarks/results/NAME-<date>.{json,log}")
    parser.add_argument("script", nargs=argparse.REMAINDER, help="-- SCRIPT [ARGS...] in benchmarks/")
    args = parser.parse_args(argv)
    script = args.script[1:] if args.script[:1] == ["--"] else args.script
    if not script:
        parser.error("name the benchmark script after --")
    machine = cpu_flags()
    log = [cpu_line(machine)]
    rates: dict[str, dict[str, list[float]]] = {"before": {}, "after": {}}
    for round_ in range(args.rounds):
        for side, checkout in (("before", args.before), ("after", args.after)):
            out, found = run(checkout.resolve(), args.after.resolve(), script)
            log.append(f"--- round {round_ + 1}, {side} ({checkout})\n{out.rstrip()}")
            for name, value in found.items():
                rates[side].setdefault(name, []).append(value)
    summary = {}
    for name in rates["after"]:
        if name in rates["before"]:
            before, after = statistics.median(rates["before"][name]), statistics.median(rates["after"][name])
            summary[name] = {"before": before, "after": after, "ratio": after / before}
    width = max(map(len, summary), default=10)
    log.append("median img/s over the rounds; ratio = after / before")
    log.extend(f"  {name:<{width}}  {s['before']:8.2f}  {s['after']:8.2f}  {s['ratio']:.2f}x" for name, s in summary.items())
    print("\n".join(log))
    if args.save:
        stem = HERE / "results" / f"{args.save}-{datetime.date.today().isoformat()}"
        record = {"cpu": machine, "script": script, "rounds": args.rounds, "rates": rates, "summary": summary}
        stem.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
        stem.with_suffix(".log").write_text("\n".join(log) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
