"""How many requests one mcpop-bridge serves on one core: prints figures, asserts nothing.

mcpop-bridge runs pinned to CPU 0 (`taskset -c 0`); the stdio server behind it (a plain-python stateless responder)
and the load generator run pinned to CPU 1, so the bridge has its core to itself. The load generator is a small Go
program built here (no dependencies): C connections sending stateless 2026-07-28 `tools/call` requests for D
seconds, each answered `application/json` by the bridge's one shared server process. Printed, for the bridge
alone and with the whole front door on (JWT validation, tool policy, approved inventory, audit to a file,
metrics):
- requests/s achieved, p50/p99 latency as the load generator saw it;
- the bridge's own CPU time per request (from /proc: user + system), and what that allows on one core
  (1 / CPU per request): the figure that does not depend on how fast the other core feeds it.

Run: python bench/bridge_throughput.py [--seconds 10] [--connections 16]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bridge import issuer, running_bridge, tool  # bench/bridge.py's helpers; it puts the repo first
from ports import free_port  # bench/bridge.py put tests/ on the path

from mcpop.apply.verify.probe import tool_digest

#: a stateless stdio server in plain python: answers every request at once
RESPONDER = """
import json, sys
TOOL = {"name": "whoami", "description": "Says ok.", "inputSchema": {"type": "object", "properties": {}}}
for line in sys.stdin:
    msg = json.loads(line)
    if "id" not in msg or "method" not in msg:
        continue
    method = msg["method"]
    if method == "tools/list":
        result = {"tools": [TOOL]}
    elif method == "server/discover":
        result = {"supportedVersions": ["2026-07-28"], "capabilities": {"tools": {}},
                  "serverInfo": {"name": "responder", "version": "1"}}
    else:
        result = {"content": [{"type": "text", "text": "ok"}], "isError": False}
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": result}) + "\\n")
    sys.stdout.flush()
"""

LOADGEN = """
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"sync"
	"time"
)

func main() {
	url := flag.String("url", "", "")
	conns := flag.Int("c", 16, "")
	secs := flag.Float64("d", 10, "")
	token := os.Getenv("TOKEN")
	flag.Parse()
	body := []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{}}}`)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *conns}}
	stop := time.Now().Add(time.Duration(*secs * float64(time.Second)))
	var mu sync.Mutex
	var lat []float64
	errs := 0
	var wg sync.WaitGroup
	for i := 0; i < *conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []float64
			bad := 0
			for time.Now().Before(stop) {
				req, _ := http.NewRequest("POST", *url, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/json, text/event-stream")
				req.Header.Set("Mcp-Protocol-Version", "2026-07-28")
				req.Header.Set("Mcp-Method", "tools/call")
				req.Header.Set("Mcp-Name", "whoami")
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					bad++
					continue
				}
				out, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !bytes.Contains(out, []byte(`"ok"`)) {
					bad++
					continue
				}
				mine = append(mine, time.Since(t0).Seconds())
			}
			mu.Lock()
			lat = append(lat, mine...)
			errs += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	sort.Float64s(lat)
	pct := func(q float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return lat[int(q*float64(len(lat)-1))] * 1000
	}
	out, _ := json.Marshal(map[string]any{"requests": len(lat), "errors": errs, "p50": pct(0.5), "p99": pct(0.99)})
	fmt.Println(string(out))
}
"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--connections", type=int, default=16)
    opts = ap.parse_args()
    if (os.cpu_count() or 1) < 2 or shutil.which("taskset") is None:
        print("needs two CPUs and taskset (util-linux)")
        return 1
    with tempfile.TemporaryDirectory(prefix="mcpop-bench-throughput-") as tmp:
        bridge = str(Path(tmp, "bridge-on-cpu0"))  # the bridge itself, every thread of it, on CPU 0
        Path(bridge).write_text(f'#!/bin/sh\nexec taskset -c 0 {tool("bridge", "path")} "$@"\n')
        Path(bridge).chmod(0o755)
        Path(tmp, "responder.py").write_text(RESPONDER)
        Path(tmp, "go.mod").write_text("module loadgen\n\ngo 1.22\n")
        Path(tmp, "main.go").write_text(LOADGEN)
        subprocess.run(["go", "build", "-o", "loadgen", "."], cwd=tmp, check=True, env={**os.environ, "GOFLAGS": ""})
        child = ["taskset", "-c", "1", sys.executable, str(Path(tmp, "responder.py"))]
        print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs; bridge on CPU 0, server and load on "
              f"CPU 1; {opts.connections} connections, {opts.seconds:g} s each")  # fmt: skip
        print(f"{'stateless tools/call':<22} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
              f"{'bridge CPU/req':>15} {'req/s per core':>15}")  # fmt: skip
        for name in ("bridge", "+ front door"):
            port = free_port()
            flags: list[str] = []
            token = ""
            if name != "bridge":
                flags, token = issuer(tmp, f"http://127.0.0.1:{port}/mcp")
                listed = json.loads(RESPONDER_TOOL)
                audit = str(Path(tmp, "audit.jsonl"))
                approved = f"whoami={tool_digest(listed)}"
                flags += ["--allow-tools", "who*", "--deny-tools", "delete_*", "--audit-log", audit,
                          "--approved-tool", approved, "--metrics-port", str(free_port())]  # fmt: skip
            with running_bridge(bridge, child, tmp, flags=flags, port=port) as (url, pid):
                warm = [str(Path(tmp, "loadgen")), "-url", url, "-c", "2", "-d", "1"]
                subprocess.run(["taskset", "-c", "1", *warm], check=True, capture_output=True,
                               env={**os.environ, "TOKEN": token})  # fmt: skip
                before = cpu_seconds(pid)
                run = ["taskset", "-c", "1", str(Path(tmp, "loadgen")), "-url", url, "-c", str(opts.connections),
                       "-d", str(opts.seconds)]  # fmt: skip
                out = subprocess.run(run, check=True, capture_output=True, text=True,
                                     env={**os.environ, "TOKEN": token})  # fmt: skip
                used = cpu_seconds(pid) - before
            r = json.loads(out.stdout)
            per = used / max(r["requests"], 1)
            print(f"{name:<22} {r['requests'] / opts.seconds:8.0f} {r['p50']:8.2f} {r['p99']:8.2f} {r['errors']:7d} "
                  f"{per * 1e6:12.0f} µs {1 / per if per else 0:15.0f}")  # fmt: skip
    return 0


#: RESPONDER's tool as it lists it (for the approved inventory's digest)
RESPONDER_TOOL = json.dumps({"name": "whoami", "description": "Says ok.",
                             "inputSchema": {"type": "object", "properties": {}}})  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
