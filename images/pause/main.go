// Command pause is the process of a pod's sandbox, what Kubernetes' own
// pause image runs: it holds the pod's namespaces open by doing nothing
// until it is told to stop (SIGTERM or SIGINT, then it exits 0), and as the
// pod's PID 1 it reaps every orphan that exits, so none stays a zombie.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// version is stamped at build time to match the image's tag.
var version = "dev"

// reap collects every child that has exited, without blocking; it returns how many.
func reap() int {
	n := 0
	for {
		pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return n
		}
		n++
	}
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		fmt.Println("pause", version)
		return
	}
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "pause: warning: not PID 1, so orphans are not this process's to reap")
	}
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	reap() // a child that exited before the handler was in place
	for sig := range signals {
		if sig == syscall.SIGCHLD {
			reap()
			continue
		}
		fmt.Fprintf(os.Stderr, "pause: shutting down, got %s\n", sig)
		return
	}
}
