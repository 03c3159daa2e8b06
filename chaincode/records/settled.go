package records

import "strings"

// SettledPrefix starts the message of every chaincode refusal that means
// the action has already happened or can no longer happen: a definition
// already proposed, a member that already decided, a proposal or request
// that is closed. Retrying such a transaction gets the same refusal, so a
// client stops there. The prefix is part of the chaincode's interface: it
// survives every layer between chaincode and client (Fabric carries only a
// chaincode error's message), where an error type would not.
const SettledPrefix = "settled: "

// Settled marks err as such a refusal.
func Settled(err error) error { return settled{err} }

type settled struct{ err error }

func (s settled) Error() string { return SettledPrefix + s.err.Error() }
func (s settled) Unwrap() error { return s.err }

// IsSettled reports whether err, as it reached a client through the
// gateway, carries a settled refusal.
func IsSettled(err error) bool {
	return err != nil && strings.Contains(err.Error(), SettledPrefix)
}
