package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

func request(t *testing.T, id int64, method string, params any) *jsonrpc.Request {
	t.Helper()
	raw, err := json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	rid, _ := jsonrpc.MakeID(float64(id))
	return &jsonrpc.Request{ID: rid, Method: method, Params: raw}
}

func testPolicy() *policy {
	return &policy{tools: newGlobs([]string{"read_*", "search_?"}, []string{"read_secret*"}),
		resources: newGlobs(nil, []string{"file:///etc/*"})}
}

func TestACallOfAToolOutsideTheAllowListIsRefusedNamingThePolicy(t *testing.T) {
	resp, _ := testPolicy().refuse(request(t, 1, "tools/call", map[string]any{"name": "delete_repo"}), nil)
	if resp == nil || resp.Error == nil {
		t.Fatal("delete_repo was let through")
	}
	if msg := resp.Error.Error(); !strings.Contains(msg, `tool "delete_repo" is not allowed`) ||
		!strings.Contains(msg, "--allow-tools") {
		t.Fatalf("message: %s", msg)
	}
}

func TestADenyGlobWinsOverAnAllowGlob(t *testing.T) {
	resp, _ := testPolicy().refuse(request(t, 2, "tools/call", map[string]any{"name": "read_secrets"}), nil)
	if resp == nil || !strings.Contains(resp.Error.Error(), "--deny-tools") {
		t.Fatalf("read_secrets: %+v", resp)
	}
}

func TestAnAllowedCallPassesAndQuestionMarkMatchesOneCharacter(t *testing.T) {
	p := testPolicy()
	for _, name := range []string{"read_file", "search_x"} {
		if resp, _ := p.refuse(request(t, 3, "tools/call", map[string]any{"name": name}), nil); resp != nil {
			t.Fatalf("%s refused: %v", name, resp.Error)
		}
	}
	if resp, _ := p.refuse(request(t, 4, "tools/call", map[string]any{"name": "search_xy"}), nil); resp == nil {
		t.Fatal("search_xy matched search_?")
	}
}

func TestACallWithoutANameIsRefusedByAnAllowList(t *testing.T) {
	if resp, _ := testPolicy().refuse(request(t, 5, "tools/call", map[string]any{}), nil); resp == nil {
		t.Fatal("a nameless call was let through")
	}
}

func TestAResourceReadIsCheckedByURIAndOtherMethodsPass(t *testing.T) {
	p := testPolicy()
	if resp, rule := p.refuse(request(t, 6, "resources/read", map[string]any{"uri": "file:///etc/passwd"}), nil); resp == nil ||
		rule != "deny file:///etc/*" {
		t.Fatalf("a denied resource was read (%q)", rule)
	}
	if resp, _ := p.refuse(request(t, 7, "resources/read", map[string]any{"uri": "file:///srv/a"}), nil); resp != nil {
		t.Fatal("an allowed resource was refused")
	}
	ping, _ := p.refuse(request(t, 8, "ping", nil), nil)
	prompt, _ := p.refuse(request(t, 9, "prompts/get", map[string]any{"name": "x"}), nil)
	if ping != nil || prompt != nil {
		t.Fatal("a method or kind without a policy was refused")
	}
}

func TestToolsListLosesTheEntriesThePolicyHides(t *testing.T) {
	p := testPolicy()
	req := request(t, 10, "tools/list", nil)
	if p.listing(req) != "tools/list" {
		t.Fatal("tools/list is not filtered")
	}
	resp := &jsonrpc.Response{ID: req.ID, Result: json.RawMessage(
		`{"tools":[{"name":"read_file","inputSchema":{}},{"name":"delete_repo"},{"name":"read_secret_key"}],"nextCursor":"c"}`)}
	p.filter("tools/list", resp, nil)
	var got struct {
		Tools []struct {
			Name string `json:"name"`
		} `json:"tools"`
		NextCursor string `json:"nextCursor"`
	}
	if err := json.Unmarshal(resp.Result, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Tools) != 1 || got.Tools[0].Name != "read_file" || got.NextCursor != "c" {
		t.Fatalf("filtered: %s", resp.Result)
	}
}

func TestAListAnswerThatCannotBeReadBecomesAnErrorNotALeak(t *testing.T) {
	resp := &jsonrpc.Response{Result: json.RawMessage(`{"tools":"not a list"}`)}
	testPolicy().filter("tools/list", resp, nil)
	if resp.Error == nil || resp.Result != nil {
		t.Fatalf("an unreadable list passed: %s", resp.Result)
	}
}

func TestWithoutAPolicyNothingIsRefusedOrFiltered(t *testing.T) {
	var p *policy
	if resp, _ := p.refuse(request(t, 11, "tools/call", map[string]any{"name": "x"}), nil); p.active() || resp != nil ||
		p.listing(request(t, 12, "tools/list", nil)) != "" {
		t.Fatal("a nil policy acted")
	}
	empty := &policy{}
	if empty.active() || empty.listing(request(t, 13, "tools/list", nil)) != "" {
		t.Fatal("an empty policy acted")
	}
}
