"""`python -m bench <name> [args]`: run the benchmark in bench/<name>.py.

A benchmark is any module here whose name does not start with "_" and that has a
`main(argv: list[str]) -> int | None`; dropping one in is all it takes to add it.
"""

import importlib
import pkgutil
import sys
from pathlib import Path


def benchmark_names() -> list[str]:
    here = str(Path(__file__).resolve().parent)
    return sorted(module.name for module in pkgutil.iter_modules([here]) if not module.name.startswith("_"))


def main(argv: list[str]) -> int:
    names = benchmark_names()
    if not argv or argv[0] not in names:
        print(f"usage: python -m bench {{{','.join(names)}}} [args]  (a benchmark's --help lists its args)")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    module = importlib.import_module(f"bench.{argv[0]}")
    return module.main(argv[1:]) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
