package api

import (
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"unicode"

	"github.com/hookd/hookd"
)

// openAPI builds the OpenAPI 3.1 document of the routes. Schemas come from
// reflecting over the request and response types and their json tags, so
// a field added to a domain type appears in the document by itself. A
// field without omitempty or omitzero is always present in an answer, and
// is listed as required.
func openAPI(rs []route) map[string]any {
	g := &schemaGen{defs: map[string]any{}, names: map[reflect.Type]string{}}
	g.of(reflect.TypeFor[Problem]()) // first, so it is named "Problem"

	paths := map[string]map[string]any{}
	for i := range rs {
		rt := &rs[i]
		item := paths[rt.path]
		if item == nil {
			item = map[string]any{}
			paths[rt.path] = item
		}
		item[strings.ToLower(rt.method)] = g.operation(rt)
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":   "hookd",
			"version": hookd.Version,
			"description": "A webhook sending server. Errors are RFC 9457 problem documents; " +
				"lists are cursor-paginated ({\"data\": [...], \"next_cursor\": \"...\"}); " +
				"timestamps are RFC 3339 UTC and durations Go duration strings (\"30s\").",
			"license": map[string]any{"name": "see the repository"},
		},
		"jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
		"paths":             paths,
		"components": map[string]any{
			"schemas": g.defs,
			"securitySchemes": map[string]any{
				"bearer": map[string]any{"type": "http", "scheme": "bearer", "description": "an API key (hk_…) or an OAuth access token"},
			},
			"responses": map[string]any{
				"Problem": map[string]any{
					"description": "An RFC 9457 problem document",
					"content":     map[string]any{"application/problem+json": map[string]any{"schema": ref("Problem")}},
				},
			},
		},
	}
}

var pathParamRe = regexp.MustCompile(`\{([a-z_]+)\}`)

func (g *schemaGen) operation(rt *route) map[string]any {
	op := map[string]any{
		"operationId": rt.id,
		"summary":     rt.summary,
	}
	var params []any
	for _, m := range pathParamRe.FindAllStringSubmatch(rt.path, -1) {
		p := map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}}
		if m[1] == "tenant" {
			p["description"] = "the tenant's id"
			p["schema"] = map[string]any{"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"}
		}
		params = append(params, p)
	}
	for _, q := range rt.query {
		params = append(params, map[string]any{"name": q.name, "in": "query", "description": q.doc, "schema": q.schema()})
	}
	if len(params) > 0 {
		op["parameters"] = params
	}
	if rt.body != nil {
		schema := g.of(rt.body)
		content := map[string]any{"application/json": map[string]any{"schema": schema}}
		if rt.method == "PATCH" {
			content["application/merge-patch+json"] = map[string]any{"schema": schema}
		}
		op["requestBody"] = map[string]any{"required": !rt.bodyOptional, "content": content}
	}
	ok := map[string]any{"description": http.StatusText(rt.status)}
	switch {
	case rt.produces != "":
		ok["content"] = map[string]any{rt.produces: map[string]any{}}
	case rt.resp != nil:
		ok["content"] = map[string]any{"application/json": map[string]any{"schema": g.of(rt.resp)}}
	}
	responses := map[string]any{itoa(rt.status): ok}
	if rt.id == "publishEvent" {
		responses["200"] = map[string]any{"description": "the id was known: the stored event, nothing new stored", "content": ok["content"]}
	}
	problem := map[string]any{"$ref": "#/components/responses/Problem"}
	responses["4XX"] = problem
	responses["5XX"] = problem
	op["responses"] = responses
	if rt.scope != "" {
		op["security"] = []any{map[string]any{"bearer": []any{}}}
		op["x-hookd-scope"] = rt.scope
	} else {
		op["security"] = []any{}
	}
	return op
}

func (p param) schema() map[string]any {
	switch p.kind {
	case kindLimit:
		return map[string]any{"type": "integer", "minimum": 1, "maximum": hookd.MaxLimit, "default": hookd.DefaultLimit}
	case kindTime:
		return map[string]any{"type": "string", "format": "date-time"}
	case kindState:
		return map[string]any{"type": "string", "enum": deliveryStateSet}
	case kindBool:
		return map[string]any{"type": "boolean"}
	}
	return map[string]any{"type": "string", "maxLength": maxParam}
}

func ref(name string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + name} }

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// schemaGen turns Go types into JSON Schemas, each named struct once under
// components/schemas.
type schemaGen struct {
	defs  map[string]any
	names map[reflect.Type]string
}

var (
	durationType = reflect.TypeFor[hookd.Duration]()
	rawType      = reflect.TypeFor[json.RawMessage]()
	// enums are the string types whose values are a closed set.
	enums = map[reflect.Type][]string{
		reflect.TypeFor[hookd.DeliveryState](): deliveryStateSet,
		reflect.TypeFor[hookd.Outcome](): {
			string(hookd.OutcomeSucceeded), string(hookd.OutcomeHTTPError), string(hookd.OutcomeRedirect),
			string(hookd.OutcomeConnectError), string(hookd.OutcomeTLSError), string(hookd.OutcomeTimeout),
			string(hookd.OutcomeBlocked),
		},
	}
)

func (g *schemaGen) of(t reflect.Type) map[string]any {
	switch t {
	case timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case durationType:
		return map[string]any{"type": "string", "description": `a Go duration string such as "30s", "5m" or "1h30m"`}
	case rawType:
		return map[string]any{"description": "any JSON value"}
	}
	if e, ok := enums[t]; ok {
		return map[string]any{"type": "string", "enum": e}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.of(t.Elem())
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "contentEncoding": "base64"}
		}
		return map[string]any{"type": "array", "items": g.of(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.of(t.Elem())}
	case reflect.Struct:
		name := g.name(t)
		if name == "" {
			return g.object(t)
		}
		if _, ok := g.names[t]; !ok {
			g.names[t] = name
			g.defs[name] = nil // claimed, for recursive types
			g.defs[name] = g.object(t)
		}
		return ref(name)
	}
	return map[string]any{} // any value
}

// name gives a struct its schema name: its Go name with a capital (the
// API's own unexported types become EndpointBody …), a list of Ts
// "TList", and "" (inline) for anonymous structs.
func (g *schemaGen) name(t reflect.Type) string {
	if n, ok := g.names[t]; ok {
		return n
	}
	n := t.Name()
	if n == "" {
		return ""
	}
	if i := strings.IndexByte(n, '['); i >= 0 {
		f, ok := t.FieldByName("Data")
		if !ok || f.Type.Kind() != reflect.Slice {
			return ""
		}
		elem := f.Type.Elem()
		for elem.Kind() == reflect.Pointer {
			elem = elem.Elem()
		}
		n = elem.Name() + "List"
	}
	r := []rune(n)
	r[0] = unicode.ToUpper(r[0])
	base := string(r)
	n = base
	for i := 2; ; i++ {
		if _, taken := g.defs[n]; !taken {
			return n
		}
		n = base + itoa(i)
	}
}

// object is the schema of a struct's JSON members, with embedded structs
// flattened as encoding/json does.
func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	g.fields(t, props, &required)
	s := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

func (g *schemaGen) fields(t reflect.Type, props map[string]any, required *[]string) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				g.fields(ft, props, required)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = g.of(f.Type)
		if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
			*required = append(*required, name)
		}
	}
}
