// Package rulesync makes minted SLOs take effect: it keeps one Prometheus
// rule file per active s-528 token in a rules directory, removes the files
// of superseded and retired tokens, and asks Prometheus to reload.
//
// Files are written atomically and named by service, SLO name and token
// ID, so Prometheus never reads a torn file, a revision replaces its
// predecessor, and an operator can tell what each file is.
package rulesync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/srellama/srellama/chaincode/devca"
	"github.com/srellama/srellama/nft"
)

// Syncer keeps a rules directory in step with the ledger's tokens.
type Syncer struct {
	Dir string
	// ReloadURL, if set, is Prometheus's reload endpoint
	// (http://host:9090/-/reload, which needs --web.enable-lifecycle).
	ReloadURL string
	Client    *http.Client
}

// FileName is the rule file of a token.
func FileName(t nft.Token) string {
	return fmt.Sprintf("srellama-%s-%s-%s.rules.yml", t.Definition.SLI.Service, t.Definition.Name, t.ID[:16])
}

// Apply brings the directory in line with one token's state: an active
// token's rules are written (if they are not there already), an inactive
// token's file is removed. It refuses a token whose content does not match
// its digest. It reports whether the directory changed.
func (s Syncer) Apply(t nft.Token) (changed bool, err error) {
	if err := nft.ValidateToken(t); err != nil {
		return false, fmt.Errorf("rulesync: refusing token %s: %w", t.ID, err)
	}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return false, fmt.Errorf("rulesync: %w", err)
	}
	path := filepath.Join(s.Dir, FileName(t))
	if t.State.Status != nft.StatusActive {
		if err := s.removeTests(t); err != nil {
			return false, err
		}
		err := os.Remove(path)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, os.ErrNotExist):
			return false, nil
		default:
			return false, fmt.Errorf("rulesync: %w", err)
		}
	}
	// The tests first: once the rules are in place, their tests are too.
	if err := s.writeTests(t); err != nil {
		return false, err
	}
	if current, err := os.ReadFile(path); err == nil && string(current) == t.Definition.Rules.YAML {
		return false, nil
	}
	if err := devca.WriteFileAtomic(path, []byte(t.Definition.Rules.YAML), 0o644); err != nil {
		return false, fmt.Errorf("rulesync: %w", err)
	}
	return true, nil
}

// Reload asks Prometheus to reload its configuration and rules. Without a
// ReloadURL it does nothing: Prometheus then picks the files up on its own
// reload (SIGHUP, or a sidecar).
func (s Syncer) Reload(ctx context.Context) error {
	if s.ReloadURL == "" {
		return nil
	}
	client := s.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.ReloadURL, nil)
	if err != nil {
		return fmt.Errorf("rulesync: reload URL %q: %w", s.ReloadURL, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("rulesync: reloading Prometheus: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("rulesync: Prometheus refused the reload (%s): %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
