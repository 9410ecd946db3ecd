package search

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	"github.com/sightlinehq/sightline/siteaccess/siteaccesstest"
	"github.com/sightlinehq/sightline/svc-search/index/indextest"
)

// TestTelemetry: index calls are spans, requests are counted with their
// codes (by otelgrpc: search keeps no copy of its own), and limit hits and
// upsert outcomes are counted.
func TestTelemetry(t *testing.T) {
	deps := Deps{Authorizer: siteaccesstest.AllowAll{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	reader, spans := recordTelemetry(t, &deps)
	c, _ := serve(t, testConfig(t), deps)
	ctx := t.Context()
	docs := indextest.Generate(1, siteA, "t", 20)
	if _, err := c.UpsertSessions(ctx, &searchv1.UpsertSessionsRequest{Sessions: docs}); err != nil {
		t.Fatal(err)
	}
	stale := docs[1]
	stale.Version--
	if _, err := c.UpsertSessions(ctx, &searchv1.UpsertSessionsRequest{Sessions: docs[1:2]}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SearchSessions(ctx, &searchv1.SearchSessionsRequest{SiteId: siteA, PageSize: 10_000}); err != nil {
		t.Fatal(err)
	}
	_, _ = c.SearchSessions(ctx, &searchv1.SearchSessionsRequest{SiteId: siteA, PageToken: "garbage"})
	if _, err := c.UpsertAnswers(ctx, &searchv1.UpsertAnswersRequest{Answers: indextest.GenerateAnswers(1, siteA, "t", 12)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SearchAnswers(ctx, &searchv1.SearchAnswersRequest{SiteId: siteA, PageSize: 5000}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetAnswerStats(ctx, &searchv1.GetAnswerStatsRequest{SiteId: siteA, TimeZone: "Europe/Paris"}); err != nil {
		t.Fatal(err)
	}
	_, _ = c.GetAnswerStats(ctx, &searchv1.GetAnswerStatsRequest{SiteId: siteA, TimeZone: "Nowhere/Else"})

	sums := counterSums(t, reader)
	for name, want := range map[string]map[string]int64{
		"search.limit.hits":        {"limit=page_size;": 1, "limit=answers_page_size;": 1},
		"search.answers.upserted":  {"": 12},
		"search.sessions.upserted": {"": 20},
		"search.sessions.stale":    {"": 1},
	} {
		for k, v := range want {
			if sums[name][k] != v {
				t.Errorf("%s{%s} = %d, want %d (all: %v)", name, k, sums[name][k], v, sums[name])
			}
		}
	}
	// The embedded traffic store exports Pebble's figures as its own.
	if _, ok := sums["pebble.flushes"]["store=traffic;"]; !ok {
		t.Errorf("pebble.flushes{store=traffic} not exported (have %v)", sums["pebble.flushes"])
	}
	if _, ok := sums["search.requests"]; ok {
		t.Error("search.requests is back: request counts are otelgrpc's rpc.server.call.duration")
	}
	waitRPCCalls(t, reader, map[string]int64{
		"code=OK;rpc=UpsertSessions;": 2, "code=OK;rpc=SearchSessions;": 1, "code=INVALID_ARGUMENT;rpc=SearchSessions;": 1,
		"code=OK;rpc=UpsertAnswers;": 1, "code=OK;rpc=SearchAnswers;": 1, "code=OK;rpc=GetAnswerStats;": 1, "code=INVALID_ARGUMENT;rpc=GetAnswerStats;": 1,
	})
	var searchSpans int
	for _, sp := range spans.Ended() {
		if sp.Name() == "search.index.search" {
			searchSpans++
			found := false
			for _, a := range sp.Attributes() {
				if a.Key == "sightline.site_id" && a.Value == attribute.Int64Value(siteA) {
					found = true
				}
			}
			if !found {
				t.Errorf("search span without the site id: %v", sp.Attributes())
			}
		}
	}
	names := map[string]int{}
	for _, sp := range spans.Ended() {
		names[sp.Name()]++
	}
	for _, n := range []string{"search.index.answers.upsert", "search.index.answers.search", "search.index.answers.stats"} {
		if names[n] != 1 {
			t.Errorf("%d %s spans, want 1 (all: %v)", names[n], n, names)
		}
	}
	if searchSpans != 1 {
		t.Fatalf("%d index search spans, want 1 (the invalid request never reaches the index)", searchSpans)
	}
}

// recordTelemetry puts a meter provider with a manual reader and a tracer
// provider with a span recorder in deps, and returns the reader and the
// recorder; the tracer provider is shut down when the test ends.
func recordTelemetry(t *testing.T, deps *Deps) (*sdkmetric.ManualReader, *tracetest.SpanRecorder) {
	reader := sdkmetric.NewManualReader()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	deps.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	deps.TracerProvider = tp
	return reader, spans
}
