// Command demo-app is the one program behind the labs that need a real
// container: an HTTP server whose behaviour the lab sets through environment
// variables or flags (see README.md). It can start slowly (readiness), hang
// (liveness), eat memory (an OOM kill), exit with a chosen code (a Job, a
// crash loop), log at an interval (kubectl logs), report a version (a
// rollout), or serve nothing at all (a worker). It stops cleanly on SIGTERM
// and, as PID 1, reaps the orphans a container's PID 1 inherits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// version is stamped at build time (-ldflags "-X main.version=1") to match the image's tag.
var version = "dev"

// maxAllocMB bounds one /alloc request, so a typo cannot ask for an exabyte.
const maxAllocMB = 1 << 16

// app holds the state the HTTP handlers read.
type app struct {
	cfg      config
	started  time.Time
	now      func() time.Time
	hostname string
	stopping atomic.Bool
	// dial reaches what the app requires (-requires); a test replaces it.
	dial func(ctx context.Context, network, address string) (net.Conn, error)

	mu         sync.Mutex
	held       [][]byte // memory allocated on purpose, kept reachable so it is never freed
	unreadyWhy string   // the last reason /readyz gave, logged only when it changes
}

func newApp(cfg config, now func() time.Time) *app {
	hostname, _ := os.Hostname()
	return &app{cfg: cfg, started: now(), now: now, hostname: hostname, dial: (&net.Dialer{}).DialContext}
}

// requiredTimeout bounds one dial of a required address, well inside a readiness probe's 1 s default.
const requiredTimeout = 800 * time.Millisecond

// unreachable is the first required address the app cannot open a TCP connection to, with why.
func (a *app) unreachable(ctx context.Context) string {
	for _, address := range a.cfg.requires {
		dialCtx, cancel := context.WithTimeout(ctx, requiredTimeout)
		conn, err := a.dial(dialCtx, "tcp", address)
		cancel()
		if err != nil {
			return fmt.Sprintf("cannot reach %s: %v", address, err)
		}
		conn.Close()
	}
	return ""
}

// noteReadiness logs the reason the app is not ready whenever it changes, and once it is ready again.
func (a *app) noteReadiness(logger *log.Logger, why string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if why == a.unreadyWhy {
		return
	}
	if why == "" {
		logger.Printf("ready")
	} else {
		logger.Printf("not ready: %s", why)
	}
	a.unreadyWhy = why
}

// allocate takes mb MiB and writes to every page of it: memory that is only
// reserved is not counted against a container's limit, memory written is.
func (a *app) allocate(mb int) (heldMB int) {
	block := make([]byte, mb<<20)
	for i := 0; i < len(block); i += os.Getpagesize() {
		block[i] = 1
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.held = append(a.held, block)
	for _, b := range a.held {
		heldMB += len(b) >> 20
	}
	return heldMB
}

func (a *app) handler(logger *log.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "demo-app %s on %s\n", a.cfg.version, a.hostname)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		switch left := a.cfg.readyAfter - a.now().Sub(a.started); {
		case a.stopping.Load():
			http.Error(w, "not ready: stopping", http.StatusServiceUnavailable)
		case left > 0:
			http.Error(w, fmt.Sprintf("not ready: starting (ready in %s)", left.Round(time.Millisecond)), http.StatusServiceUnavailable)
		default:
			why := a.unreachable(r.Context())
			a.noteReadiness(logger, why)
			if why != "" {
				http.Error(w, "not ready: "+why, http.StatusServiceUnavailable)
				return
			}
			fmt.Fprintln(w, "ready")
		}
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if a.cfg.hangAfter > 0 && a.now().Sub(a.started) >= a.cfg.hangAfter {
			http.Error(w, fmt.Sprintf("hung (since %s after start)", a.cfg.hangAfter), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	// GET too, so that busybox's wget (which only GETs) can ask for memory.
	mux.HandleFunc("/alloc", func(w http.ResponseWriter, r *http.Request) {
		mb, err := strconv.Atoi(r.URL.Query().Get("mb"))
		if err != nil || mb <= 0 || mb > maxAllocMB {
			http.Error(w, fmt.Sprintf("mb must be a number of MiB between 1 and %d", maxAllocMB), http.StatusBadRequest)
			return
		}
		held := a.allocate(mb)
		logger.Printf("allocated %d MiB on request (holding %d MiB)", mb, held)
		fmt.Fprintf(w, "allocated %d MiB, holding %d MiB\n", mb, held)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-App-Version", a.cfg.version)
		mux.ServeHTTP(w, r)
	})
}

// run is the whole program but for the process: it returns the exit code.
func run(cfg config, signals <-chan os.Signal, out io.Writer) int {
	logger := log.New(out, "", log.LstdFlags|log.LUTC)
	a := newApp(cfg, time.Now)
	logger.Printf("demo-app %s starting (pid %d): %s", cfg.version, os.Getpid(), cfg)
	if cfg.allocMB > 0 {
		logger.Printf("allocated %d MiB at start", a.allocate(cfg.allocMB))
	}

	var exit, ticks <-chan time.Time
	if cfg.exits {
		exit = time.After(cfg.exitAfter)
	}
	if cfg.logEvery > 0 {
		ticker := time.NewTicker(cfg.logEvery)
		defer ticker.Stop()
		ticks = ticker.C
	}

	var server *http.Server
	served := make(chan error, 1)
	if cfg.mode == "server" {
		listener, err := net.Listen("tcp", fmt.Sprintf(":%d", cfg.port))
		if err != nil {
			logger.Printf("cannot listen: %v", err)
			return 1
		}
		server = &http.Server{Handler: a.handler(logger), ReadHeaderTimeout: 10 * time.Second}
		go func() { served <- server.Serve(listener) }()
		logger.Printf("listening on %s", listener.Addr())
	}

	for n := 1; ; {
		select {
		case <-ticks:
			logger.Printf("%s %d", cfg.logMessage, n)
			n++
		case <-exit:
			logger.Printf("exiting with code %d, as configured", cfg.exitCode)
			return cfg.exitCode
		case err := <-served:
			logger.Printf("server stopped: %v", err)
			return 1
		case sig := <-signals:
			a.stopping.Store(true)
			if server == nil {
				logger.Printf("received %s: stopping", sig)
				return 0
			}
			logger.Printf("received %s: stopping, waiting up to %s for open requests", sig, cfg.shutdownTimeout)
			ctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
			defer cancel()
			if err := server.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
				logger.Printf("requests still open after %s: closing them", cfg.shutdownTimeout)
				server.Close()
			}
			logger.Printf("stopped")
			return 0
		}
	}
}

// reapOrphans waits for every child that exits. A container's PID 1 inherits
// the orphans of whatever `kubectl exec` starts; unreaped, they stay zombies.
func reapOrphans() {
	exited := make(chan os.Signal, 1)
	signal.Notify(exited, syscall.SIGCHLD)
	for range exited {
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}

func main() {
	cfg, err := parseConfig(os.Args[1:], os.LookupEnv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo-app: %v\n", err)
		os.Exit(2)
	}
	// Signals are caught, not left to their default: PID 1 ignores a signal it has no handler for.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	if os.Getpid() == 1 {
		go reapOrphans()
	}
	os.Exit(run(cfg, signals, os.Stdout))
}
