// Command srellama is the SRE-Llama command-line tool; see 'srellama help'.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/srellama/srellama/node/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], cli.OSEnv())
	stop()
	os.Exit(code)
}
