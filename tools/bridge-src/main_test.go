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
