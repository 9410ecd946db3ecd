package otlptest_test

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	collectortracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

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

// TestHTTPReceiver: binary protobuf on /v1/traces is recorded; JSON (which
// the http/protobuf exporters never send) is refused.
func TestHTTPReceiver(t *testing.T) {
	rcv := otlptest.NewHTTPReceiver(t)
	post := func(contentType string, body []byte) int {
		t.Helper()
		resp, err := http.Post(rcv.Endpoint()+"/v1/traces", contentType, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("application/json", []byte(`{"resourceSpans":[]}`)); code != http.StatusUnsupportedMediaType {
		t.Fatalf("JSON answered %d", code)
	}
	if code := post("application/x-protobuf", []byte{0xff, 0xff}); code != http.StatusBadRequest {
		t.Fatalf("garbage answered %d", code)
	}
	body, err := proto.Marshal(&collectortracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{Name: "over http"}}}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if code := post("application/x-protobuf", body); code != http.StatusOK {
		t.Fatalf("protobuf answered %d", code)
	}
	if !rcv.WaitFor(otlptest.HasSpan("over http"), 0) || len(rcv.Spans()) != 1 {
		t.Fatalf("spans = %v", rcv.Spans())
	}
}
