package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// upstreamServer is an official-SDK streamable-HTTP MCP server with three tools; it records each tool called
// and each Authorization header it was sent.
type upstreamServer struct {
	*httptest.Server
	mu     sync.Mutex
	called []string
	auth   []string
	types  map[string]bool // the media types of its answers
}

func newUpstream(t *testing.T, jsonResponse bool) *upstreamServer {
	t.Helper()
	u := &upstreamServer{types: map[string]bool{}}
	srv := mcp.NewServer(&mcp.Implementation{Name: "upstream", Version: "1"}, nil)
	for _, name := range []string{"read_file", "write_file", "delete_file"} {
		srv.AddTool(&mcp.Tool{Name: name, Description: name, InputSchema: map[string]any{"type": "object"}},
			func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				u.mu.Lock()
				u.called = append(u.called, req.Params.Name)
				u.mu.Unlock()
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "called " + req.Params.Name}}}, nil
			})
	}
	handler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv },
		&mcp.StreamableHTTPOptions{JSONResponse: jsonResponse})
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.auth = append(u.auth, r.Header.Get("Authorization"))
		u.mu.Unlock()
		handler.ServeHTTP(w, r)
		u.mu.Lock()
		u.types[strings.Split(w.Header().Get("Content-Type"), ";")[0]] = true
		u.mu.Unlock()
	}))
	t.Cleanup(u.Close)
	return u
}

// fronted is the bridge in proxy mode in front of `up`, with `pol` and `a` (nil: no authentication).
func fronted(t *testing.T, up *upstreamServer, pol *policy, a *auth) (*bridge, *httptest.Server) {
	t.Helper()
	b := &bridge{hosts: parseAllowList(""), sessions: map[string]*session{}, policy: pol, auth: a, maxSessions: 4}
	p, err := newProxy(b, up.URL+"/mcp", "streamable-http")
	if err != nil {
		t.Fatal(err)
	}
	b.proxy = p
	front := httptest.NewServer(p)
	t.Cleanup(front.Close)
	return b, front
}

type bearer struct {
	token string
	base  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if b.token != "" {
		r.Header.Set("Authorization", "Bearer "+b.token)
	}
	return b.base.RoundTrip(r)
}

func connect(t *testing.T, url, token string) *mcp.ClientSession {
	t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	transport := &mcp.StreamableClientTransport{Endpoint: url, MaxRetries: -1,
		HTTPClient: &http.Client{Transport: bearer{token, http.DefaultTransport}}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, transport, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

func toolNames(t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, tool := range res.Tools {
		out = append(out, tool.Name)
	}
	slices.Sort(out)
	return out
}

func TestTheProxyHidesAndRefusesWhatThePolicyForbidsInJSONAndSSEAnswers(t *testing.T) {
	for _, jsonResponse := range []bool{true, false} {
		up := newUpstream(t, jsonResponse)
		_, front := fronted(t, up, &policy{tools: newGlobs(nil, []string{"delete_*"})}, nil)
		cs := connect(t, front.URL+"/mcp", "")
		if got := toolNames(t, cs); !slices.Equal(got, []string{"read_file", "write_file"}) {
			t.Fatalf("json=%v: tools/list through the proxy: %v", jsonResponse, got)
		}
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "read_file"})
		if err != nil || res.Content[0].(*mcp.TextContent).Text != "called read_file" {
			t.Fatalf("json=%v: an allowed call: %v %v", jsonResponse, res, err)
		}
		_, err = cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "delete_file"})
		if err == nil || !strings.Contains(err.Error(), "--deny-tools") {
			t.Fatalf("json=%v: a denied call: %v", jsonResponse, err)
		}
		up.mu.Lock()
		called := slices.Clone(up.called)
		up.mu.Unlock()
		if !slices.Equal(called, []string{"read_file"}) {
			t.Fatalf("json=%v: the server was asked: %v", jsonResponse, called)
		}
		want := map[bool]string{true: "application/json", false: "text/event-stream"}[jsonResponse]
		up.mu.Lock()
		answered := up.types[want]
		up.mu.Unlock()
		if !answered {
			t.Fatalf("the server never answered with %s: the test did not cover it", want)
		}
	}
}

func TestTheProxyChecksTokensNeverPassesThemOnAndKeepsSessionsToTheirCaller(t *testing.T) {
	now := time.Now()
	rs := newRSA(t, "k1")
	loads := 0
	a := &auth{v: testValidator(func() []jose.JSONWebKey { return []jose.JSONWebKey{rs.jwk()} }, &loads, now),
		resource: testAudience, path: "/mcp"}
	up := newUpstream(t, false)
	_, front := fronted(t, up, nil, a)

	resp, err := http.Post(front.URL+"/mcp", "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "resource_metadata=") {
		t.Fatalf("no token: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	up.mu.Lock()
	asked := len(up.auth)
	up.mu.Unlock()
	if asked != 0 {
		t.Fatal("a request without a token reached the server")
	}

	alice := rs.sign(t, good(now))
	cs := connect(t, front.URL+"/mcp", alice)
	if got := toolNames(t, cs); len(got) != 3 {
		t.Fatalf("alice's tools: %v", got)
	}
	up.mu.Lock()
	for _, h := range up.auth {
		if h != "" {
			t.Fatalf("the server was sent an Authorization header: %q", h)
		}
	}
	up.mu.Unlock()

	req, _ := http.NewRequest(http.MethodPost, front.URL+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":9,"method":"ping"}`))
	req.Header.Set("Authorization", "Bearer "+rs.sign(t, with(good(now), "sub", "mallory")))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set(sessionHeader, cs.ID())
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("another caller used alice's session: %d", resp.StatusCode)
	}
}

func TestTheProxyRefusesBatchesWhileAPolicyIsOnAndOversizeBodies(t *testing.T) {
	up := newUpstream(t, true)
	_, front := fronted(t, up, &policy{tools: newGlobs(nil, []string{"delete_*"})}, nil)
	batch := `[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_file"}}]`
	resp, err := http.Post(front.URL+"/mcp", "application/json", strings.NewReader(batch))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a batch: %d", resp.StatusCode)
	}
	resp, err = http.Post(front.URL+"/mcp", "application/json", strings.NewReader(strings.Repeat(" ", 16<<20+1)))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("an oversize body: %d", resp.StatusCode)
	}
}

