// mcpop-bridge: serve a stdio MCP server as streamable HTTP, as one static binary.
//
// Each HTTP session (an initialize POST without Mcp-Session-Id) starts its own child process and the
// bridge relays JSON-RPC messages between the session's streamable-HTTP transport and the child's
// stdin/stdout unchanged, so the server's own protocol, capabilities and tools pass through as they are.
// Both transports are the official MCP Go SDK's (github.com/modelcontextprotocol/go-sdk).
//
// Clients speaking the stateless protocol (2026-07-28 and later: no initialize and no Mcp-Session-Id; a POST
// whose one message is server/discover or names such a version in Mcp-Protocol-Version or params._meta) never
// reach a session's child (nor a session's request theirs): they share ONE long-lived child per bridge
// (stateless.go), started on the first such request and again after it exited, with requests multiplexed by
// JSON-RPC id (the bridge's own id on the way in, the caller's back in the application/json answer). It counts
// as one of --max-sessions; at most --max-stateless-inflight requests wait on it (one more: 503 and a JSON-RPC
// error); its exit answers each waiting request with a JSON-RPC error; --start-timeout and --session-timeout
// apply to it as to a session. Any other POST without Mcp-Session-Id is a session's: an initialize opens one,
// anything else gets a throwaway child that refuses it, as before.
//
// A session ends on DELETE, after --session-timeout without a request, or when its server process exits: then
// every request still waiting on it gets a JSON-RPC error naming the exit, never a hang (with the last lines
// of the server's stderr when it exited before it ever answered). At most
// --max-sessions run at once (one more is refused with 503 and a JSON-RPC error), each with at most
// --max-session-calls calls awaiting an answer (one more is answered with a JSON-RPC error); a child that has not
// answered within --start-timeout is killed. /healthz is liveness; /readyz answers 200 only while a child
// can start: its command is found (not the session cap, which would cut a full pod's live sessions off).
// DNS-rebinding protection (the MCP spec's transport security guidance): the MCP endpoint answers 403 to a
// request whose Host, or whose Origin when it has one, names a host that is not allowed: localhost, 127.0.0.1
// and ::1 always are, an IP address in Host is (no rebinding goes through an address), and --allowed-hosts names
// the others (a pod's Service names; `.example.com` allows every name under example.com; `*` turns the check off).
// With --jwt-issuer the MCP endpoint is an OAuth resource server (auth.go): Bearer JWTs only, RFC 9728 metadata;
// --sa-issuer accepts in-cluster agents' projected ServiceAccount tokens too (or alone).
// --allow-tools/--deny-tools (and -prompts, -resources) are the tool policy (policy.go): lists lose what a client
// may not use, and a call of it is answered with a JSON-RPC error without reaching the server process; --tool-rule
// adds CEL over the caller's token claims per tool glob (rules.go).
// --audit-log writes one JSON line per client request (audit.go).
// The server's environment and its expanded arguments are never logged: with --expand-env the bridge itself expands $(VAR) in the arguments from its
// own environment (Kubernetes syntax, $$ for a literal $), so a Secret-fed variable never has to be in the
// container's command line.
//
//	mcpop-bridge [--port 8000] [--path /mcp] [--health /healthz] [--ready /readyz] [--session-timeout 30m]
//	             [--max-sessions 32] [--max-session-calls 256] [--max-stateless-inflight 64] [--start-timeout 30s]
//	             [--expand-env]
//	             [--allowed-hosts NAME,...]
//	             [--jwt-issuer URL [--jwt-audience AUD]... [--required-scopes S,...] [--jwks-file F] [--resource-url URL]]
//	             [--sa-issuer URL --sa-jwks-file F --sa-subjects GLOB,... [--sa-audience AUD]]
//	             [--allow-tools GLOB,...] [--deny-tools GLOB,...] [--allow-prompts ...] [--deny-prompts ...]
//	             [--tool-rule '{"tools":[GLOB,...],"when":CEL}']...
//	             [--allow-resources ...] [--deny-resources ...] [--audit-log FILE|- [--audit-arguments]]
//	             -- COMMAND [ARG...]
//	mcpop-bridge --copy-to DIR     copy this binary to DIR/mcpop-bridge (the init container's job)
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const sessionHeader = "Mcp-Session-Id"

var version = "dev"

type session struct {
	transport *mcp.StreamableServerTransport
	cancel    context.CancelFunc
	once      sync.Once
	closers   []io.Closer
	// guarded by bridge.mu: requests in flight (an open GET stream counts) and when the last one ended
	active   int
	lastSeen time.Time
	// guarded by mu: calls sent to the child not yet answered, whether it ever answered, why it ended
	mu      sync.Mutex
	pending map[any]jsonrpc.ID
	calls   map[any]tracked // calls the policy filters the answers of, or the audit records
	// calls awaiting an answer that asked for progress: their progressToken (as normalized JSON) -> the call,
	// and back; bounded by pending
	progress map[string]jsonrpc.ID
	tokens   map[any]string
	answered bool
	reason   string
	ended    string // set once the child is gone: why, for calls that arrive after the others were answered
	stderr   *tail
	owner    caller         // with --jwt-issuer: whose token opened it; only that caller may use it
	maxCalls int            // calls awaiting an answer at most (bridge.maxSessionCalls)
	claims   map[string]any // guarded by mu: the claims of the owner's latest token, for the policy's rules
}

