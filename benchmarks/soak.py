"""A bounded soak: the service under wrk for a fixed time, its process tree watched with psutil every second:
``python benchmarks/soak.py --duration 600 --workers 2`` (soak.lua's mix at saturation, to SOAK.md), ``--mixed``
(1 worker, small and large requests at once, to stdout). Exit status 0 when no request failed and RSS stayed
within --rss-tolerance % from the first minute after warm-up to the last. benchmarks/README.md says more."""

from __future__ import annotations

import argparse
import shlex
import statistics
import struct
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):  # python benchmarks/soak.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import orjson

from benchmarks.run import table
from benchmarks.tools import BENCH, ROOT, Wrk, free_port, machine, request, service, serving, source_state, tree_stats


def mix() -> list[tuple[str, int, int, str, bytes, dict[str, str]]]:
    """(kind, weight, status it must get, path, body, headers): what a training loop sends, and mistakes."""
    rng = np.random.default_rng(0)
    js = lambda doc: orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)  # noqa: E731
    normal = lambda *shape: rng.normal(size=shape).round(6)  # noqa: E731
    probs = lambda r, k: (lambda p: (p / p.sum(axis=1, keepdims=True)).round(6))(rng.uniform(0.05, 1, (r, k)))  # noqa: E731
    labels, v2 = rng.integers(2, size=(16, 8)).astype(float), ("y_true", "y_pred")
    head = js(
        {
            "inputs": [
                {"name": n, "shape": [4, 4], "datatype": "FP64", "parameters": {"binary_data_size": 128}} for n in v2
            ],
            "parameters": {"return_grad": True, "binary_data_output": True},
        }
    )
    binary = {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(head))}
    batch = [
        {"loss": "mse", "y_true": normal(8, 4), "y_pred": normal(8, 4)},
        {"loss": "kl_divergence", "y_true": probs(8, 4), "y_pred": probs(8, 4), "return_grad": True},
        {"loss": "hinge", "y_true": [[1.0, -1.0]] * 4, "y_pred": normal(4, 2)},
    ]
    return [
        (
            "mse",
            14,
            200,
            "/losses/mse",
            js({"y_true": normal(32, 4), "y_pred": normal(32, 4), "return_grad": True}),
            {},
        ),
        (
            "categorical_crossentropy",
            12,
            200,
            "/losses/categorical_crossentropy",
            js(
                {
                    "y_true": np.eye(10)[rng.integers(10, size=32)],
                    "y_pred": probs(32, 10),
                    "params": {"label_smoothing": 0.1},
                    "return_grad": True,
                }
            ),
            {},
        ),
        (
            "sparse_categorical_crossentropy",
            10,
            200,
            "/losses/sparse_categorical_crossentropy",
            js(
                {
                    "y_true": rng.integers(10, size=64),
                    "y_pred": normal(64, 10),
                    "params": {"from_logits": True},
                    "reduction": "sum",
                }
            ),
            {},
        ),
        (
            "binary_focal",
            8,
            200,
            "/losses/binary_focal",
            js({"y_true": labels, "y_pred": normal(16, 8), "params": {"gamma": 2.0}, "return_grad": True}),
            {},
        ),
        (
            "binary_crossentropy",
            8,
            200,
            "/losses/binary_crossentropy",
            js({"y_true": labels, "y_pred": probs(16, 8), "sample_weight": [1.0] * 16, "dtype": "float32"}),
            {},
        ),
        (
            "cosine_similarity",
            6,
            200,
            "/losses/cosine_similarity",
            js({"y_true": normal(16, 16), "y_pred": normal(16, 16), "reduction": "none"}),
            {},
        ),
        ("hinge", 4, 200, "/losses/hinge", js({"y_true": [[1.0, -1.0, 1.0, -1.0]] * 8, "y_pred": normal(8, 4)}), {}),
        ("batch", 6, 200, "/batch", js({"items": batch}), {}),
        (
            "v2_json",
            6,
            200,
            "/v2/models/mse/infer",
            js(
                {
                    "parameters": {"return_grad": True},
                    "inputs": [{"name": n, "shape": [4, 4], "datatype": "FP64", "data": normal(16)} for n in v2],
                }
            ),
            {},
        ),
        ("v2_binary", 8, 200, "/v2/models/mse/infer", head + struct.pack("<32d", *rng.random(32)), binary),
        ("422_domain", 4, 422, "/losses/binary_crossentropy", js({"y_true": [[0.0, 1.0]], "y_pred": [[0.5, 1.7]]}), {}),
        ("404_unknown_loss", 2, 404, "/losses/no_such_loss", js({"y_true": [1.0], "y_pred": [1.0]}), {}),
    ]


