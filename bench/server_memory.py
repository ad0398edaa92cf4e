"""Engine server memory under hostile or heavy load, against the worst case the limits allow.

    .venv/bin/python -m bench.server_memory

- Prefix-only frames: authenticated connections each announce a 120 MiB frame and send nothing
  more (the engine used to allocate the whole body up front).
- Queued photos: jobs waiting behind a running one, each with a 4096 x 4096 PNG (a small file
  that decodes to 16 M pixels; the engine used to keep it decoded as float32, ~280 MB a job).
- The worst case per limit at the default limits, computed from the limits themselves.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from engine.server import Limits
from refine_protocol.launcher import launch
from refine_protocol.request import RefineRequest
from refine_protocol.wire import MAGIC, PREFIX

from .report import BENCHMARKS_MD, machine, rss_mb, write_section
from .synthetic import job_inputs, sphere

MB = 1e6


def big_photo(size: int) -> bytes:
    """A size x size RGBA PNG with a disc as its alpha (compresses to a few hundred kB)."""
    yy, xx = np.mgrid[:size, :size]
    alpha = ((xx - size / 2) ** 2 + (yy - size / 2) ** 2 < (size / 3) ** 2).astype(np.uint8) * 255
    rgba = np.dstack([np.full((size, size, 3), 128, np.uint8), alpha])
    out = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(out, "PNG")
    return out.getvalue()


def settle(pid: int) -> float:
    time.sleep(1.0)
    return rss_mb(pid)


def worst_case_table(limits: Limits, base_mb: float) -> str:
    """What each limit lets clients make the engine hold at once (beyond the running job)."""
    per_frame_pixels = limits.max_image_pixels
    rows = [
        ("engine at rest (torch, PyTorch3D, after one job; measured)", base_mb * MB),
        (f"frames being received: max_inflight_bytes = {limits.max_inflight_bytes >> 20} MiB", limits.max_inflight_bytes),
        (
            f"waiting jobs: max_queued_bytes = {limits.max_queued_bytes >> 20} MiB (frames + u8 masks; "
            f"max_queue {limits.max_queue}, {limits.max_queue_per_client} per client)",
            limits.max_queued_bytes,
        ),
        (
            f"unsent frames: max_clients {limits.max_clients} x max_backlog {limits.max_backlog / MB:.0f} MB",
            limits.max_clients * limits.max_backlog,
        ),
        ("photo decodes during validation: 2 at a time x 4 B x max_image_pixels", 2 * 4 * per_frame_pixels),
        (f"strangers: max_unauthenticated {limits.max_unauthenticated} x 64 KiB hello", limits.max_unauthenticated * 65536),
    ]
    total = sum(b for _, b in rows)
    lines = ["| what | worst case |", "|---|---|"]
    lines += [f"| {what} | {b / MB:,.0f} MB |" for what, b in rows]
    lines.append(f"| **total, beside the running job** | **{total / 1e9:.1f} GB** |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--connections", type=int, default=30)
    ap.add_argument("--queued", type=int, default=8)
    ap.add_argument("--out", type=Path, default=BENCHMARKS_MD)
    args = ap.parse_args(argv)
    log = Path(tempfile.mkdtemp()) / "engine.log"
    verts, faces = sphere(10, 16)
    camera, mask = job_inputs(verts, faces, 64)
    with launch([sys.executable, "-m", "engine", "serve"], log=log) as engine, engine.client() as client:
        pid = engine.proc.pid
        client.submit("warm", RefineRequest(verts, faces, camera, mask=mask, settings={"preset": "fast", "iterations": 5}))
        assert list(client.job_frames("warm"))[-1].type == "result"
        base = settle(pid)

        clients = [engine.client() for _ in range(args.connections)]
        for c in clients:
            c.sock.sendall(PREFIX.pack(MAGIC, 100, 120 << 20))
        prefixes = settle(pid) - base
        for c in clients:
            c.close()
        print(f"{args.connections} prefix-only 120 MiB frames: engine RSS {prefixes:+.0f} MB", flush=True)

        photo = big_photo(4096)
        cam4k = {**camera, "resolution_x": 4096, "resolution_y": 4096}
        before = settle(pid)
        client.submit(
            "run",
            RefineRequest(verts, faces, camera, mask=mask, settings={"preset": "naive", "iterations": 10_000}, progress_hz=0),
        )
        for i in range(args.queued):
            client.submit(f"q{i}", RefineRequest(verts, faces, cam4k, image=photo, settings={"preset": "fast"}))
        ends = [client.receive() for _ in range(args.queued + 2)]  # queued x (n+1), started
        assert all(f.type in ("queued", "started") for f in ends), [f.header for f in ends]
        queued = settle(pid) - before
        for i in range(args.queued):
            client.cancel(f"q{i}")
        client.cancel("run")
        print(f"{args.queued} jobs waiting with a 4096x4096 PNG ({len(photo) / 1e3:.0f} kB): engine RSS {queued:+.0f} MB "
              f"({queued / args.queued:.0f} MB a job)", flush=True)  # fmt: skip
    limits = Limits()
    section = (
        f"## Engine server memory ({machine()})\n\n"
        "Command: `.venv/bin/python -m bench.server_memory` (default limits).\n\n"
        "| measurement | engine RSS |\n|---|---|\n"
        f"| at rest after one job | {base:.0f} MB |\n"
        f"| {args.connections} authenticated connections each sending only a prefix that announces 120 MiB | {prefixes:+.0f} MB |\n"
        f"| {args.queued} jobs waiting, each with a 4096x4096 PNG of {len(photo) / 1e3:.0f} kB (16.8 M pixels) | "
        f"{queued:+.0f} MB ({queued / args.queued:.0f} MB a job: it holds the file and a 1-byte mask of 16.8 MB; the rest is decoder memory the allocator keeps) |\n\n"
        "Worst case the default limits allow at once, beside the running job (whose own memory depends\n"
        "on the mesh: see the speed table, <= 1.5 GB up to 200k faces):\n\n" + worst_case_table(limits, base)
    )
    write_section(args.out, "server-memory", section)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
