package main

import (
	"io"
	"os"
	"os/signal"
	"syscall"
)

// idle is the first process of a container the suite keeps for several
// cases (peers/driver runs each case's peer in it with docker exec): it
// waits to be stopped and reaps whatever a peer leaves orphaned.
func init() {
	register(command{name: "idle", summary: "(used by the suite) a peer container's first process between cases", run: runIdle})
}

func runIdle(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("idle", "idle", stderr)
	if err := fs.Parse(args); err != nil {
		if err == flagHelp {
			return 0
		}
		return 2
	}
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGCHLD, syscall.SIGTERM, syscall.SIGINT)
	for s := range sig {
		if s != syscall.SIGCHLD {
			return 0
		}
		for {
			var ws syscall.WaitStatus
			if pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 || err != nil {
				break
			}
		}
	}
	return 0
}
