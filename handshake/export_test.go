package handshake

// Steps is the number of bytes the machine has stepped over: never more
// than the bytes fed, however they were split.
func (r *HeadReader) Steps() int { return r.steps }

// State names the machine state.
func (r *HeadReader) State() string { return r.stateName() }
