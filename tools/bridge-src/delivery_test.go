package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// sessionPost sends one JSON-RPC request of a session (protocol 2025-06-18) and returns its session id and the
// JSON-RPC messages of the answer (JSON or SSE).
func sessionPost(t *testing.T, url, session string, body map[string]any) (string, []map[string]any) {
	t.Helper()
	body["jsonrpc"] = "2.0"
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	if session != "" {
		req.Header.Set(sessionHeader, session)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []map[string]any
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Logf("%v: HTTP %d: %s", body["method"], resp.StatusCode, data)
	}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimPrefix(strings.TrimSpace(line), "data: ")
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			out = append(out, m)
		}
	}
	return resp.Header.Get(sessionHeader), out
}

func initialized(t *testing.T, url string) string {
	t.Helper()
	sid, _ := sessionPost(t, url, "", map[string]any{"id": 1, "method": "initialize", "params": map[string]any{
		"protocolVersion": "2025-06-18", "capabilities": map[string]any{}, "clientInfo": map[string]any{"name": "t"}}})
	if sid == "" {
		t.Fatal("no session")
	}
	sessionPost(t, url, sid, map[string]any{"method": "notifications/initialized"})
	return sid
}

// streamPost sends one JSON-RPC request of session sid and returns the messages of its answer as they come (the
// channel closes when the answer's stream ends, at most after 20 s).
func streamPost(t *testing.T, url, sid string, body map[string]any) <-chan map[string]any {
	t.Helper()
	body["jsonrpc"] = "2.0"
	raw, _ := json.Marshal(body)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	req.Header.Set(sessionHeader, sid)
	out := make(chan map[string]any, 16)
	go func() {
		defer cancel()
		defer close(out)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return
		}
		defer resp.Body.Close()
		in := bufio.NewScanner(resp.Body)
		for in.Scan() {
			var m map[string]any
			if json.Unmarshal([]byte(strings.TrimPrefix(in.Text(), "data: ")), &m) == nil {
				out <- m
			}
		}
	}()
	return out
}

// holdACall keeps one call of session sid awaiting the server's answer until the session ends.
func holdACall(t *testing.T, url string, b *bridge, sid string) {
	t.Helper()
	t.Cleanup(func() { endSession(t, url, sid) })
	go func() {
		sessionPost(t, url, sid, map[string]any{"id": "held", "method": "tools/call",
			"params": map[string]any{"name": "echo", "delayMs": 60000}})
	}()
	waitWaiting(t, b, sid, 1)
}

// A server's request to the client (sampling, elicitation) during the one call awaiting an answer goes on that
// call's stream, before its answer: a client without a GET stream gets it and answers it, and the call ends with
// what the server made of the reply.
func TestAServerRequestGoesOnTheOneWaitingCallsStream(t *testing.T) {
	srv := testBridge(t, 4, 4)
	sid := initialized(t, srv.URL)
	stream := streamPost(t, srv.URL, sid, map[string]any{"id": 2, "method": "tools/call",
		"params": map[string]any{"name": "ask"}})
	first, ok := <-stream
	if !ok || first["method"] != "sampling/createMessage" {
		t.Fatalf("want the server's request first on the call's stream, got %v", first)
	}
	sessionPost(t, srv.URL, sid, map[string]any{"id": first["id"], "result": map[string]any{"answered": true}})
	var rest []map[string]any
	for m := range stream {
		rest = append(rest, m)
	}
	if len(rest) != 1 || !strings.Contains(toJSON(rest[0]), `"answered":true`) {
		t.Fatalf("want the call's answer with the client's reply, got %v", rest)
	}
}

