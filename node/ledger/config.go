package ledger

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/srellama/srellama/chaincode/devca"
)

// Config is how a node reaches a ledger through the Fabric Gateway API. It
// has the same shape for the embedded ledger (which writes one per
// organization when it starts) and for a real Fabric peer. Relative paths are
// resolved against the directory of the file the configuration was read from.
type Config struct {
	Endpoint    string `json:"endpoint"`             // host:port of the gateway peer
	ServerName  string `json:"serverName,omitempty"` // TLS server name, when it differs from the endpoint host
	TLSRootCert string `json:"tlsRootCert"`          // PEM file of the CA that issued the peer's TLS certificate
	MSPID       string `json:"mspId"`
	Cert        string `json:"cert"` // PEM file of the client's signing certificate
	Key         string `json:"key"`  // PEM file of the client's private key
	Channel     string `json:"channel"`
	Chaincode   string `json:"chaincode"`
}

// Validate reports the first missing setting.
func (c Config) Validate() error {
	for _, f := range []struct{ name, value string }{
		{"endpoint", c.Endpoint}, {"tlsRootCert", c.TLSRootCert}, {"mspId", c.MSPID},
		{"cert", c.Cert}, {"key", c.Key}, {"channel", c.Channel}, {"chaincode", c.Chaincode},
	} {
		if f.value == "" {
			return fmt.Errorf("ledger config: %s is required", f.name)
		}
	}
	return nil
}

// LoadConfig reads a JSON connection configuration.
func LoadConfig(path string) (Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("ledger config: %w", err)
	}
	var c Config
	if err := json.Unmarshal(raw, &c); err != nil {
		return Config{}, fmt.Errorf("ledger config %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	for _, p := range []*string{&c.TLSRootCert, &c.Cert, &c.Key} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// SaveConfig writes c as JSON, atomically.
func SaveConfig(path string, c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	// LoadConfig resolves file paths against the file's directory; write
	// them that way, so the pair round-trips from any working directory and
	// a folder of connection files can be moved as a whole.
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("ledger config: %w", err)
	}
	for _, p := range []*string{&c.TLSRootCert, &c.Cert, &c.Key} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return fmt.Errorf("ledger config: %w", err)
		}
		if rel, err := filepath.Rel(dir, abs); err == nil {
			*p = rel
		} else {
			*p = abs
		}
	}
	raw, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("ledger config: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("ledger config: %w", err)
	}
	return devca.WriteFileAtomic(path, append(raw, '\n'), 0o644)
}
