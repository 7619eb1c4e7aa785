#!/usr/bin/python3
"""A real WebSocket echo server (Debian's python3-websockets), for tests.

Usage: ws_echo_server.py PORT
Echoes every text or binary message back; closes when the client closes.
Prints "closed CODE" when a connection ends (the close code it received).
"""
import asyncio
import sys

import websockets


async def echo(websocket, path=None):
    try:
        async for message in websocket:
            await websocket.send(message)
    finally:
        print(f"closed {websocket.close_code}", flush=True)


async def main(port):
    async with websockets.serve(echo, "127.0.0.1", port):
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
