// Tool rules (issue 21 §2): CEL over the caller's token claims, per tool glob.
//
// `--tool-rule '{"tools":["write_*"],"when":"\"mcp-writers\" in claims.groups"}'` (repeatable): a tool one or
// more rules match is exposed to a caller only when the `when` of at least one of them is true for that
// caller's token. A tool no rule matches is left to --allow-tools/--deny-tools alone, which apply first (deny
// wins over everything). An expression sees two variables: `claims`, the token's claims as a map (empty without
// --jwt-issuer), and `tool`, the tool's name; it must be a bool. An expression that fails (a claim the token
// does not have, say) or runs over its cost budget counts as false: a rule never grants by accident.
//
// This is cel-go, the CEL of Kubernetes' ValidatingAdmissionPolicy; the operator type-checks the same
// declarations (mcpop/api/cel.py) at admission, so an expression the bridge refuses at start never gets this far.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"cel.dev/cel-go/cel"
)

const (
	// maxRuleLength bounds one expression (the same bound as spec.tools.rules[].when)
	maxRuleLength = 1024
	// maxRules bounds how many rules one bridge takes (the same bound as spec.tools.rules)
	maxRules = 16
	// ruleCostLimit bounds one evaluation (CEL's runtime cost units: about one per operation, a comprehension
	// per element), so a rule over a huge claim cannot hold a request
	ruleCostLimit = 100_000
)

// toolRule is one --tool-rule: the tool globs it applies to and its compiled expression.
type toolRule struct {
	Tools []string `json:"tools"`
	When  string   `json:"when"`
	match []*regexp.Regexp
	prg   cel.Program
}

// ruleEnv declares what an expression sees: the same declarations as mcpop/api/cel.py.
func ruleEnv() (*cel.Env, error) {
	return cel.NewEnv(cel.Variable("claims", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("tool", cel.StringType))
}

// parseRule reads and compiles one --tool-rule value.
func parseRule(env *cel.Env, raw string) (*toolRule, error) {
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	var r toolRule
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("not a JSON object {\"tools\": [GLOB, ...], \"when\": EXPRESSION}: %w", err)
	}
	if len(r.Tools) == 0 {
		return nil, errors.New("tools: at least one glob")
	}
	if r.When == "" || len(r.When) > maxRuleLength {
		return nil, fmt.Errorf("when: an expression of 1 to %d bytes", maxRuleLength)
	}
	ast, iss := env.Compile(r.When)
	if iss.Err() != nil {
		return nil, fmt.Errorf("when: %w", iss.Err())
	}
	if ast.OutputType() != cel.BoolType {
		return nil, fmt.Errorf("when: the expression is a %s, not a bool", ast.OutputType())
	}
	prg, err := env.Program(ast, cel.CostLimit(ruleCostLimit))
	if err != nil {
		return nil, fmt.Errorf("when: %w", err)
	}
	r.match, r.prg = compile(r.Tools), prg
	return &r, nil
}

// ruleFlag collects --tool-rule values, compiled as they are given.
type ruleFlag struct {
	env   *cel.Env
	rules []*toolRule
}

func (f *ruleFlag) String() string {
	if f == nil {
		return ""
	}
	out := make([]string, 0, len(f.rules))
	for _, r := range f.rules {
		out = append(out, r.When)
	}
	return strings.Join(out, "; ")
}

func (f *ruleFlag) Set(v string) error {
	if len(f.rules) >= maxRules {
		return fmt.Errorf("at most %d rules", maxRules)
	}
	if f.env == nil {
		env, err := ruleEnv()
		if err != nil {
			return err
		}
		f.env = env
	}
	r, err := parseRule(f.env, v)
	if err != nil {
		return err
	}
	f.rules = append(f.rules, r)
	return nil
}

// holds reports whether the rule's expression is true for `claims` and tool `name` (an error counts as false).
func (r *toolRule) holds(claims map[string]any, name string) bool {
	if claims == nil {
		claims = map[string]any{}
	}
	out, _, err := r.prg.Eval(map[string]any{"claims": claims, "tool": name})
	if err != nil {
		return false
	}
	b, ok := out.Value().(bool)
	return ok && b
}

// grants reports whether the rules let a caller with `claims` use tool `name`, and when not, the rule that
// refuses it: true when no rule matches the name, or when one that matches holds.
func grants(rules []*toolRule, claims map[string]any, name string) (bool, string) {
	refused := ""
	for i, r := range rules {
		if !matches(r.match, name) {
			continue
		}
		if r.holds(claims, name) {
			return true, ""
		}
		if refused == "" {
			refused = fmt.Sprintf("rule %d (%s)", i, r.When)
		}
	}
	return refused == "", refused
}
