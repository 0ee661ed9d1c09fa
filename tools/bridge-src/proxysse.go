// The legacy HTTP+SSE transport (2024-11-05) behind the reverse proxy (--upstream-transport sse): a client's GET
// opens an SSE stream whose first event, `endpoint`, names the URI it POSTs its messages to; the answers come on
// the stream, not in the POSTs' responses (202 Accepted). The bridge keeps each stream's session by that URI (an
// absolute one is made relative, so clients POST through the bridge), bound to the caller whose token opened
// it: a POST to it from another caller is a 404. A request the policy refuses is answered on the stream by the
// bridge and never reaches the server; the answer to a list request loses what the policy hides.
package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// sseSession is one client's SSE stream through the proxy.
type sseSession struct {
	who    caller
	key    string      // the URI its messages are POSTed to
	inject chan []byte // events the bridge writes on the stream itself (its refusals)

	mu      sync.Mutex
	pending map[string]tracked // the client's requests whose answers the bridge reads, by id
}

func idKey(id jsonrpc.ID) string { return fmt.Sprintf("%T:%v", id.Raw(), id.Raw()) }

// stream opens a client's SSE stream: its events through sseStreamEvent, the session registered once its
// endpoint is known and forgotten when the stream ends.
func (p *proxy) stream(w http.ResponseWriter, req *http.Request, who caller) {
	s := &sseSession{who: who, inject: make(chan []byte, 16), pending: map[string]tracked{}}
	rp := *p.rp
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			resp.Body = events(resp.Body, func(ev []byte) []byte { return p.sseStreamEvent(ev, s) }, s.inject,
				func() { p.forgetStream(s) })
		}
		return nil
	}
	rp.ServeHTTP(w, req)
}

// sseStreamEvent is one event of session `s`'s stream as sent on: the endpoint made relative (and the session
// registered under it), an answer the bridge reads through the policy's filter and the audit.
func (p *proxy) sseStreamEvent(ev []byte, s *sseSession) []byte {
	name, data, other := sseEvent(ev)
	if name == "endpoint" {
		u, err := url.Parse(string(bytes.TrimSpace(data)))
		if err != nil {
			return ev
		}
		s.key = u.RequestURI()
		p.mu.Lock()
		if len(p.streams) < maxProxySessions {
			p.streams[s.key] = s
		}
		p.mu.Unlock()
		return withData(other, []byte(s.key))
	}
	return event(ev, func(resp *jsonrpc.Response) bool {
		s.mu.Lock()
		c, ok := s.pending[idKey(resp.ID)]
		delete(s.pending, idKey(resp.ID))
		s.mu.Unlock()
		if !ok {
			return false
		}
		if c.list && resp.Error == nil {
			p.b.policy.filter(c.method, resp, c.claims)
		}
		p.b.record(s.who, "", c, resp, "")
		return true
	})
}

func (p *proxy) forgetStream(s *sseSession) {
	p.mu.Lock()
	if p.streams[s.key] == s {
		delete(p.streams, s.key)
	}
	p.mu.Unlock()
}

// message handles a POST of a message to an SSE session's endpoint.
func (p *proxy) message(w http.ResponseWriter, req *http.Request, who caller) {
	b := p.b
	p.mu.Lock()
	s := p.streams[req.URL.RequestURI()]
	p.mu.Unlock()
	if s == nil || !s.who.same(who) {
		http.Error(w, "session not found", http.StatusNotFound) // unknown, or another caller's
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, 16<<20+1))
	if err != nil || len(body) > 16<<20 {
		http.Error(w, "cannot read the request body (at most 16 MiB)", http.StatusRequestEntityTooLarge)
		return
	}
	req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	watched := b.policy.active() || b.audit != nil || b.metrics != nil
	if bytes.HasPrefix(bytes.TrimSpace(body), []byte("[")) && watched {
		http.Error(w, "Bad Request: mcpop-bridge does not forward JSON-RPC batches while a tool policy, the audit "+
			"or the metrics are on", http.StatusBadRequest)
		return
	}
	msg, err := jsonrpc.DecodeMessage(body)
	if r, ok := msg.(*jsonrpc.Request); err == nil && ok && watched {
		if resp, rule := b.policy.refuse(msg, who.claims); resp != nil {
			if r.ID.IsValid() {
				out, _ := jsonrpc.EncodeMessage(resp)
				select {
				case s.inject <- withData([][]byte{[]byte("event: message")}, out):
				default:
					http.Error(w, "Service Unavailable: too many answers waiting for the stream", http.StatusServiceUnavailable)
					return
				}
				b.record(who, "", describe(r), resp, rule)
			}
			w.WriteHeader(http.StatusAccepted)
			return
		}
		if r.ID.IsValid() {
			c := describe(r)
			c.list, c.claims = b.policy.listing(msg) != "", who.claims
			s.mu.Lock()
			if len(s.pending) < maxProxySessions {
				s.pending[idKey(r.ID)] = c
			}
			s.mu.Unlock()
		}
	}
	p.rp.ServeHTTP(w, req)
}
