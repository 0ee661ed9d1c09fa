"""The official MCP SDK client against one server: initialize, tools/list, tools/calls; prints JSON.

Run with the SDK's python (`tools/mcp-sdk python`, as runc_harness.py `sdk_python()` does), never the
main environment:

  mcp_client.py streamable-http URL [--call TOOL [--arguments JSON]]... [--wait SECONDS]
  mcp_client.py sse URL ...
  mcp_client.py stdio -- COMMAND ARGS...

`--wait` retries the connection until the server answers (a container still starting). Each `--call` (with
the `--arguments` after it) is made in order in the one session; `call` in the report is the last one, `calls`
all of them (what a server keeps between two calls of a session shows there).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from contextlib import AbstractAsyncContextManager
from typing import Any

from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client


def transport(args: argparse.Namespace) -> AbstractAsyncContextManager[Any]:
    if args.transport == "streamable-http":
        return streamable_http_client(args.target[0])
    if args.transport == "sse":
        return sse_client(args.target[0])
    command, *rest = args.target
    return stdio_client(StdioServerParameters(command=command, args=rest))


async def session_report(args: argparse.Namespace) -> dict[str, Any]:
    async with transport(args) as streams:
        read, write = streams[0], streams[1]
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            tools = await session.list_tools()
            report: dict[str, Any] = {
                "protocolVersion": init.protocol_version,
                "serverInfo": {"name": init.server_info.name, "version": init.server_info.version},
                "tools": sorted(t.name for t in tools.tools),
            }
            calls = []
            for name, arguments in zip(args.call, args.arguments + ["{}"] * len(args.call), strict=False):
                result = await session.call_tool(name, json.loads(arguments), allow_claimed=False)
                content = getattr(result, "content", None) or []
                calls.append({
                    "isError": bool(getattr(result, "is_error", False)),
                    "text": "\n".join(getattr(c, "text", "") for c in content),
                })  # fmt: skip
            if calls:
                report["call"], report["calls"] = calls[-1], calls
            return report


async def main(args: argparse.Namespace) -> dict[str, Any]:
    deadline = time.monotonic() + args.wait
    while True:
        try:
            return await asyncio.wait_for(session_report(args), timeout=args.timeout)
        except Exception as exc:
            if time.monotonic() >= deadline:
                raise
            print(f"not yet: {type(exc).__name__}: {exc}", file=sys.stderr)
            await asyncio.sleep(1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("transport", choices=["streamable-http", "sse", "stdio"])
    parser.add_argument("target", nargs="+", help="URL, or the stdio command and its arguments")
    parser.add_argument("--call", action="append", default=[], help="a tool to call (again: another, in order)")
    parser.add_argument("--arguments", action="append", default=[], help="the tool's arguments, JSON (default {})")
    parser.add_argument("--wait", type=float, default=0.0, help="retry for this many seconds")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds for one attempt")
    print(json.dumps(asyncio.run(main(parser.parse_args()))))