def loads(port: int, seconds: float, args: argparse.Namespace, folder: str) -> dict[str, dict]:
    """One run of each load for ``seconds``, at once: the soak's mix, or the mixed soak's three wrk."""
    if not args.mixed:
        return {
            "mix": Wrk(
                port, "/", None, seconds, args.connections, script=BENCH / "soak.lua", env={"WRK_MIX": f"{folder}/mix"}
            ).result()
        }
    rng = np.random.default_rng(0)
    small, large = (
        orjson.dumps(
            {"y_true": rng.random(s), "y_pred": rng.random(s), "return_grad": True}, option=orjson.OPT_SERIALIZE_NUMPY
        )
        for s in ((32, 4), (20000, 10))
    )
    runs = {
        "small, 4 connections": Wrk(port, "/losses/mse", small, seconds, 4, expect=200),
        f"large ({len(large) / 2**20:.1f} MiB), 1": Wrk(port, "/losses/mse", large, seconds, 1, expect=200),
        "large truncated (400), 1": Wrk(port, "/losses/mse", large[:-200] + b"]]]}", seconds, 1, expect=400),
    }
    return {label: run.result() for label, run in runs.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=600, help="seconds of load (default 600, at most 3600)")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes (default 2; --mixed: 1)")
    parser.add_argument("--connections", "--concurrency", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--chunk", type=float, default=30, help="seconds per wrk run (default 30)")
    parser.add_argument("--warmup", type=float, default=60, help="seconds before RSS is compared (default 60)")
    parser.add_argument("--rss-tolerance", type=float, default=10.0, help="allowed RSS growth in %% (default 10)")
    parser.add_argument("--mixed", action="store_true", help="small, large and malformed large requests on 1 worker")
    parser.add_argument("--report", type=Path, help="the report (default benchmarks/SOAK.md; --mixed: stdout)")
    args = parser.parse_args(argv)
    if not 0 < args.duration <= 3600:
        parser.error("--duration must be in (0, 3600] seconds")
    kinds, folder, lines = mix(), tempfile.TemporaryDirectory(prefix="soak-"), []
    for index, (name, weight, status, path, body, headers) in enumerate(kinds):  # the manifest soak.lua reads
        Path(folder.name, f"k{index}").write_bytes(body)
        sent = [f"{k}: {v}" for k, v in ({"Content-Type": "application/json"} | headers).items()]
        lines.append("\t".join([str(weight), str(status), name, "POST", path, f"{folder.name}/k{index}", *sent]))
    Path(folder.name, "mix").write_text("\n".join(lines) + "\n")
    samples, chunks, stop = [], [], threading.Event()
    with serving(service(free_port(), workers=1 if args.mixed else args.workers, access_log=False)) as server:
        wrong = [f"{k[0]}: {s}" for k in kinds if (s := request(server.port, k[3], k[4], k[5])[1]) != k[2]]
        if wrong:
            return print("soak: the mix does not get the statuses it must:", *wrong, sep="\n  ") or 2
        time.sleep(2)
        idle, start = tree_stats(server.proc.pid), time.monotonic()

        def sample() -> None:  # the server's process tree every second
            while not stop.wait(1.0 if samples else 0.0):
                samples.append((time.monotonic() - start, tree_stats(server.proc.pid)))

        threading.Thread(target=sample, daemon=True).start()
        while (left := args.duration - (time.monotonic() - start)) >= 1:
            begun = time.monotonic() - start
            chunks.append(
                (begun, loads(server.port, min(args.chunk, left), args, folder.name), time.monotonic() - start)
            )
        stop.set()
        alive = server.proc.poll() is None
    folder.cleanup()
    return report(args, kinds, chunks, samples, idle, alive)


def report(args: argparse.Namespace, kinds: list, chunks: list, samples: list, idle: dict, alive: bool) -> int:
    elapsed, mib, results = chunks[-1][2], 2**20, [r for c in chunks for r in c[1].values()]
    requests, wrong = sum(r["requests"] for r in results), sum(r.get("unexpected", 0) for r in results)
    errors = sum(r[k] for r in results for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
    per = {
        k[0]: [sum(c[1]["mix"]["kinds"][k[0]][i] for c in chunks) for i in range(3)] for k in kinds if not args.mixed
    }
    wrong += sum(v[2] for v in per.values())
    warmup, window = min(args.warmup, elapsed / 5), min(60.0, (elapsed - min(args.warmup, elapsed / 5)) / 3)
    rss = lambda a, b: statistics.fmean([s["rss"] for t, s in samples if a <= t < b] or [float("nan")]) / mib  # noqa: E731
    first, last, (t0, s0), (t1, s1) = (
        rss(warmup, warmup + window),
        rss(elapsed - window, elapsed + 1),
        samples[0],
        samples[-1],
    )
    growth, cores = (last - first) / first * 100, (s1["cpu"] - s0["cpu"]) / (t1 - t0)
    ok, flat = wrong + errors == 0 and requests > 0 and alive, abs(growth) <= args.rss_tolerance
    first_load = [next(iter(c[1].values())) for c in chunks]  # the mix, or the small requests of the mixed soak
    p = lambda key: f"{statistics.median(r[key] for r in first_load) / 1e3:.2f}"  # noqa: E731
    early = {proc["pid"]: proc for proc in next((s for t, s in samples if t >= 10), s0)["processes"]}
    text = [
        f"# {'Mixed soak' if args.mixed else 'Soak test'}: the service under wrk",
        "",
        f"Generated by "
        f"`benchmarks/soak.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: `python benchmarks/soak.py "
        f"{shlex.join(sys.argv[1:])}`",
        "",
        f"**Result: {'PASS' if ok and flat else 'FAIL'}**: {wrong + errors} failed requests; "
        f"server RSS {growth:+.1f} % "
        f"from the first minute after warm-up to the last (tolerance ±{args.rss_tolerance:g} %)"
        + ("." if alive else "; **the server exited during the load**."),
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in machine().items()) + f". Code: {source_state(ROOT)}. Server: "
        f"`python -m service --workers {1 if args.mixed else args.workers}`, access log off. Load: wrk runs of "
        f"{args.chunk:g} s back to back for {args.duration:g} s"
        + (
            ", at once: 32x4 MSE requests, 7.4 MiB bodies "
            "(computed by the helper process while small ones are in flight) and the same truncated (must get 400)."
            if args.mixed
            else f", {args.connections} connections, `soak.lua`: each kind one fixed request, each answer "
            "checked against the status it must get (sent but not answered: in flight when a run ended)."
        ),
        "",
        *(
            table(
                ["kind", "weight", "must get", "sent", "answered", "wrong status"],
                [[*k[:3], *per[k[0]]] for k in kinds],
            )
            if per
            else table(
                ["load", "answered", "unexpected status", "socket errors"],
                [
                    [
                        label,
                        sum(c[1][label]["requests"] for c in chunks),
                        sum(c[1][label]["unexpected"] for c in chunks),
                        sum(c[1][label][k] for c in chunks for k in ("connect_errors", "read_errors", "write_errors")),
                    ]
                    for label in chunks[0][1]
                ],
            )
        ),
        "## Results",
        "",
        *table(
            ["", ""],
            [
                ("load", f"{elapsed:.1f} s, {requests} requests answered, {requests / elapsed:.0f} req/s"),
                ("failed: wrong status / socket errors and timeouts", f"{wrong} / {errors}"),
                (
                    "latency p50 / p90 / p99 (median over the runs) / worst",
                    f"{p('p50_us')} / {p('p90_us')} / {p('p99_us')} "
                    f"/ {max(r['max_us'] for r in first_load) / 1e3:.1f} ms",
                ),
                ("server CPU, cores on average", f"{cores:.2f}"),
                (
                    "server RSS: idle before the load / first minute after warm-up / last minute / peak",
                    f"{idle['rss'] / mib:.1f}"
                    f" / {first:.1f} / {last:.1f} / {max(s['rss'] for t, s in samples) / mib:.1f} MiB"
                    f" ({growth:+.2f} %)",
                ),
            ],
        ),
        "The server's processes, open descriptors and RSS after 10 s and at the end (psutil):",
        "",
        *table(
            ["process", "descriptors after 10 s", "at the end", "RSS MiB after 10 s", "at the end"],
            [
                [
                    f"{proc['pid']} `{'the server' if i == 0 else ' '.join(proc['cmd'])[-50:]}`",
                    early.get(proc["pid"], {}).get("fds", "—"),
                    proc["fds"],
                    f"{early.get(proc['pid'], {}).get('rss', float('nan')) / mib:.0f}",
                    f"{proc['rss'] / mib:.0f}",
                ]
                for i, proc in enumerate(s1["processes"])
            ],
        ),
        "## Server RSS and throughput over time",
        "",
        "All the server's processes (psutil, every second), a row per wrk run:",
        "",
        *table(
            ["interval (s)", "RSS MiB", "processes", "req/s", "p99 ms (worst load)"],
            [
                [
                    f"{a:.0f}–{b:.0f}",
                    f"{rss(a, b):.1f}",
                    max([len(s["processes"]) for t, s in samples if a <= t < b] or [0]),
                    f"{sum(r['requests'] for r in rs.values()) / (b - a):.0f}",
                    f"{max(r['p99_us'] for r in rs.values()) / 1e3:.2f}",
                ]
                for a, rs, b in chunks
            ],
        ),
    ]
    if args.report or not args.mixed:
        (args.report or BENCH / "SOAK.md").write_text("\n".join(text))
    print(
        "\n".join(text)
        if args.mixed and not args.report
        else f"soak: {requests} requests, {wrong + errors} failed, "
        f"RSS {growth:+.2f} %; wrote {args.report or BENCH / 'SOAK.md'}"
    )
    return 0 if ok and flat else 1


if __name__ == "__main__":
    sys.exit(main())
