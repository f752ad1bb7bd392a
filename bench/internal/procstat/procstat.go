// Package procstat reads what the Linux scheduler says about a process:
// the CPU time its threads got and the time they spent runnable but waiting
// for a CPU (/proc/PID/task/*/schedstat). The second figure is what tells a
// measurement taken on a shared machine from a starved one: a process that
// waited for a CPU a large part of the time it wanted one did not run at
// the speed being measured.
package procstat

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Sample is the scheduler's account of every thread of a process at one
// moment, by thread id.
type Sample map[int]Times

// Times are one thread's (or a sum of threads') CPU and run-queue times.
type Times struct {
	CPU  time.Duration // on a CPU
	Wait time.Duration // runnable, waiting for a CPU
}

// Share is the part of the time the threads wanted a CPU that they got: 1
// on an idle machine, 0.5 when they waited as long as they ran. NaN when
// nothing ran.
func (t Times) Share() float64 {
	if t.CPU+t.Wait == 0 {
		return nan()
	}
	return float64(t.CPU) / float64(t.CPU+t.Wait)
}

func nan() float64 { var z float64; return z / z }

// Available reports whether this system has per-thread scheduler
// statistics.
func Available() bool {
	_, err := os.Stat("/proc/self/task/" + strconv.Itoa(os.Getpid()) + "/schedstat")
	return err == nil
}

// Read samples process pid (0: this process).
func Read(pid int) (Sample, error) {
	dir := "/proc/self/task"
	if pid != 0 {
		dir = fmt.Sprintf("/proc/%d/task", pid)
	}
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	s := Sample{}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, t.Name(), "schedstat"))
		if err != nil {
			continue // the thread ended meanwhile
		}
		f := strings.Fields(string(b))
		if len(f) < 2 {
			return nil, fmt.Errorf("procstat: %s/schedstat: %q", t.Name(), b)
		}
		cpu, err1 := strconv.ParseInt(f[0], 10, 64)
		wait, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("procstat: %s/schedstat: %q", t.Name(), b)
		}
		s[tid] = Times{CPU: time.Duration(cpu), Wait: time.Duration(wait)}
	}
	if len(s) == 0 {
		return nil, fmt.Errorf("procstat: no threads in %s", dir)
	}
	return s, nil
}

// Since sums, over the threads of s, what they got since before; a thread
// born in between counts from zero. (A thread that ended in between is
// lost; Go programs rarely end threads.)
func (s Sample) Since(before Sample) Times {
	var d Times
	for tid, t := range s {
		b := before[tid]
		d.CPU += t.CPU - b.CPU
		d.Wait += t.Wait - b.Wait
	}
	return d
}

// Watch starts watching this process for a benchmark that uses b.Loop;
// the function it returns, called after the loop, reports two metrics:
// "cpu-ns/op", the CPU time all of this process's threads used per
// iteration (which, unlike ns/op, waiting for a CPU does not inflate), and
// "waited-%", the part of the time they wanted a CPU that they spent
// waiting for one. Where /proc has no schedstat it reports nothing.
func Watch(b *testing.B) (stop func()) {
	return watch(func() int { return b.N }, b.ReportMetric)
}

func watch(n func() int, report func(float64, string)) (stop func()) {
	before, err := Read(0)
	if err != nil {
		return func() {}
	}
	return func() {
		after, err := Read(0)
		if err != nil {
			return
		}
		d := after.Since(before)
		if n() > 0 {
			report(float64(d.CPU)/float64(n()), "cpu-ns/op")
		}
		if s := d.Share(); s == s {
			report(100*(1-s), "waited-%")
		}
	}
}

// tick is the unit of /proc/stat (USER_HZ, 100 on every Linux build that
// matters).
const tick = 10 * time.Millisecond

// CPUTimes are the busy and total times of each CPU, from /proc/stat.
type CPUTimes map[int]struct{ Busy, Total time.Duration }

// ReadCPUs reads /proc/stat. Busy counts user, nice, system, irq, softirq
// and steal (time the hypervisor gave to another machine); idle and iowait
// are the rest of the total.
func ReadCPUs() (CPUTimes, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil, err
	}
	out := CPUTimes{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		n, err := strconv.Atoi(f[0][3:])
		if err != nil {
			continue
		}
		var v [8]int64
		for i := range v {
			v[i], _ = strconv.ParseInt(f[i+1], 10, 64)
		}
		busy := v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
		out[n] = struct{ Busy, Total time.Duration }{time.Duration(busy) * tick, time.Duration(busy+v[3]+v[4]) * tick}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("procstat: no cpuN lines in /proc/stat")
	}
	return out, nil
}

// Others is the part of CPU cpu's time between before and c that went to
// anything but the given process time (own): the share of that CPU that
// other work took from a process pinned to it. NaN without data.
func (c CPUTimes) Others(before CPUTimes, cpu int, own time.Duration) float64 {
	a, ok1 := before[cpu]
	b, ok2 := c[cpu]
	total := b.Total - a.Total
	if !ok1 || !ok2 || total <= 0 {
		return nan()
	}
	other := b.Busy - a.Busy - own
	return max(0, float64(other)/float64(total))
}
