package main

import (
	"bytes"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func env(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := parseConfig(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.port != 8080 || c.mode != "server" || c.exits || c.shutdownTimeout != 5*time.Second || c.version != version {
		t.Fatalf("unexpected defaults: %+v", c)
	}
}

func TestConfigFromEnvironmentAndFlags(t *testing.T) {
	c, err := parseConfig(
		[]string{"-port", "9090", "-ready-after=500ms"},
		env(map[string]string{"PORT": "7070", "READY_AFTER": "10", "HANG_AFTER": "2.5", "EXIT_CODE": "42", "VERSION": "2"}),
		io.Discard,
	)
	if err != nil {
		t.Fatal(err)
	}
	if c.port != 9090 {
		t.Errorf("a flag wins over its variable: port %d", c.port)
	}
	if c.readyAfter != 500*time.Millisecond || c.hangAfter != 2500*time.Millisecond {
		t.Errorf("durations: ready-after %s, hang-after %s", c.readyAfter, c.hangAfter)
	}
	if !c.exits || c.exitCode != 42 || c.exitAfter != 0 {
		t.Errorf("EXIT_CODE alone exits at once with it: %+v", c)
	}
	if c.version != "2" {
		t.Errorf("version %q", c.version)
	}
}

func TestConfigErrorsNameTheVariable(t *testing.T) {
	_, err := parseConfig(nil, env(map[string]string{"READY_AFTER": "soon", "MODE": "batch"}), io.Discard)
	if err == nil || !strings.Contains(err.Error(), `READY_AFTER="soon"`) {
		t.Fatalf("got %v", err)
	}
	_, err = parseConfig([]string{"-mode", "batch"}, env(nil), io.Discard)
	if err == nil || !strings.Contains(err.Error(), `mode "batch"`) {
		t.Fatalf("got %v", err)
	}
	_, err = parseConfig([]string{"-exit-code", "300"}, env(nil), io.Discard)
	if err == nil {
		t.Fatal("an exit code above 255 is refused")
	}
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func get(t *testing.T, h http.Handler, path string) (int, string, http.Header) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String(), rec.Header()
}

func TestProbesFollowTheClock(t *testing.T) {
	clk := &clock{t: time.Unix(1000, 0)}
	a := newApp(config{version: "3", readyAfter: 2 * time.Second, hangAfter: 5 * time.Second}, clk.now)
	h := a.handler(nilLogger())

	if code, body, header := get(t, h, "/"); code != 200 || !strings.HasPrefix(body, "demo-app 3 on ") || header.Get("X-App-Version") != "3" {
		t.Fatalf("/: %d %q %v", code, body, header)
	}
	if code, body, _ := get(t, h, "/readyz"); code != 503 || !strings.Contains(body, "ready in 2s") {
		t.Fatalf("/readyz at start: %d %q", code, body)
	}
	clk.t = clk.t.Add(2 * time.Second)
	if code, _, _ := get(t, h, "/readyz"); code != 200 {
		t.Fatalf("/readyz after the delay: %d", code)
	}
	if code, _, _ := get(t, h, "/healthz"); code != 200 {
		t.Fatalf("/healthz before hanging: %d", code)
	}
	clk.t = clk.t.Add(3 * time.Second)
	if code, body, _ := get(t, h, "/healthz"); code != 500 || !strings.Contains(body, "hung") {
		t.Fatalf("/healthz after hang-after: %d %q", code, body)
	}
	a.stopping.Store(true)
	if code, body, _ := get(t, h, "/readyz"); code != 503 || !strings.Contains(body, "stopping") {
		t.Fatalf("/readyz while stopping: %d %q", code, body)
	}
	if code, _, _ := get(t, h, "/nowhere"); code != 404 {
		t.Fatalf("unknown path: %d", code)
	}
}

func TestAllocHoldsMemory(t *testing.T) {
	h := newApp(config{}, time.Now).handler(nilLogger())
	if code, body, _ := get(t, h, "/alloc?mb=2"); code != 200 || body != "allocated 2 MiB, holding 2 MiB\n" {
		t.Fatalf("%d %q", code, body)
	}
	if code, _, _ := get(t, h, "/alloc?mb=-1"); code != 400 {
		t.Fatalf("a negative size: %d", code)
	}
}

// syncBuffer is a log sink that run writes to while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestWorkerLogsThenExitsWithItsCode(t *testing.T) {
	var out syncBuffer
	cfg := config{mode: "worker", exits: true, exitCode: 42, exitAfter: 120 * time.Millisecond, logEvery: 20 * time.Millisecond, logMessage: "working"}
	if code := run(cfg, nil, &out); code != 42 {
		t.Fatalf("exit code %d", code)
	}
	if !strings.Contains(out.String(), "working 2") || !strings.Contains(out.String(), "exiting with code 42") {
		t.Fatalf("log:\n%s", out.String())
	}
}

func TestServerStopsOnSIGTERM(t *testing.T) {
	var out syncBuffer
	signals := make(chan os.Signal, 1)
	done := make(chan int)
	go func() { done <- run(config{mode: "server", port: 0, shutdownTimeout: time.Second}, signals, &out) }()
	for !strings.Contains(out.String(), "listening on") {
		time.Sleep(5 * time.Millisecond)
	}
	signals <- syscall.SIGTERM
	select {
	case code := <-done:
		if code != 0 || !strings.Contains(out.String(), "received terminated: stopping") {
			t.Fatalf("code %d, log:\n%s", code, out.String())
		}
	case <-time.After(3 * time.Second):
		t.Fatal("still running 3 s after SIGTERM")
	}
}

func nilLogger() *log.Logger { return log.New(io.Discard, "", 0) }

func TestRequiresParsesAddresses(t *testing.T) {
	c, err := parseConfig(nil, env(map[string]string{"REQUIRES": "payments:8080, db.shop.svc:5432,"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.requires, "|") != "payments:8080|db.shop.svc:5432" {
		t.Fatalf("requires %q", c.requires)
	}
	for _, bad := range []string{"payments", ":8080", "payments:http", "payments:0"} {
		_, err := parseConfig(nil, env(map[string]string{"REQUIRES": bad}), io.Discard)
		if err == nil || !strings.Contains(err.Error(), "REQUIRES=") {
			t.Errorf("REQUIRES=%q: got %v", bad, err)
		}
	}
}

func TestReadyOnlyWhenWhatItRequiresAnswers(t *testing.T) {
	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	down, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := down.Addr().String()
	down.Close()

	var logged bytes.Buffer
	a := newApp(config{requires: []string{up.Addr().String(), gone}}, time.Now)
	h := a.handler(log.New(&logged, "", 0))
	for range 2 {
		if code, body, _ := get(t, h, "/readyz"); code != 503 || !strings.Contains(body, "cannot reach "+gone) {
			t.Fatalf("/readyz with %s closed: %d %q", gone, code, body)
		}
	}
	if got := strings.Count(logged.String(), "not ready: cannot reach "+gone); got != 1 {
		t.Fatalf("the reason is logged once while it stays the same, got %d in %q", got, logged.String())
	}
	a.cfg.requires = []string{up.Addr().String()}
	if code, body, _ := get(t, h, "/readyz"); code != 200 {
		t.Fatalf("/readyz with everything reachable: %d %q", code, body)
	}
	if !strings.HasSuffix(logged.String(), "ready\n") {
		t.Fatalf("turning ready is logged: %q", logged.String())
	}
}
