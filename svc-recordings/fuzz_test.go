package recordings

import (
	"flag"
	"testing"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/proto"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	"github.com/sightlinehq/sightline/wireid"
)

// FuzzPrepare feeds hostile chunks to the validation and extraction path:
// it must answer a chunk or an error, never crash.
func FuzzPrepare(f *testing.F) {
	good, _ := proto.Marshal(mkChunk("s_fuzz0000000000", 1, pvA, "https://a/", []byte(`[{"type":3,"timestamp":1,"data":{"source":2,"type":2,"x":1,"y":2}}]`)))
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte{0x62, 0x05, '[', '{', '}', ']', ' '})
	var cfg Config
	fs := flag.NewFlagSet("f", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	cfg.MaxChunkBytes = 1 << 16
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		f.Fatal(err)
	}
	defer enc.Close()
	s := &Service{cfg: cfg, enc: enc, scratch: scratchPool()}
	f.Fuzz(func(t *testing.T, b []byte) {
		var c recordingsv1.Chunk
		if proto.Unmarshal(b, &c) != nil {
			return
		}
		p := s.prepare(0, &c, 1763890000000)
		if p.err != nil {
			return
		}
		ch := p.chunk
		if ch.SiteID <= 0 || !wireid.Valid(ch.SessionID) || ch.Seq < 0 || ch.Stats.EventCount == 0 || len(ch.Data) == 0 {
			t.Fatalf("accepted an invalid chunk: %+v", ch)
		}
	})
}