// latest notes the claims of the token a request of the session came with; claims reads them.
func (s *session) latest(who caller) {
	s.mu.Lock()
	s.claims = who.claims
	s.mu.Unlock()
}

func (s *session) tokenClaims() map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.claims
}

// tail keeps the end of a child's stderr (still copied to the bridge's own), for the error that ends a
// session whose server process exited before it ever answered: why a server cannot start shows to the
// client (and so in the MCPServer's Verified condition), not only in the pod's logs.
type tail struct {
	mu   sync.Mutex
	buf  []byte
	done chan struct{} // closed once the child's stderr reached EOF
}

// tailBytes is how much of a child's stderr is kept; tailLines and tailShown bound what an error shows.
const (
	tailBytes = 4096
	tailLines = 5
	tailShown = 1024
)

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailBytes {
		t.buf = append([]byte(nil), t.buf[len(t.buf)-tailBytes:]...)
	}
	return len(p), nil
}

// lines returns the last tailLines non-empty lines, joined by " | ", printable ASCII only, at most tailShown
// bytes (the newest kept); "" when the child wrote nothing.
func (t *tail) lines() string {
	t.mu.Lock()
	text := string(t.buf)
	t.mu.Unlock()
	var kept []string
	for _, line := range strings.Split(text, "\n") {
		clean := strings.Map(func(r rune) rune {
			if r == '\t' {
				return ' '
			}
			if r < 0x20 || r > 0x7e {
				return -1
			}
			return r
		}, line)
		if clean = strings.TrimSpace(clean); clean != "" {
			kept = append(kept, clean)
		}
	}
	if len(kept) > tailLines {
		kept = kept[len(kept)-tailLines:]
	}
	out := strings.Join(kept, " | ")
	if len(out) > tailShown {
		out = "..." + out[len(out)-tailShown:]
	}
	return out
}

// sent records a call about to be forwarded to the child. Once the child is gone it returns the error to
// answer the call with instead (fromChild has answered every call recorded before).
func (s *session) sent(msg jsonrpc.Message) *jsonrpc.Response {
	r, ok := msg.(*jsonrpc.Request)
	if !ok || !r.ID.IsValid() {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended != "" {
		return ended(r.ID, s.ended)
	}
	if len(s.pending) >= s.maxCalls {
		return &jsonrpc.Response{ID: r.ID, Error: &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: fmt.Sprintf(
			"mcpop-bridge: too many calls of this session await an answer (--max-session-calls %d): retry after one "+
				"is answered", s.maxCalls)}}
	}
	s.pending[r.ID.Raw()] = r.ID
	if token := progressToken(r.Params); token != "" {
		s.progress[token] = r.ID
		s.tokens[r.ID.Raw()] = token
	}
	return nil
}

// defaultMaxSessionCalls bounds the calls of one session that await the server process's answer, unless
// --max-session-calls says otherwise: each holds an HTTP request and its state until then.
const defaultMaxSessionCalls = 256

// maxProgressToken bounds a progressToken the bridge keeps (as normalized JSON); a longer one is not tracked, and
// its notifications go to the client's GET stream as any other message of the server.
const maxProgressToken = 256

// progressToken returns the progressToken that params (a request's or a progress notification's) carry, as
// normalized JSON ("" when there is none, or it is longer than maxProgressToken): a request's in params._meta,
// a notification's in params.
func progressToken(params json.RawMessage) string {
	if !bytes.Contains(params, []byte(`"progressToken"`)) {
		return ""
	}
	var p struct {
		Token json.RawMessage `json:"progressToken"`
		Meta  struct {
			Token json.RawMessage `json:"progressToken"`
		} `json:"_meta"`
	}
	if json.Unmarshal(params, &p) != nil {
		return ""
	}
	raw := p.Meta.Token
	if raw == nil {
		raw = p.Token
	}
	var v any // a string or a number, however the peer wrote it (1 and 1.0, "\u00e9" and "é" are one token)
	if json.Unmarshal(raw, &v) != nil {
		return ""
	}
	switch v.(type) {
	case string, float64:
		if out, _ := json.Marshal(v); len(out) <= maxProgressToken {
			return string(out)
		}
	}
	return ""
}

