package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// TestMain doubles as the stdio server the tests' bridges start: this test binary run with MCPOP_FAKE_CHILD set.
func TestMain(m *testing.M) {
	if os.Getenv("MCPOP_FAKE_CHILD") != "" {
		fakeChild()
		return
	}
	os.Exit(m.Run())
}

// fakeChild answers newline-delimited JSON-RPC on stdin/stdout, each request in its own goroutine (so answers
// come back in any order): echo answers {pid, params} after params.delayMs; die exits at once; ask (or tools/call
// of the tool "ask") sends the client a request first and answers with what it got back; tools/call of the tool
// "progress" reports progress twice (with the call's params._meta.progressToken) before it answers.
func fakeChild() {
	var mu sync.Mutex
	out := json.NewEncoder(os.Stdout)
	send := func(v any) {
		mu.Lock()
		defer mu.Unlock()
		_ = out.Encode(v)
	}
	asked := make(chan json.RawMessage, 1)
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(nil, 1<<20)
	for in.Scan() {
		var msg struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params struct {
				DelayMs int    `json:"delayMs"`
				Name    string `json:"name"`
				Meta    struct {
					ProgressToken json.RawMessage `json:"progressToken"`
				} `json:"_meta"`
			} `json:"params"`
			Result json.RawMessage `json:"result"`
			Error  json.RawMessage `json:"error"`
		}
		line := append([]byte(nil), in.Bytes()...)
		if json.Unmarshal(line, &msg) != nil {
			continue
		}
		if msg.Method == "" { // the bridge's answer to "ask"
			asked <- line
			continue
		}
		if msg.ID == nil {
			continue
		}
		if msg.Method == "tools/call" && msg.Params.Name == "ask" { // "ask" as a session's transport lets it through
			msg.Method = "ask"
		}
		if msg.Method == "tools/call" && msg.Params.Name == "progress" {
			for _, done := range []int{50, 100} {
				send(map[string]any{"jsonrpc": "2.0", "method": "notifications/progress", "params": map[string]any{
					"progressToken": msg.Params.Meta.ProgressToken, "progress": done, "total": 100}})
			}
			send(map[string]any{"jsonrpc": "2.0", "id": msg.ID, "result": map[string]any{"content": []any{}}})
			continue
		}
		switch msg.Method {
		case "tools/list":
			send(map[string]any{"jsonrpc": "2.0", "id": msg.ID, "result": map[string]any{
				"tools": []map[string]any{{"name": "read_file"}, {"name": "delete_file"}}}})
		case "server/discover": // as a server that predates it
			send(map[string]any{"jsonrpc": "2.0", "id": msg.ID, "error": map[string]any{"code": -32601, "message": "Method not found"}})
		case "die":
			fmt.Fprintln(os.Stderr, "fake child: told to die")
			os.Exit(3)
		case "ask":
			go func(id json.RawMessage) {
				send(map[string]any{"jsonrpc": "2.0", "id": "s1", "method": "sampling/createMessage", "params": map[string]any{}})
				got := <-asked
				send(map[string]any{"jsonrpc": "2.0", "id": id, "result": map[string]any{"got": json.RawMessage(got)}})
			}(msg.ID)
		default:
			go func(id json.RawMessage, delay int, raw []byte) {
				time.Sleep(time.Duration(delay) * time.Millisecond)
				send(map[string]any{"jsonrpc": "2.0", "method": "notifications/message", "params": map[string]any{}})
				var full struct {
					Params json.RawMessage `json:"params"`
				}
				_ = json.Unmarshal(raw, &full)
				send(map[string]any{"jsonrpc": "2.0", "id": id, "result": map[string]any{"pid": os.Getpid(), "params": full.Params}})
			}(msg.ID, msg.Params.DelayMs, line)
		}
	}
}

func testBridge(t *testing.T, maxSessions, maxInflight int, command ...string) *httptest.Server {
	t.Helper()
	if len(command) == 0 {
		t.Setenv("MCPOP_FAKE_CHILD", "1")
		command = []string{os.Args[0]}
	}
	b := &bridge{command: command, idle: time.Minute, maxSessions: maxSessions, startTimeout: 10 * time.Second,
		hosts: parseAllowList(""), sessions: map[string]*session{}}
	b.policy = &policy{}
	b.stateless = &stateless{b: b, maxInflight: maxInflight}
	srv := httptest.NewServer(b)
	t.Cleanup(func() { srv.Close(); b.stateless.close() })
	return srv
}

