package otlptest_test

import (
	"context"
	"testing"
	"time"

	collectortracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sightlinehq/sightline/platform/telemetry/otlptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestReceiver(t *testing.T) {
	rcv := otlptest.NewReceiver(t)
	if got := rcv.Endpoint(); got != "http://"+rcv.Addr() {
		t.Fatalf("Endpoint() = %q", got)
	}
	if rcv.WaitFor(otlptest.HasSpan("a"), time.Millisecond) {
		t.Fatal("WaitFor held before any export")
	}

	conn, err := grpc.NewClient(rcv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := collectortracepb.NewTraceServiceClient(conn)

	export := func(name string) {
		req := &collectortracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
			Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{{
				Key: "service.name", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "svc"}},
			}}},
			ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{Name: name}}}},
		}}}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := client.Export(ctx, req); err != nil {
			t.Error(err)
		}
	}

	exported := make(chan struct{})
	go func() {
		defer close(exported)
		export("a")
		export("b")
	}()
	ok := rcv.WaitFor(func(s []*tracepb.Span) bool { return len(s) == 2 }, 10*time.Second)
	<-exported
	if !ok {
		t.Fatalf("spans = %v", rcv.Spans())
	}
	if s := rcv.Spans(); s[0].GetName() != "a" || s[1].GetName() != "b" {
		t.Fatalf("spans = %v", s)
	}
	if rs := rcv.ResourceSpans(); len(rs) != 2 || rs[0].GetResource().GetAttributes()[0].GetKey() != "service.name" {
		t.Fatalf("resource spans = %v", rs)
	}
}
