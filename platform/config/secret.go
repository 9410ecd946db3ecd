package config

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

const redacted = "[redacted]"

// Secret holds a password, token or key taken from the configuration. Every
// way of printing or marshalling it (fmt verbs, slog, YAML, JSON, text)
// yields "[redacted]", or "" when it is unset, so a whole config struct can be
// logged or dumped safely. Only Value returns the secret itself.
//
// The value sits behind a pointer so that even printing by reflection (an
// unexported Secret field in a struct passed to fmt) shows an address, never
// the text. Secrets are immutable: setting one replaces the pointer, so
// copies of a config stay independent.
type Secret struct {
	v *string
}

// NewSecret returns a Secret holding s.
func NewSecret(s string) Secret {
	if s == "" {
		return Secret{}
	}
	return Secret{v: &s}
}

// Value returns the secret itself. Call it only where the secret is used.
func (s Secret) Value() string {
	if s.v == nil {
		return ""
	}
	return *s.v
}

// IsSet reports whether the secret is non-empty.
func (s Secret) IsSet() bool { return s.v != nil && *s.v != "" }

// String returns "[redacted]", or "" when unset.
func (s Secret) String() string {
	if !s.IsSet() {
		return ""
	}
	return redacted
}

// GoString keeps %#v from printing the secret.
func (s Secret) GoString() string { return fmt.Sprintf("config.Secret(%q)", s.String()) }

// Format prints the redacted form for every verb (%v, %+v, %#v, %s, %q, ...).
func (s Secret) Format(f fmt.State, verb rune) {
	switch verb {
	case 'q':
		fmt.Fprintf(f, "%q", s.String())
	case 'v':
		if f.Flag('#') {
			_, _ = io.WriteString(f, s.GoString())
			return
		}
		_, _ = io.WriteString(f, s.String())
	default:
		_, _ = io.WriteString(f, s.String())
	}
}

// LogValue keeps slog from logging the secret.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalYAML writes the redacted form.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// MarshalJSON writes the redacted form.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// MarshalText writes the redacted form (for encoders that use it, such as
// map keys or TOML).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalYAML accepts a plain string ("password: hunter2"), or a mapping
// naming a file to read it from ("password: {file: /run/secrets/db}").
func (s *Secret) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			*s = Secret{}
			return nil
		}
		*s = NewSecret(n.Value)
		return nil
	case yaml.MappingNode:
		var ref struct {
			File string `yaml:"file"`
		}
		if len(n.Content) != 2 || n.Content[0].Value != "file" {
			return typeError(n, "a secret is a string or {file: path}")
		}
		if err := n.Decode(&ref); err != nil {
			return typeError(n, "a secret is a string or {file: path}")
		}
		v, err := readSecretFile(ref.File)
		if err != nil {
			return typeError(n, "%v", err)
		}
		*s = v
		return nil
	default:
		return typeError(n, "a secret is a string or {file: path}")
	}
}

// SecretVar registers two flags for s: -name takes the secret itself and
// -name-file takes a path to read it from (a trailing newline is trimmed, so
// files written by echo or Kubernetes work). Both can be set through the
// environment like any flag (SIGHTLINE_X_PASSWORD, SIGHTLINE_X_PASSWORD_FILE).
// Neither flag ever prints the secret: -name shows "[redacted]" and
// -name-file shows the path.
func SecretVar(fs *flag.FlagSet, s *Secret, name, usage string) {
	fs.Var(&secretValue{s: s}, name, usage+" Prefer "+name+"-file: command lines are visible to other users.")
	fs.Var(&secretFileValue{s: s}, name+"-file", "Path of a file holding "+name+" (a trailing newline is ignored); overrides -"+name+".")
}

// secretValue is the flag.Value behind -name.
type secretValue struct{ s *Secret }

func (v *secretValue) String() string {
	if v == nil || v.s == nil {
		return ""
	}
	return v.s.String()
}

func (v *secretValue) Set(x string) error {
	*v.s = NewSecret(x)
	return nil
}

// secretFileValue is the flag.Value behind -name-file; its string form is the
// path, never the content.
type secretFileValue struct {
	s    *Secret
	path string
}

func (v *secretFileValue) String() string {
	if v == nil {
		return ""
	}
	return v.path
}

func (v *secretFileValue) Set(path string) error {
	if path == "" {
		// An empty path means "no file", not "clear the secret".
		return nil
	}
	sec, err := readSecretFile(path)
	if err != nil {
		return err
	}
	v.path = path
	*v.s = sec
	return nil
}

func readSecretFile(path string) (Secret, error) {
	if path == "" {
		return Secret{}, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Secret{}, fmt.Errorf("reading secret file: %w", err)
	}
	return NewSecret(strings.TrimRight(string(b), "\r\n")), nil
}
