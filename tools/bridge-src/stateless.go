// The stateless path (MCP 2026-07-28, SEP-2575): a client speaking it opens no session (no initialize, no
// Mcp-Session-Id); every request carries its protocol version (the Mcp-Protocol-Version header and the
// io.modelcontextprotocol/protocolVersion key of params._meta) and is answered on its own POST. A stdio server
// speaks it over one stdin/stdout for any number of clients, so all such requests share ONE long-lived child
// per bridge, started on the first one and started again on the next one after it exited. The bridge relays each
// request verbatim but for its JSON-RPC id, which it replaces with an id of its own (two clients may both send
// id 1) and puts back in the answer, sent as application/json. A notification is forwarded and answered 202.
// The child has no client to ask: a request it sends (sampling, elicitation, roots) gets a JSON-RPC error back
// (a ping an empty result), its notifications are dropped. A child that answers server/discover with an error
// before it ever answered with a result predates the stateless protocol (its clients fall back to initialize and
// a session): it is ended at once, as the throwaway child of such a request was before, so that it holds no
// place under --max-sessions. The child never sees HTTP headers, so the bridge checks
// that Mcp-Method and Mcp-Protocol-Version, when present, agree with the body (else 400, HEADER_MISMATCH -32020).
//
// Bounds: the shared child counts as one of --max-sessions while it runs; at most --max-stateless-inflight
// requests wait on it at once (one more is refused with 503 and a JSON-RPC error); a request waits until its
// answer, its HTTP client going away (the child then gets notifications/cancelled) or the child's end, which
// answers every waiting request with a JSON-RPC error naming the exit (and the child's last stderr lines when it
// never answered); --start-timeout kills a child that has not answered that long after it started, and
// --session-timeout one that has had no request that long. Messages from the child are bounded like a session's
// (the SDK's stdio transport). Host/Origin and --jwt-issuer are checked before any of this (ServeHTTP); the tool
// policy (policy.go) and the audit (audit.go) apply as to a session's requests: a request outside the policy never
// reaches the child, a list answer loses what it hides, and each request is one audit line (its session "").
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const (
	protocolHeader = "Mcp-Protocol-Version"
	// the first protocol version without sessions (SEP-2575); later ones are stateless too
	firstStateless = "2026-07-28"
)

var versionPattern = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

// statelessVersion reports whether a protocol version is one of the stateless era's (2026-07-28 and later).
func statelessVersion(v string) bool {
	return versionPattern.MatchString(v) && v >= firstStateless
}

// statelessRequest returns the message of a POST without Mcp-Session-Id that takes the stateless path: ONE
// JSON-RPC request or notification, not initialize, that is server/discover or names a stateless protocol
// version in the Mcp-Protocol-Version header or in params._meta. nil: the session path, as before.
func statelessRequest(header http.Header, body []byte) *jsonrpc.Request {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' { // a batch is never stateless (2025-06-18 removed batching)
		return nil
	}
	msg, err := jsonrpc.DecodeMessage(body)
	if err != nil {
		return nil
	}
	r, ok := msg.(*jsonrpc.Request)
	if !ok || r.Method == "initialize" {
		return nil
	}
	if r.Method == "server/discover" || statelessVersion(header.Get(protocolHeader)) {
		return r
	}
	var params struct {
		Meta map[string]any `json:"_meta"`
	}
	if json.Unmarshal(r.Params, &params) == nil {
		if v, ok := params.Meta[mcp.MetaKeyProtocolVersion].(string); ok && statelessVersion(v) {
			return r
		}
	}
	return nil
}

// codeHeaderMismatch is the 2026-07-28 error for HTTP headers that disagree with the request's body.
const codeHeaderMismatch = -32020

