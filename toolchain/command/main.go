// Stand-in for pulumi-resource-command, compiled by toolchain/build.sh (step "command").
//
// Why it exists: the upstream provider module (github.com/pulumi/pulumi-command/provider)
// is not served by the Go module proxy reachable here at any version, and no other
// registry ships the binary. This serves the same package name and resource token
// (command:local:Command) with pulumi-go-provider, the framework upstream uses, so the
// @pulumi/command SDK drives it unchanged. Only local.Command is provided.
package main

import (
	"context"
	"fmt"
	"os"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"

	"local/toolchain/command/local"
)

var version string // set with -ldflags -X

func main() {
	prov := infer.Provider(infer.Options{
		Resources: []infer.InferredResource{infer.Resource(local.Command{})},
	})
	if err := p.RunProvider(context.Background(), "command", version, prov); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
