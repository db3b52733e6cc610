// Loads docker-compose.yml with compose-go, the library `docker compose` itself uses, so the
// file is validated against the Compose specification on machines without a Docker engine:
//
//	cd scripts/check-compose && go run . ../../docker-compose.yml ../..
package main

import (
	"context"
	"fmt"
	"os"
	"sort"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: check-compose <docker-compose.yml> <project dir>")
		os.Exit(2)
	}
	opts, err := cli.NewProjectOptions([]string{os.Args[1]}, cli.WithOsEnv, cli.WithWorkingDirectory(os.Args[2]))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	names := make([]string, 0, len(project.Services))
	for name := range project.Services {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		service := project.Services[name]
		image := service.Image
		if service.Build != nil {
			image = "(built from " + service.Build.Context + ")"
		}
		fmt.Printf("ok %-12s %s\n", name, image)
	}
}
