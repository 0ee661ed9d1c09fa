package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestExpandIsTheKubeletsArgExpansion(t *testing.T) {
	env := map[string]string{"TOKEN": "s3cr3t", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	for in, want := range map[string]string{
		"--token=$(TOKEN)": "--token=s3cr3t",
		"$(EMPTY)x":        "x",
		"$(UNSET)":         "$(UNSET)",
		"$$(TOKEN)":        "$(TOKEN)",
		"a$b$":             "a$b$",
		"$(TOKEN":          "$(TOKEN",
		"$()":              "$()",
	} {
		if got := expand(in, lookup); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRefusesForeignHostsAndOriginsAndKeepsLocalhostAndTheServiceNames(t *testing.T) {
	l := parseAllowList("files, files.tools, files.tools.svc,files.tools.svc.cluster.local,.Example.COM")
	for _, c := range []struct {
		host, origin string
		refused      bool
	}{
		{"localhost:8000", "", false},
		{"127.0.0.1:8000", "http://127.0.0.1:8000", false},
		{"[::1]:8000", "http://[::1]:8000", false},
		{"LOCALHOST", "https://localhost", false},
		{"10.244.0.7:8000", "", false}, // a pod or Service IP: no rebinding goes through an address
		{"files:8000", "", false},
		{"files.tools.svc.cluster.local:8000", "", false},
		{"files.tools.svc.cluster.local.:8000", "", false},
		{"mcp.example.com", "https://mcp.example.com", false},
		{"example.com", "", true}, // a suffix entry allows the names under it, not the name itself
		{"evil.example.org", "", true},
		{"evil.example.org:8000", "http://evil.example.org:8000", true},
		{"localhost:8000", "http://evil.example.org", true}, // a rebinding page's POST carries its Origin
		{"127.0.0.1:8000", "http://10.244.0.7:8000", true},  // an address is not an allowed Origin
		{"localhost:8000", "null", true},
		{"localhost:8000", "file:///tmp/x.html", true},
		{"files.evil.org", "", true},
	} {
		why := l.refuses(c.host, c.origin)
		if (why != "") != c.refused {
			t.Errorf("refuses(%q, %q) = %q, want refused=%v", c.host, c.origin, why, c.refused)
		}
	}
	if why := parseAllowList("*").refuses("evil.example.org", "http://evil.example.org"); why != "" {
		t.Errorf("* must allow any host, got %q", why)
	}
}

func TestTheMCPEndpointAnswers403ToAForeignHostBeforeStartingAnything(t *testing.T) {
	b := &bridge{command: []string{"/nonexistent/server"}, maxSessions: 1, hosts: parseAllowList("files"),
		sessions: map[string]*session{}}
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`
	for host, want := range map[string]int{
		"evil.example.org": http.StatusForbidden,
		"localhost:8000":   http.StatusBadGateway, // allowed: it gets as far as starting the (missing) server
		"files:8000":       http.StatusBadGateway,
	} {
		req := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(body))
		req.Host = host
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		b.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("Host %s: status %d, want %d (%s)", host, rec.Code, want, rec.Body.String())
		}
	}
	if len(b.sessions) != 0 {
		t.Errorf("sessions left: %d", len(b.sessions))
	}
}

func TestTailKeepsTheLastPrintableLinesBounded(t *testing.T) {
	tl := &tail{}
	_, _ = tl.Write([]byte("one\n\ntwo\x1b[31m\tred\x1b[0m\nthree\nfour\nfive\nsix\n"))
	if got, want := tl.lines(), "two[31m red[0m | three | four | five | six"; got != want {
		t.Errorf("lines() = %q, want %q", got, want)
	}
	for i := 0; i < 100; i++ {
		_, _ = tl.Write([]byte("a long line of output that keeps coming, over and over again, without end\n"))
	}
	if n := len(tl.buf); n > tailBytes {
		t.Errorf("kept %d bytes, more than %d", n, tailBytes)
	}
	if n := len(tl.lines()); n > tailShown+3 {
		t.Errorf("showed %d bytes, more than %d", n, tailShown+3)
	}
	if (&tail{}).lines() != "" {
		t.Error("a child that wrote nothing shows nothing")
	}
}