// mismatch names the header that disagrees with the request's body, or "". The child never sees the headers,
// so the bridge, the HTTP server, checks them: Mcp-Method against the method, Mcp-Protocol-Version against
// params._meta's version (a header that is absent is not checked).
func mismatch(header http.Header, r *jsonrpc.Request) string {
	if m := header.Get("Mcp-Method"); m != "" && m != r.Method {
		return "Mcp-Method"
	}
	if v := header.Get(protocolHeader); v != "" {
		var params struct {
			Meta map[string]any `json:"_meta"`
		}
		if json.Unmarshal(r.Params, &params) == nil {
			if mv, ok := params.Meta[mcp.MetaKeyProtocolVersion].(string); ok && mv != v {
				return protocolHeader
			}
		}
	}
	return ""
}

// stateless holds the shared child of the stateless path and the requests waiting on it.
type stateless struct {
	b           *bridge
	maxInflight int
	mu          sync.Mutex
	child       *sharedChild // nil: none runs; the next request starts one
	inflight    int          // requests waiting on an answer
	next        int64        // the last id the bridge gave a request
	lastSeen    time.Time    // when the last request ended
}

// sharedChild is one run of the shared server process; its fields are guarded by stateless.mu.
type sharedChild struct {
	conn     mcp.Connection
	stderr   *tail
	waiting  map[int64]*call // by the bridge's id
	answered bool            // it wrote a message
	served   bool            // it answered a request with a result
	reason   string          // why the bridge ended it (start timeout, idle, legacy, shutdown)
	ended    bool
}

// call is a request waiting on the shared child.
type call struct {
	method string
	answer chan *jsonrpc.Response // buffered: the one answer never blocks fromChild
}

var errFull = errors.New("no session left for the shared server process")

// start runs a new shared child (st.mu held), taking a place under --max-sessions.
func (st *stateless) start() (*sharedChild, error) {
	b := st.b
	b.mu.Lock()
	full := len(b.sessions)+b.starting+b.shared >= b.maxSessions
	if !full {
		b.shared++
	}
	b.mu.Unlock()
	if full {
		return nil, errFull
	}
	c, err := st.spawn()
	if err != nil {
		b.mu.Lock()
		b.shared--
		b.mu.Unlock()
		return nil, err
	}
	st.child = c
	st.lastSeen = time.Now()
	go st.fromChild(c)
	time.AfterFunc(b.startTimeout, func() {
		st.mu.Lock()
		late := !c.answered && !c.ended
		if late && c.reason == "" {
			c.reason = fmt.Sprintf("the shared server process did not answer within --start-timeout %s", b.startTimeout)
		}
		st.mu.Unlock()
		if late {
			_ = c.conn.Close() // ends its output: fromChild answers the waiting requests with the reason
		}
	})
	log.Printf("stateless: started %s", filepath.Base(b.command[0])) // never the arguments: they may hold secrets
	return c, nil
}

func (st *stateless) spawn() (*sharedChild, error) {
	b := st.b
	cmd := exec.Command(b.command[0], b.args()...)
	errRead, errWrite, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = errWrite
	conn, err := (&mcp.CommandTransport{Command: cmd, TerminateDuration: 2 * time.Second}).Connect(context.Background())
	_ = errWrite.Close()
	if err != nil {
		_ = errRead.Close()
		return nil, fmt.Errorf("starting %s: %w", b.command[0], err)
	}
	stderr := &tail{done: make(chan struct{})}
	go func() {
		_, _ = io.Copy(io.MultiWriter(os.Stderr, stderr), errRead)
		_ = errRead.Close()
		close(stderr.done)
	}()
	return &sharedChild{conn: conn, stderr: stderr, waiting: map[int64]*call{}}, nil
}

