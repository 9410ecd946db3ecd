// Package deploy holds only tests of the operations kit in this directory.
// It lives here, apart from cmd/sightline, so that the Kubernetes API types
// these tests decode into are a test dependency of this package alone and
// never reach the product binary or slow cmd/sightline's test build.
package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// decoder decodes a manifest into the API type its apiVersion and kind name,
// strictly: an unknown or duplicated field is an error, as `kubectl apply
// --validate=strict` makes it; a kind not registered here is an error too,
// so a new kind in the manifests must be added (and so checked).
var decoder = func() runtime.Decoder {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, policyv1.AddToScheme, autoscalingv2.AddToScheme} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
	return serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
}()

// decodeManifests decodes every document of a multi-document YAML stream.
func decodeManifests(r io.Reader) ([]runtime.Object, error) {
	var objs []runtime.Object
	rd := utilyaml.NewYAMLReader(bufio.NewReader(r))
	for i := 1; ; i++ {
		doc, err := rd.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		obj, _, err := decoder.Decode(doc, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		objs = append(objs, obj)
	}
}

// stripComments drops whole-line comments, so a document of comments alone
// counts as empty.
func stripComments(doc []byte) []byte {
	var out []byte
	for line := range bytes.Lines(doc) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out = append(out, line...)
		}
	}
	return out
}

// TestKubernetesManifestsDecodeStrictly: every object in deploy/kubernetes
// is a valid object of the Kubernetes API (no misspelt or unknown field, no
// wrong type), the kustomization lists exactly these files, and every
// workload is selected by its Service and probes a port it declares.
func TestKubernetesManifestsDecodeStrictly(t *testing.T) {
	var kustomization struct {
		Resources []string `json:"resources"`
	}
	raw, err := os.ReadFile("kubernetes/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &kustomization); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	var objs []runtime.Object
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		names = append(names, filepath.Base(f))
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeManifests(fh)
		fh.Close()
		if err != nil {
			t.Errorf("%s: %v", f, err)
		}
		objs = append(objs, got...)
	}
	slices.Sort(names)
	listed := slices.Sorted(slices.Values(kustomization.Resources))
	if !slices.Equal(names, listed) {
		t.Errorf("kustomization resources = %v; files in deploy/kubernetes = %v", listed, names)
	}

	services := map[string]*corev1.Service{}
	var deployments []*appsv1.Deployment
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.Service:
			services[o.Name] = o
		case *appsv1.Deployment:
			deployments = append(deployments, o)
		}
	}
	if len(deployments) < 6 {
		t.Fatalf("%d Deployments; want one per module (6)", len(deployments))
	}
	for _, d := range deployments {
		if d.Spec.Selector == nil || !subset(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
			t.Errorf("Deployment %s: selector %v does not match its pod labels %v", d.Name, d.Spec.Selector, d.Spec.Template.Labels)
		}
		svc := services[d.Name]
		if svc == nil {
			t.Errorf("Deployment %s has no Service of its name", d.Name)
		} else if !subset(svc.Spec.Selector, d.Spec.Template.Labels) {
			t.Errorf("Service %s selects %v; Deployment %s's pods carry %v", svc.Name, svc.Spec.Selector, d.Name, d.Spec.Template.Labels)
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			ports := map[string]bool{}
			for _, p := range c.Ports {
				ports[p.Name] = true
			}
			for what, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
				if p == nil || p.HTTPGet == nil {
					t.Errorf("Deployment %s: container %s has no HTTP %s probe", d.Name, c.Name, what)
					continue
				}
				if port := p.HTTPGet.Port.String(); !ports[port] {
					t.Errorf("Deployment %s: container %s's %s probe uses port %s, which it does not declare", d.Name, c.Name, what, port)
				}
			}
		}
	}
}

func subset(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// TestStrictDecodingRefusesBadManifests: the decoder above does catch what
// kubeconform would: a misspelt field, a wrong type, an unknown kind.
func TestStrictDecodingRefusesBadManifests(t *testing.T) {
	const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: x}
spec:
  replicas: REPLICAS
  selector: {matchLabels: {app: x}}
  template:
    metadata: {labels: {app: x}}
    spec:
      containers:
        - name: x
          image: sightline
          FIELD: [serve]
`
	good := strings.NewReplacer("REPLICAS", "2", "FIELD", "args").Replace(deployment)
	if objs, err := decodeManifests(strings.NewReader(good)); err != nil || len(objs) != 1 {
		t.Fatalf("a valid Deployment: %v, %v", objs, err)
	}
	for _, tc := range []struct {
		name, manifest, want string
	}{
		{"misspelt field", strings.NewReplacer("REPLICAS", "2", "FIELD", "arsg").Replace(deployment), `unknown field "spec.template.spec.containers[0].arsg"`},
		{"wrong type", strings.NewReplacer("REPLICAS", `"two"`, "FIELD", "args").Replace(deployment), "replicas"},
		{"duplicate field", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {A: b}\ndata: {C: d}\n", `key "data" already set`},
		{"unknown kind", "apiVersion: v1\nkind: Pods\nmetadata: {name: x}\n", `no kind "Pods"`},
		{"second document", good + "---\napiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {selektor: {app: x}}\n", `document 2: strict decoding error: unknown field "spec.selektor"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeManifests(strings.NewReader(tc.manifest))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("decode = %v; want an error containing %q", err, tc.want)
			}
		})
	}
}
