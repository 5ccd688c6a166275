package sqlite

import (
	"encoding/base64"
	"encoding/binary"

	"github.com/hookd/hookd"
)

// A cursor is base64url (no padding) of a kind byte, naming the list it
// belongs to, and the last row's sort key: (time, rowid) as two big-endian
// int64, or a tenant id. Decoding is strict: wrong length, wrong kind,
// non-canonical base64 — anything the store did not make — is EINVALID.
const (
	kindEndpoint  byte = 'n'
	kindEvent     byte = 'e'
	kindDelivery  byte = 'd'
	kindAttemptD  byte = 'a' // attempts of a delivery, oldest first
	kindAttemptE  byte = 'b' // attempts of an endpoint, newest first
	kindAPIKey    byte = 'k'
	kindTenant    byte = 't'
	keyCursorSize      = 17
)

var b64 = base64.RawURLEncoding.Strict()

func errCursor() error { return hookd.Invalid("cursor", "is not a cursor of this list") }

func encodeKey(kind byte, t, rowid int64) string {
	var b [keyCursorSize]byte
	b[0] = kind
	binary.BigEndian.PutUint64(b[1:], uint64(t))
	binary.BigEndian.PutUint64(b[9:], uint64(rowid))
	return b64.EncodeToString(b[:])
}

// decodeKey decodes a cursor made by encodeKey; ok is false for "".
func decodeKey(kind byte, s string) (t, rowid int64, ok bool, err error) {
	if s == "" {
		return 0, 0, false, nil
	}
	if len(s) != b64.EncodedLen(keyCursorSize) {
		return 0, 0, false, errCursor()
	}
	b, err := b64.DecodeString(s)
	if err != nil || len(b) != keyCursorSize || b[0] != kind {
		return 0, 0, false, errCursor()
	}
	t, rowid = int64(binary.BigEndian.Uint64(b[1:])), int64(binary.BigEndian.Uint64(b[9:]))
	if rowid <= 0 {
		return 0, 0, false, errCursor()
	}
	return t, rowid, true, nil
}

func encodeTenant(id string) string { return b64.EncodeToString(append([]byte{kindTenant}, id...)) }

func decodeTenant(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	b, err := b64.DecodeString(s)
	if err != nil || len(b) < 2 || b[0] != kindTenant || !hookd.ValidTenantID(string(b[1:])) {
		return "", errCursor()
	}
	return string(b[1:]), nil
}

// limit applies the suite's rule: ≤ 0 is the default, above the maximum
// is the maximum.
func limit(n int) int {
	switch {
	case n <= 0:
		return hookd.DefaultLimit
	case n > hookd.MaxLimit:
		return hookd.MaxLimit
	}
	return n
}
