package ledger_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/srellama/srellama/node/ledger"
)

// A configuration holds usable paths; its file holds them relative to the
// file, so Load(Save(c)) == c from any working directory and the folder can
// be moved.
func TestConfigRoundTripResolvesRelativePaths(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "org1", "connection.json")
	want := ledger.Config{Endpoint: "127.0.0.1:7051", ServerName: "localhost", TLSRootCert: filepath.Join(dir, "tls", "ca.pem"), MSPID: "Org1MSP",
		Cert: filepath.Join(dir, "org1", "client", "cert.pem"), Key: filepath.Join(dir, "org1", "client", "key.pem"), Channel: "srellama", Chaincode: "srellama"}
	if err := ledger.SaveConfig(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := ledger.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("loaded %+v\nwant   %+v", got, want)
	}
	raw, _ := os.ReadFile(path)
	for _, rel := range []string{`"../tls/ca.pem"`, `"client/cert.pem"`, `"client/key.pem"`} {
		if !strings.Contains(string(raw), rel) {
			t.Errorf("the file does not hold %s relative to itself:\n%s", rel, raw)
		}
	}
	moved := filepath.Join(t.TempDir(), "moved")
	if err := os.Rename(dir, moved); err != nil {
		t.Fatal(err)
	}
	got, err = ledger.LoadConfig(filepath.Join(moved, "org1", "connection.json"))
	if err != nil || got.Cert != filepath.Join(moved, "org1", "client", "cert.pem") {
		t.Fatalf("after moving the folder: %+v, %v", got, err)
	}
}

func TestConfigRefusesMissingSettings(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ name, json, want string }{
		{"no endpoint", `{"tlsRootCert":"a","mspId":"m","cert":"c","key":"k","channel":"ch","chaincode":"cc"}`, "endpoint is required"},
		{"no chaincode", `{"endpoint":"e","tlsRootCert":"a","mspId":"m","cert":"c","key":"k","channel":"ch"}`, "chaincode is required"},
		{"not JSON", `endpoint: e`, "invalid character"},
	}
	for _, tt := range tests {
		path := filepath.Join(dir, tt.name+".json")
		os.WriteFile(path, []byte(tt.json), 0o644)
		if _, err := ledger.LoadConfig(path); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
	if err := ledger.SaveConfig(filepath.Join(dir, "x.json"), ledger.Config{}); err == nil {
		t.Error("saved an empty configuration")
	}
}
