package rulesync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/srellama/srellama/chaincode/devca"
	"github.com/srellama/srellama/llm/export"
	"github.com/srellama/srellama/nft"
)

// Manifests keeps a folder of prometheus-operator PrometheusRule
// manifests, one per active token, for a GitOps controller (Argo CD, Flux)
// to apply: the rules reach Prometheus through the operator, not through
// files and a reload.
type Manifests struct {
	Dir       string
	Namespace string
	// Labels select the resources in a Prometheus's ruleSelector.
	Labels map[string]string
}

// ManifestFileName is the PrometheusRule manifest of a token.
func ManifestFileName(t nft.Token) string {
	return strings.TrimSuffix(FileName(t), ".rules.yml") + ".prometheusrule.yaml"
}

// Apply writes an active token's manifest and removes an inactive one's.
func (m Manifests) Apply(t nft.Token) (bool, error) {
	if err := nft.ValidateToken(t); err != nil {
		return false, fmt.Errorf("rulesync: refusing token %s: %w", t.ID, err)
	}
	path := filepath.Join(m.Dir, ManifestFileName(t))
	if t.State.Status != nft.StatusActive {
		err := os.Remove(path)
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		return err == nil, err
	}
	data, err := export.PrometheusRuleOf(t.Definition, t.Definition.Rules.YAML, export.KubeOptions{Namespace: m.Namespace, Labels: m.Labels})
	if err != nil {
		return false, fmt.Errorf("rulesync: %w", err)
	}
	if current, err := os.ReadFile(path); err == nil && bytes.Equal(current, data) {
		return false, nil
	}
	if err := os.MkdirAll(m.Dir, 0o755); err != nil {
		return false, fmt.Errorf("rulesync: %w", err)
	}
	if err := devca.WriteFileAtomic(path, data, 0o644); err != nil {
		return false, fmt.Errorf("rulesync: %w", err)
	}
	return true, nil
}

// Reload does nothing: the GitOps controller applies the folder.
func (Manifests) Reload(context.Context) error { return nil }

// Ruler writes rule groups to a Mimir or Cortex ruler through its HTTP
// configuration API: POST <URL>/prometheus/config/v1/rules/<namespace>
// with one rule group as YAML, DELETE .../<namespace>/<group> to remove it,
// the tenant in X-Scope-OrgID. The ruler evaluates the groups itself, so
// there is nothing to reload.
type Ruler struct {
	// URL is the ruler's (or Mimir's gateway's) root, without the
	// /prometheus prefix.
	URL       string
	Namespace string
	TenantID  string
	// BearerToken, when set, is sent as an Authorization header.
	BearerToken string
	Client      *http.Client
}

// RulerNamespace is the ruler namespace used when none is configured.
const RulerNamespace = "srellama"

type ruleGroup struct {
	Name  string      `yaml:"name"`
	Rules []yaml.Node `yaml:"rules"`
}

// Apply sets or deletes the token's rule groups.
func (r Ruler) Apply(t nft.Token) (bool, error) {
	if err := nft.ValidateToken(t); err != nil {
		return false, fmt.Errorf("rulesync: refusing token %s: %w", t.ID, err)
	}
	var file struct {
		Groups []ruleGroup `yaml:"groups"`
	}
	if err := yaml.Unmarshal([]byte(t.Definition.Rules.YAML), &file); err != nil || len(file.Groups) == 0 {
		return false, fmt.Errorf("rulesync: token %s: rules have no groups (%v)", t.ID, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	changed := false
	for _, g := range file.Groups {
		if t.State.Status != nft.StatusActive {
			status, err := r.do(ctx, http.MethodDelete, r.namespacePath()+"/"+url.PathEscape(g.Name), nil)
			if err != nil {
				return changed, err
			}
			changed = changed || status != http.StatusNotFound
			continue
		}
		body, err := yaml.Marshal(g)
		if err != nil {
			return changed, fmt.Errorf("rulesync: %w", err)
		}
		if _, err := r.do(ctx, http.MethodPost, r.namespacePath(), body); err != nil {
			return changed, err
		}
		changed = true
	}
	return changed, nil
}

// Reload does nothing: the ruler loads what it is sent.
func (Ruler) Reload(context.Context) error { return nil }

func (r Ruler) namespacePath() string {
	ns := r.Namespace
	if ns == "" {
		ns = RulerNamespace
	}
	return strings.TrimRight(r.URL, "/") + "/prometheus/config/v1/rules/" + url.PathEscape(ns)
}

// do sends one request; a 404 on DELETE is a group already gone.
func (r Ruler) do(ctx context.Context, method, target string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("rulesync: ruler URL %q: %w", r.URL, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/yaml")
	}
	if r.TenantID != "" {
		req.Header.Set("X-Scope-OrgID", r.TenantID)
	}
	if r.BearerToken != "" {
		req.Header.Set("Authorization", "Bearer "+r.BearerToken)
	}
	client := r.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("rulesync: ruler: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	switch {
	case resp.StatusCode/100 == 2:
		return resp.StatusCode, nil
	case method == http.MethodDelete && resp.StatusCode == http.StatusNotFound:
		return resp.StatusCode, nil
	}
	return resp.StatusCode, fmt.Errorf("rulesync: ruler %s %s: %s: %s", method, target, resp.Status, bytes.TrimSpace(msg))
}
