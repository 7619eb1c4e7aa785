#!/usr/bin/python3
"""A real WebSocket client (Debian's python3-websockets) that waits for the
proxy to go away.

Usage: ws_going_away_check.py PROXY_PORT HOST READY_FILE
Connects to ws://HOST/ through the proxy on 127.0.0.1:PROXY_PORT, checks one
echo, writes READY_FILE, then waits (up to 30 s) for the connection to be
closed. Exit 0 when the proxy closed it with a Close frame 1001 "going
away" (RFC 6455 §7.4.1); prints what it got otherwise.
"""
import asyncio
import sys

import websockets


async def main(port, host, ready_file):
    uri = f"ws://{host}:{port}/live"
    async with websockets.connect(uri, host="127.0.0.1", port=port, open_timeout=5) as ws:
        await ws.send("hello")
        if await asyncio.wait_for(ws.recv(), 5) != "hello":
            print("no echo")
            return 1
        with open(ready_file, "w") as f:
            f.write("ready\n")
        try:
            message = await asyncio.wait_for(ws.recv(), 30)
            print(f"unexpected message {message!r}")
            return 1
        except websockets.ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd is not None else None
            reason = closed.rcvd.reason if closed.rcvd is not None else None
            print(f"closed by the proxy: code {code} reason {reason!r}")
            return 0 if code == 1001 else 1
        except asyncio.TimeoutError:
            print("the connection was never closed")
            return 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3])))
