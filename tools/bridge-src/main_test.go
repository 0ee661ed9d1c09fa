package main

import "testing"

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
