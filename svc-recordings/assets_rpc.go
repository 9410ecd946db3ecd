package recordings

import (
	"context"
	"errors"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	"github.com/sightlinehq/sightline/svc-recordings/assets"
)

// MaxLookupURLs bounds one LookupAssets call.
const MaxLookupURLs = 2000

// captureAssets hands the assets newly stored chunks refer to (read by
// prepare, for sites that capture them) to the capturer's queue (never
// waiting: a full queue drops, counted).
func (s *Service) captureAssets(ctx context.Context, req []*recordingsv1.Chunk, ready []prepared, results []*recordingsv1.ChunkResult) {
	if s.assets == nil {
		return
	}
	for i, c := range req {
		if results[i].GetOutcome() == recordingsv1.ChunkOutcome_CHUNK_OUTCOME_STORED && len(ready[i].refs) > 0 {
			s.assets.Enqueue(ctx, c.GetSiteId(), int(c.GetRetentionDays()), ready[i].refs)
		}
	}
}

// LookupAssets answers which of the URLs the site holds a captured copy
// of. The caller's access to the site is checked before the URLs are, so
// another organisation learns nothing from the answer's code.
func (s *Service) LookupAssets(ctx context.Context, req *recordingsv1.LookupAssetsRequest) (*recordingsv1.LookupAssetsResponse, error) {
	if req.GetSiteId() <= 0 {
		return nil, invalid("site_id: must be positive")
	}
	if err := s.authorize(ctx, req.GetSiteId(), false); err != nil {
		return nil, err
	}
	if n := len(req.GetUrls()); n > MaxLookupURLs {
		return nil, invalid("urls: %d, more than the limit of %d", n, MaxLookupURLs)
	}
	for i, u := range req.GetUrls() {
		if len(u) > assets.MaxURLBytes {
			return nil, invalid("urls[%d]: %d bytes, more than the limit of %d", i, len(u), assets.MaxURLBytes)
		}
		if !utf8.ValidString(u) {
			return nil, invalid("urls[%d]: not valid UTF-8", i)
		}
	}
	out := &recordingsv1.LookupAssetsResponse{}
	if s.assets == nil || len(req.GetUrls()) == 0 {
		return out, nil
	}
	recs, err := s.assets.Lookup(ctx, req.GetSiteId(), req.GetUrls())
	if err != nil {
		s.log.ErrorContext(ctx, "recordings: asset lookup failed", "err", err, "site_id", req.GetSiteId())
		return nil, status.Error(codes.Unavailable, "asset storage is unavailable")
	}
	for _, r := range recs {
		out.Assets = append(out.Assets, &recordingsv1.Asset{
			Url: r.URL, Hash: r.Hash, ContentType: r.ContentType, Size: r.Size, FetchTime: timestamppb.New(r.Fetched),
		})
	}
	return out, nil
}

// GetAsset returns one of the site's captured assets by content hash; a
// hash held only by another site is NotFound.
func (s *Service) GetAsset(ctx context.Context, req *recordingsv1.GetAssetRequest) (*recordingsv1.GetAssetResponse, error) {
	if req.GetSiteId() <= 0 {
		return nil, invalid("site_id: must be positive")
	}
	if err := s.authorize(ctx, req.GetSiteId(), false); err != nil {
		return nil, err
	}
	if !assets.ValidHash(req.GetHash()) {
		return nil, invalid("hash: must be 64 lower-case hex characters (SHA-256)")
	}
	if s.assets == nil {
		return nil, status.Error(codes.NotFound, "asset not found")
	}
	ct, body, err := s.assets.Get(ctx, req.GetSiteId(), req.GetHash())
	switch {
	case errors.Is(err, assets.ErrNotFound):
		return nil, status.Error(codes.NotFound, "asset not found")
	case err != nil:
		s.log.ErrorContext(ctx, "recordings: asset read failed", "err", err, "site_id", req.GetSiteId())
		return nil, status.Error(codes.Unavailable, "asset storage is unavailable")
	}
	return &recordingsv1.GetAssetResponse{ContentType: ct, Body: body}, nil
}
