module github.com/wsfsm/wsfsm

go 1.26

require (
	github.com/dave/jennifer v1.7.1
	github.com/leanovate/gopter v0.2.11
)

require github.com/klauspost/compress v1.20.4
