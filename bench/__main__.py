"""`make bench`: run every benchmark in this folder, one after another, each printing its table.

Run one alone with ``python -m bench.bench_segment --help`` (or ``bench_generation``, ...).
``python -m bench --quick`` uses small sizes to check the scripts themselves.
"""

from __future__ import annotations

import argparse
import importlib
import time

BENCHES: dict[str, tuple[list[str], list[str]]] = {
    # module: (full-size arguments, --quick arguments)
    "bench.bench_segment": ([], ["--n", "20000", "--repeats", "1"]),
    "bench.bench_generation": (["--suite"], ["--n", "8", "--k", "2", "--shape", "tiny"]),
    "bench.bench_app": ([], ["--requests", "10"]),
    "bench.bench_campaign": ([], ["--n", "64", "--max-new-tokens", "8"]),
    "bench.bench_sequence": ([], ["--n", "400"]),  # KR1 with and without behaviour features (docs/USER_VECTOR.md)
    "bench.bench_vllm": ([], ["--n", "8", "--k", "2", "--max-new-tokens", "8"]),  # GPU only: says so elsewhere
}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="small sizes (seconds), to check the scripts")
    p.add_argument("--only", nargs="*", default=None, help="module names to run (default: all present)")
    a = p.parse_args(argv)
    for module, (full, quick) in BENCHES.items():
        if a.only and module.split(".")[-1] not in a.only and module not in a.only:
            continue
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name == module:
                continue  # that benchmark is not part of this build
            raise
        print(f"\n##### {module} #####", flush=True)
        t0 = time.perf_counter()
        mod.main(quick if a.quick else full)
        print(f"({module} took {time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
