package main

import (
	"errors"
	"strings"
	"testing"
)

func TestServerConfig(t *testing.T) {
	files := map[string]string{"/tls/cert.pem": "CERT", "/tls/key.pem": "KEY", "/tls/ca.pem": "CA"}
	readFile := func(p string) ([]byte, error) {
		if v, ok := files[p]; ok {
			return []byte(v), nil
		}
		return nil, errors.New("no such file " + p)
	}
	tests := []struct {
		name      string
		env       map[string]string
		wantNil   bool
		wantErr   string
		wantCCID  string
		wantTLS   bool
		wantCACrt string
	}{
		{name: "no variables: peer-launched", env: map[string]string{}, wantNil: true},
		{name: "samples' CHAINCODE_ID", env: map[string]string{"CHAINCODE_SERVER_ADDRESS": "127.0.0.1:9999", "CHAINCODE_ID": "srellama:abc"}, wantCCID: "srellama:abc"},
		{name: "contract-api's CORE_CHAINCODE_ID_NAME", env: map[string]string{"CHAINCODE_SERVER_ADDRESS": "127.0.0.1:9999", "CORE_CHAINCODE_ID_NAME": "srellama:def"}, wantCCID: "srellama:def"},
		{name: "CHAINCODE_ID wins", env: map[string]string{"CHAINCODE_SERVER_ADDRESS": "a:1", "CHAINCODE_ID": "one", "CORE_CHAINCODE_ID_NAME": "two"}, wantCCID: "one"},
		{name: "address without ID", env: map[string]string{"CHAINCODE_SERVER_ADDRESS": "a:1"}, wantErr: "package ID"},
		{name: "ID without address", env: map[string]string{"CHAINCODE_ID": "x"}, wantErr: "CHAINCODE_SERVER_ADDRESS is not"},
		{name: "mutual TLS", env: map[string]string{"CHAINCODE_SERVER_ADDRESS": "a:1", "CHAINCODE_ID": "x", "CHAINCODE_TLS_CERT_FILE": "/tls/cert.pem", "CHAINCODE_TLS_KEY_FILE": "/tls/key.pem", "CHAINCODE_TLS_CLIENT_CA_FILE": "/tls/ca.pem"}, wantCCID: "x", wantTLS: true, wantCACrt: "CA"},
		{name: "TLS with half the files", env: map[string]string{"CHAINCODE_SERVER_ADDRESS": "a:1", "CHAINCODE_ID": "x", "CHAINCODE_TLS_CERT_FILE": "/tls/cert.pem"}, wantErr: "needs both"},
		{name: "TLS with a missing file", env: map[string]string{"CHAINCODE_SERVER_ADDRESS": "a:1", "CHAINCODE_ID": "x", "CHAINCODE_TLS_CERT_FILE": "/tls/cert.pem", "CHAINCODE_TLS_KEY_FILE": "/nope"}, wantErr: "reading TLS key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := serverConfig(func(k string) string { return tt.env[k] }, readFile)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantNil {
				if cfg != nil {
					t.Fatalf("cfg = %+v, want nil", cfg)
				}
				return
			}
			if cfg.CCID != tt.wantCCID || cfg.TLSProps.Disabled == tt.wantTLS || string(cfg.TLSProps.ClientCACerts) != tt.wantCACrt {
				t.Fatalf("cfg = %+v", cfg)
			}
		})
	}
}
