// Audit (issue 21 §3): with --audit-log, one JSON line per client request: when, who (the token's subject and
// issuer, with --jwt-issuer), which session (the first 8 characters of its id, as the bridge's log names it), the
// JSON-RPC method, the tool or prompt name or resource URI, the policy's decision (and the rule that refused), the
// latency from request to answer, and the outcome. Tool arguments only with --audit-arguments (they may hold what
// a caller would not want kept). Never the token, never the server's environment.
package main

import (
	"encoding/json"
	"io"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// tracked is what the bridge keeps of a client request until its answer: for the policy's list filter and the audit.
type tracked struct {
	method, target string
	arguments      json.RawMessage
	start          time.Time
	list           bool           // the policy filters its answer
	claims         map[string]any // the caller's token claims, for the policy's rules
}

// describe reads the method, the named target and the arguments of a request.
func describe(r *jsonrpc.Request) tracked {
	c := tracked{method: r.Method, start: time.Now()}
	var params struct {
		Name      string          `json:"name"`
		URI       string          `json:"uri"`
		Arguments json.RawMessage `json:"arguments"`
	}
	if json.Unmarshal(r.Params, &params) == nil {
		c.target, c.arguments = params.Name, params.Arguments
		if params.URI != "" {
			c.target = params.URI
		}
	}
	return c
}

type auditLog struct {
	mu        sync.Mutex
	out       io.Writer
	arguments bool
}

type auditLine struct {
	Time      string          `json:"time"`
	Subject   string          `json:"subject,omitempty"`
	Issuer    string          `json:"issuer,omitempty"`
	Session   string          `json:"session"`
	Method    string          `json:"method"`
	Target    string          `json:"target,omitempty"`
	Decision  string          `json:"decision"`
	Rule      string          `json:"rule,omitempty"`
	LatencyMS float64         `json:"latencyMs"`
	Outcome   string          `json:"outcome"`
	Code      int64           `json:"code,omitempty"`
	Arguments json.RawMessage `json:"arguments,omitempty"`
}

// outcome classifies an answer: ok, toolError (a tools/call result with isError), or error (a JSON-RPC error,
// with its code).
func outcome(resp *jsonrpc.Response) (string, int64) {
	if resp.Error != nil {
		if werr, ok := resp.Error.(*jsonrpc.Error); ok {
			return "error", werr.Code
		}
		return "error", 0
	}
	var result struct {
		IsError bool `json:"isError"`
	}
	if json.Unmarshal(resp.Result, &result) == nil && result.IsError {
		return "toolError", 0
	}
	return "ok", 0
}

// record writes one line for call `c` of session `sid` by `who`, answered by `resp` (refused: `rule` is set).
func (a *auditLog) record(who caller, sid string, c tracked, resp *jsonrpc.Response, rule string) {
	if a == nil {
		return
	}
	line := auditLine{Time: c.start.UTC().Format(time.RFC3339Nano), Subject: who.subject, Issuer: who.issuer,
		Session: sid[:min(8, len(sid))], Method: c.method, Target: c.target, Decision: "allow",
		LatencyMS: float64(time.Since(c.start).Microseconds()) / 1000}
	line.Outcome, line.Code = outcome(resp)
	if rule != "" {
		line.Decision, line.Rule, line.Outcome = "deny", rule, "refused"
	}
	if a.arguments && c.method == "tools/call" {
		line.Arguments = c.arguments
	}
	data, err := json.Marshal(line)
	if err != nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	_, _ = a.out.Write(append(data, '\n'))
}
