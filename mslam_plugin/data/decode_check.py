"""Decoding every audio file of a validated manifest, in parallel and resumably (the
``--decode`` check of ``mslam-validate-manifest``): undecodable, non-finite or too short
audio, and lengths that disagree with ``n_frames``, are found before training reads
them."""

from __future__ import annotations

import json
from collections import Counter
from multiprocessing import Pool
from pathlib import Path

from . import manifest as mf
from .sources import AudioReadError, read_audio


def _decode_row(job: tuple[str, int, str, int]) -> tuple[int, str | None, str | None]:
    manifest, line, audio, n_frames = job
    try:
        read_audio(Path(audio), f"{manifest}:{line}", n_frames)
    except AudioReadError as err:
        return line, err.reason, str(err)
    return line, None, None


def decode_all(m: mf.Manifest, workers: int, state: Path | None) -> dict[str, int]:
    """Decode every audio file of a validated manifest in ``workers`` processes; print
    each failure as FILE:LINE: reason; returns the failures counted by reason. With
    ``state``, every decoded row is appended there and a rerun skips it."""
    done: dict[int, dict] = {}
    if state is not None and state.is_file():
        for raw in state.read_text(encoding="utf-8").splitlines():
            entry = json.loads(raw)
            done[entry["line"]] = entry
    jobs = [(str(m.path), line, str(mf.resolve_audio(r["audio"], m.path.parent)),
             int(r["n_frames"])) for r, line in zip(m.rows, m.lines)
            if "audio" in r and not mf._is_zip_ref(r["audio"]) and line not in done]
    log = state.open("a", encoding="utf-8") if state is not None else None
    try:
        with Pool(max(1, workers)) as pool:
            for line, reason, message in pool.imap_unordered(_decode_row, jobs, 16):
                done[line] = {"line": line, "reason": reason, "message": message}
                if log is not None:
                    log.write(json.dumps(done[line]) + "\n")
                    log.flush()
    finally:
        if log is not None:
            log.close()
    failed = Counter(e["reason"] for e in done.values() if e["reason"])
    for entry in sorted(done.values(), key=lambda e: e["line"]):
        if entry["reason"]:
            print(entry["message"])
    print(f"{m.path}: decoded {len(done)} audio files ({len(jobs)} now); "
          f"{sum(failed.values())} failed {dict(failed) if failed else ''}".rstrip())
    return dict(failed)
