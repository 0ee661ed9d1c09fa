// Tool policy (issue 21 §2): which tools, prompts and resources of the server a client may see and use.
//
// Each kind has allow and deny globs (`*` any run of characters, `?` one): a name is exposed when no allow glob
// is given or one matches, and no deny glob matches. Tools and prompts are matched by name, resources and
// resource templates by URI (template). A list the server returns (tools/list, prompts/list, resources/list,
// resources/templates/list) loses the entries a client may not use; a request for one (tools/call, prompts/get,
// resources/read, resources/subscribe) is answered here with a JSON-RPC error naming the policy, and the server
// process is never asked.
package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// codePolicy is the JSON-RPC error code of a request the policy refuses (invalid params: the name is not one
// this client may use).
const codePolicy = jsonrpc.CodeInvalidParams

// globs is one kind's allow and deny lists, as given and compiled.
type globs struct {
	allow, deny     []string
	allowRE, denyRE []*regexp.Regexp
}

func compile(patterns []string) []*regexp.Regexp {
	out := make([]*regexp.Regexp, 0, len(patterns))
	for _, p := range patterns {
		quoted := regexp.QuoteMeta(p)
		quoted = strings.ReplaceAll(quoted, `\*`, `.*`)
		quoted = strings.ReplaceAll(quoted, `\?`, `.`)
		out = append(out, regexp.MustCompile(`^`+quoted+`$`))
	}
	return out
}

func newGlobs(allow, deny []string) globs {
	return globs{allow: allow, deny: deny, allowRE: compile(allow), denyRE: compile(deny)}
}

func matches(res []*regexp.Regexp, name string) bool {
	for _, re := range res {
		if re.MatchString(name) {
			return true
		}
	}
	return false
}

// allows reports whether `name` is exposed, and when not, the rule that hides it.
func (g globs) allows(name string) (bool, string) {
	for i, re := range g.denyRE {
		if re.MatchString(name) {
			return false, "deny " + g.deny[i]
		}
	}
	if len(g.allowRE) > 0 && !matches(g.allowRE, name) {
		return false, "allow " + strings.Join(g.allow, ",")
	}
	return true, ""
}

func (g globs) active() bool { return len(g.allow)+len(g.deny) > 0 }

type policy struct {
	tools, prompts, resources globs
	rules                     []*toolRule // CEL over the caller's claims, per tool glob (rules.go)
	approved                  *approval   // nil: no approved inventory (inventory.go)
}

func (p *policy) active() bool {
	return p != nil && (p.tools.active() || p.prompts.active() || p.resources.active() || len(p.rules) > 0 ||
		p.approved != nil)
}

// covers reports whether the policy looks at entries of `kind`.
func (p *policy) covers(kind string) bool {
	return p.of(kind).active() || (kind == "tools" && (p.approved != nil || len(p.rules) > 0))
}

// permits reports whether a caller whose token has `claims` may use entry `name` of `kind`, and when not, the
// rule that hides it: the globs first, then for tools the rules.
func (p *policy) permits(kind, name string, claims map[string]any) (bool, string) {
	if ok, rule := p.of(kind).allows(name); !ok || kind != "tools" {
		return ok, rule
	}
	return grants(p.rules, claims, name)
}

// refusal is the JSON-RPC error message of a request for `what` `name` that `rule` refuses.
func refusal(what, kind, name, rule string) string {
	verb, _, _ := strings.Cut(rule, " ")
	if verb == "rule" {
		return fmt.Sprintf("mcpop-bridge: %s %q is not allowed to this caller by this server's policy (--tool-%s: "+
			"its expression is not true for the caller's token): it was not sent to the server", what, name, rule)
	}
	return fmt.Sprintf("mcpop-bridge: %s %q is not allowed by this server's policy (--%s-%s): it was not sent to "+
		"the server", what, name, verb, kind)
}

// guarded: per method, the kind it uses, the params field naming the entry, the policy's flag name
var guarded = map[string]struct{ kind, field, what string }{
	"tools/call":          {"tools", "name", "tool"},
	"prompts/get":         {"prompts", "name", "prompt"},
	"resources/read":      {"resources", "uri", "resource"},
	"resources/subscribe": {"resources", "uri", "resource"},
}

