// Package test holds the end-to-end tests and benchmarks that run
// SRE-Llama on a real Hyperledger Fabric network brought up by
// scripts/network.sh. They need Fabric's release binaries (FABRIC_BIN) and
// skip without them.
package test