// relatedOf returns the call a message of the child goes with, while that call awaits its answer: a progress
// notification's is the call that asked with its progressToken; a log line's (notifications/message) and a
// request's to the client (sampling, elicitation, roots) is the one call awaiting an answer, when there is exactly
// one, as during a client's single tool call (stdio carries no link to a call). Anything else has no call and
// takes the client's GET stream.
func (s *session) relatedOf(msg jsonrpc.Message) (jsonrpc.ID, bool) {
	n, ok := msg.(*jsonrpc.Request)
	if !ok {
		return jsonrpc.ID{}, false
	}
	if n.ID.IsValid() || n.Method == "notifications/message" {
		return s.onlyWaiting()
	}
	if n.Method != "notifications/progress" {
		return jsonrpc.ID{}, false
	}
	token := progressToken(n.Params)
	if token == "" {
		return jsonrpc.ID{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rid, ok := s.progress[token]
	return rid, ok
}

// onlyWaiting returns the session's call awaiting an answer when exactly one does.
func (s *session) onlyWaiting() (jsonrpc.ID, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) == 1 {
		for _, rid := range s.pending {
			return rid, true
		}
	}
	return jsonrpc.ID{}, false
}

// relatedCtx is a context under which the SDK's streamable transport writes a message on the stream of the
// client request `id` (the spec: a server's messages SHOULD go with the request they relate to) instead of the
// client's GET stream, which a client may open late or never. The SDK keeps that request in its context under
// an unexported key (its own server's handlers run under it); a relay has no handler context, so this answers
// for that key by its type's name. TestProgressGoesOnItsCallsStream pins it: a rename in the SDK fails it.
type relatedCtx struct {
	context.Context
	id jsonrpc.ID
}

func (c relatedCtx) Value(key any) any {
	if t := reflect.TypeOf(key); t != nil && t.Name() == "idContextKey" && t.PkgPath() == sdkPackage {
		return c.id
	}
	return c.Context.Value(key)
}

var sdkPackage = reflect.TypeOf(mcp.StreamableServerTransport{}).PkgPath()

// unsent is for a call the child could not be sent: the error to answer it with when fromChild has already
// answered the others (else fromChild will answer it too).
func (s *session) unsent(msg jsonrpc.Message) *jsonrpc.Response {
	r, ok := msg.(*jsonrpc.Request)
	if !ok || !r.ID.IsValid() {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, waiting := s.pending[r.ID.Raw()]; s.ended == "" || !waiting {
		return nil
	}
	delete(s.pending, r.ID.Raw())
	return ended(r.ID, s.ended)
}

// ended is the JSON-RPC error a call gets when its session's server process is gone.
func ended(rid jsonrpc.ID, reason string) *jsonrpc.Response {
	return &jsonrpc.Response{ID: rid, Error: &jsonrpc.Error{Code: jsonrpc.CodeInternalError,
		Message: "mcpop-bridge: " + reason + "; the session is closed, start a new one"}}
}

// track keeps call `c` until its answer (for the policy's list filter, and the audit).
func (s *session) track(rid jsonrpc.ID, c tracked) {
	s.mu.Lock()
	s.calls[rid.Raw()] = c
	s.mu.Unlock()
}

// untrack returns (and forgets) the call `rid` answers, if it was kept.
func (s *session) untrack(rid jsonrpc.ID) (tracked, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.calls[rid.Raw()]
	delete(s.calls, rid.Raw())
	return c, ok
}

func (s *session) answer(msg jsonrpc.Message) {
	s.mu.Lock()
	s.answered = true
	if r, ok := msg.(*jsonrpc.Response); ok {
		delete(s.pending, r.ID.Raw())
		if token, asked := s.tokens[r.ID.Raw()]; asked {
			delete(s.tokens, r.ID.Raw())
			if s.progress[token] == r.ID { // a later call may reuse the token (the spec forbids it; a client may not care)
				delete(s.progress, token)
			}
		}
	}
	s.mu.Unlock()
}

func (s *session) close() {
	s.once.Do(func() {
		s.cancel()
		for _, c := range s.closers {
			_ = c.Close()
		}
	})
}

type bridge struct {
	command     []string
	idle        time.Duration
	maxSessions int
	// calls of one session awaiting the server process's answer at most; 0: defaultMaxSessionCalls
	maxSessionCalls int
	startTimeout    time.Duration
	expandEnv       bool
	hosts           allowList
	auth            *auth     // nil: no authentication
	proxy           *proxy    // --upstream: an HTTP server's front door instead of stdio processes (proxy.go)
	policy          *policy   // nil: every tool, prompt and resource exposed
	audit           *auditLog // nil: no audit lines
	metrics         *metrics  // nil: no metrics (metrics.go)
	mu              sync.Mutex
	sessions        map[string]*session
	starting        int // sessions being opened, counted against maxSessions
	shared          int // shared children of the stateless path running (stateless.go), counted against maxSessions
	stateless       *stateless
}

// reserve takes a place under the session cap, or reports that none is left.
func (b *bridge) reserve() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.sessions)+b.starting+b.shared >= b.maxSessions {
		return false
	}
	b.starting++
	return true
}

func (b *bridge) release() {
	b.mu.Lock()
	b.starting--
	b.mu.Unlock()
}

// enter and leave bracket a request on a session, for the idle timeout.
func (b *bridge) enter(s *session) {
	b.mu.Lock()
	s.active++
	b.mu.Unlock()
}

func (b *bridge) leave(s *session) {
	b.mu.Lock()
	s.active--
	s.lastSeen = time.Now()
	b.mu.Unlock()
}

// reap closes sessions with no request in flight for longer than the idle timeout: a client that went
// away without DELETE must not keep its server process forever.
func (b *bridge) reap() {
	for range time.Tick(b.idle / 4) {
		now := time.Now()
		var idle []string
		b.mu.Lock()
		for id, s := range b.sessions {
			if s.active == 0 && now.Sub(s.lastSeen) > b.idle {
				idle = append(idle, id)
			}
		}
		b.mu.Unlock()
		b.stateless.reap(now)
		for _, id := range idle {
			log.Printf("session %s: idle for more than %s", id[:8], b.idle)
			b.drop(id)
		}
	}
}

type connCloser struct{ conn mcp.Connection }

func (c connCloser) Close() error { return c.conn.Close() }

