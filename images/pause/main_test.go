package main

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestReapCollectsAnExitedChild(t *testing.T) {
	child, err := os.StartProcess("/bin/sh", []string{"sh", "-c", "exit 3"}, &os.ProcAttr{})
	if err != nil {
		t.Skipf("no /bin/sh to start a child with: %v", err)
	}
	stat := "/proc/" + strconv.Itoa(child.Pid) + "/stat"
	// Wait until the child is a zombie: exited, not yet collected.
	for deadline := time.Now().Add(5 * time.Second); ; {
		data, err := os.ReadFile(stat)
		if err != nil {
			t.Fatalf("the child vanished before it was reaped: %v", err)
		}
		if fields := strings.Fields(string(data)); len(fields) > 2 && fields[2] == "Z" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the child did not exit")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := reap(); n != 1 {
		t.Fatalf("reaped %d children, want 1", n)
	}
	if _, err := os.Stat(stat); !os.IsNotExist(err) {
		t.Fatalf("the zombie is still there: %v", err)
	}
}
