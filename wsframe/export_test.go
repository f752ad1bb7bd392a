package wsframe

// State names the machine state, e.g. "ServerFrame.ReadLen16Hi".
func (p *Parser) State() string { return p.stateName() }

// StateCount is the number of states of both frame machines.
const StateCount = len(frameStateNames)

// StateName names state i.
func StateName(i int) string { return frameStateNames[i] }