// toChild copies the client's messages to the child, noting the calls awaiting an answer.
func (b *bridge) toChild(ctx context.Context, id string, s *session, server, child mcp.Connection) {
	for {
		msg, err := server.Read(ctx)
		if err != nil {
			b.drop(id)
			return
		}
		req, isRequest := msg.(*jsonrpc.Request)
		claims := s.tokenClaims()
		if resp, rule := b.policy.refuse(msg, claims); resp != nil {
			if resp.ID.IsValid() {
				_ = server.Write(ctx, resp) // outside the policy: the server process never sees it
				b.record(s.owner, id, describe(req), resp, rule)
			}
			continue
		}
		if list := b.policy.listing(msg) != ""; isRequest && req.ID.IsValid() && (list || b.audit != nil || b.metrics != nil) {
			c := describe(req)
			c.list, c.claims = list, claims
			s.track(req.ID, c)
		}
		if resp := s.sent(msg); resp != nil {
			_ = server.Write(ctx, resp) // the child is gone and the others were answered: answer this one here
			continue
		}
		if err := child.Write(ctx, msg); err != nil {
			// the child is gone: fromChild answers the waiting calls, this one too unless it already has
			if resp := s.unsent(msg); resp != nil {
				_ = server.Write(ctx, resp)
			}
		}
	}
}

// deliveryWait bounds how long a server-to-client message waits for a stream to the client (a variable: the tests
// shorten it)
var deliveryWait = 10 * time.Second

// rejected reports whether the transport refused a message without breaking the session: no open stream to the
// client for it (the SDK's jsonrpc2.ErrRejected, code -32005).
func rejected(err error) bool {
	var wire *jsonrpc.Error
	return errors.As(err, &wire) && wire.Code == -32005
}

// undelivered handles a child's message the transport had no stream for. A stdio server's message to the client
// that relatedOf cannot tie to a call (several calls await answers, or none) goes to the client's standalone GET
// stream, which a client opens after initialize, if at all. A request (sampling, elicitation, roots) is tried
// again until that stream is there, at most deliveryWait (the child's later messages wait behind it, in order);
// still undelivered, it is answered to the child with an error, so its tool call fails instead of waiting
// forever. A notification (progress, a log line) or a response whose client request went away is dropped: the
// session goes on either way.
func (b *bridge) undelivered(ctx context.Context, id string, server, child mcp.Connection, msg jsonrpc.Message) {
	req, ok := msg.(*jsonrpc.Request)
	if !ok || !req.ID.IsValid() {
		return
	}
	for deadline := time.Now().Add(deliveryWait); time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
		if err := server.Write(ctx, msg); err == nil || !rejected(err) {
			return
		}
	}
	log.Printf("session %s: no stream to the client for its %s request within %v: answered with an error", id[:8],
		req.Method, deliveryWait)
	_ = child.Write(ctx, &jsonrpc.Response{ID: req.ID, Error: &jsonrpc.Error{Code: jsonrpc.CodeInternalError,
		Message: "mcpop-bridge: the client has no open stream to receive this request (a client opens its GET " +
			"stream after initialize; none came within " + deliveryWait.String() + ")"}})
}

// fromChild copies the child's messages to the client. When the child's output ends (it exited, crashed or
// was killed) every call still waiting gets a JSON-RPC error saying so, then the session closes.
func (b *bridge) fromChild(ctx context.Context, id string, s *session, server, child mcp.Connection) {
	for {
		msg, err := child.Read(ctx)
		if err != nil {
			break
		}
		s.answer(msg)
		if rid, ok := s.relatedOf(msg); ok {
			if err := server.Write(relatedCtx{ctx, rid}, msg); err == nil {
				continue
			} // its call's stream is gone (the client went away): as any other message below
		}
		if resp, ok := msg.(*jsonrpc.Response); ok {
			if c, kept := s.untrack(resp.ID); kept {
				if c.list {
					b.policy.filter(c.method, resp, c.claims)
				}
				b.record(s.owner, id, c, resp, "")
			}
		}
		if err := server.Write(ctx, msg); err != nil {
			if !rejected(err) {
				b.drop(id)
				return
			}
			b.undelivered(ctx, id, server, child, msg)
		}
	}
	b.mu.Lock()
	live := b.sessions[id] == s
	b.mu.Unlock()
	if !live {
		return // dropped on purpose (DELETE, idle, shutdown): drop closed everything
	}
	s.mu.Lock()
	answered := s.answered
	s.mu.Unlock()
	if !answered {
		select { // the child has exited: its last stderr bytes are on their way
		case <-s.stderr.done:
		case <-time.After(time.Second):
		}
	}
	s.mu.Lock()
	reason := s.reason
	if reason == "" {
		reason = "the server process exited"
		if !answered {
			reason = "the server process exited before it answered"
		}
	}
	if !answered {
		if last := s.stderr.lines(); last != "" {
			reason += "; its last stderr lines: " + last
		}
	}
	ids := make([]jsonrpc.ID, 0, len(s.pending))
	for _, rid := range s.pending {
		ids = append(ids, rid)
	}
	s.pending = map[any]jsonrpc.ID{}
	s.progress, s.tokens = map[string]jsonrpc.ID{}, map[any]string{}
	s.ended = reason
	s.mu.Unlock()
	log.Printf("session %s: %s", id[:8], reason)
	b.mu.Lock()
	if b.sessions[id] == s {
		delete(b.sessions, id) // no new request reaches it; those waiting get their errors below
	}
	b.mu.Unlock()
	for _, rid := range ids {
		resp := ended(rid, reason)
		_ = server.Write(ctx, resp)
		if c, kept := s.untrack(rid); kept {
			b.record(s.owner, id, c, resp, "")
		}
	}
	// let the waiting requests write their errors before the transport goes
	time.AfterFunc(2*time.Second, func() { s.close(); log.Printf("session %s: closed", id[:8]) })
}

