// Package rulesync makes minted SLOs take effect: it keeps one Prometheus
// rule file per active SLO (service and name) in a rules directory,
// replaces it when a revision supersedes the token, removes it when the
// token is retired, and asks Prometheus to reload.
//
// Files are written atomically and named by the SLO's identity, so
// Prometheus never reads a torn file and never holds two definitions of
// one SLO (their recording rules would write the same series). Each file
// names its token in a header, and every alert carries the token ID as the
// srellama_token label, so a page names the SLO that fired it.
package rulesync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/srellama/srellama/chaincode/devca"
	"github.com/srellama/srellama/nft"
)

// LabelToken is the alert label carrying the token ID.
const LabelToken = "srellama_token"

// Syncer keeps a rules directory in step with the ledger's tokens.
type Syncer struct {
	Dir string
	// ReloadURL, if set, is Prometheus's reload endpoint
	// (http://host:9090/-/reload, which needs --web.enable-lifecycle).
	ReloadURL string
	Client    *http.Client
	Served    Served
}

// Served says which services' rules a node installs, whatever the target.
type Served struct {
	// Installs, if set, says whether this node installs a service's
	// rules (it serves the service); nil installs every service's.
	Installs func(ctx context.Context, service string) (bool, error)
	// Skipped, if set, hears of every active token whose rules were not
	// installed because Installs refused its service.
	Skipped func(t nft.Token)
}

// installs reports whether t's rules belong on this node.
func (s Served) installs(ctx context.Context, t nft.Token) (bool, error) {
	if s.Installs == nil {
		return true, nil
	}
	ok, err := s.Installs(ctx, t.Definition.SLI.Service)
	if err != nil {
		return false, fmt.Errorf("rulesync: %w", err)
	}
	if !ok && t.State.Status == nft.StatusActive && s.Skipped != nil {
		s.Skipped(t)
	}
	return ok, nil
}

// FileName is the rule file of a token's SLO: one per service and name.
func FileName(t nft.Token) string {
	return fmt.Sprintf("srellama-%s-%s.rules.yml", t.Definition.SLI.Service, t.Definition.Name)
}

// legacyFileName is the per-token name earlier versions wrote.
func legacyFileName(t nft.Token) string {
	return fmt.Sprintf("srellama-%s-%s-%s.rules.yml", t.Definition.SLI.Service, t.Definition.Name, t.ID[:16])
}

// Content is what the rule file of an active token holds: a header naming
// the token and its rules with the token ID on every alert.
func Content(t nft.Token) ([]byte, error) {
	labelled, err := labelAlerts(t.Definition.Rules.YAML, t.ID)
	if err != nil {
		return nil, fmt.Errorf("rulesync: token %s: %w", t.ID, err)
	}
	return append([]byte(header(t)), labelled...), nil
}

func header(t nft.Token) string {
	return fmt.Sprintf("# s-528 token %s, version %d of SLO %s-%s. Managed by srellama: do not edit.\n",
		t.ID, t.Definition.Version, t.Definition.SLI.Service, t.Definition.Name)
}

// Apply brings the directory in line with one token's state: an active
// token's rules are written (replacing an earlier version's), an inactive
// token's file is removed if it is still the one installed. A token of a
// service this node does not install is skipped (and a file of it
// removed). It refuses a token whose content does not match its digest. It
// reports whether the directory changed.
func (s Syncer) Apply(ctx context.Context, t nft.Token) (changed bool, err error) {
	if err := nft.ValidateToken(t); err != nil {
		return false, fmt.Errorf("rulesync: refusing token %s: %w", t.ID, err)
	}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return false, fmt.Errorf("rulesync: %w", err)
	}
	path := filepath.Join(s.Dir, FileName(t))
	legacy, err := s.removeLegacy(t)
	if err != nil {
		return false, err
	}
	install, err := s.Served.installs(ctx, t)
	if err != nil {
		return legacy, err
	}
	if !install {
		if err := s.removeTests(t, func([]byte) bool { return true }); err != nil {
			return legacy, err
		}
		removed, err := removeIf(path, func([]byte) bool { return true })
		return legacy || removed, err
	}
	if t.State.Status != nft.StatusActive {
		// A superseded version's event may come after its successor's
		// install (or a replay may repeat it): remove only its own file.
		own := func(current []byte) bool { return bytes.HasPrefix(current, []byte(header(t))) }
		if err := s.removeTests(t, own); err != nil {
			return legacy, err
		}
		removed, err := removeIf(path, own)
		return legacy || removed, err
	}
	content, err := Content(t)
	if err != nil {
		return legacy, err
	}
	// The tests first: once the rules are in place, their tests are too.
	if err := s.writeTests(t); err != nil {
		return legacy, err
	}
	if current, err := os.ReadFile(path); err == nil && bytes.Equal(current, content) {
		return legacy, nil
	}
	if err := devca.WriteFileAtomic(path, content, 0o644); err != nil {
		return legacy, fmt.Errorf("rulesync: %w", err)
	}
	return true, nil
}

func (s Syncer) removeLegacy(t nft.Token) (bool, error) {
	return removeIf(filepath.Join(s.Dir, legacyFileName(t)), func([]byte) bool { return true })
}

// removeIf removes path if it exists and its content passes keep's test.
func removeIf(path string, remove func(current []byte) bool) (bool, error) {
	current, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("rulesync: %w", err)
	}
	if !remove(current) {
		return false, nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("rulesync: %w", err)
	}
	return true, nil
}

// labelAlerts adds the token label to every alerting rule of a rule file.
func labelAlerts(rules, tokenID string) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(rules), &doc); err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	if len(doc.Content) != 1 {
		return nil, errors.New("rules: not one YAML document")
	}
	groups := mapValue(doc.Content[0], "groups")
	if groups == nil || groups.Kind != yaml.SequenceNode {
		return nil, errors.New("rules: no groups")
	}
	for _, g := range groups.Content {
		rs := mapValue(g, "rules")
		if rs == nil {
			continue
		}
		for _, r := range rs.Content {
			if mapValue(r, "alert") == nil {
				continue
			}
			labels := mapValue(r, "labels")
			if labels == nil {
				labels = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
				r.Content = append(r.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "labels"}, labels)
			}
			if v := mapValue(labels, LabelToken); v != nil {
				v.Value = tokenID
				continue
			}
			labels.Content = append(labels.Content,
				&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: LabelToken},
				&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: tokenID, Style: yaml.DoubleQuotedStyle})
		}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	return buf.Bytes(), nil
}

// mapValue returns the value of key in a mapping node, nil if absent.
func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
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
