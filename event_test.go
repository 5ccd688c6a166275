package hookd

import (
	"encoding/json"
	"testing"
)

// FuzzEventDataValid holds Validate's check of event data (jsontext, for
// speed) to encoding/json.Valid's verdict, which is the contract: any one
// JSON value, duplicate names and invalid UTF-8 in strings included.
func FuzzEventDataValid(f *testing.F) {
	for _, s := range []string{
		`{}`, `[]`, `1`, `"x"`, `null`, ` {"a":1} `, `{"a":1,"a":2}`, "\"\xff\"",
		`{`, `1 2`, `{"a":}`, `[1,]`, `01`, `"\u12"`, "\t\n true \r", `{"a":[{"b":null}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return // "is required", a different message
		}
		in := EventInput{Type: "order.created", Data: data}
		got := in.Validate("") == nil
		if want := json.Valid(data); got != want {
			t.Fatalf("data %q: Validate accepts %v, json.Valid %v", data, got, want)
		}
	})
}
