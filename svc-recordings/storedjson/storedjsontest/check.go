// Package storedjsontest checks storedjson against encoding/json on the
// values a package stores: the same bytes written, the same values read,
// the same inputs refused.
package storedjsontest

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/sightlinehq/sightline/svc-recordings/storedjson"
)

// StdEncode is what encoding/json's encoder writes with HTML escaping off,
// without the trailing newline.
func StdEncode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(v)
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), err
}

// CheckEncode fails t unless storedjson.Marshal writes v byte for byte as
// StdEncode does, or fails where it fails.
func CheckEncode(t testing.TB, v any) {
	t.Helper()
	if want, got, ok := encodeBoth(t, v, storedjson.Marshal); ok && !bytes.Equal(want, got) {
		t.Fatalf("encoding/json wrote\n%s\nstoredjson\n%s", want, got)
	}
}

// CheckEncodeAnyOrder fails t unless storedjson.MarshalUnsorted writes v
// as the same JSON value as StdEncode (object keys in any order, numbers
// compared as written), or fails where it fails.
func CheckEncodeAnyOrder(t testing.TB, v any) {
	t.Helper()
	want, got, ok := encodeBoth(t, v, storedjson.MarshalUnsorted)
	if ok && !reflect.DeepEqual(jsonValue(t, want), jsonValue(t, got)) {
		t.Fatalf("encoding/json wrote\n%s\nstoredjson (unsorted)\n%s", want, got)
	}
}

// encodeBoth encodes v with StdEncode and marshal, failing t unless both
// fail or neither; ok says both wrote.
func encodeBoth(t testing.TB, v any, marshal func(any) ([]byte, error)) (want, got []byte, ok bool) {
	t.Helper()
	want, werr := StdEncode(v)
	got, gerr := marshal(v)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("%+v: encoding/json says %v, storedjson %v", v, werr, gerr)
	}
	return want, got, werr == nil
}

// jsonValue decodes b as a generic JSON value, numbers as written.
func jsonValue(t testing.TB, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("%q: %v", b, err)
	}
	if d.More() {
		t.Fatalf("%q: more than one value", b)
	}
	return v
}

// CheckDecode fails t unless storedjson.Unmarshal reads b into a T as
// encoding/json's Unmarshal does, or refuses it as it does; what it read
// must then encode as encoding/json encodes it (CheckEncode).
func CheckDecode[T any](t testing.TB, b []byte) {
	t.Helper()
	var want, got T
	werr := json.Unmarshal(b, &want)
	gerr := storedjson.Unmarshal(b, &got)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("%q: encoding/json says %v, storedjson %v", b, werr, gerr)
	}
	if werr != nil {
		return
	}
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("%q: encoding/json read\n%+v\nstoredjson\n%+v", b, want, got)
	}
	CheckEncode(t, &got)
}
