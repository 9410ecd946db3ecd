package pebble

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/sightlinehq/sightline/svc-recordings/store"
)

// pCold keys the sessions due to move to object storage (beside keys.go's
// layout, which it joins):
//
//	q | cold | site | session → nil
const pCold = 'q'

func coldKey(coldMs, site int64, session string) []byte {
	return newKey(pCold).u64(coldMs).u64(site).str(session)
}

// moveCold moves a session's due entry from oldMs to newMs (zero: none).
// An entry already dropped (the session moved) is deleted again harmlessly.
func moveCold(b *pebble.Batch, site int64, session string, oldMs, newMs int64) error {
	if oldMs == newMs {
		return nil
	}
	if oldMs > 0 {
		if err := b.Delete(coldKey(oldMs, site, session), nil); err != nil {
			return err
		}
	}
	if newMs > 0 {
		return b.Set(coldKey(newMs, site, session), nil, nil)
	}
	return nil
}

// ColdDue implements store.Cold: one scan of the due index up to now. An
// entry whose session is gone or expired is skipped (its removal deleted
// the entry, so none is left but in a race with it).
func (s *Store) ColdDue(ctx context.Context, now time.Time, limit int) ([]store.ColdRef, error) {
	nowMs := now.UnixMilli()
	var out []store.ColdRef
	errStop := errors.New("stop")
	err := s.scan([]byte{pCold}, nil, func(k, _ []byte) error {
		r := keyReader{b: k[1:]}
		ref := store.ColdRef{ColdMs: r.u64(), SiteID: r.u64(), SessionID: r.str()}
		if r.err != nil {
			return fmt.Errorf("corrupt key")
		}
		if ref.ColdMs > nowMs || len(out) >= limit {
			return errStop
		}
		row, err := s.loadRow(ref.SiteID, ref.SessionID)
		if err != nil {
			return err
		}
		if row != nil && !row.expired(nowMs) && row.State.ColdMs == ref.ColdMs {
			out = append(out, ref)
		}
		return ctx.Err()
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, fmt.Errorf("pebble: cold due: %w", err)
	}
	return out, nil
}

// DropChunkData implements store.Cold: the chunk rows and the due entry go
// in one synced batch; stats, times and the summary stay.
func (s *Store) DropChunkData(ctx context.Context, site int64, session string, coldMs int64, keys []store.ChunkKey) error {
	defer s.lock([]int{s.stripe(site, session)})()
	b := s.db.NewBatch()
	defer b.Close()
	for _, k := range keys {
		if err := b.Delete(chunkKey(pChunk, site, session, k.Seq, k.PageViewID), nil); err != nil {
			return fmt.Errorf("pebble: drop chunk data: %w", err)
		}
	}
	if err := b.Delete(coldKey(coldMs, site, session), nil); err != nil {
		return fmt.Errorf("pebble: drop chunk data: %w", err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("pebble: drop chunk data %d/%s: %w", site, session, err)
	}
	return nil
}
