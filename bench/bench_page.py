"""Drive the page in headless Chromium while training streams; print frame times and page weight.

    python bench/bench_page.py                 # starts the app on a free port
    python bench/bench_page.py --url http://127.0.0.1:8000 --seconds 15

Frame times are requestAnimationFrame deltas collected in the page; "dropped" counts frames longer
than 1.5 × 16.7 ms. While the tiny preset trains, frame p95 should stay under 20 ms (TARGET_P95_MS):
the last line says whether it did, next to the noise and contention floors measured in the same
run (on a shared machine, compare against those, not against the bare number).
Page weight is the bytes transferred on a cold first load (CDP Network events,
and the Resource Timing transferSize sum as a cross-check). Prints; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import CHROMIUM, LAUNCH_ARGS  # noqa: E402
from tests.live_server import serve  # noqa: E402

FRAME_MS = 1000 / 60
TARGET_P95_MS = 20.0
COLLECT = """() => {
  window.__frames = [];
  let last = null;
  const tick = (t) => {
    if (last !== null) window.__frames.push(t - last);
    last = t;
    window.__rafId = requestAnimationFrame(tick);
  };
  window.__rafId = requestAnimationFrame(tick);
}"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def page_weight(browser, url: str) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    sizes: dict[str, int] = {}
    urls: dict[str, str] = {}
    cdp.on(
        "Network.responseReceived", lambda e: urls.__setitem__(e["requestId"], e["response"]["url"])
    )
    cdp.on(
        "Network.loadingFinished",
        lambda e: sizes.__setitem__(e["requestId"], int(e["encodedDataLength"])),
    )
    started = time.perf_counter()
    page.goto(f"{url}/")
    page.wait_for_selector("body[data-ready=true]", timeout=60_000)
    ready_s = time.perf_counter() - started
    timing = page.evaluate("""() => {
      const r = performance.getEntriesByType('resource');
      const n = performance.getEntriesByType('navigation')[0];
      return {transfer: r.reduce((s, e) => s + e.transferSize, 0) + (n ? n.transferSize : 0),
              decoded: r.reduce((s, e) => s + e.decodedBodySize, 0) + (n ? n.decodedBodySize : 0),
              count: r.length + 1, dcl: n ? n.domContentLoadedEventEnd : null};
    }""")
    total = sum(sizes.values())
    print("page weight (first load, cache disabled)")
    print(f"  CDP bytes on the wire : {total / 1024:,.1f} KiB over {len(sizes)} responses")
    print(
        f"  Resource Timing       : {timing['transfer'] / 1024:,.1f} KiB transferred, "
        f"{timing['decoded'] / 1024:,.1f} KiB decoded, {timing['count']} entries"
    )
    biggest = sorted(((sizes[k], urls.get(k, k)) for k in sizes), reverse=True)[:4]
    for size, u in biggest:
        print(f"    {size / 1024:9,.1f} KiB  {u.replace(url, '')}")
    print(
        f"  DOMContentLoaded {timing['dcl']:.0f} ms; page ready (session created) {ready_s:.2f} s"
    )
    sid = page.evaluate("window.attnflow.state.session.id")
    page.request.delete(f"{url}/api/sessions/{sid}")
    context.close()


def report_frames(label: str, frames: list[float], seconds: float) -> None:
    dropped = sum(1 for f in frames if f > 1.5 * FRAME_MS)
    print(label)
    print(f"  frames {len(frames)}  ({len(frames) / seconds:.1f} fps)")
    print(
        f"  frame time p50 {percentile(frames, 0.5):.1f} ms  "
        f"p95 {percentile(frames, 0.95):.1f} ms  "
        f"max {max(frames, default=float('nan')):.1f} ms  "
        f"mean {statistics.fmean(frames) if frames else float('nan'):.1f} ms"
    )
    print(f"  dropped (> {1.5 * FRAME_MS:.1f} ms) {100 * dropped / max(len(frames), 1):.1f} %")


