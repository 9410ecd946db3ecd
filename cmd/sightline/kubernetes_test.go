package main

import (
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// manifestDir holds the Kubernetes manifests an operator applies.
const manifestDir = "../../deploy/kubernetes"

type manifestProbe struct {
	HTTPGet struct{ Path, Port string } `yaml:"httpGet"`
}

type manifestContainer struct {
	Name    string
	Args    []string
	EnvFrom []struct {
		ConfigMapRef *struct{ Name string } `yaml:"configMapRef"`
	} `yaml:"envFrom"`
	Env []struct {
		Name, Value string
	}
	VolumeMounts []struct {
		Name      string
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
	LivenessProbe  *manifestProbe `yaml:"livenessProbe"`
	ReadinessProbe *manifestProbe `yaml:"readinessProbe"`
}

// manifest is the part of a Kubernetes object these tests read.
type manifest struct {
	file     string
	Kind     string
	Metadata struct{ Name string }
	Data     map[string]string // ConfigMap
	Spec     struct {
		Template struct {
			Spec struct {
				Containers []manifestContainer
				Volumes    []struct {
					Name   string
					Secret *struct {
						SecretName string `yaml:"secretName"`
					}
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

// setting is what container c sets flag (e.g. server.service-secret-file)
// to: by argument, by SIGHTLINE_* variable, or through a ConfigMap it takes
// its environment from; later sources win as in platform/config.
func (c manifestContainer) setting(flag string, configMaps map[string]map[string]string) string {
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
	if s := flagValue(c.Args, flag); s != "" {
		v = s
	}
	return v
}

// TestKubernetesProcessesShareTheServiceSecret: every Sightline process in
// deploy/kubernetes reads server.service-secret-file from a read-only mount
// of the Secret the kustomization generates from the file service-secret,
// which git ignores.
func TestKubernetesProcessesShareTheServiceSecret(t *testing.T) {
	var kustomization struct {
		SecretGenerator []struct {
			Name  string
			Files []string
		} `yaml:"secretGenerator"`
	}
	raw, err := os.ReadFile(filepath.Join(manifestDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &kustomization); err != nil {
		t.Fatal(err)
	}
	generated := map[string][]string{} // Secret name → its keys
	for _, g := range kustomization.SecretGenerator {
		for _, f := range g.Files {
			key, _, _ := strings.Cut(f, "=")
			generated[g.Name] = append(generated[g.Name], key)
		}
	}

	ignore, err := os.ReadFile("../../.gitignore")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(strings.Split(string(ignore), "\n"), "/deploy/kubernetes/service-secret") {
		t.Error(".gitignore does not keep deploy/kubernetes/service-secret, the service secret's file, out of git")
	}

	all := readManifests(t)
	configMaps := map[string]map[string]string{}
	for _, m := range all {
		if m.Kind == "ConfigMap" {
			configMaps[m.Metadata.Name] = m.Data
		}
	}
	workloads := 0
	for _, m := range all {
		if !m.isWorkload() {
			continue
		}
		workloads++
		volumes := map[string]string{} // volume → Secret
		for _, v := range m.Spec.Template.Spec.Volumes {
			if v.Secret != nil {
				volumes[v.Name] = v.Secret.SecretName
			}
		}
		for _, c := range m.Spec.Template.Spec.Containers {
			file := c.setting("server.service-secret-file", configMaps)
			if file == "" {
				t.Errorf("%s: %s %s: container %s sets no server.service-secret-file", m.file, m.Kind, m.Metadata.Name, c.Name)
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
					t.Errorf("%s: %s %s: the service secret's mount %s is writable", m.file, m.Kind, m.Metadata.Name, vm.MountPath)
				}
				if !slices.Contains(generated[secret], path.Base(file)) {
					t.Errorf("%s: %s %s: reads %s from Secret %q, which the kustomization does not make with key %s (it makes %v)",
						m.file, m.Kind, m.Metadata.Name, file, secret, path.Base(file), generated)
				}
			}
			if !mounted {
				t.Errorf("%s: %s %s: %s (server.service-secret-file) is on no Secret volume mounted in container %s", m.file, m.Kind, m.Metadata.Name, file, c.Name)
			}
		}
	}
	if workloads < 6 {
		t.Fatalf("found %d Deployments and StatefulSets in %s; want one per module (6)", workloads, manifestDir)
	}
}
