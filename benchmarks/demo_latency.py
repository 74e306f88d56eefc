"""Wall time of the browser demo's adapt action, as a page (or gradio_client) sees it.

    python benchmarks/demo_latency.py [--runs 2] [--shots 10]

Serves `flexpose_hf.demo.build_app()` on a free local port, then calls its `/adapt` endpoint with
the bundled demo poses (the same request the page's Adapt button sends) and prints each call's
wall time from request to the grid, samples and metrics being available, plus the size of the
COCO JSON samples file.
"""

from __future__ import annotations

import argparse
import json
import socket
import time
from pathlib import Path

import torch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=2)
    p.add_argument("--shots", type=int, default=10)
    args = p.parse_args()
    from gradio_client import Client, handle_file

    from flexpose_hf.demo import build_app
    from flexpose_hf.demo.jobs import DEMO_POSES

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = build_app()
    app.queue(default_concurrency_limit=2).launch(server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        for run in range(args.runs):
            start = time.perf_counter()
            _grid, samples, metrics, *_ = client.predict(handle_file(str(DEMO_POSES)), "tau", args.shots, "mpii-body",
                                                        api_name="/adapt")
            seconds = time.perf_counter() - start
            poses = len(json.loads(Path(samples).read_text())["annotations"])
            print(f"run {run + 1}: {seconds:.1f} s to grid + {poses} samples + metrics "
                  f"(adapt loop {metrics['adapt_seconds']:.1f} s; torch threads {torch.get_num_threads()})")
    finally:
        app.close()


if __name__ == "__main__":
    main()
