package hookd

import (
	"encoding/json"
	"errors"
	"time"
)

// Duration is a time.Duration that reads and writes JSON as a Go duration
// string ("30s", "5h"), the form the API uses everywhere.
type Duration time.Duration

// String formats d as time.Duration does.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// InvalidDuration is what UnmarshalJSON stores for a value that is not a
// non-negative duration string. Decoding never fails on a bad duration, so
// that validation can name the field (encoding/json reports no field for
// errors of custom unmarshalers) and report every bad field at once.
const InvalidDuration Duration = -1

// Valid reports whether d holds a real duration.
func (d Duration) Valid() bool { return d >= 0 }

// UnmarshalJSON accepts a duration string. Anything else decodes to
// InvalidDuration, which the owner's Validate reports with the field name.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		*d = InvalidDuration
		return nil
	}
	v, err := ParseDuration(s)
	if err != nil {
		*d = InvalidDuration
		return nil
	}
	*d = Duration(v)
	return nil
}

// DurationMessage is the validation message for an InvalidDuration.
const DurationMessage = `must be a non-negative duration string such as "30s" or "5h"`

// ParseDuration parses a Go duration string and refuses negative values,
// which mean nothing for timeouts, delays or grace periods.
func ParseDuration(s string) (time.Duration, error) {
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, errors.New(`must be a duration string such as "30s" or "5h"`)
	}
	if v < 0 {
		return 0, errors.New("must not be negative")
	}
	return v, nil
}