func (b *bridge) drop(id string) {
	b.mu.Lock()
	s := b.sessions[id]
	delete(b.sessions, id)
	b.mu.Unlock()
	if s != nil {
		s.close()
		log.Printf("session %s: closed", id[:8])
	}
}

func (b *bridge) open(owner caller) (string, *session, error) {
	id := rand.Text()
	ctx, cancel := context.WithCancel(context.Background())
	transport := &mcp.StreamableServerTransport{SessionID: id}
	server, err := transport.Connect(ctx)
	if err != nil {
		cancel()
		return "", nil, err
	}
	cmd := exec.Command(b.command[0], b.args()...)
	// a pipe of our own, so the end of the child's stderr is known (exec's copy finishes only in Wait)
	errRead, errWrite, err := os.Pipe()
	if err != nil {
		_ = server.Close()
		cancel()
		return "", nil, err
	}
	cmd.Stderr = errWrite
	child, err := (&mcp.CommandTransport{Command: cmd, TerminateDuration: 2 * time.Second}).Connect(ctx)
	_ = errWrite.Close() // the child holds its own copy
	if err != nil {
		_ = errRead.Close()
		_ = server.Close()
		cancel()
		return "", nil, fmt.Errorf("starting %s: %w", b.command[0], err)
	}
	stderr := &tail{done: make(chan struct{})}
	go func() {
		_, _ = io.Copy(io.MultiWriter(os.Stderr, stderr), errRead)
		_ = errRead.Close()
		close(stderr.done)
	}()
	s := &session{transport: transport, cancel: cancel, closers: []io.Closer{connCloser{child}, connCloser{server}},
		lastSeen: time.Now(), pending: map[any]jsonrpc.ID{}, calls: map[any]tracked{},
		progress: map[string]jsonrpc.ID{}, tokens: map[any]string{}, stderr: stderr, owner: owner,
		claims: owner.claims, maxCalls: b.maxSessionCalls}
	if s.maxCalls <= 0 {
		s.maxCalls = defaultMaxSessionCalls
	}
	b.mu.Lock()
	b.sessions[id] = s
	b.mu.Unlock()
	go b.toChild(ctx, id, s, server, child)
	go b.fromChild(ctx, id, s, server, child)
	time.AfterFunc(b.startTimeout, func() {
		s.mu.Lock()
		late := !s.answered
		if late {
			s.reason = fmt.Sprintf("the server process did not answer within --start-timeout %s", b.startTimeout)
		}
		s.mu.Unlock()
		b.mu.Lock()
		live := b.sessions[id] == s
		b.mu.Unlock()
		if late && live {
			_ = child.Close() // ends its output: fromChild answers the waiting calls with the reason
		}
	})
	log.Printf("session %s: started %s", id[:8], filepath.Base(b.command[0])) // never the arguments: they may hold secrets
	return id, s, nil
}

// admit checks a request to the MCP endpoint before anything else (its Host and Origin, then its token): the
// caller, or false once the refusal is answered.
func (b *bridge) admit(w http.ResponseWriter, req *http.Request) (caller, bool) {
	if why := b.hosts.refuses(req.Host, req.Header.Get("Origin")); why != "" {
		log.Printf("refused a %s: %s", req.Method, why)
		http.Error(w, "Forbidden: "+why+" (mcpop-bridge --allowed-hosts)", http.StatusForbidden)
		return caller{}, false
	}
	if b.auth == nil {
		return caller{}, true
	}
	return b.auth.check(w, req)
}