// fromChild reads the shared child's messages: an answer goes to the request waiting on its id, a request
// from the child is refused, a notification dropped. When its output ends every waiting request gets a
// JSON-RPC error saying why.
func (st *stateless) fromChild(c *sharedChild) {
	ctx := context.Background()
	var readErr error
	for {
		msg, err := c.conn.Read(ctx)
		if err != nil {
			readErr = err
			break
		}
		st.mu.Lock()
		c.answered = true
		var waiter *call
		legacy := false
		if r, ok := msg.(*jsonrpc.Response); ok {
			if n, ok := r.ID.Raw().(int64); ok {
				waiter = c.waiting[n]
				delete(c.waiting, n)
			}
			c.served = c.served || r.Error == nil
			// a server that predates the stateless protocol refuses server/discover (its client falls back to
			// initialize and a session): a shared process of it would only hold a place under --max-sessions
			if waiter != nil && waiter.method == "server/discover" && refusesDiscover(r.Error) && !c.served &&
				len(c.waiting) == 0 && st.child == c {
				legacy = true
				st.child = nil
				c.reason = "the shared server process answered server/discover with an error (a server that " +
					"predates the stateless protocol): ended"
			}
		}
		st.mu.Unlock()
		switch m := msg.(type) {
		case *jsonrpc.Response:
			if waiter != nil {
				waiter.answer <- m
			} // else its client went away: dropped
			if legacy {
				_ = c.conn.Close() // its output ends: this loop ends, logging the reason
			}
		case *jsonrpc.Request:
			if m.ID.IsValid() {
				_ = c.conn.Write(ctx, noClient(m))
			}
		}
	}
	_ = c.conn.Close() // a child whose output cannot be read is ended
	st.mu.Lock()
	answered, reason := c.answered, c.reason
	st.mu.Unlock()
	if !answered {
		select { // the child has exited: its last stderr bytes are on their way
		case <-c.stderr.done:
		case <-time.After(time.Second):
		}
	}
	if reason == "" {
		reason = "the shared server process exited"
		if !answered {
			reason = "the shared server process exited before it answered"
		}
		if readErr != nil && !errors.Is(readErr, io.EOF) {
			reason = "the shared server process's output could not be read (" + readErr.Error() + ")"
		}
	}
	if !answered {
		if last := c.stderr.lines(); last != "" {
			reason += "; its last stderr lines: " + last
		}
	}
	st.mu.Lock()
	c.ended = true
	waiting := c.waiting
	c.waiting = map[int64]*call{}
	if st.child == c {
		st.child = nil // the next request starts a new one
	}
	st.mu.Unlock()
	st.b.mu.Lock()
	st.b.shared--
	st.b.mu.Unlock()
	log.Printf("stateless: %s", reason)
	for _, w := range waiting {
		w.answer <- &jsonrpc.Response{Error: &jsonrpc.Error{Code: jsonrpc.CodeInternalError,
			Message: "mcpop-bridge: " + reason + "; the next request starts it again"}}
	}
}

// codeUnsupportedVersion is the 2026-07-28 error of a server that speaks it but not the version asked for.
const codeUnsupportedVersion = -32022

// refusesDiscover reports whether an error answering server/discover says the server does not speak the stateless
// protocol at all (any error but the one naming the versions it speaks).
func refusesDiscover(err error) bool {
	var e *jsonrpc.Error
	return err != nil && !(errors.As(err, &e) && e.Code == codeUnsupportedVersion)
}

// noClient answers a request the shared child sent: a stateless request has no client to ask.
func noClient(r *jsonrpc.Request) *jsonrpc.Response {
	if r.Method == "ping" {
		return &jsonrpc.Response{ID: r.ID, Result: json.RawMessage("{}")}
	}
	return &jsonrpc.Response{ID: r.ID, Error: &jsonrpc.Error{Code: jsonrpc.CodeMethodNotFound,
		Message: "mcpop-bridge: " + r.Method + " is not available: a stateless request has no client to ask"}}
}

