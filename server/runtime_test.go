package server

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// The server's tests run against both runtimes with the same code: the
// goroutine runtime in this process, the event loop in a child process
// of the same test binary (TestEventLoopRuntime) with WSFSM_TEST_RUNTIME
// set, where every test server is switched by onRuntime.
const runtimeEnv = "WSFSM_TEST_RUNTIME"

// onLoop reports whether this process tests the event-loop runtime.
var onLoop = os.Getenv(runtimeEnv) == "loop"

// onRuntime sets the runtime under test on s.
func onRuntime(s *Server) {
	if onLoop && s.EventLoop == nil {
		s.EventLoop = &LoopOptions{Loops: 2}
	}
}

// loopTests are the tests that run on both runtimes: the conformance
// table, the close handshake, the limits, the attacks, shutdown, leaks.
var loopTests = []string{
	"TestConformance", "TestInvalidUTF8FailsBeforeTheLastFragment", "TestOversizeRefusedFromTheHeader",
	"TestHandshakeRejections", "TestFramesInTheHandshakePacket",
	"TestAttackAnnounceAndStall", "TestAttackNeverReadingPeer", "TestAttackCloseWithStuckWriter",
	"TestAttackIdleTimeoutDropsNonReader", "TestAttackPingFloodWithoutReading", "TestAttackSlowlorisHandshake",
	"TestShutdownWhileAccepting", "TestLingeringCloseKeepsEchoes",
	"TestMaxConns", "TestIdleTimeout", "TestShutdownDoesNotWaitForAStuckHandler", "TestNoLeaksAfter1000Connections",
	"TestShutdownSendsGoingAway", "TestCloseNowFromTheHandler", "TestKeepaliveDropsASilentPeer", "TestAttackHeadThenReset",
}

func TestEventLoopRuntime(t *testing.T) {
	if onLoop {
		t.Skip("this is the event-loop run")
	}
	if runtime.GOOS != "linux" {
		t.Skip("the event loop runs on Linux")
	}
	args := []string{"-test.run", "^(" + strings.Join(loopTests, "|") + ")$", "-test.count", "1"}
	if testing.Short() {
		args = append(args, "-test.short")
	}
	if testing.Verbose() {
		args = append(args, "-test.v")
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), runtimeEnv+"=loop")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the tests on the event loop failed: %v\n%s", err, out)
	}
	t.Logf("event loop run:\n%s", out)
}
