// Package batchtest builds tracker bodies for tests of the batch contract
// and of the services that apply it.
package batchtest

import (
	"encoding/json"
	"testing"
)

// With sets fields on the JSON object m (a nil value deletes the field)
// and answers it encoded.
func With(t testing.TB, m, fields map[string]any) []byte {
	t.Helper()
	for k, v := range fields {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
