package rulesync

import (
	"bytes"
	"context"
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
	Served Served
}

// ManifestFileName is the PrometheusRule manifest of a token.
func ManifestFileName(t nft.Token) string {
	return strings.TrimSuffix(FileName(t), ".rules.yml") + ".prometheusrule.yaml"
}

// Apply writes an active token's manifest and removes an inactive one's,
// if it is still the one in the folder (a successor's stays), and the
// manifest of a service this node does not install.
func (m Manifests) Apply(ctx context.Context, t nft.Token) (bool, error) {
	if err := nft.ValidateToken(t); err != nil {
		return false, fmt.Errorf("rulesync: refusing token %s: %w", t.ID, err)
	}
	path := filepath.Join(m.Dir, ManifestFileName(t))
	install, err := m.Served.installs(ctx, t)
	if err != nil {
		return false, err
	}
	if !install {
		return removeIf(path, func([]byte) bool { return true })
	}
	if t.State.Status != nft.StatusActive {
		return removeIf(path, func(current []byte) bool { return bytes.Contains(current, []byte(t.ID)) })
	}
	labelled, err := labelAlerts(t.Definition.Rules.YAML, t.ID)
	if err != nil {
		return false, fmt.Errorf("rulesync: token %s: %w", t.ID, err)
	}
	data, err := export.PrometheusRuleOf(t.Definition, string(labelled), export.KubeOptions{Namespace: m.Namespace, Labels: m.Labels})
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
	Served      Served
}

// RulerNamespace is the ruler namespace used when none is configured.
const RulerNamespace = "srellama"

type ruleGroup struct {
	Name  string      `yaml:"name"`
	Rules []yaml.Node `yaml:"rules"`
}

// Apply sets an active token's rule groups (a POST replaces a group of
// the same name, so a revision replaces its predecessor's) and deletes an
// inactive token's groups that are still its own, and the groups of a
// service this node does not install.
func (r Ruler) Apply(ctx context.Context, t nft.Token) (bool, error) {
	if err := nft.ValidateToken(t); err != nil {
		return false, fmt.Errorf("rulesync: refusing token %s: %w", t.ID, err)
	}
	install, err := r.Served.installs(ctx, t)
	if err != nil {
		return false, err
	}
	labelled, err := labelAlerts(t.Definition.Rules.YAML, t.ID)
	if err != nil {
		return false, fmt.Errorf("rulesync: token %s: %w", t.ID, err)
	}
	var file struct {
		Groups []ruleGroup `yaml:"groups"`
	}
	if err := yaml.Unmarshal(labelled, &file); err != nil || len(file.Groups) == 0 {
		return false, fmt.Errorf("rulesync: token %s: rules have no groups (%v)", t.ID, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if !install || t.State.Status != nft.StatusActive {
		return r.deleteGroups(ctx, file.Groups, !install, t.ID)
	}
	changed := false
	for _, g := range file.Groups {
		body, err := yaml.Marshal(g)
		if err != nil {
			return changed, fmt.Errorf("rulesync: %w", err)
		}
		if _, _, err := r.do(ctx, http.MethodPost, r.namespacePath(), body); err != nil {
			return changed, err
		}
		changed = true
	}
	return changed, nil
}

// deleteGroups deletes a token's rule groups, unless any is false and the
// ruler holds them as another token's (a successor's, whose POSTs replaced
// them): the alerting group names its token, the recording groups do not.
func (r Ruler) deleteGroups(ctx context.Context, groups []ruleGroup, any bool, tokenID string) (bool, error) {
	if !any {
		owned := false
		for _, g := range groups {
			_, current, err := r.do(ctx, http.MethodGet, r.namespacePath()+"/"+url.PathEscape(g.Name), nil)
			if err != nil {
				return false, err
			}
			owned = owned || bytes.Contains(current, []byte(tokenID))
		}
		if !owned {
			return false, nil
		}
	}
	changed := false
	for _, g := range groups {
		status, _, err := r.do(ctx, http.MethodDelete, r.namespacePath()+"/"+url.PathEscape(g.Name), nil)
		if err != nil {
			return changed, err
		}
		changed = changed || status != http.StatusNotFound
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

// do sends one request and returns the answer's status and body (at most
// 1 MiB); a 404 on GET or DELETE is a group that is not there.
func (r Ruler) do(ctx context.Context, method, target string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("rulesync: ruler URL %q: %w", r.URL, err)
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
		return 0, nil, fmt.Errorf("rulesync: ruler: %w", err)
	}
	defer resp.Body.Close()
	msg, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, nil, fmt.Errorf("rulesync: ruler %s %s: %w", method, target, err)
	}
	switch {
	case resp.StatusCode/100 == 2:
		return resp.StatusCode, msg, nil
	case method != http.MethodPost && resp.StatusCode == http.StatusNotFound:
		return resp.StatusCode, nil, nil
	}
	return resp.StatusCode, nil, fmt.Errorf("rulesync: ruler %s %s: %s: %s", method, target, resp.Status, bytes.TrimSpace(msg[:min(len(msg), 4096)]))
}
