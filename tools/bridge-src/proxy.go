// Reverse-proxy mode (issue 21): `--upstream http://127.0.0.1:PORT/PATH` puts the bridge in front of an HTTP MCP
// server in the same pod instead of starting stdio processes (streamable HTTP here; `--upstream-transport sse`:
// proxysse.go), so an HTTP server gets the same front door as a stdio one: the Host/Origin check, Bearer tokens
// (the Authorization header is never passed on), the tool policy and its CEL rules, an approved inventory, the
// audit and the metrics.
//
// A POST's JSON-RPC message is read (at most 16 MiB): a request the policy refuses is answered here and never
// reaches the server. The answer to a list request (tools/list, prompts/list, resources/list,
// resources/templates/list), whether JSON or an SSE stream, loses what the policy hides; every other byte,
// including a GET's SSE stream of server messages, passes through as it comes (flushed event by event). A session
// (Mcp-Session-Id, given by the server) answers only the caller whose token opened it. JSON-RPC batches (removed
// from the protocol in 2025-06-18) are refused while a policy or the audit is on: a message inside one would
// otherwise pass unchecked.
package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// maxProxySessions bounds the session → owner map (sessions the server ended without a DELETE stay until then;
// the oldest half is forgotten when it is full: their callers must initialize again)
const maxProxySessions = 10_000

// maxEventBytes bounds one SSE event of a list answer the policy reads (a larger one ends the stream with an
// error event: what the policy hides must never pass unread)
const maxEventBytes = 16 << 20

// proxy forwards MCP requests to the server's own HTTP endpoint.
type proxy struct {
	b        *bridge
	upstream *url.URL
	rp       *httputil.ReverseProxy

	sse bool // the upstream speaks the legacy HTTP+SSE transport (proxysse.go)

	mu      sync.Mutex
	owners  map[string]proxyOwner  // Mcp-Session-Id → who opened it
	streams map[string]*sseSession // with sse: a session's message URI → its stream
}

type proxyOwner struct {
	who  caller
	seen time.Time
}

func newProxy(b *bridge, upstream, transport string) (*proxy, error) {
	u, err := url.Parse(upstream)
	if err != nil || u.Scheme != "http" || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("--upstream %q must be an http URL without userinfo (the server in the same pod)", upstream)
	}
	if transport != "streamable-http" && transport != "sse" {
		return nil, fmt.Errorf("--upstream-transport %q: streamable-http or sse", transport)
	}
	p := &proxy{b: b, upstream: u, sse: transport == "sse", owners: map[string]proxyOwner{},
		streams: map[string]*sseSession{}}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme, r.Out.URL.Host = u.Scheme, u.Host
			if !p.sse { // an SSE server's message URIs are its own: they pass as the client sends them
				r.Out.URL.Path, r.Out.URL.RawPath = u.Path, ""
			}
			r.Out.Host = u.Host
			r.Out.Header.Del("Authorization") // never passed through (the MCP authorization spec forbids it)
		},
		FlushInterval: -1, // SSE: every write reaches the client at once
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			log.Printf("upstream: %v", err)
			http.Error(w, "Bad Gateway: the MCP server in this pod did not answer", http.StatusBadGateway)
		},
	}
	return p, nil
}

// owned reports whether session `id` may be used by `who`: unknown sessions may (the server decides), another
// caller's may not.
func (p *proxy) owned(id string, who caller) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	o, ok := p.owners[id]
	if !ok {
		return true
	}
	o.seen = time.Now()
	p.owners[id] = o
	return o.who.same(who)
}

func (p *proxy) own(id string, who caller) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.owners[id]; ok {
		return
	}
	if len(p.owners) >= maxProxySessions { // forget the older half
		seen := make([]time.Time, 0, len(p.owners))
		for _, o := range p.owners {
			seen = append(seen, o.seen)
		}
		slices.SortFunc(seen, time.Time.Compare)
		median := seen[len(seen)/2]
		for k, o := range p.owners {
			if o.seen.Before(median) {
				delete(p.owners, k)
			}
		}
	}
	p.owners[id] = proxyOwner{who: who, seen: time.Now()}
}

