//go:build unix

package delivery

import "syscall"

// socketIdle reads one byte without waiting: nothing to read (EAGAIN)
// means the peer neither closed the connection nor sent anything.
func socketIdle(rc syscall.RawConn) bool {
	idle := false
	var b [1]byte
	err := rc.Read(func(fd uintptr) bool {
		n, err := syscall.Read(int(fd), b[:])
		idle = n < 0 && (err == syscall.EAGAIN || err == syscall.EWOULDBLOCK)
		return true // never wait
	})
	return err == nil && idle
}
