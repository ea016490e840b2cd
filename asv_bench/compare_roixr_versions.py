"""Two roixr source trees side by side: the drop-in ``get_roi_masks`` on S1, every sampler.

    python asv_bench/compare_roixr_versions.py OLD_TREE NEW_TREE [--repeat 3]

(``git worktree add /tmp/old <commit>`` makes an old tree.) Each measurement is a fresh
process with ``PYTHONPATH`` set to the tree; the two versions are interleaved, on one copy
of S1, so the machine's load affects both alike. Prints the medians of the call and of the
whole process, and new / old.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from roixr.datasets import pycortex_sample_subject

SAMPLERS = ["cortical", "thick", "thin", "2", "cortical-conservative", "cortical-liberal"]
CHILD = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
start = time.perf_counter()
import roixr
sampler = sys.argv[2]
sampler = float(sampler) if sampler[0].isdigit() else sampler
imported = time.perf_counter()
roixr.get_roi_masks(sys.argv[1], "fullhead", gm_sampler=sampler)
print(json.dumps({"call": time.perf_counter() - imported}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--samplers", nargs="+", default=SAMPLERS)
    args = parser.parse_args()
    trees = {"old": args.old, "new": args.new}
    with tempfile.TemporaryDirectory() as tmp:
        s1 = pycortex_sample_subject(copy_to=Path(tmp))
        print(f"{'sampler':<24}{'old call':>10}{'new call':>10}{'new/old':>9}"
              f"{'old proc':>10}{'new proc':>10}{'new/old':>9}")  # fmt: skip
        for sampler in args.samplers:
            runs: dict[str, list[tuple[float, float]]] = {"old": [], "new": []}
            for _ in range(args.repeat):
                for which, tree in trees.items():
                    env = {**os.environ, "PYTHONPATH": tree}
                    start = time.perf_counter()
                    out = subprocess.run([sys.executable, "-c", CHILD, str(s1), sampler],
                                         capture_output=True, text=True, check=True,
                                         env=env, cwd=tmp)  # fmt: skip
                    call = json.loads(out.stdout.strip().splitlines()[-1])["call"]
                    runs[which].append((call, time.perf_counter() - start))
            med = {w: [statistics.median(r[i] for r in rs) for i in (0, 1)]
                   for w, rs in runs.items()}  # fmt: skip
            (oc, op), (nc, np_) = med["old"], med["new"]
            print(f"{sampler:<24}{oc:>9.2f}s{nc:>9.2f}s{nc / oc:>8.2f}x"
                  f"{op:>9.2f}s{np_:>9.2f}s{np_ / op:>8.2f}x", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
