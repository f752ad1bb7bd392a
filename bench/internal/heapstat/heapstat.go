// Package heapstat lets the load generator ask a server process for its
// live heap: on SIGUSR1 the server collects garbage and writes HeapAlloc
// (bytes, decimal) to the file named by $BENCH_HEAPFILE. Servers that do
// not call Serve are measured by their resident memory only.
package heapstat

import (
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
)

// Env names the file the heap is written to.
const Env = "BENCH_HEAPFILE"

// Serve answers SIGUSR1 in the background when $BENCH_HEAPFILE is set.
func Serve() {
	path := os.Getenv(Env)
	if path == "" {
		return
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1)
	go func() {
		for range sig {
			runtime.GC()
			runtime.GC()
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			tmp := path + ".tmp"
			os.WriteFile(tmp, []byte(strconv.FormatUint(m.HeapAlloc, 10)), 0o644)
			os.Rename(tmp, path)
		}
	}()
}
