#!/usr/bin/python3
"""A real WebSocket client (Debian's python3-websockets) checking a tunnel
through sluice-proxy, across a configuration change.

Usage: ws_client_check.py PROXY_PORT HOST MANIFEST_TO_TOUCH
1. connects to ws://127.0.0.1:PROXY_PORT/chat with Host HOST, exchanges
   text and binary messages (one of 200 KiB, to cross buffer boundaries);
2. appends a harmless change to MANIFEST_TO_TOUCH (a new Ingress), waits
   for the controller to push it, and checks the same tunnel still echoes;
3. closes cleanly (close handshake through the proxy).
Exit status 0 on success; prints what failed otherwise.
"""
import asyncio
import sys

import websockets

EXTRA_INGRESS = """
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: ws-extra, namespace: demo}
spec:
  rules:
    - host: extra.local
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: ws, port: {number: 80}}}}
"""


async def main(port, host, manifest):
    # The URI names the virtual host (it becomes the Host header); the socket
    # goes to the proxy on loopback.
    uri = f"ws://{host}:{port}/chat"
    async with websockets.connect(uri, host="127.0.0.1", port=port, max_size=None, open_timeout=5) as ws:
        for message in ["hello", b"\x00\x01binary", "x" * 200 * 1024]:
            await ws.send(message)
            echoed = await asyncio.wait_for(ws.recv(), 5)
            if echoed != message:
                print(f"echo mismatch for a message of {len(message)} bytes")
                return 1
        with open(manifest, "a") as f:
            f.write(EXTRA_INGRESS)
        await asyncio.sleep(1.5)  # the controller notices and pushes within 1 s
        await ws.send("after config change")
        echoed = await asyncio.wait_for(ws.recv(), 5)
        if echoed != "after config change":
            print("tunnel broke across the configuration change")
            return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3])))
