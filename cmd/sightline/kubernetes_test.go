package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// manifestDir holds the Kubernetes manifests an operator applies. The
// deploy package's tests decode them strictly into the Kubernetes API types
// and check the service secret's mounts; this package reads only what its
// tests against the running binary need (readiness paths), so that the
// Kubernetes modules stay out of its build.
const manifestDir = "../../deploy/kubernetes"

type manifestProbe struct {
	HTTPGet struct{ Path, Port string } `yaml:"httpGet"`
}

// manifest is the part of a Kubernetes object these tests read.
type manifest struct {
	file     string
	Kind     string
	Metadata struct{ Name string }
	Spec     struct {
		Template struct {
			Spec struct {
				Containers []struct {
					Args           []string
					LivenessProbe  *manifestProbe `yaml:"livenessProbe"`
					ReadinessProbe *manifestProbe `yaml:"readinessProbe"`
				}
			}
		}
	}
}

// isWorkload reports whether m runs Sightline processes.
func (m manifest) isWorkload() bool { return m.Kind == "Deployment" || m.Kind == "StatefulSet" }

// readManifests decodes every object of every YAML file in deploy/kubernetes
// but the kustomization.
func readManifests(t *testing.T) []manifest {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(manifestDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	var all []manifest
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(raw)))
		for {
			doc := manifest{file: f}
			if err := dec.Decode(&doc); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				t.Fatalf("%s: %v", f, err)
			}
			all = append(all, doc)
		}
	}
	return all
}
