// Loads docker-compose.yml with compose-go, the library `docker compose` itself uses, so the
// file is validated against the Compose specification on machines without a Docker engine:
//
//	cd scripts/check-compose && go run . ../../docker-compose.yml ../..
//
// prints one "ok <service> <image>" line per service. With -json first it prints the project as
// compose resolved it (merge keys, defaults, relative paths made absolute), for
// test/cluster/compose.test.ts to hold the file to the cluster tier.
package main

import (
	"context"
	"fmt"
	"os"
	"sort"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	args := os.Args[1:]
	asJSON := len(args) > 0 && args[0] == "-json"
	if asJSON {
		args = args[1:]
	}
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: check-compose [-json] <docker-compose.yml> <project dir>")
		os.Exit(2)
	}
	opts, err := cli.NewProjectOptions([]string{args[0]}, cli.WithOsEnv, cli.WithWorkingDirectory(args[1]))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if asJSON {
		out, err := project.MarshalJSON()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(string(out))
		return
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
		fmt.Printf("ok %-18s %s\n", name, image)
	}
}