type answer struct {
	status int
	ctype  string
	body   map[string]any
}

// send sends one stateless (2026-07-28) request and decodes the answer.
func send(url string, id any, method string, params map[string]any) (answer, error) {
	if params == nil {
		params = map[string]any{}
	}
	params["_meta"] = map[string]any{"io.modelcontextprotocol/protocolVersion": "2026-07-28"}
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2026-07-28")
	req.Header.Set("Mcp-Method", method)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	got := answer{status: resp.StatusCode, ctype: resp.Header.Get("Content-Type")}
	if err := json.NewDecoder(resp.Body).Decode(&got.body); err != nil {
		return got, fmt.Errorf("%s: status %d, undecodable body: %v", method, resp.StatusCode, err)
	}
	if resp.Header.Get(sessionHeader) != "" {
		return got, fmt.Errorf("a stateless answer carries %s", sessionHeader)
	}
	return got, nil
}

// post is send in the test's goroutine: an error fails the test.
func post(t *testing.T, url string, id any, method string, params map[string]any) answer {
	t.Helper()
	got, err := send(url, id, method, params)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// sendAsync is send from another goroutine: an error is reported, the answer goes to the channel.
func sendAsync(t *testing.T, to chan<- answer, url string, id any, method string, params map[string]any) {
	got, err := send(url, id, method, params)
	if err != nil {
		t.Error(err)
	}
	if to != nil {
		to <- got
	}
}

func (a answer) result() map[string]any { r, _ := a.body["result"].(map[string]any); return r }

func (a answer) errorMessage() string {
	e, _ := a.body["error"].(map[string]any)
	m, _ := e["message"].(string)
	return m
}

func TestStatelessRequestsAreTheModernOnesWithoutInitialize(t *testing.T) {
	modern := http.Header{"Mcp-Protocol-Version": {"2026-07-28"}}
	later := http.Header{"Mcp-Protocol-Version": {"2027-01-01"}}
	old := http.Header{"Mcp-Protocol-Version": {"2025-11-25"}}
	meta := `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}`
	for _, c := range []struct {
		header    http.Header
		body      string
		stateless bool
	}{
		{nil, `{"jsonrpc":"2.0","id":1,"method":"server/discover"}`, true},
		{modern, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, true},
		{later, `{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{}}`, true},
		{modern, `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{}}`, true},
		{nil, meta, true},
		{modern, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`, false},
		{old, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, false},
		{nil, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, false},
		{http.Header{"Mcp-Protocol-Version": {"DRAFT-2026"}}, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, false},
		{modern, `[{"jsonrpc":"2.0","id":1,"method":"tools/list"}]`, false},
		{modern, `{"jsonrpc":"2.0","id":1,"result":{}}`, false},
		{modern, `not json`, false},
	} {
		if got := statelessRequest(c.header, []byte(c.body)) != nil; got != c.stateless {
			t.Errorf("statelessRequest(%v, %s) = %v, want %v", c.header, c.body, got, c.stateless)
		}
	}
}

func TestConcurrentStatelessRequestsWithTheSameIdShareOneChildAndEachGetsItsOwnAnswer(t *testing.T) {
	srv := testBridge(t, 4, 64)
	const n = 20
	answers := make([]answer, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// the same caller id everywhere, the later ones answered first
			got := make(chan answer, 1)
			sendAsync(t, got, srv.URL, 1, "echo", map[string]any{"n": i, "delayMs": (n - i) * 20})
			answers[i] = <-got
		}()
	}
	wg.Wait()
	pids := map[float64]bool{}
	for i, a := range answers {
		if a.status != http.StatusOK || !strings.HasPrefix(a.ctype, "application/json") {
			t.Fatalf("request %d: status %d, content type %q: %v", i, a.status, a.ctype, a.body)
		}
		if a.body["id"] != float64(1) {
			t.Errorf("request %d: the caller's id is not restored: %v", i, a.body["id"])
		}
		params, _ := a.result()["params"].(map[string]any)
		if params["n"] != float64(i) {
			t.Errorf("request %d got the answer to %v", i, params["n"])
		}
		pids[a.result()["pid"].(float64)] = true
	}
	if len(pids) != 1 {
		t.Errorf("stateless requests ran in %d server processes, want one: %v", len(pids), pids)
	}
}

func TestTheSharedChildsDeathAnswersEveryWaitingRequestAndTheNextRequestStartsANewOne(t *testing.T) {
	srv := testBridge(t, 4, 64)
	first := post(t, srv.URL, "warm", "echo", nil).result()["pid"]
	answers := make(chan answer, 3)
	for i := range 3 {
		go sendAsync(t, answers, srv.URL, i, "echo", map[string]any{"delayMs": 60000})
	}
	time.Sleep(300 * time.Millisecond) // the three are waiting on the child
	died := post(t, srv.URL, "d", "die", nil)
	if !strings.Contains(died.errorMessage(), "mcpop-bridge: the shared server process exited") || died.body["id"] != "d" {
		t.Errorf("the request the child died on: %v", died.body)
	}
	for range 3 {
		select {
		case a := <-answers:
			if !strings.Contains(a.errorMessage(), "the shared server process exited") {
				t.Errorf("a waiting request got %v", a.body)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a request waiting on a dead child was not answered")
		}
	}
	again := post(t, srv.URL, 1, "echo", nil).result()["pid"]
	if again == nil || again == first {
		t.Errorf("after the child died the next request ran in pid %v (before: %v)", again, first)
	}
}

func TestAChildThatExitsBeforeItAnswersNamesItsLastStderrLines(t *testing.T) {
	srv := testBridge(t, 4, 64, "sh", "-c", "echo 'Error: DATABASE_URL is not set' >&2; exit 2")
	a := post(t, srv.URL, 5, "server/discover", nil)
	msg := a.errorMessage()
	if !strings.Contains(msg, "exited before it answered") || !strings.Contains(msg, "Error: DATABASE_URL is not set") {
		t.Errorf("got %v", a.body)
	}
}

func TestAChildThatNeverAnswersIsKilledAfterStartTimeout(t *testing.T) {
	srv := testBridge(t, 4, 64, "sleep", "60")
	srv.Config.Handler.(*bridge).startTimeout = 300 * time.Millisecond
	a := post(t, srv.URL, 5, "server/discover", nil)
	if !strings.Contains(a.errorMessage(), "did not answer within --start-timeout 300ms") {
		t.Errorf("got %v", a.body)
	}
}

func TestStatelessRequestsBeyondTheInflightCapAreRefusedWith503(t *testing.T) {
	srv := testBridge(t, 4, 2)
	for i := range 2 {
		go sendAsync(t, nil, srv.URL, i, "echo", map[string]any{"delayMs": 3000})
	}
	time.Sleep(500 * time.Millisecond)
	a := post(t, srv.URL, 9, "echo", nil)
	if a.status != http.StatusServiceUnavailable || a.body["id"] != float64(9) ||
		!strings.Contains(a.errorMessage(), "--max-stateless-inflight 2") {
		t.Errorf("status %d: %v", a.status, a.body)
	}
}

func TestTheSharedChildCountsAsASessionUnderMaxSessions(t *testing.T) {
	srv := testBridge(t, 1, 64)
	if a := post(t, srv.URL, 1, "echo", nil); a.status != http.StatusOK {
		t.Fatalf("status %d: %v", a.status, a.body)
	}
	init := `{"jsonrpc":"2.0","id":7,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(init))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(fmt.Sprint(body), "--max-sessions 1") {
		t.Errorf("an initialize with the shared child running at --max-sessions 1: %d %v", resp.StatusCode, body)
	}
}

func TestARequestFromTheSharedChildIsAnsweredWithAnErrorAndItsNotificationsDropped(t *testing.T) {
	srv := testBridge(t, 4, 64)
	a := post(t, srv.URL, 1, "ask", nil)
	got, _ := json.Marshal(a.result()["got"])
	if !strings.Contains(string(got), `"id":"s1"`) || !strings.Contains(string(got), "no client to ask") {
		t.Errorf("the child's sampling request was answered with %s", got)
	}
}

func TestAStatelessNotificationIsAccepted(t *testing.T) {
	srv := testBridge(t, 4, 64)
	body := `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}`
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Mcp-Protocol-Version", "2026-07-28")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("status %d", resp.StatusCode)
	}
}

func TestAHeaderThatDisagreesWithTheBodyIsRefusedWithHeaderMismatch(t *testing.T) {
	srv := testBridge(t, 4, 64)
	for header, value := range map[string]string{"Mcp-Method": "tools/call", "Mcp-Protocol-Version": "2027-01-01"} {
		body := `{"jsonrpc":"2.0","id":3,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}`
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(header, value)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		e, _ := got["error"].(map[string]any)
		if resp.StatusCode != http.StatusBadRequest || e["code"] != float64(-32020) || got["id"] != float64(3) ||
			!strings.Contains(fmt.Sprint(e["message"]), header) {
			t.Errorf("%s: %s: status %d, %v", header, value, resp.StatusCode, got)
		}
	}
}

func TestASharedChildThatRefusesServerDiscoverIsEndedAndHoldsNoSession(t *testing.T) {
	srv := testBridge(t, 1, 64)
	b := srv.Config.Handler.(*bridge)
	if a := post(t, srv.URL, 1, "server/discover", nil); !strings.Contains(a.errorMessage(), "Method not found") {
		t.Fatalf("got %v", a.body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		b.mu.Lock()
		shared := b.shared
		b.mu.Unlock()
		if shared == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the shared child of a server without server/discover still holds its session place")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !b.reserve() { // the one place under --max-sessions 1 is free for the client's initialize
		t.Fatal("no place left for a session")
	}
	b.release()
}

func TestOnlyAnUnsupportedVersionErrorToServerDiscoverIsNotALegacyServer(t *testing.T) {
	for body, legacy := range map[string]bool{
		`{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"Method not found"}}`:                                true,
		`{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"Invalid request parameters"}}`:                      true,
		`{"jsonrpc":"2.0","id":1,"error":{"code":-32022,"message":"Unsupported","data":{"supported":["2027-01-01"]}}}`: false,
		`{"jsonrpc":"2.0","id":1,"result":{}}`:                                                                         false,
	} {
		msg, err := jsonrpc.DecodeMessage([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		if got := refusesDiscover(msg.(*jsonrpc.Response).Error); got != legacy {
			t.Errorf("refusesDiscover(%s) = %v, want %v", body, got, legacy)
		}
	}
}

func TestAStatelessRequestFromAForeignHostIsRefusedBeforeAnyChildStarts(t *testing.T) {
	srv := testBridge(t, 4, 64)
	body := `{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{}}`
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
	req.Host = "evil.example.org"
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	st := srv.Config.Handler.(*bridge).stateless
	st.mu.Lock()
	started := st.child != nil
	st.mu.Unlock()
	if resp.StatusCode != http.StatusForbidden || started {
		t.Errorf("status %d, shared child started: %v", resp.StatusCode, started)
	}
}

func TestTheToolPolicyAndTheAuditApplyToStatelessRequests(t *testing.T) {
	srv := testBridge(t, 4, 64)
	b := srv.Config.Handler.(*bridge)
	var audit bytes.Buffer
	b.policy = &policy{tools: newGlobs(nil, []string{"delete_*"})}
	b.audit = &auditLog{out: &audit}
	refused := post(t, srv.URL, 1, "tools/call", map[string]any{"name": "delete_file", "arguments": map[string]any{}})
	if !strings.Contains(refused.errorMessage(), "not allowed by this server's policy") || refused.body["id"] != float64(1) {
		t.Errorf("a denied tool: %v", refused.body)
	}
	st := b.stateless
	st.mu.Lock()
	started := st.child != nil
	st.mu.Unlock()
	if started {
		t.Error("a request outside the policy started the shared child")
	}
	listed, _ := json.Marshal(post(t, srv.URL, 2, "tools/list", nil).result())
	if !strings.Contains(string(listed), "read_file") || strings.Contains(string(listed), "delete_file") {
		t.Errorf("tools/list through the policy: %s", listed)
	}
	lines := strings.Split(strings.TrimSpace(audit.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"decision":"deny"`) || !strings.Contains(lines[1], `"method":"tools/list"`) ||
		!strings.Contains(lines[1], `"session":""`) {
		t.Errorf("audit lines: %q", lines)
	}
}
