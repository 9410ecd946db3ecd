package embedded

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sightlinehq/sightline/svc-search/index"
	"github.com/sightlinehq/sightline/svc-search/traffic"
)

// TestKilledLosesNothingAcknowledged: a writer process is killed (SIGKILL)
// in the middle of writing; every session whose AddHits had returned is
// there when the store is opened again.
func TestKilledLosesNothingAcknowledged(t *testing.T) {
	if dir := os.Getenv("EMBEDDED_CRASH_DIR"); dir != "" {
		s, err := Open(dir, Options{Logger: quietLog{}})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		for i := 0; ; i++ {
			id := fmt.Sprintf("s%d", i)
			if err := s.AddHits(context.Background(), []traffic.Hit{pv(id, "v", id+"p", "https://x.test/", time.Minute), leave(id, "v", id+"p", 2*time.Minute, time.Minute)}); err != nil {
				fmt.Println("error", err)
				os.Exit(2)
			}
			fmt.Println("acked", id)
		}
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledLosesNothingAcknowledged$")
	cmd.Env = append(os.Environ(), "EMBEDDED_CRASH_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked []string
	sc := bufio.NewScanner(out)
	for sc.Scan() && len(acked) < 200 {
		line := sc.Text()
		if id, ok := strings.CutPrefix(line, "acked "); ok {
			acked = append(acked, id)
		} else if strings.HasPrefix(line, "error") {
			t.Fatal(line)
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if len(acked) < 200 {
		t.Fatalf("the writer acknowledged only %d sessions", len(acked))
	}
	s := openStore(t, dir)
	defer s.Close()
	n, err := s.Delete(context.Background(), siteA, index.Selector{SessionIDs: acked})
	if err != nil || n != int64(len(acked)) {
		t.Fatalf("after the kill, %d of %d acknowledged sessions are there (%v)", n, len(acked), err)
	}
}
