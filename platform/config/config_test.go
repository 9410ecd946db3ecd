package config_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.yaml.in/yaml/v3"

	"github.com/sightlinehq/sightline/platform/config"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A config tree shaped like the binary's.
type root struct {
	Server serverConfig `yaml:"server"`
	Ingest ingestConfig `yaml:"ingest"`
	DB     dbConfig     `yaml:"db"`
}

type serverConfig struct {
	GRPCAddr string `yaml:"grpc_listen_address"`
	HTTPAddr string `yaml:"http_listen_address"`
}

type ingestConfig struct {
	MaxBodyBytes  config.Bytes  `yaml:"max_body_bytes"`
	RatePerIP     int           `yaml:"rate_per_ip"`
	FlushInterval time.Duration `yaml:"flush_interval"`
	Enabled       bool          `yaml:"enabled"`
	Spool         string        `yaml:"spool_dir"`
}

type dbConfig struct {
	URL      string        `yaml:"url"`
	Password config.Secret `yaml:"password"`
	// Unexported secrets must stay hidden from fmt's reflection too.
	backup config.Secret
}

func (c *root) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Server.GRPCAddr, "server.grpc-listen-address", "127.0.0.1:9090", "gRPC listen address.")
	fs.StringVar(&c.Server.HTTPAddr, "server.http-listen-address", "127.0.0.1:8080", "HTTP listen address.")
	config.BytesVar(fs, &c.Ingest.MaxBodyBytes, "ingest.max-body-bytes", 1<<20, "Largest accepted body.")
	fs.IntVar(&c.Ingest.RatePerIP, "ingest.rate-per-ip", 10, "Requests per second per IP.")
	fs.DurationVar(&c.Ingest.FlushInterval, "ingest.flush-interval", time.Second, "Spool flush interval.")
	fs.BoolVar(&c.Ingest.Enabled, "ingest.enabled", false, "Enable ingest.")
	fs.StringVar(&c.Ingest.Spool, "ingest.spool-dir", "/var/lib/sightline/spool", "Spool directory.")
	fs.StringVar(&c.DB.URL, "db.url", "", "Database URL.")
	config.SecretVar(fs, &c.DB.Password, "db.password", "Database password.")
}

func (c *root) Validate() error {
	if c.Ingest.RatePerIP < 0 {
		return errors.New("ingest.rate_per_ip must not be negative")
	}
	return nil
}

