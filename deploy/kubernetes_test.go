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
	"path"
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

// kustomization is the part of kustomize's Kustomization these manifests
// use; decoded strictly, a field outside it fails the test (kustomize's own
// types module would pull all of kustomize into the test).
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace"`
	Resources  []string `json:"resources"`
	Images     []struct {
		Name    string `json:"name"`
		NewName string `json:"newName"`
		NewTag  string `json:"newTag"`
	} `json:"images"`
	SecretGenerator []struct {
		Name  string   `json:"name"`
		Files []string `json:"files"`
	} `json:"secretGenerator"`
}

// readKubernetes decodes deploy/kubernetes strictly: the kustomization and
// every object of the files it lists.
func readKubernetes(t *testing.T) (kustomization, []runtime.Object) {
	t.Helper()
	var k kustomization
	raw, err := os.ReadFile("kubernetes/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(raw, &k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Errorf("kustomization.yaml is %s %s", k.APIVersion, k.Kind)
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
	listed := slices.Sorted(slices.Values(k.Resources))
	if !slices.Equal(names, listed) {
		t.Errorf("kustomization resources = %v; files in deploy/kubernetes = %v", listed, names)
	}
	return k, objs
}

// TestKubernetesManifestsDecodeStrictly: every object in deploy/kubernetes
// is a valid object of the Kubernetes API (no misspelt or unknown field, no
// wrong type), the kustomization lists exactly these files, and every
// workload is selected by its Service and probes a port it declares.
func TestKubernetesManifestsDecodeStrictly(t *testing.T) {
	_, objs := readKubernetes(t)

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

// setting is what container c sets flag (e.g. server.service-secret-file)
// to: by argument, by SIGHTLINE_* variable, or through a ConfigMap it takes
// its environment from; later sources win as in platform/config.
func setting(c corev1.Container, flag string, configMaps map[string]map[string]string) string {
	env := "SIGHTLINE_" + strings.NewReplacer(".", "_", "-", "_").Replace(strings.ToUpper(flag))
	v := ""
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef != nil {
			if s, ok := configMaps[from.ConfigMapRef.Name][env]; ok {
				v = s
			}
		}
	}
	for _, e := range c.Env {
		if e.Name == env {
			v = e.Value
		}
	}
	for i, a := range c.Args {
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != flag {
			continue
		}
		if !hasVal && i+1 < len(c.Args) {
			val = c.Args[i+1]
		}
		v = val
	}
	return v
}

// TestKubernetesProcessesShareTheServiceSecret: every Sightline process in
// deploy/kubernetes reads server.service-secret-file from a read-only mount
// of the Secret the kustomization generates from the file service-secret,
// which git ignores.
func TestKubernetesProcessesShareTheServiceSecret(t *testing.T) {
	k, objs := readKubernetes(t)
	generated := map[string][]string{} // Secret name → its keys
	for _, g := range k.SecretGenerator {
		for _, f := range g.Files {
			key, _, _ := strings.Cut(f, "=")
			generated[g.Name] = append(generated[g.Name], key)
		}
	}
	ignore, err := os.ReadFile("../.gitignore")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(strings.Split(string(ignore), "\n"), "/deploy/kubernetes/service-secret") {
		t.Error(".gitignore does not keep deploy/kubernetes/service-secret, the service secret's file, out of git")
	}

	configMaps := map[string]map[string]string{}
	var pods []*corev1.PodTemplateSpec
	var names []string
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.ConfigMap:
			configMaps[o.Name] = o.Data
		case *appsv1.Deployment:
			pods, names = append(pods, &o.Spec.Template), append(names, "Deployment "+o.Name)
		case *appsv1.StatefulSet:
			pods, names = append(pods, &o.Spec.Template), append(names, "StatefulSet "+o.Name)
		}
	}
	if len(pods) < 6 {
		t.Fatalf("found %d Deployments and StatefulSets; want one per module (6)", len(pods))
	}
	for i, pod := range pods {
		volumes := map[string]string{} // volume → Secret
		for _, v := range pod.Spec.Volumes {
			if v.Secret != nil {
				volumes[v.Name] = v.Secret.SecretName
			}
		}
		for _, c := range pod.Spec.Containers {
			file := setting(c, "server.service-secret-file", configMaps)
			if file == "" {
				t.Errorf("%s: container %s sets no server.service-secret-file", names[i], c.Name)
				continue
			}
			mounted := false
			for _, vm := range c.VolumeMounts {
				secret, ok := volumes[vm.Name]
				if !ok || path.Dir(file) != path.Clean(vm.MountPath) {
					continue
				}
				mounted = true
				if !vm.ReadOnly {
					t.Errorf("%s: the service secret's mount %s is writable", names[i], vm.MountPath)
				}
				if !slices.Contains(generated[secret], path.Base(file)) {
					t.Errorf("%s: reads %s from Secret %q, which the kustomization does not make with key %s (it makes %v)",
						names[i], file, secret, path.Base(file), generated)
				}
			}
			if !mounted {
				t.Errorf("%s: %s (server.service-secret-file) is on no Secret volume mounted in container %s", names[i], file, c.Name)
			}
		}
	}
}
