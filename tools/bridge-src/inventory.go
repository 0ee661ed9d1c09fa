// Approved tool inventories (issue 21 §2): with --approved-tools-only, a tool is exposed only while its current
// definition is the one approved (--approved-tool NAME=sha256:HEX), so a server whose tools change under the same
// name ("rug pull") cannot show a model a new description or schema before someone approves it.
//
// A tool's digest is sha256 over its definition (name, title, description, inputSchema, outputSchema, and the
// specification's annotations) as canonical JSON: object members sorted, members whose value is null left out, no
// whitespace, every character outside printable ASCII escaped, numbers as Python writes them. The operator computes the same digest from its
// handshake (mcpop/apply/verify/probe.py tool_digest); tests/fixtures/tool-digests.json pins both.
//
// A tools/list answer loses the tools not approved as they are now; their names and digests (never their
// definitions) are listed in its _meta under withheldMeta, so the operator can report the difference. A tools/call
// of a tool that is not approved, or whose definition the bridge last saw differ, is answered here. When the bridge
// has not yet seen the tool listed, it lists the server's tools itself once, with a short-lived process of its own.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf16"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// withheldMeta is the _meta key of a filtered tools/list answer listing the tools withheld as not approved.
const withheldMeta = "io.allbeone.mcp/withheld"

// toolDefinition is what a tool's digest covers: what a client shows a model and what it sends.
var toolDefinition = []string{"name", "title", "description", "inputSchema", "outputSchema", "annotations"}

// toolAnnotations are the annotations a digest covers: the specification's (the Python SDK drops any other).
var toolAnnotations = []string{"title", "readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"}

// inventoryPages bounds the pages of the bridge's own tools/list; refetchAfter how often it may list again.
const (
	inventoryPages = 100
	refetchAfter   = time.Minute
)

var digestPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// approvedFlag is --approved-tool NAME=sha256:HEX, repeatable.
type approvedFlag map[string]string

func (f approvedFlag) String() string {
	out := make([]string, 0, len(f))
	for n, d := range f {
		out = append(out, n+"="+d)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func (f approvedFlag) Set(v string) error {
	name, digest, ok := strings.Cut(v, "=")
	if !ok || name == "" || !digestPattern.MatchString(digest) {
		return fmt.Errorf("want NAME=sha256:<64 lowercase hex digits>, got %q", v)
	}
	if prev, dup := f[name]; dup && prev != digest {
		return fmt.Errorf("tool %q is approved twice with different digests", name)
	}
	f[name] = digest
	return nil
}

// approval is the approved inventory and what the bridge last saw of the server's tools.
type approval struct {
	tools map[string]string // name → approved digest
	list  func(ctx context.Context) (map[string]string, error)
	wait  time.Duration

	mu       sync.Mutex
	current  map[string]string // name → digest of the definition last seen listed
	fetched  time.Time         // when the bridge last listed the tools itself
	fetching chan struct{}     // closed when the listing under way ends; nil: none
	lastErr  error
}

func newApproval(tools map[string]string, b *bridge) *approval {
	a := &approval{tools: tools, current: map[string]string{}, wait: b.startTimeout}
	a.list = func(ctx context.Context) (map[string]string, error) { return b.inventory(ctx) }
	return a
}

// toolDigest is `sha256:<hex>` of one tools/list entry's definition.
func toolDigest(entry map[string]json.RawMessage) (string, error) {
	canonical, err := canonicalDefinition(entry)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(canonical)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// canonicalDefinition is the bytes a tool's digest is taken of.
func canonicalDefinition(entry map[string]json.RawMessage) ([]byte, error) {
	var out bytes.Buffer
	out.WriteByte('{')
	keys := make([]string, 0, len(toolDefinition))
	for _, k := range toolDefinition {
		if raw, ok := entry[k]; ok && !bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for i, k := range keys {
		if i > 0 {
			out.WriteByte(',')
		}
		writeString(&out, k)
		out.WriteByte(':')
		dec := json.NewDecoder(bytes.NewReader(entry[k]))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		if m, ok := v.(map[string]any); ok && k == "annotations" {
			for name := range m {
				if !slices.Contains(toolAnnotations, name) {
					delete(m, name)
				}
			}
		}
		if err := writeCanonical(&out, v); err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
	}
	out.WriteByte('}')
	return out.Bytes(), nil
}

// writeCanonical writes `v` (decoded with UseNumber) as Python's json.dumps(v, sort_keys=True,
// separators=(",", ":")) writes it after null members are dropped.
func writeCanonical(out *bytes.Buffer, v any) error {
	switch x := v.(type) {
	case nil:
		out.WriteString("null")
	case bool:
		out.WriteString(strconv.FormatBool(x))
	case string:
		writeString(out, x)
	case json.Number:
		s, err := pythonNumber(string(x))
		if err != nil {
			return err
		}
		out.WriteString(s)
	case []any:
		out.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				out.WriteByte(',')
			}
			if err := writeCanonical(out, e); err != nil {
				return err
			}
		}
		out.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k, e := range x {
			if e != nil {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys) // UTF-8 byte order is code point order, as Python sorts
		out.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				out.WriteByte(',')
			}
			writeString(out, k)
			out.WriteByte(':')
			if err := writeCanonical(out, x[k]); err != nil {
				return err
			}
		}
		out.WriteByte('}')
	default:
		return fmt.Errorf("unexpected JSON value %T", v)
	}
	return nil
}

// writeString writes `s` as Python's json.dumps with ensure_ascii writes it.
func writeString(out *bytes.Buffer, s string) {
	out.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			out.WriteString(`\"`)
		case '\\':
			out.WriteString(`\\`)
		case '\n':
			out.WriteString(`\n`)
		case '\r':
			out.WriteString(`\r`)
		case '\t':
			out.WriteString(`\t`)
		case '\b':
			out.WriteString(`\b`)
		case '\f':
			out.WriteString(`\f`)
		default:
			switch {
			case r >= 0x20 && r <= 0x7e:
				out.WriteRune(r)
			case r > 0xffff:
				r1, r2 := utf16.EncodeRune(r)
				fmt.Fprintf(out, `\u%04x\u%04x`, r1, r2)
			default:
				fmt.Fprintf(out, `\u%04x`, r)
			}
		}
	}
	out.WriteByte('"')
}

