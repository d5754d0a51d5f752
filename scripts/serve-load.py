#!/usr/bin/env python3
"""Closed-loop streaming load on an OpenAI-compatible /v1/completions endpoint, for comparing two
servers of the same model side by side (scripts/bench-serve-vs-llama-server.sh).

CONCURRENCY clients each send REQUESTS/CONCURRENCY streaming completions one after another, on
loopback only. Per request: TTFT (first chunk with text) and completion tokens (from the stream's
usage). Prints one JSON line: aggregate output tokens/s over the whole run, TTFT p50/p95, and
the per-request latency p50.

usage: serve-load.py URL CONCURRENCY REQUESTS MAX_TOKENS PROMPT_FILE
"""

import http.client
import json
import statistics
import sys
import threading
import time
import urllib.parse


def percentile(values, p):
    values = sorted(values)
    if not values:
        return None
    rank = p / 100 * (len(values) - 1)
    low, high = int(rank), min(int(rank) + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (rank - low)


def one_request(url, body):
    parsed = urllib.parse.urlparse(url)
    if parsed.hostname not in ("127.0.0.1", "::1", "localhost"):
        raise SystemExit(f"{url}: load goes to loopback only")
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=300)
    started = time.perf_counter()
    connection.request("POST", parsed.path.rstrip("/") + "/completions", body=body,
                       headers={"content-type": "application/json"})
    response = connection.getresponse()
    if response.status != 200:
        raise RuntimeError(f"HTTP {response.status}: {response.read()[:300]!r}")
    ttft = None
    tokens = None
    chunks = 0
    for raw in response:
        line = raw.decode().strip()
        if not line.startswith("data: "):
            continue
        data = line[len("data: "):]
        if data == "[DONE]":
            break
        chunk = json.loads(data)
        if chunk.get("error"):
            raise RuntimeError(f"error in the stream: {chunk['error']}")
        if chunk.get("usage"):
            tokens = chunk["usage"].get("completion_tokens")
        for choice in chunk.get("choices", []):
            if choice.get("text"):
                chunks += 1
                if ttft is None:
                    ttft = time.perf_counter() - started
    latency = time.perf_counter() - started
    connection.close()
    if tokens is None:
        raise RuntimeError(f"no usage in the stream ({chunks} text chunks)")
    return ttft, latency, tokens


def main():
    url, concurrency, requests, max_tokens, prompt_file = sys.argv[1:6]
    concurrency, requests, max_tokens = int(concurrency), int(requests), int(max_tokens)
    prompt = open(prompt_file).read()
    body = json.dumps({
        "prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "stream": True,
        "stream_options": {"include_usage": True}, "stop": ["\u0001"],
        # llama-server only: keep its prompt cache out of the comparison (ours has none).
        "cache_prompt": False,
    })
    results, errors = [], []
    lock = threading.Lock()
    per_client = requests // concurrency

    def client():
        for _ in range(per_client):
            try:
                result = one_request(url, body)
            except Exception as error:  # noqa: BLE001 - reported, not hidden
                with lock:
                    errors.append(str(error))
                return
            with lock:
                results.append(result)

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    ttfts = [r[0] * 1000 for r in results if r[0] is not None]
    print(json.dumps({
        "url": url, "concurrency": concurrency, "requests": len(results), "errors": errors[:3],
        "output_tokens": sum(r[2] for r in results),
        "output_tokens_per_s": sum(r[2] for r in results) / wall,
        "ttft_p50_ms": percentile(ttfts, 50), "ttft_p95_ms": percentile(ttfts, 95),
        "latency_p50_ms": statistics.median(r[1] * 1000 for r in results) if results else None,
    }))


if __name__ == "__main__":
    main()
