// Command eddy is the single Eddy binary: a broker (eddy serve) and the
// client tools that talk to it.
package main

import (
	"fmt"
	"os"

	"github.com/eddy-streaming/eddy/internal/cli"
)

func main() {
	if err := cli.Execute(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "eddy:", err)
		os.Exit(1)
	}
}
