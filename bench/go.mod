module github.com/wsfsm/wsfsm/bench

go 1.26

replace github.com/wsfsm/wsfsm => ../

require github.com/wsfsm/wsfsm v0.0.0-00010101000000-000000000000