// With several calls awaiting answers, stdio cannot say which one a server's request belongs to: it goes to the
// client's GET stream, which a client opens after initialize; a request sent before that stream is there waits
// for it instead of ending the session.
func TestAServerRequestOfNoOneCallWaitsForTheClientsGETStream(t *testing.T) {
	srv := testBridge(t, 4, 4)
	sid := initialized(t, srv.URL)
	holdACall(t, srv.URL, srv.Config.Handler.(*bridge), sid)
	got := make(chan string, 1)
	go func() {
		time.Sleep(300 * time.Millisecond) // the client opens its GET stream late
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL, nil)
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set(sessionHeader, sid)
		req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			got <- err.Error()
			return
		}
		defer resp.Body.Close()
		in := bufio.NewScanner(resp.Body)
		for in.Scan() {
			if strings.Contains(in.Text(), "sampling/createMessage") {
				got <- in.Text()
				// answer it, as a client does
				sessionPost(t, srv.URL, sid, map[string]any{"id": "s1", "result": map[string]any{"answered": true}})
				return
			}
		}
		got <- "the GET stream ended"
	}()
	_, answer := sessionPost(t, srv.URL, sid, map[string]any{"id": 2, "method": "tools/call",
		"params": map[string]any{"name": "ask"}})
	if line := <-got; !strings.Contains(line, "sampling/createMessage") {
		t.Fatalf("the server's request never reached the GET stream: %s", line)
	}
	if len(answer) == 0 || !strings.Contains(toJSON(answer[len(answer)-1]), `"answered":true`) {
		t.Fatalf("the call was not answered with the client's reply: %v", answer)
	}
}

// Without a GET stream at all, a server's request of no one call is answered to it with an error after
// deliveryWait, so the call ends instead of hanging, and the session stays usable.
func TestAServerRequestNoClientStreamTakesIsAnsweredWithAnErrorAndTheSessionLives(t *testing.T) {
	old := deliveryWait
	deliveryWait = 500 * time.Millisecond
	t.Cleanup(func() { deliveryWait = old })
	srv := testBridge(t, 4, 4)
	sid := initialized(t, srv.URL)
	holdACall(t, srv.URL, srv.Config.Handler.(*bridge), sid)
	_, answer := sessionPost(t, srv.URL, sid, map[string]any{"id": 2, "method": "tools/call",
		"params": map[string]any{"name": "ask"}})
	if len(answer) == 0 || !strings.Contains(toJSON(answer[len(answer)-1]), "no open stream") {
		t.Fatalf("the call did not end with the bridge's error: %v", answer)
	}
	_, again := sessionPost(t, srv.URL, sid, map[string]any{"id": 3, "method": "tools/call",
		"params": map[string]any{"name": "echo"}})
	if len(again) == 0 || !strings.Contains(toJSON(again[len(again)-1]), `"pid"`) {
		t.Fatalf("the session did not survive: %v", again)
	}
}

// A progress notification goes on the stream of the call whose progressToken it carries, before the call's
// answer: it reaches a client that has no GET stream open (yet), where before it was dropped.
func TestProgressGoesOnItsCallsStream(t *testing.T) {
	srv := testBridge(t, 4, 4)
	sid := initialized(t, srv.URL)
	_, answer := sessionPost(t, srv.URL, sid, map[string]any{"id": 2, "method": "tools/call",
		"params": map[string]any{"name": "progress", "_meta": map[string]any{"progressToken": "p-1"}}})
	var got []string
	for _, m := range answer {
		got = append(got, toJSON(m))
	}
	if len(got) != 3 || !strings.Contains(got[0], `"progress":50`) || !strings.Contains(got[1], `"progress":100`) ||
		!strings.Contains(got[0], `"progressToken":"p-1"`) || !strings.Contains(got[2], `"result"`) {
		t.Fatalf("want two progress notifications then the answer on the call's stream, got %v", got)
	}
	// the token is forgotten with its answer: a later call with the same token gets its own progress
	_, again := sessionPost(t, srv.URL, sid, map[string]any{"id": 3, "method": "tools/call",
		"params": map[string]any{"name": "progress", "_meta": map[string]any{"progressToken": "p-1"}}})
	if len(again) != 3 {
		t.Fatalf("the second call's progress did not reach its stream: %v", again)
	}
}

// A token is one token however the peer spells it: in a request's _meta or a notification's params, 1 or 1.0,
// an escaped character or not; anything but a string or a number is no token.
func TestProgressTokensAreComparedAsJSONValues(t *testing.T) {
	same := [][2]string{
		{`{"_meta":{"progressToken":1}}`, `{"progressToken":1.0,"progress":5}`},
		{`{"_meta":{"progressToken":"\u00e9"}}`, `{"progressToken":"é"}`},
	}
	for _, c := range same {
		if a, b := progressToken(json.RawMessage(c[0])), progressToken(json.RawMessage(c[1])); a == "" || a != b {
			t.Errorf("%s and %s: %q != %q", c[0], c[1], a, b)
		}
	}
	for _, none := range []string{`{}`, `{"_meta":{"progressToken":null}}`, `{"progressToken":{"a":1}}`, `[1]`, `{"name":"progressToken"}`} {
		if got := progressToken(json.RawMessage(none)); got != "" {
			t.Errorf("%s: got token %q", none, got)
		}
	}
}