// serve answers one stateless POST (its message already decoded).
// `who` is the caller (with --jwt-issuer), for the audit.
func (st *stateless) serve(w http.ResponseWriter, req *http.Request, msg *jsonrpc.Request, body []byte, who caller) {
	if h := mismatch(req.Header, msg); h != "" {
		refuse(w, body, http.StatusBadRequest, codeHeaderMismatch, "mcpop-bridge: the "+h+" header does not match "+
			"the request's body")
		return
	}
	b := st.b
	if resp, rule := b.policy.refuse(msg, who.claims); resp != nil { // outside the policy: the server process never sees it
		if !msg.ID.IsValid() {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		b.record(who, "", describe(msg), resp, rule)
		answerWith(w, resp)
		return
	}
	if !msg.ID.IsValid() { // a notification: to the running child, if any (none: nothing to tell)
		st.mu.Lock()
		c := st.child
		st.mu.Unlock()
		if c != nil {
			_ = c.conn.Write(context.Background(), msg)
		}
		w.WriteHeader(http.StatusAccepted)
		return
	}
	st.mu.Lock()
	if st.inflight >= st.maxInflight {
		st.mu.Unlock()
		refuse(w, body, http.StatusServiceUnavailable, jsonrpc.CodeInternalError, fmt.Sprintf(
			"mcpop-bridge: too many stateless requests in flight (--max-stateless-inflight %d): retry later",
			st.maxInflight))
		return
	}
	c := st.child
	if c == nil {
		var err error
		if c, err = st.start(); err != nil {
			st.mu.Unlock()
			if errors.Is(err, errFull) {
				refuse(w, body, http.StatusServiceUnavailable, jsonrpc.CodeInternalError, fmt.Sprintf(
					"mcpop-bridge: too many sessions (--max-sessions %d), the shared server process of stateless "+
						"requests counts as one: retry later", st.b.maxSessions))
				return
			}
			log.Print(err)
			http.Error(w, "cannot start the stdio server", http.StatusBadGateway)
			return
		}
	}
	st.inflight++
	st.next++
	n := st.next
	answer := make(chan *jsonrpc.Response, 1)
	c.waiting[n] = &call{method: msg.Method, answer: answer}
	st.mu.Unlock()
	defer func() {
		st.mu.Lock()
		st.inflight--
		delete(c.waiting, n)
		st.lastSeen = time.Now()
		st.mu.Unlock()
	}()

	callerID := msg.ID
	tracked := describe(msg)
	tracked.list = b.policy.listing(msg) != ""
	msg.ID, _ = jsonrpc.MakeID(float64(n))
	if err := c.conn.Write(context.Background(), msg); err != nil {
		_ = c.conn.Close() // the child is gone: fromChild answers this request with the others
	}
	select {
	case resp := <-answer:
		resp.ID = callerID
		if tracked.list {
			b.policy.filter(tracked.method, resp, who.claims)
		}
		b.record(who, "", tracked, resp, "")
		answerWith(w, resp)
	case <-req.Context().Done(): // the client went away: the child need not finish
		params, _ := json.Marshal(map[string]any{"requestId": n, "reason": "the HTTP client went away"})
		_ = c.conn.Write(context.Background(), &jsonrpc.Request{Method: "notifications/cancelled", Params: params})
		b.record(who, "", tracked, &jsonrpc.Response{ID: callerID, Error: &jsonrpc.Error{
			Code: jsonrpc.CodeInternalError, Message: "mcpop-bridge: the HTTP client went away"}}, "")
	}
}

// answerWith writes a stateless request's answer: one JSON-RPC message, application/json.
func answerWith(w http.ResponseWriter, resp *jsonrpc.Response) {
	out, err := jsonrpc.EncodeMessage(resp)
	if err != nil {
		http.Error(w, "cannot encode the answer", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}

// reap ends a shared child without a request for longer than --session-timeout (it holds a place under
// --max-sessions); the next request starts a new one.
func (st *stateless) reap(now time.Time) {
	st.mu.Lock()
	c := st.child
	idle := c != nil && st.inflight == 0 && now.Sub(st.lastSeen) > st.b.idle
	if idle {
		st.child = nil
		c.reason = fmt.Sprintf("the shared server process was idle for more than %s", st.b.idle)
	}
	st.mu.Unlock()
	if idle {
		_ = c.conn.Close()
	}
}

// close ends the shared child (shutdown).
func (st *stateless) close() {
	st.mu.Lock()
	c := st.child
	st.child = nil
	if c != nil && c.reason == "" {
		c.reason = "the bridge is shutting down"
	}
	st.mu.Unlock()
	if c != nil {
		_ = c.conn.Close()
	}
}