func TestTheProxysApprovedInventoryListsTheUpstreamItself(t *testing.T) {
	up := newUpstream(t, false)
	b, front := fronted(t, up, &policy{}, nil)
	b.policy.approved = newApproval(map[string]string{}, b)
	digests, err := b.inventory(context.Background())
	if err != nil || len(digests) != 3 {
		t.Fatalf("the bridge's own listing of the upstream: %v %v", digests, err)
	}
	cs := connect(t, front.URL+"/mcp", "")
	if got := toolNames(t, cs); len(got) != 0 {
		t.Fatalf("an empty approved inventory shows: %v", got)
	}
}

func TestUpstreamURLsMustBePlainHTTPWithoutUserinfo(t *testing.T) {
	for _, raw := range []string{"https://127.0.0.1:8080/mcp", "http://u:p@127.0.0.1/mcp", "127.0.0.1:8080", "http:///mcp"} {
		if _, err := newProxy(&bridge{}, raw, "streamable-http"); err == nil {
			t.Errorf("%s was taken", raw)
		}
	}
}

// newSSEUpstream is the official Go SDK's server on the legacy SSE transport with upstreamServer's three tools.
func newSSEUpstream(t *testing.T) *upstreamServer {
	t.Helper()
	u := &upstreamServer{types: map[string]bool{}}
	srv := mcp.NewServer(&mcp.Implementation{Name: "upstream-sse", Version: "1"}, nil)
	for _, name := range []string{"read_file", "write_file", "delete_file"} {
		srv.AddTool(&mcp.Tool{Name: name, Description: name, InputSchema: map[string]any{"type": "object"}},
			func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				u.mu.Lock()
				u.called = append(u.called, req.Params.Name)
				u.mu.Unlock()
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "called " + req.Params.Name}}}, nil
			})
	}
	handler := mcp.NewSSEHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.auth = append(u.auth, r.Header.Get("Authorization"))
		u.mu.Unlock()
		handler.ServeHTTP(w, r)
	}))
	t.Cleanup(u.Close)
	return u
}

func connectSSE(t *testing.T, url, token string) *mcp.ClientSession {
	t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	transport := &mcp.SSEClientTransport{Endpoint: url, HTTPClient: &http.Client{Transport: bearer{token, http.DefaultTransport}}}
	cs, err := client.Connect(context.Background(), transport, nil) // its context is the SSE stream's

	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

func TestTheProxyFrontsAnSSEServerWithThePolicyAndKeepsItsSessionsToTheirCaller(t *testing.T) {
	now := time.Now()
	rs := newRSA(t, "k1")
	loads := 0
	a := &auth{v: testValidator(func() []jose.JSONWebKey { return []jose.JSONWebKey{rs.jwk()} }, &loads, now),
		resource: testAudience, path: "/sse"}
	up := newSSEUpstream(t)
	b := &bridge{hosts: parseAllowList(""), sessions: map[string]*session{}, auth: a, maxSessions: 4,
		policy: &policy{tools: newGlobs(nil, []string{"delete_*"})}}
	p, err := newProxy(b, up.URL+"/sse", "sse")
	if err != nil {
		t.Fatal(err)
	}
	b.proxy = p
	front := httptest.NewServer(p)
	t.Cleanup(front.Close)

	cs := connectSSE(t, front.URL+"/sse", rs.sign(t, good(now)))
	if got := toolNames(t, cs); !slices.Equal(got, []string{"read_file", "write_file"}) {
		t.Fatalf("tools/list through the proxy: %v", got)
	}
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "read_file"})
	if err != nil || res.Content[0].(*mcp.TextContent).Text != "called read_file" {
		t.Fatalf("an allowed call: %v %v", res, err)
	}
	if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "delete_file"}); err == nil ||
		!strings.Contains(err.Error(), "--deny-tools") {
		t.Fatalf("a denied call: %v", err)
	}
	up.mu.Lock()
	called, headers := slices.Clone(up.called), slices.Clone(up.auth)
	up.mu.Unlock()
	if !slices.Equal(called, []string{"read_file"}) {
		t.Fatalf("the server was asked: %v", called)
	}
	for _, h := range headers {
		if h != "" {
			t.Fatalf("the server was sent an Authorization header: %q", h)
		}
	}

	p.mu.Lock()
	var uri string
	for k := range p.streams {
		uri = k
	}
	p.mu.Unlock()
	req, _ := http.NewRequest(http.MethodPost, front.URL+uri, strings.NewReader(`{"jsonrpc":"2.0","id":9,"method":"ping"}`))
	req.Header.Set("Authorization", "Bearer "+rs.sign(t, with(good(now), "sub", "mallory")))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if uri == "" || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("another caller posted to alice's SSE session %q: %d", uri, resp.StatusCode)
	}
}
