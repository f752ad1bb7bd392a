package hub_test

import (
	"fmt"
	"sync"

	"github.com/wsfsm/wsfsm/hub"
	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

// printer is a Sink that prints what it is sent; in a server the sink is
// the *wsconn.Conn of a connection.
type printer struct {
	name string
	wg   *sync.WaitGroup
}

func (p printer) WritePrepared(pms ...*wsconn.PreparedMessage) error {
	for _, pm := range pms {
		fmt.Printf("%s got %s\n", p.name, pm.Payload())
		p.wg.Done()
	}
	return nil
}
func (printer) Close(wsframe.CloseCode, string) error { return nil }
func (printer) CloseNow() error                       { return nil }

// Two nodes on an in-process bus (natsbroker connects nodes in different
// processes): a message published on one reaches the subscribers of both.
func Example() {
	bus := hub.NewMemory()
	a, _ := hub.New(hub.Options{Broker: bus.Broker()})
	b, _ := hub.New(hub.Options{Broker: bus.Broker()})
	defer a.Close()
	defer b.Close()

	var wg sync.WaitGroup
	alice, _ := a.NewSubscriber(printer{"alice (node a)", &wg})
	alice.Subscribe("room")
	bob, _ := b.NewSubscriber(printer{"bob (node b)", &wg})
	bob.Subscribe("room")

	wg.Add(2)
	a.Publish("room", hub.Message{Data: []byte("hello from a")})
	wg.Wait()
	wg.Add(1)
	bob.Send(hub.Message{Data: []byte("just for bob")})
	wg.Wait()
	fmt.Println("published on a:", a.Stats().Published, "received by b:", b.Stats().Received)
	// Unordered output:
	// alice (node a) got hello from a
	// bob (node b) got hello from a
	// bob (node b) got just for bob
	// published on a: 1 received by b: 1
}
