"""What creating a file costs, folder by folder: the CPU (user + system) of each new
empty file, created O_EXCL as local storage creates its temp files, in a fresh subfolder
of each folder given. On the machine kind this project is built on, the cost swings with
the folder and the hour, from ~15 µs to ~900, and /tmp is the dearest folder of the disk
(1.5 to 10 times the others, seen 2026-12-07), which is why the benches keep their storage
elsewhere (BENCH_DIR in pipeline_bench.py). A memory file system costs ~5 µs.

    .venv/bin/python bench/file_create.py [/tmp /var/tmp var /dev/shm] [--files 300]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def create_cost_us(folder: str, files: int) -> float:
    os.makedirs(folder, exist_ok=True)
    where = tempfile.mkdtemp(prefix="file-create-", dir=folder)
    try:
        started = cpu_seconds()
        for i in range(files):
            os.close(os.open(f"{where}/.f{i}.tmp", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        return (cpu_seconds() - started) / files * 1e6
    finally:
        shutil.rmtree(where)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", default=["/tmp", "/var/tmp", "var", "/dev/shm"])
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for folder in args.folders:
        costs = [create_cost_us(folder, args.files) for _ in range(args.repeat)]
        print(f"{folder:20s} " + "  ".join(f"{c:7.1f}" for c in costs) + "  µs of CPU a file")


if __name__ == "__main__":
    main()
