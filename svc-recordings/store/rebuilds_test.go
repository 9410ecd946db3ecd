package store

import (
	"errors"
	"testing"
)

func TestRebuildsOnePerSite(t *testing.T) {
	var r Rebuilds
	end, err := r.Start(1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Start(1); !errors.Is(err, ErrRebuildRunning) {
		t.Fatalf("second start of site 1: %v", err)
	}
	end2, err := r.Start(2)
	if err != nil {
		t.Fatalf("another site: %v", err)
	}
	end()
	end3, err := r.Start(1)
	if err != nil {
		t.Fatalf("after the first ended: %v", err)
	}
	end2()
	end3()
}
