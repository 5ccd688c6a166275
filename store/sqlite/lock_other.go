//go:build !unix

package sqlite

import (
	"fmt"
	"os"
)

// lockFile creates path but cannot lock it on this platform: nothing stops
// two processes from sharing the database here, so do not.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: lock: %w", err)
	}
	return f, nil
}

func unlockFile(f *os.File) error {
	if f == nil {
		return nil
	}
	return f.Close()
}
