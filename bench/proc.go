package main

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// memory is what /proc/self/status says of this process's memory.
type memory struct {
	RSS, HWM int64 // bytes: resident now, and its peak since resetPeakRSS
	// RSS split: anonymous memory (heap, stacks, SQLite's page caches)
	// and file pages (the binary, and the database file SQLite maps
	// with mmap_size, which the kernel may drop at any time).
	Anon, File int64
}

func readMemory() memory {
	var m memory
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return m
	}
	for line := range strings.Lines(string(b)) {
		name, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		var dst *int64
		switch name {
		case "VmRSS":
			dst = &m.RSS
		case "VmHWM":
			dst = &m.HWM
		case "RssAnon":
			dst = &m.Anon
		case "RssFile":
			dst = &m.File
		default:
			continue
		}
		f := strings.Fields(rest)
		if len(f) >= 1 {
			kb, _ := strconv.ParseInt(f[0], 10, 64)
			*dst = kb << 10
		}
	}
	return m
}

// resetPeakRSS makes VmHWM start again from the current RSS (Linux ≥ 4.0),
// so that a scenario's peak is its own and not an earlier scenario's.
func resetPeakRSS() {
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// clockTick is USER_HZ, the unit of /proc/<pid>/stat times: 100 on every
// Linux platform Go supports.
const clockTick = 10 * time.Millisecond

// processCPU sums the CPU time of the processes whose command name is comm
// (e.g. "postgres": the server and all of its backends), keyed by pid so
// that a later call can subtract an earlier one.
func processCPU(comm string) map[int]time.Duration {
	out := map[int]time.Duration{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		b, err := os.ReadFile(d + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid … utime(14) stime(15): comm may hold
		// spaces and parentheses, so split after its last ')'.
		open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
		if open < 0 || end < open || string(b[open+1:end]) != comm {
			continue
		}
		f := strings.Fields(string(b[end+1:]))
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		out[pid] = time.Duration(u+s) * clockTick
	}
	return out
}

// cpuSince is the CPU the processes of now used since before; processes
// that started in between count from zero.
func cpuSince(before, now map[int]time.Duration) time.Duration {
	var d time.Duration
	for pid, t := range now {
		d += t - before[pid]
	}
	return d
}

// machine describes the host for the report.
func machine() (cpus int, model string, memTotal int64) {
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if !ok {
				continue
			}
			switch strings.TrimSpace(k) {
			case "processor":
				cpus++
			case "model name":
				if model == "" {
					model = strings.TrimSpace(v)
				}
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				f := strings.Fields(rest)
				if len(f) > 0 {
					kb, _ := strconv.ParseInt(f[0], 10, 64)
					memTotal = kb << 10
				}
			}
		}
	}
	return cpus, model, memTotal
}

// memPeaks samples this process's memory every 50ms until stop is
// called, and returns the largest RSS and its anonymous and file-backed
// parts seen (each its own maximum). VmHWM gives the peak RSS alone, and a
// peak of file pages (the mapped database, which the kernel may drop) is
// not a peak of memory hookd holds.
func memPeaks() (stop func() memory) {
	done := make(chan struct{})
	out := make(chan memory)
	go func() {
		var peak memory
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			m := readMemory()
			peak.RSS, peak.Anon, peak.File = max(peak.RSS, m.RSS), max(peak.Anon, m.Anon), max(peak.File, m.File)
			select {
			case <-done:
				out <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return func() memory {
		close(done)
		return <-out
	}
}
