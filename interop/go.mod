module github.com/wsfsm/wsfsm/interop

go 1.26

replace github.com/wsfsm/wsfsm => ../

require (
	github.com/coder/websocket v1.8.15
	github.com/gorilla/websocket v1.5.3
	github.com/wsfsm/wsfsm v0.0.0-00010101000000-000000000000
)