func (p *proxy) forget(id string) {
	p.mu.Lock()
	delete(p.owners, id)
	p.mu.Unlock()
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b := p.b
	who, ok := b.admit(w, req)
	if !ok {
		return
	}
	if p.sse {
		if req.Method == http.MethodGet {
			p.stream(w, req, who)
		} else {
			p.message(w, req, who)
		}
		return
	}
	sid := req.Header.Get(sessionHeader)
	if sid != "" && !p.owned(sid, who) {
		http.Error(w, "session not found", http.StatusNotFound) // another caller's session, as if it did not exist
		return
	}
	if req.Method != http.MethodPost {
		if req.Method == http.MethodDelete && sid != "" {
			defer p.forget(sid)
		}
		p.rp.ServeHTTP(w, req)
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, 16<<20+1))
	if err != nil || len(body) > 16<<20 {
		http.Error(w, "cannot read the request body (at most 16 MiB)", http.StatusRequestEntityTooLarge)
		return
	}
	req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	watched := b.policy.active() || b.audit != nil || b.metrics != nil
	if bytes.HasPrefix(bytes.TrimSpace(body), []byte("[")) {
		if watched {
			http.Error(w, "Bad Request: mcpop-bridge does not forward JSON-RPC batches while a tool policy, the audit "+
				"or the metrics are on", http.StatusBadRequest)
			return
		}
		p.rp.ServeHTTP(w, req)
		return
	}
	msg, err := jsonrpc.DecodeMessage(body)
	if err != nil {
		http.Error(w, "Bad Request: the body is not a JSON-RPC message", http.StatusBadRequest)
		return
	}
	r, isRequest := msg.(*jsonrpc.Request)
	if !isRequest || !watched {
		p.forward(w, req, who, nil, tracked{})
		return
	}
	if resp, rule := b.policy.refuse(msg, who.claims); resp != nil {
		if !r.ID.IsValid() {
			w.WriteHeader(http.StatusAccepted) // a notification outside the policy: dropped
			return
		}
		b.record(who, sid, describe(r), resp, rule)
		answerWith(w, resp)
		return
	}
	c := describe(r)
	c.list, c.claims = b.policy.listing(msg) != "", who.claims
	p.forward(w, req, who, r, c)
}

// forward sends `req` upstream; for request `r` (tracked as `c`), it reads the answer for the policy's list
// filter and the audit.
func (p *proxy) forward(w http.ResponseWriter, req *http.Request, who caller, r *jsonrpc.Request, c tracked) {
	rp := *p.rp
	rp.ModifyResponse = func(resp *http.Response) error {
		if id := resp.Header.Get(sessionHeader); id != "" && resp.StatusCode < 300 {
			p.own(id, who)
		}
		if r == nil || !r.ID.IsValid() {
			return nil
		}
		sid := resp.Header.Get(sessionHeader)
		if sid == "" {
			sid = req.Header.Get(sessionHeader)
		}
		done := func(answer *jsonrpc.Response) {
			if c.list && answer.Error == nil {
				p.b.policy.filter(c.method, answer, c.claims)
			}
			p.b.record(who, sid, c, answer, "")
		}
		mediaType := strings.TrimSpace(strings.Split(resp.Header.Get("Content-Type"), ";")[0])
		switch {
		case resp.StatusCode >= 300:
			done(&jsonrpc.Response{ID: r.ID, Error: &jsonrpc.Error{Code: jsonrpc.CodeInternalError,
				Message: fmt.Sprintf("HTTP %d", resp.StatusCode)}})
		case mediaType == "application/json":
			raw, err := io.ReadAll(io.LimitReader(resp.Body, maxEventBytes+1))
			_ = resp.Body.Close()
			if err != nil || len(raw) > maxEventBytes {
				return fmt.Errorf("the answer is unreadable or over %d bytes", maxEventBytes)
			}
			if out := rewrite(raw, answering(r.ID, done)); out != nil {
				raw = out
			}
			resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(raw)), int64(len(raw))
			resp.Header.Del("Content-Length")
		case mediaType == "text/event-stream":
			answer := answering(r.ID, done)
			resp.Body = events(resp.Body, func(ev []byte) []byte { return event(ev, answer) }, nil, nil)
		}
		return nil
	}
	rp.ServeHTTP(w, req)
}

// rewrite reads `raw` as a JSON-RPC message: when it is a response `answer` takes (it may change it), the bytes
// to send instead; nil otherwise (passed as it is).
func rewrite(raw []byte, answer func(*jsonrpc.Response) bool) []byte {
	msg, err := jsonrpc.DecodeMessage(raw)
	if err != nil {
		return nil
	}
	resp, ok := msg.(*jsonrpc.Response)
	if !ok || !answer(resp) {
		return nil
	}
	out, err := jsonrpc.EncodeMessage(resp)
	if err != nil {
		return nil
	}
	return out
}