// listed: per list method, the result's array and the field of each entry the policy matches
var listed = map[string]struct{ kind, array, field string }{
	"tools/list":               {"tools", "tools", "name"},
	"prompts/list":             {"prompts", "prompts", "name"},
	"resources/list":           {"resources", "resources", "uri"},
	"resources/templates/list": {"resources", "resourceTemplates", "uriTemplate"},
}

func (p *policy) of(kind string) globs {
	switch kind {
	case "tools":
		return p.tools
	case "prompts":
		return p.prompts
	}
	return p.resources
}

// refuse is the error a request the policy forbids a caller whose token has `claims` is answered with, and the
// rule that forbids it; nil for any other message.
func (p *policy) refuse(msg jsonrpc.Message, claims map[string]any) (*jsonrpc.Response, string) {
	r, ok := msg.(*jsonrpc.Request)
	if !p.active() || !ok {
		return nil, ""
	}
	g, ok := guarded[r.Method]
	if !ok || !p.covers(g.kind) {
		return nil, ""
	}
	var params map[string]json.RawMessage
	var name string
	if json.Unmarshal(r.Params, &params) != nil || json.Unmarshal(params[g.field], &name) != nil {
		name = "" // no name: matched as the empty name, so an allow list refuses it
	}
	allowed, rule := p.permits(g.kind, name, claims)
	if allowed {
		if g.kind != "tools" || p.approved == nil || !r.ID.IsValid() {
			return nil, ""
		}
		why := p.approved.refuse(name)
		if why == "" {
			return nil, ""
		}
		return &jsonrpc.Response{ID: r.ID, Error: &jsonrpc.Error{Code: codePolicy,
			Message: "mcpop-bridge: " + why + ": it was not sent to the server"}}, "approved"
	}
	if !r.ID.IsValid() {
		return &jsonrpc.Response{}, rule // a notification: dropped, nothing to answer
	}
	return &jsonrpc.Response{ID: r.ID, Error: &jsonrpc.Error{Code: codePolicy,
		Message: refusal(g.what, g.kind, name, rule)}}, rule
}

// listing is the list method a request is, when the policy filters its answer; "" otherwise.
func (p *policy) listing(msg jsonrpc.Message) string {
	r, ok := msg.(*jsonrpc.Request)
	if !p.active() || !ok || !r.ID.IsValid() {
		return ""
	}
	if l, ok := listed[r.Method]; ok && p.covers(l.kind) {
		return r.Method
	}
	return ""
}

// filter removes from the answer to list method `method` the entries the policy hides from a caller whose token
// has `claims`. An answer it cannot read is replaced by an error: what the policy hides must never pass by
// accident.
func (p *policy) filter(method string, resp *jsonrpc.Response, claims map[string]any) {
	l := listed[method]
	if resp.Error != nil {
		return
	}
	var result map[string]json.RawMessage
	var entries []map[string]json.RawMessage
	if err := json.Unmarshal(resp.Result, &result); err == nil {
		if raw, ok := result[l.array]; ok {
			err = json.Unmarshal(raw, &entries)
		}
		if err == nil {
			kept := make([]map[string]json.RawMessage, 0, len(entries))
			for _, e := range entries {
				var name string
				_ = json.Unmarshal(e[l.field], &name)
				if ok, _ := p.permits(l.kind, name, claims); ok {
					kept = append(kept, e)
				}
			}
			if method == "tools/list" && p.approved != nil {
				var unread error
				if kept, unread = p.approved.filter(result, kept); unread != nil {
					kept = nil // an answer whose tools cannot be checked loses them all: see below
				}
			}
			if raw, err := json.Marshal(kept); err == nil && kept != nil {
				result[l.array] = raw
				if out, err := json.Marshal(result); err == nil {
					resp.Result = out
					return
				}
			}
		}
	}
	resp.Result = nil
	resp.Error = &jsonrpc.Error{Code: jsonrpc.CodeInternalError,
		Message: "mcpop-bridge: the server's " + method + " answer could not be read to apply this server's policy"}
}
