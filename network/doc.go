// Package network carries federated rounds between organizations over
// libp2p: one host per node (TCP and QUIC, Noise, a persisted identity key),
// admission of peers registered on the ledger only (a connection gater),
// gossipsub topics per consortium and round with a validator in front of
// the round protocol, and a direct stream for fetching updates by digest.
//
// The protocol itself lives in network/round as a pure state machine; this
// package is the transport it is driven over.
package network
