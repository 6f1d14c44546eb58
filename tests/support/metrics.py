"""Prometheus metrics for the tests: a scrape of ``GET /metrics`` as samples, one sample, the change
between two scrapes, and the multiprocess directory a several-worker server writes to.

Metrics live in prometheus-client's process-wide registry, which every in-process test feeds: a test
asserts on the change its requests make (``delta``), never on an absolute count.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

if TYPE_CHECKING:
    import httpx
    from fastapi.testclient import TestClient

    from tests.support.http import ServerProcess

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: TestClient | httpx.Client) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def sample(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return sample(after, name, **labels) - sample(before, name, **labels)


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def multiproc_dir(server: ServerProcess) -> Path:
    """The PROMETHEUS_MULTIPROC_DIR ``python -m service`` chose for its workers (read from a worker's environ)."""
    assert server.process is not None
    dirs = set()
    for child in children(server.process.pid):
        try:
            environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        for item in environ:
            if item.startswith(b"PROMETHEUS_MULTIPROC_DIR="):
                dirs.add(item.split(b"=", 1)[1].decode())
    assert len(dirs) == 1, dirs  # every worker writes to the same directory
    return Path(dirs.pop())


def counts_by_worker(directory: Path, name: str, **labels: str) -> dict[str, float]:
    """Each worker's count of the samples ``name`` with ``labels``, from its own file in the multiprocess directory."""
    counts = {}
    for path in directory.glob("counter_*.db"):
        counts[path.stem] = sum(
            s.value
            for metric in MultiProcessCollector.merge([str(path)], accumulate=True)
            for s in metric.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        )
    return counts
