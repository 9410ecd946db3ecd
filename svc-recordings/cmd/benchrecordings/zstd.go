package main

import (
	"fmt"
	"runtime"
	"syscall"
	"time"

	"github.com/klauspost/compress/zstd"
)

// encoderOption is one zstd encoder configuration compared by -zstd.
type encoderOption struct {
	name string
	opts []zstd.EOption
}

func encoderOptions() []encoderOption {
	lvl := func(l zstd.EncoderLevel, more ...zstd.EOption) []zstd.EOption {
		return append([]zstd.EOption{zstd.WithEncoderLevel(l), zstd.WithEncoderConcurrency(2)}, more...)
	}
	return []encoderOption{
		{"better (before)", lvl(zstd.SpeedBetterCompression)},
		{"default", lvl(zstd.SpeedDefault)},
		{"fastest", lvl(zstd.SpeedFastest)},
		{"fastest, no CRC", lvl(zstd.SpeedFastest, zstd.WithEncoderCRC(false))},
		{"fastest, lower mem", lvl(zstd.SpeedFastest, zstd.WithLowerEncoderMem(true))},
		{"fastest, window 256K", lvl(zstd.SpeedFastest, zstd.WithWindowSize(256<<10))},
		{"default, no CRC", lvl(zstd.SpeedDefault, zstd.WithEncoderCRC(false))},
		{"fastest, no entropy", lvl(zstd.SpeedFastest, zstd.WithNoEntropyCompression(true))},
	}
}

// threadCPU is the calling OS thread's CPU time (user + system): the
// machine is shared, so wall time says little.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// compareZstd compresses the same chunks with each configuration, rounds
// interleaved (rotating the order), on one locked thread, and prints CPU
// per chunk (median round), the ratio to the first configuration's, and
// stored bytes per recorded minute (when recordedMin is known).
func compareZstd(what string, chunks [][]byte, recordedMin float64, rounds int) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	opts := encoderOptions()
	encs := make([]*zstd.Encoder, len(opts))
	for i, o := range opts {
		e, err := zstd.NewWriter(nil, o.opts...)
		if err != nil {
			return fmt.Errorf("zstd %s: %w", o.name, err)
		}
		defer e.Close()
		encs[i] = e
	}
	dec, err := zstd.NewReader(nil)
	if err != nil {
		return err
	}
	defer dec.Close()
	cpu := make([][]time.Duration, len(opts))
	bytes := make([]int64, len(opts))
	var raw int64
	for _, c := range chunks {
		raw += int64(len(c))
	}
	for r := range rounds {
		for k := range opts {
			i := (k + r) % len(opts)
			var n int64
			t := threadCPU()
			for _, c := range chunks {
				n += int64(len(encs[i].EncodeAll(c, nil)))
			}
			cpu[i] = append(cpu[i], threadCPU()-t)
			bytes[i] = n
		}
	}
	// Every configuration's frames must read back with the service's
	// decoder (old chunks stay readable whatever the level).
	for i, e := range encs {
		for _, c := range chunks[:min(len(chunks), 50)] {
			if out, err := dec.DecodeAll(e.EncodeAll(c, nil), nil); err != nil || string(out) != string(c) {
				return fmt.Errorf("zstd %s: round trip failed: %v", opts[i].name, err)
			}
		}
	}
	med := func(d []time.Duration) time.Duration {
		s := append([]time.Duration(nil), d...)
		for a := range s {
			for b := a + 1; b < len(s); b++ {
				if s[b] < s[a] {
					s[a], s[b] = s[b], s[a]
				}
			}
		}
		return s[len(s)/2]
	}
	ref := med(cpu[0])
	fmt.Printf("zstd on %d %s chunks (mean %.1f KB raw), %d interleaved rounds, thread CPU, median round:\n",
		len(chunks), what, float64(raw)/float64(len(chunks))/1e3, rounds)
	for i, o := range opts {
		m := med(cpu[i])
		perMin := ""
		if recordedMin > 0 {
			perMin = fmt.Sprintf("%6.1f KB/recorded min", float64(bytes[i])/1e3/recordedMin)
		}
		fmt.Printf("  %-22s %7.1f µs/chunk  ×%.2f CPU  %6.1f MB/s  ratio %.2fx  %s\n",
			o.name, float64(m.Nanoseconds())/1e3/float64(len(chunks)), m.Seconds()/ref.Seconds(),
			float64(raw)/1e6/m.Seconds(), float64(raw)/float64(bytes[i]), perMin)
	}
	return nil
}
