// Package examples holds ready endpoint configurations that make hookd
// behave like four published webhook systems, one JSON file each (see
// README.md). Every file is a body for POST /v1/tenants/{tenant}/endpoints;
// the package embeds them so that tests elsewhere (the delivery engine's,
// the end-to-end ones) exercise exactly the files users apply.
package examples

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/hookd/hookd"
)

//go:embed *.json
var files embed.FS

// Names returns the name of every example (its file name without ".json"),
// sorted.
func Names() []string {
	entries, _ := fs.ReadDir(files, ".") // embedded: cannot fail
	var names []string
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".json"); ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// JSON returns the file of the example called name.
func JSON(name string) ([]byte, error) {
	return files.ReadFile(name + ".json")
}

// Endpoint decodes the example called name, refusing unknown fields so that
// a misspelt one cannot hide. The result is neither normalised nor
// validated, as the API receives it.
func Endpoint(name string) (*hookd.Endpoint, error) {
	b, err := JSON(name)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var ep hookd.Endpoint
	if err := dec.Decode(&ep); err != nil {
		return nil, fmt.Errorf("examples: %s: %w", name, err)
	}
	return &ep, nil
}