func newFlags(c *root) *flag.FlagSet {
	fs := flag.NewFlagSet("sightline", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.RegisterFlags(fs)
	config.RegisterFileFlag(fs)
	return fs
}

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func load(t *testing.T, args []string, envs map[string]string) (*root, *flag.FlagSet, error) {
	t.Helper()
	var c root
	fs := newFlags(&c)
	err := config.Load(fs, args, env(envs), &c)
	return &c, fs, err
}

func TestDefaults(t *testing.T) {
	c, _, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.GRPCAddr != "127.0.0.1:9090" || c.Ingest.MaxBodyBytes != 1<<20 || c.Ingest.FlushInterval != time.Second || c.Ingest.RatePerIP != 10 {
		t.Fatalf("defaults not applied: %+v", c)
	}
}

func TestPrecedence(t *testing.T) {
	file := writeFile(t, "sightline.yaml", `
server:
  grpc_listen_address: 10.0.0.1:1   # file only
  http_listen_address: 10.0.0.1:2   # file, then env
ingest:
  max_body_bytes: 5MiB              # file, env, then flag
  rate_per_ip: 3                    # file, then flag
  flush_interval: 250ms
`)
	c, fs, err := load(t,
		[]string{"-config.file", file, "-ingest.max-body-bytes=7MB", "-ingest.rate-per-ip", "4", "-ingest.enabled", "extra-arg"},
		map[string]string{
			"SIGHTLINE_SERVER_HTTP_LISTEN_ADDRESS": "10.0.0.9:2",
			"SIGHTLINE_INGEST_MAX_BODY_BYTES":      "6MiB",
			"SIGHTLINE_INGEST_SPOOL_DIR":           "/tmp/spool",
		})
	if err != nil {
		t.Fatal(err)
	}
	want := root{
		Server: serverConfig{GRPCAddr: "10.0.0.1:1", HTTPAddr: "10.0.0.9:2"},
		Ingest: ingestConfig{MaxBodyBytes: 7_000_000, RatePerIP: 4, FlushInterval: 250 * time.Millisecond, Enabled: true, Spool: "/tmp/spool"},
	}
	if c.Server != want.Server || c.Ingest != want.Ingest {
		t.Fatalf("got %+v\nwant %+v", *c, want)
	}
	if got := fs.Args(); len(got) != 1 || got[0] != "extra-arg" {
		t.Fatalf("positional args = %q", got)
	}
}

func TestConfigFileFromEnvAndUnregistered(t *testing.T) {
	file := writeFile(t, "sightline.yaml", "ingest:\n  rate_per_ip: 42\n")
	var c root
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.RegisterFlags(fs) // no RegisterFileFlag: Load registers it
	if err := config.Load(fs, nil, env(map[string]string{"SIGHTLINE_CONFIG_FILE": file}), &c); err != nil {
		t.Fatal(err)
	}
	if c.Ingest.RatePerIP != 42 {
		t.Fatalf("rate_per_ip = %d, want 42", c.Ingest.RatePerIP)
	}
}

func TestEmptyFile(t *testing.T) {
	file := writeFile(t, "sightline.yaml", "# nothing here\n")
	c, _, err := load(t, []string{"-config.file=" + file}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Ingest.RatePerIP != 10 {
		t.Fatalf("default lost: %d", c.Ingest.RatePerIP)
	}
}

func TestErrorsNameTheKey(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		args []string
		env  map[string]string
		want []string
	}{
		{
			name: "unknown yaml key",
			yaml: "ingest:\n  rate_per_ip: 1\n  bogus: 2\n",
			want: []string{"sightline.yaml", "field ingest.bogus", "unknown field", "line 3"},
		},
		{
			name: "ill-typed yaml value",
			yaml: "ingest:\n  rate_per_ip: lots\n",
			want: []string{"sightline.yaml", "field ingest.rate_per_ip", "cannot unmarshal"},
		},
		{
			name: "bad size in yaml",
			yaml: "server: {grpc_listen_address: x}\ningest:\n  max_body_bytes: 12 potatoes\n",
			want: []string{"sightline.yaml", "field ingest.max_body_bytes", "invalid size"},
		},
		{
			name: "map where a scalar belongs",
			yaml: "ingest:\n  flush_interval:\n    seconds: 3\n",
			want: []string{"field ingest.flush_interval", "!!map"},
		},
		{
			name: "flow mapping",
			yaml: "ingest: {rate_per_ip: 1, max_body_bytes: nope}\n",
			want: []string{"field ingest.max_body_bytes"},
		},
		{
			name: "duplicate key",
			yaml: "ingest:\n  rate_per_ip: 1\n  rate_per_ip: 2\n",
			want: []string{"field ingest.rate_per_ip", "duplicate key"},
		},
		{
			name: "two errors at once",
			yaml: "ingest:\n  rate_per_ip: x\nserver:\n  nope: 1\n",
			want: []string{"field ingest.rate_per_ip", "field server.nope"},
		},
		{
			name: "yaml syntax",
			yaml: "ingest: [\n",
			want: []string{"sightline.yaml", "line"},
		},
		{
			name: "bad env",
			env:  map[string]string{"SIGHTLINE_INGEST_MAX_BODY_BYTES": "abc"},
			want: []string{"config: SIGHTLINE_INGEST_MAX_BODY_BYTES", "-ingest.max-body-bytes", `invalid value "abc"`},
		},
		{
			name: "bad flag",
			args: []string{"-ingest.max-body-bytes", "abc"},
			want: []string{`config: invalid value "abc" for flag -ingest.max-body-bytes`},
		},
		{
			name: "unknown flag",
			args: []string{"-no.such-flag"},
			want: []string{"flag provided but not defined: -no.such-flag"},
		},
		{
			name: "validate",
			args: []string{"-ingest.rate-per-ip=-1"},
			want: []string{"config: invalid configuration: ingest.rate_per_ip must not be negative"},
		},
		{
			name: "missing file",
			args: []string{"-config.file=/nonexistent/sightline.yaml"},
			want: []string{"config: reading config file", "/nonexistent/sightline.yaml"},
		},
		{
			name: "unreadable secret file",
			env:  map[string]string{"SIGHTLINE_DB_PASSWORD_FILE": "/nonexistent/pw"},
			want: []string{"SIGHTLINE_DB_PASSWORD_FILE", "-db.password-file", "/nonexistent/pw"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.yaml != "" {
				args = append([]string{"-config.file", writeFile(t, "sightline.yaml", tc.yaml)}, args...)
			}
			_, _, err := load(t, args, tc.env)
			if err == nil {
				t.Fatal("want an error")
			}
			t.Log(err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestEnvOverriddenByFlagIsNotParsed(t *testing.T) {
	// A bad environment value for a flag given on the command line does not
	// matter: the flag wins.
	c, _, err := load(t, []string{"-ingest.rate-per-ip=5"}, map[string]string{"SIGHTLINE_INGEST_RATE_PER_IP": "x"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Ingest.RatePerIP != 5 {
		t.Fatalf("rate = %d", c.Ingest.RatePerIP)
	}
}

func TestHelp(t *testing.T) {
	_, _, err := load(t, []string{"-help"}, nil)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
}

func TestSecretNeverPrinted(t *testing.T) {
	const pw = "s3cr3t-hunter2-value"
	pwFile := writeFile(t, "pw", pw+"\n")

	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		yaml string
	}{
		{name: "flag file", args: []string{"-db.password-file", pwFile}},
		{name: "env file", env: map[string]string{"SIGHTLINE_DB_PASSWORD_FILE": pwFile}},
		{name: "env value", env: map[string]string{"SIGHTLINE_DB_PASSWORD": pw}},
		{name: "flag value", args: []string{"-db.password=" + pw}},
		{name: "yaml value", yaml: "db:\n  password: " + pw + "\n"},
		{name: "yaml file", yaml: "db:\n  password: {file: " + pwFile + "}\n"},
		{name: "file beats value in env", env: map[string]string{"SIGHTLINE_DB_PASSWORD": "wrong", "SIGHTLINE_DB_PASSWORD_FILE": pwFile}},
		{name: "flag beats yaml", args: []string{"-db.password-file", pwFile}, yaml: "db:\n  password: wrong\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.yaml != "" {
				args = append([]string{"-config.file", writeFile(t, "sightline.yaml", tc.yaml)}, args...)
			}
			var c root
			fs := newFlags(&c)
			var usage bytes.Buffer
			fs.SetOutput(&usage)
			if err := config.Load(fs, args, env(tc.env), &c); err != nil {
				t.Fatal(err)
			}
			if got := c.DB.Password.Value(); got != pw {
				t.Fatalf("Value() = %q, want %q", got, pw)
			}
			c.DB.backup = config.NewSecret(pw)
			assertNoSecret(t, &c, fs, pw)
		})
	}
}

func assertNoSecret(t *testing.T, c *root, fs *flag.FlagSet, pw string) {
	t.Helper()
	var out bytes.Buffer

	jl := slog.New(slog.NewJSONHandler(&out, nil))
	jl.Info("config", "config", c, "password", c.DB.Password, "db", c.DB)
	tl := slog.New(slog.NewTextHandler(&out, nil))
	tl.Info("config", "config", c, "password", c.DB.Password, "db", c.DB)

	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%10v"} {
		fmt.Fprintf(&out, verb+"\n", *c)
		fmt.Fprintf(&out, verb+"\n", c)
		fmt.Fprintf(&out, verb+"\n", c.DB.Password)
		fmt.Fprintf(&out, verb+"\n", &c.DB.Password)
	}
	fmt.Fprintln(&out, c.DB.Password, c.DB)

	y, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	out.Write(y)
	j, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	out.Write(j)

	fs.VisitAll(func(f *flag.Flag) { fmt.Fprintln(&out, f.Name, f.Value.String(), f.DefValue) })
	fs.PrintDefaults()

	if strings.Contains(out.String(), pw) {
		t.Fatalf("secret leaked:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "[redacted]") {
		t.Fatalf("expected [redacted] in output:\n%s", out.String())
	}
	if !strings.Contains(string(y), "password: '[redacted]'") {
		t.Fatalf("yaml: %s", y)
	}
	if !strings.Contains(string(j), `"Password":"[redacted]"`) {
		t.Fatalf("json: %s", j)
	}
}

func TestSecretUnsetPrintsEmpty(t *testing.T) {
	var s config.Secret
	if s.String() != "" || fmt.Sprintf("%v", s) != "" || s.IsSet() {
		t.Fatalf("unset secret printed as %q", s.String())
	}
	j, _ := json.Marshal(s)
	if string(j) != `""` {
		t.Fatalf("json = %s", j)
	}
}

func TestSecretCopiesIndependent(t *testing.T) {
	var c root
	fs := newFlags(&c)
	if err := fs.Set("db.password", "one"); err != nil {
		t.Fatal(err)
	}
	snapshot := c
	if err := fs.Set("db.password", "two"); err != nil {
		t.Fatal(err)
	}
	if snapshot.DB.Password.Value() != "one" || c.DB.Password.Value() != "two" {
		t.Fatalf("copy changed: %q %q", snapshot.DB.Password.Value(), c.DB.Password.Value())
	}
}

func TestBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want config.Bytes
	}{
		{"1048576", 1 << 20},
		{"0", 0},
		{"10MiB", 10 << 20},
		{"512KB", 512_000},
		{"512kB", 512_000},
		{"512KiB", 512 << 10},
		{"2GiB", 2 << 30},
		{"3GB", 3e9},
		{"1TiB", 1 << 40},
		{"100B", 100},
		{" 7 MiB ", 7 << 20},
	} {
		got, err := config.ParseBytes(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "abc", "-1", "1.5MiB", "10XB", "9999999999TiB", "MiB"} {
		if _, err := config.ParseBytes(bad); err == nil {
			t.Errorf("ParseBytes(%q) succeeded", bad)
		}
	}
	for _, tc := range []struct {
		in   config.Bytes
		want string
	}{{16 << 20, "16MiB"}, {1000, "1000"}, {0, "0"}, {1536, "1536"}, {3 << 10, "3KiB"}} {
		if got := tc.in.String(); got != tc.want {
			t.Errorf("Bytes(%d).String() = %q, want %q", int64(tc.in), got, tc.want)
		}
	}

	var b struct {
		A config.Bytes `yaml:"a"`
		B config.Bytes `yaml:"b"`
	}
	if err := config.DecodeYAML([]byte("a: 2048\nb: 1MiB\n"), &b); err != nil || b.A != 2048 || b.B != 1<<20 {
		t.Fatalf("yaml: %+v %v", b, err)
	}
	y, _ := yaml.Marshal(b)
	if string(y) != "a: 2KiB\nb: 1MiB\n" {
		t.Fatalf("yaml marshal = %q", y)
	}
}
