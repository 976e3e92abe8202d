package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// config is what a lab sets. Every flag has an environment variable of the
// same name in upper case with underscores (-ready-after, READY_AFTER); a
// flag given on the command line wins over its variable.
type config struct {
	port            int
	mode            string
	version         string
	readyAfter      time.Duration
	hangAfter       time.Duration
	allocMB         int
	exits           bool // EXIT_CODE or EXIT_AFTER was set
	exitCode        int
	exitAfter       time.Duration
	logEvery        time.Duration
	logMessage      string
	requires        []string // host:port addresses /readyz dials before it says ready
	shutdownTimeout time.Duration
}

// seconds is a duration flag that also takes a bare number of seconds
// ("10", "2.5"), the way a lab's YAML most often writes one.
type seconds struct{ d *time.Duration }

func (s seconds) String() string {
	if s.d == nil {
		return "0s"
	}
	return s.d.String()
}

func (s seconds) Set(value string) error {
	if n, err := strconv.ParseFloat(value, 64); err == nil {
		if n < 0 {
			return errors.New("must not be negative")
		}
		*s.d = time.Duration(n * float64(time.Second))
		return nil
	}
	d, err := time.ParseDuration(value)
	if err != nil {
		return errors.New(`not a duration: write seconds ("10") or a Go duration ("500ms", "2m")`)
	}
	if d < 0 {
		return errors.New("must not be negative")
	}
	*s.d = d
	return nil
}

// addresses is a flag of comma-separated host:port addresses ("db:5432,cache:6379").
type addresses struct{ list *[]string }

func (a addresses) String() string {
	if a.list == nil {
		return ""
	}
	return strings.Join(*a.list, ",")
}

func (a addresses) Set(value string) error {
	*a.list = nil
	for _, address := range strings.Split(value, ",") {
		address = strings.TrimSpace(address)
		if address == "" {
			continue
		}
		host, port, err := net.SplitHostPort(address)
		if err != nil || host == "" {
			return fmt.Errorf("%q is not host:port", address)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%q: the port must be a number between 1 and 65535", address)
		}
		*a.list = append(*a.list, address)
	}
	return nil
}

// envName is the environment variable of a flag: -ready-after is READY_AFTER.
func envName(flagName string) string {
	return strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseConfig reads the environment first, then the flags over it.
func parseConfig(args []string, lookupEnv func(string) (string, bool), usage io.Writer) (config, error) {
	c := config{shutdownTimeout: 5 * time.Second}
	fs := flag.NewFlagSet("demo-app", flag.ContinueOnError)
	fs.SetOutput(usage)
	fs.IntVar(&c.port, "port", 8080, "TCP port to serve HTTP on")
	fs.StringVar(&c.mode, "mode", "server", `"server" (HTTP) or "worker" (serves nothing)`)
	fs.StringVar(&c.version, "version", version, "version reported on / and in the X-App-Version header")
	fs.Var(seconds{&c.readyAfter}, "ready-after", "/readyz answers 503 until this long after start")
	fs.Var(seconds{&c.hangAfter}, "hang-after", "/healthz answers 500 from this long after start (0: never)")
	fs.IntVar(&c.allocMB, "alloc-mb", 0, "MiB of memory to allocate and touch at start")
	fs.IntVar(&c.exitCode, "exit-code", 0, "exit with this code (after -exit-after)")
	fs.Var(seconds{&c.exitAfter}, "exit-after", "exit this long after start (with -exit-code, 0 by default)")
	fs.Var(seconds{&c.logEvery}, "log-every", "write a log line to stdout at this interval (0: never)")
	fs.StringVar(&c.logMessage, "log-message", "tick", "the text of those log lines")
	fs.Var(addresses{&c.requires}, "requires", "host:port addresses (comma-separated) that /readyz must reach before it says ready")
	fs.Var(seconds{&c.shutdownTimeout}, "shutdown-timeout", "on SIGTERM, how long to wait for open requests")

	var problems []string
	fs.VisitAll(func(f *flag.Flag) {
		name := envName(f.Name)
		if value, ok := lookupEnv(name); ok {
			if err := fs.Set(f.Name, value); err != nil {
				problems = append(problems, fmt.Sprintf("%s=%q: %v", name, value, err))
			}
		}
	})
	if len(problems) > 0 {
		return c, errors.New(strings.Join(problems, "; "))
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q (settings are flags or environment variables)", fs.Arg(0))
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "exit-code" || f.Name == "exit-after" {
			c.exits = true
		}
	})
	switch {
	case c.mode != "server" && c.mode != "worker":
		return c, fmt.Errorf(`mode %q: must be "server" or "worker"`, c.mode)
	case c.port < 0 || c.port > 65535:
		return c, fmt.Errorf("port %d: must be between 0 and 65535", c.port)
	case c.allocMB < 0:
		return c, fmt.Errorf("alloc-mb %d: must not be negative", c.allocMB)
	case c.exitCode < 0 || c.exitCode > 255:
		return c, fmt.Errorf("exit-code %d: must be between 0 and 255", c.exitCode)
	}
	return c, nil
}

// String is the one line the app logs at start.
func (c config) String() string {
	parts := []string{"mode=" + c.mode}
	if c.mode == "server" {
		parts = append(parts, fmt.Sprintf("port=%d", c.port))
	}
	if c.readyAfter > 0 {
		parts = append(parts, "ready-after="+c.readyAfter.String())
	}
	if c.hangAfter > 0 {
		parts = append(parts, "hang-after="+c.hangAfter.String())
	}
	if c.allocMB > 0 {
		parts = append(parts, fmt.Sprintf("alloc-mb=%d", c.allocMB))
	}
	if c.exits {
		parts = append(parts, fmt.Sprintf("exit-code=%d exit-after=%s", c.exitCode, c.exitAfter))
	}
	if c.logEvery > 0 {
		parts = append(parts, "log-every="+c.logEvery.String())
	}
	if len(c.requires) > 0 {
		parts = append(parts, "requires="+strings.Join(c.requires, ","))
	}
	return strings.Join(parts, " ")
}
