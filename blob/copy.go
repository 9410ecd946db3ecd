package blob

import (
	"context"
	"errors"
	"fmt"
)

// Copy puts every object of src into dst (a backup of one store into
// another), each with its content type. An object deleted while Copy runs
// is skipped; one written meanwhile may or may not be copied. It returns
// the number of objects and bytes copied.
func Copy(ctx context.Context, dst, src Store) (objects, bytes int64, err error) {
	for info, err := range src.List(ctx, "") {
		if err != nil {
			return objects, bytes, fmt.Errorf("blob copy: list: %w", err)
		}
		r, got, err := src.Get(ctx, info.Key)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return objects, bytes, fmt.Errorf("blob copy: get %s: %w", info.Key, err)
		}
		err = dst.Put(ctx, info.Key, r, got.Size, got.ContentType)
		r.Close()
		if err != nil {
			return objects, bytes, fmt.Errorf("blob copy: put %s: %w", info.Key, err)
		}
		objects++
		bytes += got.Size
	}
	return objects, bytes, nil
}
