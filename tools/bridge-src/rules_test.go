package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

func rulesOf(t *testing.T, values ...string) []*toolRule {
	t.Helper()
	var f ruleFlag
	for _, v := range values {
		if err := f.Set(v); err != nil {
			t.Fatalf("%s: %v", v, err)
		}
	}
	return f.rules
}

const writers = `{"tools":["write_*"],"when":"\"mcp-writers\" in claims.groups"}`

func writerPolicy(t *testing.T) *policy {
	return &policy{tools: newGlobs(nil, []string{"write_secrets"}), rules: rulesOf(t, writers)}
}

var (
	writer = map[string]any{"sub": "alice", "groups": []any{"mcp-writers"}}
	reader = map[string]any{"sub": "bob", "groups": []any{"mcp-readers"}}
)

func TestARuleAllowsACallerWithTheGroupAndRefusesOneWithoutNamingTheRule(t *testing.T) {
	p := writerPolicy(t)
	if resp, _ := p.refuse(request(t, 1, "tools/call", map[string]any{"name": "write_file"}), writer); resp != nil {
		t.Fatalf("a writer was refused: %+v", resp.Error)
	}
	resp, rule := p.refuse(request(t, 2, "tools/call", map[string]any{"name": "write_file"}), reader)
	if resp == nil || resp.Error == nil || rule != `rule 0 ("mcp-writers" in claims.groups)` ||
		!strings.Contains(resp.Error.Error(), "--tool-rule 0") {
		t.Fatalf("a reader was let through or the error does not name the rule: %+v %q", resp, rule)
	}
}

func TestAToolNoRuleMatchesIsLeftToTheGlobs(t *testing.T) {
	p := writerPolicy(t)
	if resp, _ := p.refuse(request(t, 1, "tools/call", map[string]any{"name": "read_file"}), reader); resp != nil {
		t.Fatalf("read_file, which no rule names, was refused: %+v", resp.Error)
	}
	if resp, _ := p.refuse(request(t, 2, "tools/call", map[string]any{"name": "write_secrets"}), writer); resp == nil {
		t.Fatal("a denied tool was let through because a rule holds: deny must win")
	}
}

func TestOneHoldingRuleOfSeveralThatMatchIsEnough(t *testing.T) {
	p := &policy{rules: rulesOf(t, writers, `{"tools":["write_*"],"when":"claims.sub == \"bob\""}`)}
	if resp, _ := p.refuse(request(t, 1, "tools/call", map[string]any{"name": "write_file"}), reader); resp != nil {
		t.Fatalf("bob, whom the second rule names, was refused: %+v", resp.Error)
	}
}

func TestTheListShowsEachCallerOnlyTheToolsItsRulesGrant(t *testing.T) {
	p := writerPolicy(t)
	list := func(claims map[string]any) string {
		resp := &jsonrpc.Response{Result: json.RawMessage(`{"tools":[{"name":"read_file"},{"name":"write_file"}]}`)}
		p.filter("tools/list", resp, claims)
		return string(resp.Result)
	}
	if got := list(writer); !strings.Contains(got, "write_file") || !strings.Contains(got, "read_file") {
		t.Fatalf("a writer's list: %s", got)
	}
	if got := list(reader); strings.Contains(got, "write_file") || !strings.Contains(got, "read_file") {
		t.Fatalf("a reader's list: %s", got)
	}
}

func TestAnExpressionThatFailsOrReadsAMissingClaimIsFalse(t *testing.T) {
	p := &policy{rules: rulesOf(t, writers, `{"tools":["x"],"when":"claims.level > 3"}`)}
	for _, claims := range []map[string]any{nil, {"sub": "carol"}, {"groups": "not-a-list"}, {"level": "high"}} {
		for _, name := range []string{"write_file", "x"} {
			if resp, _ := p.refuse(request(t, 1, "tools/call", map[string]any{"name": name}), claims); resp == nil {
				t.Fatalf("%s with claims %v was let through", name, claims)
			}
		}
	}
}

