// Package config loads a Sightline process's configuration in the style of
// Grafana Tempo: the configuration is a tree of plain structs; each struct
// registers its own flags (with defaults written straight into its fields)
// via RegisterFlags(*flag.FlagSet) and carries `yaml:"snake_case"` tags, and
// optionally a Validate() error method.
//
// Load applies the layers in this order, each overriding the previous one:
//
//  1. defaults, written by RegisterFlags;
//  2. the YAML file named by -config.file (or SIGHTLINE_CONFIG_FILE), decoded
//     strictly: unknown keys and ill-typed values are errors;
//  3. environment variables: every flag -a.b-c can be set as SIGHTLINE_A_B_C;
//  4. flags given on the command line.
//
// Every error names the key the operator has to fix: the flag, the
// environment variable or the YAML path and file.
package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// FileFlag is the name of the flag that points at the YAML config file.
const FileFlag = "config.file"

// EnvPrefix prefixes the environment variable derived from every flag name.
const EnvPrefix = "SIGHTLINE_"

// RegisterFileFlag registers -config.file on fs and returns its value. Load
// registers it itself when it is missing, so calling this is only needed
// when the flag must show up in -help output before Load runs (it should:
// register it together with the rest of the config's flags).
func RegisterFileFlag(fs *flag.FlagSet) *string {
	return fs.String(FileFlag, "", "YAML configuration file; values in it are overridden by SIGHTLINE_* environment variables and then by command-line flags.")
}

// EnvName returns the environment variable that sets the flag called name:
// SIGHTLINE_ + the name upper-cased with '.' and '-' turned into '_'.
func EnvName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(flagName))
}

// Load fills target (a pointer to the config root, whose flags are already
// registered on fs) from defaults, the YAML file, the environment (through
// lookupEnv, normally os.LookupEnv) and args, in that order of precedence,
// then calls target's Validate method if it has one. Load registers
// -config.file on fs if it is not registered yet.
//
// fs should use flag.ContinueOnError; a -help request comes back as an error
// that matches flag.ErrHelp.
func Load(fs *flag.FlagSet, args []string, lookupEnv func(string) (string, bool), target any) error {
	if lookupEnv == nil {
		lookupEnv = func(string) (string, bool) { return "", false }
	}
	if fs.Lookup(FileFlag) == nil {
		RegisterFileFlag(fs)
	}

	// Learn which flags the command line sets, and to what, without touching
	// fs yet: the command line must be applied last so that it wins, and
	// applying it twice would run Set twice (wrong for append-style values).
	explicit, err := scanArgs(fs, args)
	if err != nil {
		// Let the real flag set produce its own error (and usage output).
		if perr := fs.Parse(args); perr != nil {
			return fmt.Errorf("config: %w", perr)
		}
		return fmt.Errorf("config: %w", err)
	}

	file := ""
	if v, ok := explicit[FileFlag]; ok {
		file = v
	} else if v, ok := lookupEnv(EnvName(FileFlag)); ok {
		file = v
	} else if f := fs.Lookup(FileFlag); f != nil {
		file = f.Value.String()
	}
	if file != "" {
		if err := decodeFile(file, target); err != nil {
			return err
		}
	}

	// Environment: visit in flag-name order so that, for example, a secret's
	// -x.password-file (which sorts after -x.password) wins over -x.password.
	// Flags set on the command line are skipped: they win anyway, and an
	// overridden variable should not be able to fail the start.
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if envErr != nil {
			return
		}
		if _, ok := explicit[f.Name]; ok {
			return
		}
		name := EnvName(f.Name)
		v, ok := lookupEnv(name)
		if !ok {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			envErr = fmt.Errorf("config: %s (flag -%s): invalid value %q: %w", name, f.Name, redactIfSecret(f, v), err)
		}
	})
	if envErr != nil {
		return envErr
	}

	// Command line last, parsed for real so fs.Args() and fs.Parsed() work.
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("config: %w", err)
	}

	if v, ok := target.(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			return fmt.Errorf("config: invalid configuration: %w", err)
		}
	}
	return nil
}

// redactIfSecret keeps a secret given through the environment out of error
// messages (which end up in logs).
func redactIfSecret(f *flag.Flag, v string) string {
	if _, ok := f.Value.(*secretValue); ok {
		return redacted
	}
	return v
}

// recorder stands in for a real flag during scanArgs: it accepts any value
// and remembers the last one.
type recorder struct {
	name string
	seen map[string]string
}

func (r *recorder) String() string { return "" }
func (r *recorder) Set(v string) error {
	r.seen[r.name] = v
	return nil
}

// boolRecorder keeps "-flag" (without "=value") meaning true for bool flags.
type boolRecorder struct{ recorder }

func (b *boolRecorder) IsBoolFlag() bool { return true }

// scanArgs parses args against a shadow flag set with the same flag names
// and returns the raw value of every flag the command line sets.
func scanArgs(fs *flag.FlagSet, args []string) (map[string]string, error) {
	seen := map[string]string{}
	shadow := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
	shadow.SetOutput(io.Discard)
	shadow.Usage = func() {}
	fs.VisitAll(func(f *flag.Flag) {
		r := recorder{name: f.Name, seen: seen}
		if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
			shadow.Var(&boolRecorder{r}, f.Name, "")
			return
		}
		shadow.Var(&r, f.Name, "")
	})
	if err := shadow.Parse(args); err != nil {
		return nil, err
	}
	return seen, nil
}

// decodeFile decodes the YAML file strictly into target.
func decodeFile(file string, target any) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("config: reading config file: %w", err)
	}
	err = DecodeYAML(data, target)
	if err == nil {
		return nil
	}
	// Name the file on every line when there are several errors.
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var errs []error
		for _, e := range j.Unwrap() {
			errs = append(errs, fmt.Errorf("config: %s: %w", file, e))
		}
		return errors.Join(errs...)
	}
	return fmt.Errorf("config: %s: %w", file, err)
}

// DecodeYAML decodes data strictly into target: unknown keys and values of
// the wrong type are errors, each naming the dotted key path (for example
// "field ingest.max_body_bytes: ...") and the line. An empty document
// leaves target untouched.
func DecodeYAML(data []byte, target any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(target)
	if err == nil || errors.Is(err, io.EOF) {
		return nil
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err // a syntax error; yaml already names the line
	}
	var root yaml.Node
	if yerr := yaml.Unmarshal(data, &root); yerr != nil {
		return err
	}
	idx := indexPaths(&root)
	errs := make([]error, 0, len(te.Errors))
	for _, msg := range te.Errors {
		errs = append(errs, idx.describe(msg))
	}
	return errors.Join(errs...)
}
