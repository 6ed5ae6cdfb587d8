"""Diagnostics latency of ``cnndsl lsp`` in a warm server.

A pygls client starts ``python -m cnndsl lsp`` over stdio, opens examples/resnet152.cnn,
then sends edits (a changed number, a mistake, its fix) and measures the time from each
``didChange`` to the ``publishDiagnostics`` that answers it. Prints the median, the 90th
percentile and the ratio to the 50 ms target, then the same check's wall and CPU time in
process, and the load average (on a shared machine the CPU time is the fairer figure); no
assertion (machines are noisy).

Run: .venv/bin/python bench/lsp_latency.py [N]
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

from lsprotocol import types as t
from pygls.lsp.client import LanguageClient

ROOT = Path(__file__).resolve().parent.parent
FILE = ROOT / "examples" / "resnet152.cnn"
TARGET_MS = 50.0


async def main(n: int) -> None:
    client = LanguageClient("lsp-bench", "1")
    arrived: asyncio.Queue[tuple[float, int]] = asyncio.Queue()

    @client.feature(t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_diagnostics(params: t.PublishDiagnosticsParams) -> None:
        arrived.put_nowait((time.perf_counter(), len(params.diagnostics)))

    await client.start_io(sys.executable, "-m", "cnndsl", "lsp")
    await client.initialize_async(
        t.InitializeParams(capabilities=t.ClientCapabilities(), root_uri=ROOT.as_uri())
    )
    client.initialized(t.InitializedParams())
    uri = FILE.as_uri()
    text = FILE.read_text()
    start = time.perf_counter()
    client.text_document_did_open(
        t.DidOpenTextDocumentParams(t.TextDocumentItem(uri, "cnn", 1, text))
    )
    opened, _ = await arrived.get()
    print(f"open (cold): {(opened - start) * 1e3:.1f} ms")

    variants = [
        text.replace("num_classes = 1000", "num_classes = 1001"),
        text.replace("num_classes = 1000", "num_classes = 0"),  # an error
        text,
    ]
    times: list[float] = []
    counts = set()
    for k in range(n):
        new = variants[k % len(variants)]
        sent = time.perf_counter()
        client.text_document_did_change(
            t.DidChangeTextDocumentParams(
                t.VersionedTextDocumentIdentifier(version=k + 2, uri=uri),
                [t.TextDocumentContentChangeWholeDocument(new)],
            )
        )
        got, count = await arrived.get()
        counts.add(count)
        times.append((got - sent) * 1e3)
    warm = times[len(variants) :]  # the first round warms the caches
    median = statistics.median(warm)
    p90 = sorted(warm)[int(0.9 * (len(warm) - 1))]
    print(f"changes: {len(warm)} (diagnostic counts seen: {sorted(counts)})")
    print(f"diagnostics latency, warm server: median {median:.1f} ms, p90 {p90:.1f} ms")
    print(f"median / target ({TARGET_MS:.0f} ms): {median / TARGET_MS:.2f}")
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    in_process(variants, n)


def in_process(variants: list[str], n: int) -> None:
    """The server's work for one change, in this process: wall and CPU time. On a loaded
    machine the CPU time is the closer estimate of what an idle machine's user waits."""
    from cnndsl.lsp.analysis import analyze_document

    walls, cpus = [], []
    for k in range(n):
        w, c = time.perf_counter(), time.process_time()
        analyze_document(str(FILE), variants[k % len(variants)])
        walls.append((time.perf_counter() - w) * 1e3)
        cpus.append((time.process_time() - c) * 1e3)
    wall, cpu = statistics.median(walls[3:]), statistics.median(cpus[3:])
    print(f"in process, one check: median wall {wall:.1f} ms, median CPU {cpu:.1f} ms")
    print(f"CPU time / target ({TARGET_MS:.0f} ms): {cpu / TARGET_MS:.2f}")
    try:
        print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    except OSError:
        pass


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 30))