func toJSON(v any) string {
	raw, _ := json.Marshal(v)
	return string(raw)
}

// A log line of the server goes on the stream of the one call awaiting an answer (stdio cannot say which call it
// belongs to; with one waiting, it is that one's), so a client without a GET stream open yet still gets it; with
// two calls waiting it belongs to neither stream.
func TestALogLineGoesOnTheOneWaitingCallsStream(t *testing.T) {
	srv := testBridge(t, 4, 4)
	b := srv.Config.Handler.(*bridge)
	sid := initialized(t, srv.URL)
	_, one := sessionPost(t, srv.URL, sid, map[string]any{"id": 2, "method": "tools/call",
		"params": map[string]any{"name": "echo"}})
	if len(one) != 2 || one[0]["method"] != "notifications/message" || one[1]["result"] == nil {
		t.Fatalf("want the log line then the answer on the call's stream, got %v", one)
	}
	holdACall(t, srv.URL, b, sid)
	_, other := sessionPost(t, srv.URL, sid, map[string]any{"id": 4, "method": "tools/call",
		"params": map[string]any{"name": "echo"}})
	if len(other) != 1 || other[0]["result"] == nil {
		t.Fatalf("with two calls waiting, want only the answer on the call's stream, got %v", other)
	}
}

// waitWaiting waits (at most 10 s) until n calls of session sid await the server's answer.
func waitWaiting(t *testing.T, b *bridge, sid string, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); waiting(b, sid) != n; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("want %d calls awaiting the server, %d do", n, waiting(b, sid))
		}
	}
}

// endSession ends session sid as a client does (DELETE).
func endSession(t *testing.T, url, sid string) {
	req, _ := http.NewRequest(http.MethodDelete, url, nil)
	req.Header.Set(sessionHeader, sid)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

func waiting(b *bridge, sid string) int {
	b.mu.Lock()
	s := b.sessions[sid]
	b.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

// A session holds at most --max-session-calls calls awaiting the server's answer: one more is answered with an
// error at once, without reaching the server; ending the session ends the waiting ones.
func TestASessionsWaitingCallsAreBounded(t *testing.T) {
	srv := testBridge(t, 4, 4)
	b := srv.Config.Handler.(*bridge)
	b.maxSessionCalls = 2
	sid := initialized(t, srv.URL)
	held := make(chan []map[string]any, 2)
	for id := 10; id < 12; id++ {
		go func(id int) {
			_, answer := sessionPost(t, srv.URL, sid, map[string]any{"id": id, "method": "tools/call",
				"params": map[string]any{"name": "echo", "delayMs": 60000}})
			held <- answer
		}(id)
	}
	waitWaiting(t, b, sid, 2)
	_, refused := sessionPost(t, srv.URL, sid, map[string]any{"id": 20, "method": "tools/call",
		"params": map[string]any{"name": "echo"}})
	if len(refused) != 1 || !strings.Contains(toJSON(refused[0]), "too many calls of this session await an answer "+
		"(--max-session-calls 2)") || refused[0]["id"] != float64(20) {
		t.Fatalf("a third waiting call was not refused: %v", refused)
	}
	if n := waiting(b, sid); n != 2 {
		t.Fatalf("the refused call counts as waiting: %d", n)
	}
	endSession(t, srv.URL, sid)
	for range 2 {
		select {
		case a := <-held:
			if len(a) != 0 {
				t.Fatalf("a held call got an answer from the server: %v", a)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a held call did not end with its session")
		}
	}
}

// A progressToken longer than maxProgressToken is not kept (a client cannot make the bridge hold large tokens).
func TestLongProgressTokensAreNotKept(t *testing.T) {
	fits := `"` + strings.Repeat("a", maxProgressToken-2) + `"`
	if got := progressToken(json.RawMessage(`{"_meta":{"progressToken":` + fits + `}}`)); got != fits {
		t.Fatalf("a token of %d bytes was not kept: %q", len(fits), got)
	}
	long := `"` + strings.Repeat("a", maxProgressToken-1) + `"`
	if got := progressToken(json.RawMessage(`{"_meta":{"progressToken":` + long + `}}`)); got != "" {
		t.Fatalf("a token of %d bytes was kept", len(long))
	}
}