func (b *bridge) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	who, ok := b.admit(w, req)
	if !ok {
		return
	}
	id := req.Header.Get(sessionHeader)
	if id == "" {
		if req.Method != http.MethodPost {
			http.Error(w, "Bad Request: "+req.Method+" requires an Mcp-Session-Id header", http.StatusBadRequest)
			return
		}
		body, err := io.ReadAll(io.LimitReader(req.Body, 16<<20))
		if err != nil {
			http.Error(w, "cannot read the request body", http.StatusBadRequest)
			return
		}
		if msg := statelessRequest(req.Header, body); msg != nil {
			b.stateless.serve(w, req, msg, body, who) // never a session's child: a shared one of its own
			return
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		if !b.reserve() {
			refuse(w, body, http.StatusServiceUnavailable, jsonrpc.CodeInternalError, fmt.Sprintf(
				"mcpop-bridge: too many sessions (--max-sessions %d): end one (DELETE) or retry later", b.maxSessions))
			return
		}
		newID, s, err := b.open(who)
		b.release()
		if err != nil {
			log.Print(err)
			http.Error(w, "cannot start the stdio server", http.StatusBadGateway)
			return
		}
		b.enter(s)
		s.transport.ServeHTTP(w, req)
		b.leave(s)
		if !isInitialize(body) {
			b.drop(newID) // only an initialize opens a session a client can address again
		}
		return
	}
	b.mu.Lock()
	s := b.sessions[id]
	b.mu.Unlock()
	if s == nil || !s.owner.same(who) { // another caller's session is not found, as if it did not exist
		http.Error(w, "session not found", http.StatusNotFound)
		return
	}
	s.latest(who)
	switch req.Method {
	case http.MethodDelete:
		b.drop(id)
		w.WriteHeader(http.StatusNoContent)
	case http.MethodGet, http.MethodPost:
		b.enter(s)
		defer b.leave(s)
		s.transport.ServeHTTP(w, req)
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// refuse answers a POST with an HTTP status and, for a call, a JSON-RPC error carrying its id.
func refuse(w http.ResponseWriter, body []byte, status int, code int64, message string) {
	var msg struct {
		ID json.RawMessage `json:"id"`
	}
	_ = json.Unmarshal(body, &msg)
	id := msg.ID
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	out, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id,
		"error": map[string]any{"code": code, "message": message}})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Retry-After", "5")
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

// allowList holds the host names the MCP endpoint accepts in Host and Origin besides the loopback names:
// exact names, and suffixes (an entry `.example.com` allows a.example.com and b.a.example.com, not example.com).
type allowList struct {
	any      bool
	names    map[string]bool
	suffixes []string
}

func parseAllowList(flagValue string) allowList {
	l := allowList{names: map[string]bool{"localhost": true, "127.0.0.1": true, "::1": true}}
	for _, e := range strings.Split(flagValue, ",") {
		e = strings.ToLower(strings.TrimSpace(e))
		switch {
		case e == "":
		case e == "*":
			l.any = true
		case strings.HasPrefix(e, "."):
			l.suffixes = append(l.suffixes, e)
		default:
			l.names[strings.Trim(e, "[]")] = true
		}
	}
	return l
}

func (l allowList) allows(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if l.names[host] {
		return true
	}
	for _, s := range l.suffixes {
		if strings.HasSuffix(host, s) {
			return true
		}
	}
	return false
}

// hostName is the name in a Host header value (port and IPv6 brackets removed).
func hostName(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.Trim(hostport, "[]")
}

// refuses says why a request with these Host and Origin headers is refused, or "" when it is not: Host must be
// an IP address or an allowed name; Origin, when present, must be an http(s) URL of an allowed name.
func (l allowList) refuses(host, origin string) string {
	if l.any {
		return ""
	}
	name := hostName(host)
	if net.ParseIP(name) == nil && !l.allows(name) {
		return fmt.Sprintf("Host %q is not an allowed host", host)
	}
	if origin == "" {
		return ""
	}
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || !l.allows(u.Hostname()) {
		return fmt.Sprintf("Origin %q is not an allowed host", origin)
	}
	return ""
}

// args are the child's arguments, with $(VAR) expanded from the bridge's environment under --expand-env.
func (b *bridge) args() []string {
	out := b.command[1:]
	if !b.expandEnv {
		return out
	}
	expanded := make([]string, len(out))
	for i, a := range out {
		expanded[i] = expand(a, os.LookupEnv)
	}
	return expanded
}

// expand does what the kubelet does to a container's args: $(VAR) becomes VAR's value when VAR is set
// (else it stays as written), $$ becomes $, any other $ stays.
func expand(s string, lookup func(string) (string, bool)) string {
	var out strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			out.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			out.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				out.WriteByte('$')
				continue
			}
			name := s[i+2 : i+2+end]
			if v, ok := lookup(name); ok && name != "" {
				out.WriteString(v)
			} else {
				out.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			out.WriteByte('$')
		}
	}
	return out.String()
}

// ready reports whether a child can start: its command is found. Not the session cap: a pod that is not
// ready leaves the Service's endpoints, which would cut off the sessions it already serves; a session over
// the cap is refused on its own with a 503.
func (b *bridge) ready() error {
	if _, err := exec.LookPath(b.command[0]); err != nil {
		return fmt.Errorf("command %s not found", filepath.Base(b.command[0]))
	}
	return nil
}

// isInitialize reports whether a POST body is a single initialize request.
func isInitialize(body []byte) bool {
	var msg struct {
		Method string `json:"method"`
	}
	return json.Unmarshal(body, &msg) == nil && msg.Method == "initialize"
}

