package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func parsed(t *testing.T, m *metrics) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	m.handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatalf("not the Prometheus text format: %v\n%s", err, rec.Body.String())
	}
	return families
}

// value is the sample of family `name` whose labels are `labels` ("k=v,k=v"), or -1.
func value(families map[string]*dto.MetricFamily, name, labels string) float64 {
	f := families[name]
	if f == nil {
		return -1
	}
	for _, m := range f.Metric {
		var got []string
		for _, l := range m.Label {
			got = append(got, l.GetName()+"="+l.GetValue())
		}
		if strings.Join(got, ",") == labels {
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return -1
}

func answered(method, target string, result string) (tracked, *jsonrpc.Response) {
	return tracked{method: method, target: target, start: time.Now().Add(-3 * time.Millisecond)},
		&jsonrpc.Response{Result: json.RawMessage(result)}
}

func observe(m *metrics, method, target, result string) {
	c, resp := answered(method, target, result)
	m.observe(c, resp, "")
}

func TestEachRequestIsCountedByMethodToolDecisionAndOutcome(t *testing.T) {
	b := &bridge{sessions: map[string]*session{"a": {}, "b": {}}, shared: 1}
	m := newMetrics(b)
	observe(m, "tools/list", "", `{"tools":[{"name":"read_file"}]}`)
	observe(m, "tools/call", "read_file", `{"content":[]}`)
	observe(m, "tools/call", "read_file", `{"content":[],"isError":true}`)
	c, resp := answered("tools/call", "delete_everything", `{}`)
	m.observe(c, resp, "deny delete_*")
	observe(m, "made/up", "", `{}`)
	m.observe(tracked{method: "initialize", start: time.Now()}, &jsonrpc.Response{Error: &jsonrpc.Error{Code: -32603}}, "")
	m.authFailed(&authError{status: http.StatusUnauthorized})
	m.authFailed(unauthorized("invalid_token", "expired"))
	m.authFailed(&authError{status: http.StatusServiceUnavailable, why: "down"})
	f := parsed(t, m)
	for labels, want := range map[string]float64{
		"method=tools/list,tool=,decision=allow,outcome=ok":                 1,
		"method=tools/call,tool=read_file,decision=allow,outcome=ok":        1,
		"method=tools/call,tool=read_file,decision=allow,outcome=toolError": 1,
		"method=tools/call,tool=other,decision=deny,outcome=refused":        1, // never listed: not a label
		"method=other,tool=,decision=allow,outcome=ok":                      1,
		"method=initialize,tool=,decision=allow,outcome=error":              1,
	} {
		if got := value(f, "mcpop_bridge_requests_total", labels); got != want {
			t.Errorf("requests{%s} = %v, want %v", labels, got, want)
		}
	}
	if got := value(f, "mcpop_bridge_request_duration_seconds", "method=tools/call"); got != 3 {
		t.Errorf("tools/call latency samples = %v, want 3", got)
	}
	for reason, want := range map[string]float64{"no_token": 1, "invalid_token": 1, "issuer_unavailable": 1} {
		if got := value(f, "mcpop_bridge_auth_failures_total", "reason="+reason); got != want {
			t.Errorf("auth failures{%s} = %v", reason, got)
		}
	}
	if value(f, "mcpop_bridge_sessions", "") != 2 || value(f, "mcpop_bridge_server_processes", "") != 3 {
		t.Errorf("sessions %v, server processes %v", value(f, "mcpop_bridge_sessions", ""),
			value(f, "mcpop_bridge_server_processes", ""))
	}
}

func TestToolLabelsAreBoundedWhateverTheServerLists(t *testing.T) {
	m := newMetrics(&bridge{sessions: map[string]*session{}})
	var tools []string
	for i := range 3 * maxToolLabels {
		tools = append(tools, fmt.Sprintf(`{"name":"t%d"}`, i))
	}
	observe(m, "tools/list", "", `{"tools":[`+strings.Join(tools, ",")+`]}`)
	if len(m.tools) != maxToolLabels {
		t.Errorf("%d tool labels kept, want %d", len(m.tools), maxToolLabels)
	}
}

func TestLabelValuesAreEscaped(t *testing.T) {
	m := newMetrics(&bridge{sessions: map[string]*session{}})
	observe(m, "tools/list", "", `{"tools":[{"name":"a\"b\\c\nd"}]}`)
	observe(m, "tools/call", "a\"b\\c\nd", `{}`)
	if got := value(parsed(t, m), "mcpop_bridge_requests_total", "method=tools/call,tool=a\"b\\c\nd,decision=allow,outcome=ok"); got != 1 {
		t.Errorf("escaped tool label: %v", got)
	}
}
