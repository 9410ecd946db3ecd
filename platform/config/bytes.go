package config

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Bytes is a size in bytes that reads and prints with units: "1048576",
// "512KB", "512KiB", "10MiB", "1GB". Decimal units (kB/KB, MB, GB, TB) are
// powers of 1000 and binary units (KiB, MiB, GiB, TiB) powers of 1024, as
// their names say, so a limit reads the same to an operator and to code.
// It is a flag.Value and reads from YAML as a number or a string.
type Bytes int64

// BytesVar registers a Bytes flag with a default.
func BytesVar(fs *flag.FlagSet, p *Bytes, name string, value Bytes, usage string) {
	*p = value
	fs.Var(p, name, usage)
}

var byteUnits = []struct {
	suffix string
	mult   int64
}{
	// Longest suffixes first so "MiB" is not read as "B".
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"kB", 1e3}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"B", 1},
}

// ParseBytes parses a size such as "10MiB", "512KB" or "1048576".
func ParseBytes(s string) (Bytes, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q: want an integer with an optional unit (B, KB, KiB, MB, MiB, GB, GiB, TB, TiB)", s)
	}
	if n < 0 {
		return 0, fmt.Errorf("invalid size %q: must not be negative", s)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return Bytes(n * mult), nil
}

// String prints the size in the largest binary unit that divides it
// exactly ("16MiB"), or in plain bytes.
func (b Bytes) String() string {
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if b != 0 && int64(b)%u.mult == 0 {
			return strconv.FormatInt(int64(b)/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(b), 10)
}

// Set implements flag.Value.
func (b *Bytes) Set(s string) error {
	v, err := ParseBytes(s)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// Int returns the size as an int, capped at the largest int, for APIs such
// as gRPC's message size options.
func (b Bytes) Int() int {
	if int64(b) > int64(math.MaxInt) {
		return math.MaxInt
	}
	return int(b)
}

// MarshalYAML writes the size in its String form.
func (b Bytes) MarshalYAML() (any, error) { return b.String(), nil }

// UnmarshalYAML accepts a number of bytes or a string with a unit.
func (b *Bytes) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return typeError(n, "a size is a number of bytes or a string such as 10MiB")
	}
	v, err := ParseBytes(n.Value)
	if err != nil {
		return typeError(n, "%v", err)
	}
	*b = v
	return nil
}

// MarshalText and UnmarshalText let JSON and other text encoders use units.
func (b Bytes) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (b *Bytes) UnmarshalText(t []byte) error {
	if b == nil {
		return errors.New("config: UnmarshalText on nil *Bytes")
	}
	return b.Set(string(t))
}