func TestAnEvaluationOverItsCostBudgetIsFalse(t *testing.T) {
	big := make([]any, 20_000)
	for i := range big {
		big[i] = "g"
	}
	rule := `{"tools":["*"],"when":"claims.groups.all(a, claims.groups.exists(b, a == b))"}`
	p := &policy{rules: rulesOf(t, rule)}
	start := time.Now()
	resp, _ := p.refuse(request(t, 1, "tools/call", map[string]any{"name": "t"}), map[string]any{"groups": big})
	if resp == nil {
		t.Fatal("a rule over its cost budget granted the call")
	}
	if spent := time.Since(start); spent > 5*time.Second {
		t.Fatalf("the cost limit did not stop the evaluation early: %v", spent)
	}
}

func TestBadRulesAreRefusedAtStartSayingWhy(t *testing.T) {
	for value, want := range map[string]string{
		`not json`:                                                   "not a JSON object",
		`{"tools":[],"when":"true"}`:                                 "at least one glob",
		`{"tools":["a"],"when":""}`:                                  "an expression of 1 to 1024 bytes",
		`{"tools":["a"],"when":"1 +"}`:                               "Syntax error",
		`{"tools":["a"],"when":"nope == 1"}`:                         "undeclared reference to 'nope'",
		`{"tools":["a"],"when":"tool == 1"}`:                         "no matching overload",
		`{"tools":["a"],"when":"claims.sub"}`:                        "not a bool",
		`{"tools":["a"],"when":"true","extra":1}`:                    "unknown field",
		`{"tools":["a"],"when":"` + strings.Repeat("x", 1025) + `"}`: "1 to 1024 bytes",
	} {
		var f ruleFlag
		if err := f.Set(value); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%.40s: want an error with %q, got %v", value, want, err)
		}
	}
	var f ruleFlag
	for i := 0; i < maxRules; i++ {
		if err := f.Set(`{"tools":["a"],"when":"true"}`); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Set(`{"tools":["a"],"when":"true"}`); err == nil {
		t.Fatalf("rule %d was taken", maxRules+1)
	}
}

// The expressions of tests/fixtures/cel-rules.json: the operator's check (mcpop/api/cel.py) must agree.
func TestTheSharedRuleFixtureCompilesHereAsTheOperatorSays(t *testing.T) {
	raw, err := os.ReadFile("../../tests/fixtures/cel-rules.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		When  string `json:"when"`
		Valid bool   `json:"valid"`
	}
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	env, err := ruleEnv()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		value, _ := json.Marshal(map[string]any{"tools": []string{"*"}, "when": c.When})
		_, err := parseRule(env, string(value))
		if (err == nil) != c.Valid {
			t.Errorf("%q: valid=%v here, the fixture says %v (%v)", c.When, err == nil, c.Valid, err)
		}
	}
}

func TestTheValidatorKeepsClaimsOnlyWhenRulesReadThem(t *testing.T) {
	now := time.Now()
	rs := newRSA(t, "rsa-1")
	loads := 0
	v := testValidator(func() []jose.JSONWebKey { return []jose.JSONWebKey{rs.jwk()} }, &loads, now)
	token := rs.sign(t, with(good(now), "groups", []string{"mcp-writers"}))
	if who, fail := v.validate(context.Background(), token); fail != nil || who.claims != nil {
		t.Fatalf("claims kept without rules: %v %v", who.claims, fail)
	}
	v = testValidator(func() []jose.JSONWebKey { return []jose.JSONWebKey{rs.jwk()} }, &loads, now)
	v.claims = true
	who, fail := v.validate(context.Background(), token)
	if ok, _ := (&policy{rules: rulesOf(t, writers)}).permits("tools", "write_file", who.claims); fail != nil || !ok {
		t.Fatalf("the token's groups did not reach the rule: %v %v", who.claims, fail)
	}
}

func TestATokenLongerThanTheBoundIsRefusedUnread(t *testing.T) {
	now := time.Now()
	rs := newRSA(t, "rsa-1")
	loads := 0
	v := testValidator(func() []jose.JSONWebKey { return []jose.JSONWebKey{rs.jwk()} }, &loads, now)
	token := rs.sign(t, with(good(now), "pad", strings.Repeat("x", maxTokenBytes)))
	if _, fail := v.validate(context.Background(), token); fail == nil || !strings.Contains(fail.why, "longer than") || loads != 0 {
		t.Fatalf("an oversize token: %v (key loads %d)", fail, loads)
	}
}