// answering is the `answer` of rewrite for request `id`: `done` sees (and may change) its response.
func answering(id jsonrpc.ID, done func(*jsonrpc.Response)) func(*jsonrpc.Response) bool {
	return func(resp *jsonrpc.Response) bool {
		if resp.ID != id {
			return false
		}
		done(resp)
		return true
	}
}

// events passes an SSE stream through event by event, each as `handle` makes it, with the events sent on
// `inject` written between them; `ended` (when set) runs once the stream is over.
func events(body io.ReadCloser, handle func([]byte) []byte, inject <-chan []byte, ended func()) io.ReadCloser {
	pr, pw := io.Pipe()
	upstream, stop := make(chan []byte), make(chan struct{})
	go func() { // reads the server's events
		defer close(upstream)
		in := bufio.NewReaderSize(body, 64<<10)
		var event bytes.Buffer
		for {
			line, err := in.ReadSlice('\n')
			event.Write(line)
			if err == bufio.ErrBufferFull { // a long data line: keep reading it
				if event.Len() <= maxEventBytes {
					continue
				}
				event.Reset()
				event.WriteString("event: error\ndata: mcpop-bridge: an event over 16 MiB\n\n")
				err = io.ErrUnexpectedEOF
			}
			if err != nil || len(bytes.TrimRight(line, "\r\n")) == 0 { // the end of an event (or of the stream)
				if event.Len() > 0 {
					select {
					case upstream <- bytes.Clone(event.Bytes()):
					case <-stop:
						return
					}
				}
				event.Reset()
			}
			if err != nil {
				return
			}
		}
	}()
	go func() { // writes them, and the bridge's own, to the client
		defer func() {
			close(stop)
			_ = body.Close()
			if ended != nil {
				ended()
			}
		}()
		for {
			select {
			case ev, ok := <-upstream:
				if !ok {
					_ = pw.Close()
					return
				}
				if _, err := pw.Write(handle(ev)); err != nil {
					return
				}
			case ev := <-inject:
				if _, err := pw.Write(ev); err != nil {
					return
				}
			}
		}
	}()
	return struct {
		io.Reader
		io.Closer
	}{pr, closerFunc(func() error { _ = pr.Close(); return body.Close() })}
}

// sseEvent is one SSE event (its lines, blank line included): its name, its data (data lines joined), and
// its other lines.
func sseEvent(raw []byte) (name string, data []byte, other [][]byte) {
	var parts [][]byte
	for _, line := range bytes.SplitAfter(raw, []byte("\n")) {
		trimmed := bytes.TrimRight(line, "\r\n")
		if v, ok := bytes.CutPrefix(trimmed, []byte("data:")); ok {
			parts = append(parts, bytes.TrimPrefix(v, []byte(" ")))
			continue
		}
		if v, ok := bytes.CutPrefix(trimmed, []byte("event:")); ok {
			name = string(bytes.TrimSpace(v))
		}
		if len(trimmed) > 0 {
			other = append(other, trimmed)
		}
	}
	return name, bytes.Join(parts, []byte("\n")), other
}

// withData is an SSE event of `other` lines and `data`.
func withData(other [][]byte, data []byte) []byte {
	var buf bytes.Buffer
	for _, l := range other {
		buf.Write(l)
		buf.WriteByte('\n')
	}
	buf.WriteString("data: ")
	buf.Write(data)
	buf.WriteString("\n\n")
	return buf.Bytes()
}

// event is one SSE event as sent on: its data rewritten when it is a response `answer` takes.
func event(raw []byte, answer func(*jsonrpc.Response) bool) []byte {
	_, data, other := sseEvent(raw)
	if len(data) == 0 {
		return raw
	}
	out := rewrite(data, answer)
	if out == nil {
		return raw
	}
	return withData(other, out)
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// upstreamConnection is an MCP client connection to the server (the approved inventory's own listing).
func (p *proxy) upstreamConnection(ctx context.Context) (mcp.Connection, error) {
	return (&mcp.StreamableClientTransport{Endpoint: p.upstream.String(), MaxRetries: -1,
		DisableStandaloneSSE: true}).Connect(ctx)
}

// ready reports whether the server answers on its port at all (any HTTP status).
func (p *proxy) ready() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.upstream.String(), nil)
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return fmt.Errorf("the MCP server does not answer on %s", p.upstream.Host)
	}
	_ = resp.Body.Close()
	return nil
}
