package api

import (
	"iter"
	"maps"
	"regexp"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

var refRe = regexp.MustCompile(`"#/components/(?:schemas|responses)/([A-Za-z0-9]+)"`)

func unmarshalStrict(b []byte, v any) error { return jsonv2.Unmarshal(b, v, decodeOptions) }

func pointer(s string) jsontext.Pointer { return jsontext.Pointer(s) }

func toValues(m map[string][]byte) map[string]jsontext.Value {
	out := make(map[string]jsontext.Value, len(m))
	for k, v := range m {
		out[k] = jsontext.Value(v)
	}
	return out
}

func mapsKeys[V any](m map[string]V) iter.Seq[string] { return maps.Keys(m) }