// pythonNumber is a JSON number as Python reads and writes it: an integer literal as the integer, anything else
// as a float in repr's shortest round-trip form (fixed notation for exponents -4..15, with ".0" when integral).
func pythonNumber(lit string) (string, error) {
	if !strings.ContainsAny(lit, ".eE") {
		n, ok := new(big.Int).SetString(lit, 10)
		if !ok {
			return "", fmt.Errorf("bad number %q", lit)
		}
		return n.String(), nil
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return "", fmt.Errorf("bad number %q", lit)
	}
	switch {
	case math.IsInf(f, 1):
		return "Infinity", nil
	case math.IsInf(f, -1):
		return "-Infinity", nil
	}
	sci := strconv.FormatFloat(f, 'e', -1, 64)
	exp, _ := strconv.Atoi(sci[strings.IndexByte(sci, 'e')+1:])
	if exp < -4 || exp >= 16 {
		return sci, nil
	}
	fixed := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(fixed, ".") {
		fixed += ".0"
	}
	return fixed, nil
}

// filter removes from a tools/list result (already filtered by allow/deny) the tools not approved as they are
// now, noting every digest it saw, and lists the withheld ones in the result's _meta.
func (a *approval) filter(result map[string]json.RawMessage, entries []map[string]json.RawMessage) (
	[]map[string]json.RawMessage, error) {
	kept := make([]map[string]json.RawMessage, 0, len(entries))
	type withheld struct {
		Name   string `json:"name"`
		Digest string `json:"digest"`
	}
	var held []withheld
	seen := map[string]string{}
	for _, e := range entries {
		var name string
		if json.Unmarshal(e["name"], &name) != nil {
			return nil, errors.New("a tool without a name")
		}
		digest, err := toolDigest(e)
		if err != nil {
			return nil, fmt.Errorf("tool %q: %w", name, err)
		}
		seen[name] = digest
		if a.tools[name] == digest {
			kept = append(kept, e)
		} else {
			held = append(held, withheld{name, digest})
		}
	}
	a.mu.Lock()
	for n, d := range seen {
		a.current[n] = d
	}
	a.mu.Unlock()
	if len(held) > 0 {
		meta := map[string]json.RawMessage{}
		if raw, ok := result["_meta"]; ok && json.Unmarshal(raw, &meta) != nil {
			meta = map[string]json.RawMessage{}
		}
		raw, _ := json.Marshal(held)
		meta[withheldMeta] = raw
		out, _ := json.Marshal(meta)
		result["_meta"] = out
	}
	return kept, nil
}

// refuse is why a tools/call of `name` is not sent to the server ("" when it may be).
func (a *approval) refuse(name string) string {
	want, ok := a.tools[name]
	if !ok {
		return fmt.Sprintf("tool %q is not in this server's approved inventory (--approved-tool)", name)
	}
	got, err := a.digest(name)
	switch {
	case err != nil:
		return fmt.Sprintf("tool %q could not be checked against this server's approved inventory: %v", name, err)
	case got == "":
		return fmt.Sprintf("tool %q is approved but the server does not list it", name)
	case got != want:
		return fmt.Sprintf("tool %q changed since it was approved (its definition is %s now, %s was approved)",
			name, got, want)
	}
	return ""
}