def frames_idle(browser, url: str, seconds: float) -> None:
    """The noise floor: the same page, nothing training (other load on the machine shows here)."""
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    page.goto(f"{url}/")
    page.wait_for_selector("body[data-ready=true]", timeout=60_000)
    page.wait_for_timeout(1000)
    page.evaluate(COLLECT)
    page.wait_for_timeout(seconds * 1000)
    frames = page.evaluate("cancelAnimationFrame(window.__rafId), window.__frames")
    sid = page.evaluate("window.attnflow.state.session.id")
    page.request.delete(f"{url}/api/sessions/{sid}")
    context.close()
    report_frames(
        f"frames with the page idle, nothing training ({seconds:.0f} s): the noise floor",
        frames,
        seconds,
    )


def frames_blank_while_training(browser, url: str, seconds: float) -> None:
    """The contention floor: a blank page's frames while a tiny session trains alongside."""
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    page.goto("about:blank")
    info = page.request.post(f"{url}/api/sessions", data={}).json()
    page.request.post(f"{url}/api/sessions/{info['id']}/run", data={})
    page.wait_for_timeout(1500)
    page.evaluate(COLLECT)
    page.wait_for_timeout(seconds * 1000)
    frames = page.evaluate("cancelAnimationFrame(window.__rafId), window.__frames")
    page.request.post(f"{url}/api/sessions/{info['id']}/pause")
    page.request.delete(f"{url}/api/sessions/{info['id']}")
    context.close()
    report_frames(
        f"frames of a blank page while a tiny session trains ({seconds:.0f} s): "
        "the contention floor",
        frames,
        seconds,
    )


def frames_while_training(
    browser, url: str, query: str, seconds: float, warmup: float
) -> list[float]:
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    page.goto(f"{url}/?{query}")
    page.wait_for_selector("body[data-ready=true]", timeout=120_000)
    sid = page.evaluate("window.attnflow.state.session.id")
    preset = page.evaluate("window.attnflow.state.session.preset")
    page.click("#btn-play")
    page.wait_for_timeout(warmup * 1000)
    step0 = page.evaluate("window.attnflow.state.liveStep")
    points0 = page.evaluate("document.getElementById('loss-chart').data[0].x.length")
    page.evaluate(COLLECT)
    page.wait_for_timeout(seconds * 1000)
    frames = page.evaluate("cancelAnimationFrame(window.__rafId), window.__frames")
    step1 = page.evaluate("window.attnflow.state.liveStep")
    points1 = page.evaluate("document.getElementById('loss-chart').data[0].x.length")
    counts = page.evaluate("window.attnflow.player.counts()")
    page.request.post(f"{url}/api/sessions/{sid}/pause")
    page.request.delete(f"{url}/api/sessions/{sid}")
    context.close()
    report_frames(
        f"frames while training, preset {preset} ({seconds:.0f} s after {warmup:.0f} s warm-up)",
        frames,
        seconds,
    )
    print(
        f"  training {(step1 - step0) / seconds:.1f} steps/s; chart +{points1 - points0} points; "
        f"animated {counts['animated']}, summarised {counts['summarised']} (whole run)"
    )
    return frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="an app that is already running")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--skip-seed", action="store_true", help="only the tiny preset")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with contextlib.ExitStack() as stack:
        url = args.url or stack.enter_context(serve())
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS
            )
            print(
                f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
                f"on {os.cpu_count()} cores"
            )
            page_weight(browser, url)
            frames_idle(browser, url, min(args.seconds, 5))
            frames_blank_while_training(browser, url, min(args.seconds, 5))
            tiny = frames_while_training(browser, url, "preset=tiny", args.seconds, warmup=2)
            p95 = percentile(tiny, 0.95)
            verdict = "yes" if p95 < TARGET_P95_MS else "NO"
            print(
                f"tiny preset streaming: frame p95 {p95:.1f} ms < {TARGET_P95_MS:.0f} ms: {verdict}"
            )
            if not args.skip_seed:
                frames_while_training(browser, url, "preset=seed", args.seconds, warmup=4)
            print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
            browser.close()


if __name__ == "__main__":
    main()
