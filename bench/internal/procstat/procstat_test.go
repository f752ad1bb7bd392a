package procstat

import (
	"math"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// A thread that spins for a while shows at least most of that time as CPU,
// and a share in (0, 1].
func TestSpinIsCounted(t *testing.T) {
	if !Available() {
		t.Skip("no /proc/self/task/*/schedstat here")
	}
	before, err := Read(0)
	if err != nil {
		t.Fatal(err)
	}
	runtime.LockOSThread()
	start := time.Now()
	x := 0
	for time.Since(start) < 50*time.Millisecond {
		x++
	}
	runtime.UnlockOSThread()
	after, err := Read(0)
	if err != nil {
		t.Fatal(err)
	}
	d := after.Since(before)
	if d.CPU+d.Wait < 45*time.Millisecond {
		t.Errorf("spun 50ms, scheduler saw cpu %v wait %v (%d)", d.CPU, d.Wait, x)
	}
	if s := d.Share(); !(s > 0 && s <= 1) {
		t.Errorf("share %v", s)
	}
}

func TestShare(t *testing.T) {
	if s := (Times{CPU: 3, Wait: 1}).Share(); s != 0.75 {
		t.Errorf("share %v, want 0.75", s)
	}
	if !math.IsNaN(Times{}.Share()) {
		t.Error("share of nothing should be NaN")
	}
}

// A thread that appears between samples counts from zero; one present in
// both counts its difference.
func TestSince(t *testing.T) {
	before := Sample{1: {CPU: 10, Wait: 5}}
	after := Sample{1: {CPU: 30, Wait: 6}, 2: {CPU: 7, Wait: 2}}
	if d := after.Since(before); d != (Times{CPU: 27, Wait: 3}) {
		t.Errorf("since = %+v", d)
	}
}

// Others: busy time not the process's own, as a part of the CPU's total,
// never below zero (ticks are coarser than schedstat's nanoseconds).
func TestOthers(t *testing.T) {
	type bt = struct{ Busy, Total time.Duration }
	before := CPUTimes{1: bt{Busy: 100 * tick, Total: 1000 * tick}}
	after := CPUTimes{1: bt{Busy: 180 * tick, Total: 1100 * tick}}
	if o := after.Others(before, 1, 30*tick); o != 0.5 {
		t.Errorf("others %v, want 0.5", o)
	}
	if o := after.Others(before, 1, 90*tick); o != 0 {
		t.Errorf("others %v, want 0", o)
	}
	if !math.IsNaN(after.Others(before, 0, 0)) {
		t.Error("a CPU without data should give NaN")
	}
	if _, err := ReadCPUs(); err != nil && Available() {
		t.Error(err)
	}
}

// Ten iterations spinning 5 ms each report per iteration the CPU time
// getrusage sees, and a waiting share.
func TestWatch(t *testing.T) {
	if !Available() {
		t.Skip("no schedstat")
	}
	cpuTime := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	got := map[string]float64{}
	ru0 := cpuTime()
	stop := watch(func() int { return 10 }, func(v float64, unit string) { got[unit] = v })
	runtime.LockOSThread()
	for range 10 {
		start := time.Now()
		for time.Since(start) < 5*time.Millisecond {
		}
	}
	runtime.UnlockOSThread()
	stop()
	want := float64(cpuTime()-ru0) / 10
	if cpu := got["cpu-ns/op"]; cpu < 0.7*want || cpu > 1.3*want {
		t.Errorf("cpu-ns/op %v, getrusage says %v per iteration", cpu, want)
	}
	if w, ok := got["waited-%"]; !ok || w < 0 || w > 100 {
		t.Errorf("waited-%% %v %v", w, ok)
	}
}
