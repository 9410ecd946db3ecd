package bleve

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/blevesearch/bleve/v2"
	bolt "go.etcd.io/bbolt"
)

// Backup writes a copy of the store to dir (created; it must not exist)
// in the layout Open reads: the bbolt file, the Bleve index and the
// schema file. Writers are held off while it copies, so the documents and
// the index agree; readers go on. Bleve copies its own current snapshot
// (scorch's CopyTo), bbolt copies from one read transaction.
func (s *store) Backup(ctx context.Context, dir string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	copyable, ok := s.idx.(bleve.IndexCopyable)
	if !ok {
		return fmt.Errorf("%s: backup: the index cannot be copied online", s.name)
	}
	if err := os.Mkdir(dir, 0o750); err != nil {
		return fmt.Errorf("%s: backup: %w", s.name, err)
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := s.db.View(func(tx *bolt.Tx) error {
		return tx.CopyFile(filepath.Join(dir, s.dbFile), 0o600)
	}); err != nil {
		return fmt.Errorf("%s: backup %s: %w", s.name, s.docs, err)
	}
	if err := copyable.CopyTo(bleve.FileSystemDirectory(filepath.Join(dir, "index"))); err != nil {
		return fmt.Errorf("%s: backup index: %w", s.name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, s.schemaFile), []byte(s.schema+"\n"), 0o600); err != nil {
		return fmt.Errorf("%s: backup schema: %w", s.name, err)
	}
	return nil
}
