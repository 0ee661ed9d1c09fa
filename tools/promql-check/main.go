// promql-check parses PromQL expressions with Prometheus' own parser (promql/parser), the parser
// Prometheus and promtool use, and reports every one that does not parse.
//
// Input on stdin: a JSON array of {"name": "...", "expr": "..."}. Output: one line per bad expression,
// "name: error"; exit status 1 when any is bad, 0 otherwise.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/prometheus/prometheus/promql/parser"
)

type rule struct {
	Name string `json:"name"`
	Expr string `json:"expr"`
}

func main() {
	var rules []rule
	if err := json.NewDecoder(os.Stdin).Decode(&rules); err != nil {
		fmt.Fprintf(os.Stderr, "promql-check: stdin: %v\n", err)
		os.Exit(2)
	}
	// the default options: stable functions only, as a stock Prometheus server parses them
	p := parser.NewParser(parser.Options{})
	bad := 0
	for _, r := range rules {
		if _, err := p.ParseExpr(r.Expr); err != nil {
			fmt.Printf("%s: %v\n", r.Name, err)
			bad++
		}
	}
	if bad > 0 {
		os.Exit(1)
	}
	fmt.Printf("%d expressions parse\n", len(rules))
}