func copyTo(dir string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	in, err := os.Open(self)
	if err != nil {
		return err
	}
	defer in.Close()
	dest := filepath.Join(dir, "mcpop-bridge")
	out, err := os.OpenFile(dest, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("mcpop-bridge: ")
	port := flag.Int("port", 8000, "HTTP port to listen on")
	path := flag.String("path", "/mcp", "path of the streamable-HTTP MCP endpoint")
	health := flag.String("health", "/healthz", "path of the liveness endpoint")
	readyPath := flag.String("ready", "/readyz", "path of the readiness endpoint (200 while the command can be found)")
	maxSessions := flag.Int("max-sessions", 32, "sessions (server processes) at most; one more is refused with 503")
	maxSessionCalls := flag.Int("max-session-calls", defaultMaxSessionCalls, "calls of one session awaiting the server "+
		"process's answer at most; one more is answered with a JSON-RPC error")
	maxInflight := flag.Int("max-stateless-inflight", 64, "stateless (2026-07-28) requests waiting on the shared "+
		"server process at most; one more is refused with 503")
	startTimeout := flag.Duration("start-timeout", 30*time.Second, "kill a server process that has not answered this long after it started")
	expandEnv := flag.Bool("expand-env", false, "expand $(VAR) in the server's arguments from the bridge's environment")
	host := flag.String("host", "", "address to listen on (default: all)")
	dir := flag.String("copy-to", "", "copy this binary into DIR and exit")
	idle := flag.Duration("session-timeout", 30*time.Minute, "close a session (and its server process) idle this long")
	allowed := flag.String("allowed-hosts", "", "comma-separated host names the MCP endpoint accepts in Host and Origin "+
		"besides localhost, 127.0.0.1 and ::1 (an IP address is always accepted in Host); .example.com: every name "+
		"under it; *: any host (no DNS-rebinding protection)")
	issuer := flag.String("jwt-issuer", "", "require a Bearer JWT from this issuer (https) on the MCP endpoint; "+
		"its keys from OIDC discovery unless --jwks-file")
	var audiences, scopes listFlag
	flag.Var(&audiences, "jwt-audience", "an audience tokens must name (repeatable, or comma-separated; default: --resource-url)")
	flag.Var(&scopes, "required-scopes", "scopes every token must carry (repeatable, or comma-separated)")
	jwksFile := flag.String("jwks-file", "", "the issuer's JWKS document, instead of OIDC discovery (read again on an unknown kid)")
	resource := flag.String("resource-url", "", "the MCP endpoint's canonical URL, the resource in its RFC 9728 metadata "+
		"(default: from each request's Host)")
	var allowTools, denyTools, allowPrompts, denyPrompts, allowResources, denyResources listFlag
	flag.Var(&allowTools, "allow-tools", "tool name globs a client may list and call (* any run, ? one character; "+
		"repeatable or comma-separated; default: all)")
	flag.Var(&denyTools, "deny-tools", "tool name globs no client may list or call (wins over --allow-tools)")
	flag.Var(&allowPrompts, "allow-prompts", "prompt name globs a client may list and get (default: all)")
	flag.Var(&denyPrompts, "deny-prompts", "prompt name globs no client may list or get")
	flag.Var(&allowResources, "allow-resources", "resource URI (template) globs a client may list and read (default: all)")
	flag.Var(&denyResources, "deny-resources", "resource URI (template) globs no client may list or read")
	saIssuer := flag.String("sa-issuer", "", "also accept Kubernetes ServiceAccount tokens from this issuer (the "+
		"cluster's --service-account-issuer, https) whose subject --sa-subjects matches")
	saJWKS := flag.String("sa-jwks-file", "", "the cluster issuer's JWKS document (read again on an unknown kid)")
	saAudience := flag.String("sa-audience", "", "the audience ServiceAccount tokens must name (default: --resource-url)")
	var saSubjects listFlag
	flag.Var(&saSubjects, "sa-subjects", "subject globs (system:serviceaccount:NAMESPACE:NAME) of the ServiceAccounts "+
		"that may call (repeatable, or comma-separated)")
	var rules ruleFlag
	flag.Var(&rules, "tool-rule", `{"tools": [GLOB,...], "when": CEL}: a tool a rule matches is exposed only to `+
		"callers for whose token claims (`claims`) the expression of one of its rules is true (repeatable; rules.go)")
	approvedTools := approvedFlag{}
	flag.Var(approvedTools, "approved-tool", "NAME=sha256:HEX: a tool approved with the definition of this digest "+
		"(repeatable; implies --approved-tools-only)")
	approvedOnly := flag.Bool("approved-tools-only", false, "expose only the tools --approved-tool names, and only "+
		"while their definitions are the ones approved")
	auditPath := flag.String("audit-log", "", "write one JSON line per client request to this file (-: stdout)")
	metricsPort := flag.Int("metrics-port", 0, "serve Prometheus metrics at /metrics on this port (0: none); never "+
		"on the MCP port")
	auditArguments := flag.Bool("audit-arguments", false, "include tools/call arguments in the audit lines")
	upstream := flag.String("upstream", "", "reverse-proxy mode: the streamable-HTTP MCP endpoint of the server in "+
		"this pod (http://127.0.0.1:PORT/PATH), fronted instead of a stdio COMMAND (proxy.go)")
	upstreamTransport := flag.String("upstream-transport", "streamable-http", "the --upstream server's transport: "+
		"streamable-http, or sse (the legacy HTTP+SSE transport: a GET stream and the messages POSTed to the URI its "+
		"endpoint event names)")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println(version)
		return
	}
	if *dir != "" {
		if err := copyTo(*dir); err != nil {
			log.Fatalf("copy to %s: %v", *dir, err)
		}
		return
	}
	if flag.NArg() == 0 && *upstream == "" {
		log.Fatal("no command: mcpop-bridge [flags] -- COMMAND [ARG...] (or --upstream URL)")
	}
	if flag.NArg() > 0 && *upstream != "" {
		log.Fatal("--upstream fronts an HTTP server: give no COMMAND")
	}
	if *idle <= 0 {
		log.Fatal("--session-timeout must be positive")
	}
	if *maxSessions < 1 || *startTimeout <= 0 || *maxInflight < 1 || *maxSessionCalls < 1 {
		log.Fatal("--max-sessions, --max-stateless-inflight, --max-session-calls and --start-timeout must be positive")
	}
	b := &bridge{command: flag.Args(), idle: *idle, maxSessions: *maxSessions, maxSessionCalls: *maxSessionCalls,
		startTimeout: *startTimeout, expandEnv: *expandEnv, hosts: parseAllowList(*allowed), sessions: map[string]*session{}}
	b.stateless = &stateless{b: b, maxInflight: *maxInflight}
	if *upstream != "" {
		p, err := newProxy(b, *upstream, *upstreamTransport)
		if err != nil {
			log.Fatal(err)
		}
		b.proxy = p
	}
	b.policy = &policy{tools: newGlobs(allowTools, denyTools), prompts: newGlobs(allowPrompts, denyPrompts),
		resources: newGlobs(allowResources, denyResources), rules: rules.rules}
	if *approvedOnly || len(approvedTools) > 0 {
		b.policy.approved = newApproval(approvedTools, b)
	}
	switch *auditPath {
	case "":
		if *auditArguments {
			log.Fatal("--audit-arguments needs --audit-log")
		}
	case "-":
		b.audit = &auditLog{out: os.Stdout, arguments: *auditArguments}
	default:
		f, err := os.OpenFile(*auditPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			log.Fatalf("--audit-log: %v", err)
		}
		b.audit = &auditLog{out: f, arguments: *auditArguments}
	}
	if *issuer != "" || *saIssuer != "" {
		a, err := newAuth(*issuer, audiences, scopes, *jwksFile, *resource, *path)
		if err != nil {
			log.Fatal(err)
		}
		if *issuer == "" && (len(audiences)+len(scopes) > 0 || *jwksFile != "") {
			log.Fatal("--jwt-audience, --required-scopes and --jwks-file need --jwt-issuer")
		}
		if *saIssuer != "" {
			if err := a.acceptServiceAccounts(*saIssuer, *saAudience, *saJWKS, saSubjects); err != nil {
				log.Fatal(err)
			}
		}
		for _, v := range []*validator{a.v, a.sa} {
			if v != nil {
				v.claims = len(rules.rules) > 0
			}
		}
		b.auth = a
	} else if len(audiences)+len(scopes) > 0 || *jwksFile != "" || *resource != "" {
		log.Fatal("--jwt-audience, --required-scopes, --jwks-file and --resource-url need --jwt-issuer or --sa-issuer")
	} else if *saJWKS != "" || *saAudience != "" || len(saSubjects) > 0 {
		log.Fatal("--sa-jwks-file, --sa-audience and --sa-subjects need --sa-issuer")
	}
	var metricsSrv *http.Server
	if *metricsPort > 0 {
		if *metricsPort == *port {
			log.Fatal("--metrics-port must not be the MCP port (--port)")
		}
		b.metrics = newMetrics(b)
		if b.auth != nil {
			b.auth.failed = b.metrics.authFailed
		}
		mm := http.NewServeMux()
		mm.Handle("/metrics", b.metrics.handler())
		metricsSrv = &http.Server{Addr: fmt.Sprintf("%s:%d", *host, *metricsPort), Handler: mm,
			ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := metricsSrv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Fatalf("--metrics-port: %v", err)
			}
		}()
	}
	go b.reap()
	mux := http.NewServeMux()
	var endpoint http.Handler = b
	ready, serving := b.ready, "stdio server "
	if b.proxy != nil {
		endpoint, ready, serving = b.proxy, b.proxy.ready, "upstream "+*upstream+" "
	} else {
		serving += filepath.Base(b.command[0]) + " "
	}
	mux.Handle(*path, endpoint)
	if b.proxy != nil && b.proxy.sse && *path != "/" {
		mux.Handle("/", endpoint) // the message URIs the server's endpoint events name
	}
	if b.auth != nil {
		mux.HandleFunc(metadataPrefix, b.auth.metadata)
		if *path != "/" {
			mux.HandleFunc(metadataPrefix+*path, b.auth.metadata)
		}
	}
	mux.HandleFunc(*health, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc(*readyPath, func(w http.ResponseWriter, _ *http.Request) {
		if err := ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	srv := &http.Server{Addr: fmt.Sprintf("%s:%d", *host, *port), Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		if metricsSrv != nil {
			_ = metricsSrv.Shutdown(ctx)
		}
		b.mu.Lock()
		ids := make([]string, 0, len(b.sessions))
		for id := range b.sessions {
			ids = append(ids, id)
		}
		b.mu.Unlock()
		for _, id := range ids {
			b.drop(id)
		}
		b.stateless.close()
	}()
	authn := "no authentication"
	if b.auth != nil {
		authn = "Bearer tokens"
	}
	exposed := "every tool, prompt and resource"
	if b.policy.active() {
		exposed = "tools, prompts and resources by policy"
	}
	log.Printf("%s serving %son %s%s (health %s, ready %s, at most %d sessions, %d stateless requests in flight, %s, %s)",
		version, serving, srv.Addr, *path, *health, *readyPath, b.maxSessions, *maxInflight, authn, exposed)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	// ListenAndServe returns as soon as Shutdown begins: exiting then would cut the requests in flight
	<-stopped
	log.Printf("stopped")
}
