package server

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

// With a TLS listener the event loop cannot run: the server says so and
// serves with goroutines, the same handler.
func TestEventLoopFallsBackOnTLS(t *testing.T) {
	certs := httptest.NewUnstartedServer(http.NotFoundHandler())
	certs.StartTLS()
	serverTLS := certs.TLS.Clone()
	clientTLS := certs.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	certs.Close()

	var mu sync.Mutex
	var logged []string
	s := &Server{
		EventLoop: &LoopOptions{},
		Handler: Funcs{Message: func(c *wsconn.Conn, op wsframe.Opcode, data []byte) {
			c.WriteMessage(op, data)
		}},
		Options: Options{Logf: func(format string, args ...any) {
			mu.Lock()
			logged = append(logged, format)
			mu.Unlock()
		}},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(tls.NewListener(ln, serverTLS))
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := wsconn.Dial(ctx, "wss://"+ln.Addr().String()+"/", &wsconn.DialOptions{TLSConfig: clientTLS})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.WriteMessage(wsframe.OpText, []byte("over TLS"))
	if _, got, err := c.ReadMessage(); err != nil || string(got) != "over TLS" {
		t.Fatalf("echo %q, %v", got, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(logged) == 0 || !strings.Contains(logged[0], "goroutine per connection") {
		t.Errorf("the fallback was not logged: %q", logged)
	}
}

// Negative LoopOptions take the defaults, as zero ones do.
func TestLoopOptionsNegativeAreDefaults(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the event loop runs on Linux")
	}
	s := startServer(t, &Server{EventLoop: &LoopOptions{Loops: -1, Workers: -1, WriteQueueLimit: -1}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c, err := wsconn.Dial(ctx, "ws://"+s.Addr().String()+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.WriteMessage(wsframe.OpText, []byte("defaults"))
	if _, p, err := c.ReadMessage(); err != nil || string(p) != "defaults" {
		t.Fatalf("echo %q, %v", p, err)
	}
}