// digest is the digest of `name`'s current definition: the one last seen listed, else (at most once a minute)
// from the bridge's own listing; "" when the server does not list it.
func (a *approval) digest(name string) (string, error) {
	for {
		a.mu.Lock()
		if d, ok := a.current[name]; ok {
			a.mu.Unlock()
			return d, nil
		}
		if ch := a.fetching; ch != nil {
			a.mu.Unlock()
			<-ch
			continue
		}
		if !a.fetched.IsZero() && time.Since(a.fetched) < refetchAfter {
			err := a.lastErr
			a.mu.Unlock()
			return "", err
		}
		ch := make(chan struct{})
		a.fetching = ch
		a.mu.Unlock()

		ctx, cancel := context.WithTimeout(context.Background(), a.wait)
		listed, err := a.list(ctx)
		cancel()
		a.mu.Lock()
		for n, d := range listed {
			a.current[n] = d
		}
		a.fetched, a.lastErr, a.fetching = time.Now(), err, nil
		a.mu.Unlock()
		close(ch)
	}
}

// inventory lists the server's tools with a process of its own (counted under --max-sessions), or a session of
// its own with the upstream server in proxy mode: initialize, tools/list page by page, then the process (or
// session) is ended. It returns each tool's digest.
func (b *bridge) inventory(ctx context.Context) (map[string]string, error) {
	if !b.reserve() {
		return nil, fmt.Errorf("too many sessions (--max-sessions %d) to list the server's tools", b.maxSessions)
	}
	defer b.release()
	var conn mcp.Connection
	var err error
	if b.proxy != nil {
		if conn, err = b.proxy.upstreamConnection(ctx); err != nil {
			return nil, fmt.Errorf("connecting to %s to list its tools: %w", b.proxy.upstream, err)
		}
	} else {
		cmd := exec.CommandContext(ctx, b.command[0], b.args()...)
		cmd.Stderr = io.Discard
		if conn, err = (&mcp.CommandTransport{Command: cmd, TerminateDuration: 2 * time.Second}).Connect(ctx); err != nil {
			return nil, fmt.Errorf("starting %s to list its tools: %w", b.command[0], err)
		}
	}
	defer func() { _ = conn.Close() }()
	next := int64(0)
	call := func(method string, params any) (json.RawMessage, error) {
		next++
		id, _ := jsonrpc.MakeID(float64(next)) // read back as int64 (stateless.go relies on it too)
		raw, _ := json.Marshal(params)
		if err := conn.Write(ctx, &jsonrpc.Request{ID: id, Method: method, Params: raw}); err != nil {
			return nil, err
		}
		for {
			msg, err := conn.Read(ctx)
			if err != nil {
				return nil, fmt.Errorf("%s: the server process ended: %w", method, err)
			}
			switch m := msg.(type) {
			case *jsonrpc.Request:
				if m.ID.IsValid() {
					_ = conn.Write(ctx, noClient(m))
				}
			case *jsonrpc.Response:
				if n, ok := m.ID.Raw().(int64); ok && n == next {
					if m.Error != nil {
						return nil, fmt.Errorf("%s: %w", method, m.Error)
					}
					return m.Result, nil
				}
			}
		}
	}
	if _, err := call("initialize", map[string]any{"protocolVersion": "2025-11-25", "capabilities": map[string]any{},
		"clientInfo": map[string]any{"name": "mcpop-bridge-inventory", "version": version}}); err != nil {
		return nil, err
	}
	if err := conn.Write(ctx, &jsonrpc.Request{Method: "notifications/initialized"}); err != nil {
		return nil, err
	}
	out := map[string]string{}
	cursor := ""
	for range inventoryPages {
		params := map[string]any{}
		if cursor != "" {
			params["cursor"] = cursor
		}
		raw, err := call("tools/list", params)
		if err != nil {
			return nil, err
		}
		var page struct {
			Tools      []map[string]json.RawMessage `json:"tools"`
			NextCursor string                       `json:"nextCursor"`
		}
		if err := json.Unmarshal(raw, &page); err != nil {
			return nil, fmt.Errorf("tools/list: %w", err)
		}
		for _, e := range page.Tools {
			var name string
			if json.Unmarshal(e["name"], &name) != nil {
				continue
			}
			if d, err := toolDigest(e); err == nil {
				out[name] = d
			}
		}
		if cursor = page.NextCursor; cursor == "" {
			return out, nil
		}
	}
	return out, fmt.Errorf("tools/list: more than %d pages", inventoryPages)
}
