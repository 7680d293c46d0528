"""One operator page's WebSocket (/operator/ws) for the `operator` benchmark: logs in with the API
key and counts the figures messages it gets, per second, for a bounded time.

Usage: operator_watch.py HOST:PORT API_KEY_FILE SECONDS  (prints one JSON object)"""

import asyncio
import json
import sys
import time

import websockets


async def watch(where, key, seconds):
    per_second = {}
    sizes = []
    async with websockets.connect(f"ws://{where}/operator/ws", max_size=16 * 1024 * 1024) as ws:
        await ws.send(json.dumps({"type": "hello", "token": key}))
        welcome = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert welcome.get("type") == "welcome", welcome
        start = time.monotonic()
        last = None
        while (left := seconds - (time.monotonic() - start)) > 0:
            try:
                text = await asyncio.wait_for(ws.recv(), left)
            except asyncio.TimeoutError:
                break
            second = int(time.monotonic() - start)
            per_second[second] = per_second.get(second, 0) + 1
            sizes.append(len(text))
            last = json.loads(text)
    busiest = max(per_second.values(), default=0)
    return {"seconds": seconds, "messages": len(sizes), "per_s": len(sizes) / seconds,
            "max_in_one_second": busiest, "bytes": sum(sizes),
            "max_message_bytes": max(sizes, default=0),
            "last_scans": last["scans"] if last else None,
            "last_gates": len(last["gates"]) if last else 0}


if __name__ == "__main__":
    where, key_file, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    key = open(key_file).read().strip()
    print(json.dumps(asyncio.run(watch(where, key, seconds))))
