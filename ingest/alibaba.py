"""Read the Alibaba GPU cluster trace (cluster-trace-gpu-v2023, the FGD paper's openb files).

Node lists (`openb_node_list_*.csv`): `sn, cpu_milli, memory_mib, gpu, model` — allocatable
milli-cores, MiB, device count and device model (empty for CPU-only nodes).

Pod lists (`openb_pod_list_*.csv`): `name, cpu_milli, memory_mib, num_gpu, gpu_milli` are
required; `gpu_spec` is optional (the `multigpu` variants lack it) and the remaining trace
columns (`qos, pod_phase, creation_time, deletion_time, scheduled_time`) are ignored: the
placement protocol has no departures. `gpu_milli` is milli-GPU per device (< 1000: a
sharing pod). `gpu_spec` lists the allowed device models separated by `|`
(e.g. `V100M16|V100M32`; empty: any model), kept in file order as the artifact's
pod_csv_to_yaml.py does. For a CPU-only pod (`num_gpu` 0) the GPU columns are ignored, also as
the artifact does.

Every problem raises GpucostError with one line naming the file and line number.
"""

from __future__ import annotations

import csv
from pathlib import Path

from gpucost.analytics.placement.model import MILLI, NodeInventory, Workload
from gpucost.errors import GpucostError

NODE_COLUMNS = ("sn", "cpu_milli", "memory_mib", "gpu", "model")
POD_COLUMNS = ("name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli")


def _rows(path: Path, required: tuple[str, ...]):
    """(line number, row dict) for each data row, after checking the header."""
    path = Path(path)
    try:
        f = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise GpucostError(f"{path}: cannot read ({exc.strerror or exc})") from None
    with f:
        reader = csv.DictReader(f)
        header = [c.strip() for c in (reader.fieldnames or [])]
        if not header:
            raise GpucostError(f"{path}: empty file, expected a header with {', '.join(required)}")
        missing = [c for c in required if c not in header]
        if missing:
            raise GpucostError(f"{path}: missing column(s) {', '.join(missing)} (header: {', '.join(header)})")
        reader.fieldnames = header
        try:
            for row in reader:
                if None in row or any(row.get(c) is None for c in required):
                    raise GpucostError(f"{path}: line {reader.line_num}: expected {len(header)} fields")
                yield reader.line_num, row
        except csv.Error as exc:
            raise GpucostError(f"{path}: line {reader.line_num}: {exc}") from None
        except UnicodeDecodeError:
            raise GpucostError(f"{path}: not UTF-8 text") from None


def _count(path: Path, line: int, row: dict, column: str) -> int:
    """A non-negative integer cell ('12000' or '12000.0')."""
    text = row[column].strip()
    try:
        value = int(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            number = float("nan")
        if not number.is_integer():
            raise GpucostError(f"{path}: line {line}: {column} must be a whole number, got {text!r}") from None
        value = int(number)
    if value < 0:
        raise GpucostError(f"{path}: line {line}: {column} must not be negative, got {text!r}")
    return value


def read_nodes(path: str | Path) -> NodeInventory:
    """The node inventory of an openb node list (see module docstring)."""
    names, cpu, mem, gpus, models = [], [], [], [], []
    for line, row in _rows(Path(path), NODE_COLUMNS):
        names.append(row["sn"].strip())
        cpu.append(_count(path, line, row, "cpu_milli"))
        mem.append(_count(path, line, row, "memory_mib"))
        gpus.append(_count(path, line, row, "gpu"))
        models.append(row["model"].strip())
    if not names:
        raise GpucostError(f"{path}: no nodes")
    return NodeInventory(name=names, cpu_milli=cpu, memory_mib=mem, gpu_count=gpus, gpu_model=models)


def read_pods(path: str | Path) -> Workload:
    """The workload of an openb pod list, in file order (see module docstring)."""
    names, cpu, mem, num, milli, spec = [], [], [], [], [], []
    for line, row in _rows(Path(path), POD_COLUMNS):
        names.append(row["name"].strip())
        cpu.append(_count(path, line, row, "cpu_milli"))
        mem.append(_count(path, line, row, "memory_mib"))
        n = _count(path, line, row, "num_gpu")
        m = _count(path, line, row, "gpu_milli")
        if n == 0:
            m, models = 0, ()
        else:
            if not 0 < m <= MILLI:
                raise GpucostError(f"{path}: line {line}: gpu_milli must be 1..{MILLI} for a GPU pod, got {m}")
            if n > 1 and m != MILLI:
                raise GpucostError(f"{path}: line {line}: a pod with {n} GPUs must take whole GPUs "
                                   f"(gpu_milli {MILLI}), got {m}")
            models = tuple(x.strip() for x in (row.get("gpu_spec") or "").split("|") if x.strip())
        num.append(n)
        milli.append(m)
        spec.append(models)
    if not names:
        raise GpucostError(f"{path}: no pods")
    return Workload(name=names, cpu_milli=cpu, memory_mib=mem, num_gpu=num, gpu_milli=milli, gpu_spec=spec)
