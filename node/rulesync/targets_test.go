package rulesync_test

import (
	"context"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/nft/nfttest"
	"github.com/srellama/srellama/node/rulesync"
)

func TestManifestsFolder(t *testing.T) {
	m := rulesync.Manifests{Dir: filepath.Join(t.TempDir(), "gitops"), Namespace: "monitoring", Labels: map[string]string{"role": "alert-rules"}}
	tok := rendered(t)
	if changed, err := m.Apply(context.Background(), tok); err != nil || !changed {
		t.Fatalf("apply: %v, %v", changed, err)
	}
	path := filepath.Join(m.Dir, rulesync.ManifestFileName(tok))
	data, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(data), "kind: PrometheusRule") || !strings.Contains(string(data), "namespace: monitoring") {
		t.Fatalf("manifest: %v\n%s", err, data)
	}
	if changed, _ := m.Apply(context.Background(), tok); changed {
		t.Error("an unchanged token rewrote its manifest")
	}
	tok.State.Status = nft.StatusRetired
	if changed, err := m.Apply(context.Background(), tok); err != nil || !changed {
		t.Fatalf("retire: %v, %v", changed, err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Error("the retired token's manifest remains")
	}
}

// fakeRuler implements the request shapes of the Mimir/Cortex ruler's
// configuration API (POST /prometheus/config/v1/rules/{namespace} with one
// rule group as YAML, DELETE .../{namespace}/{group}, X-Scope-OrgID), and
// checks each group as the ruler does, with rulefmt.
type fakeRuler struct {
	mu     sync.Mutex
	groups map[string]map[string]string // tenant/namespace -> group -> YAML
	errs   []string
}

func (f *fakeRuler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	tenant := r.Header.Get("X-Scope-OrgID")
	if tenant == "" {
		http.Error(w, "no org id", http.StatusUnauthorized)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/prometheus/config/v1/rules/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	ns, group, _ := strings.Cut(rest, "/")
	key := tenant + "/" + ns
	switch {
	case r.Method == http.MethodPost && group == "":
		body, _ := io.ReadAll(r.Body)
		var g struct {
			Name string `yaml:"name"`
		}
		if err := yaml.Unmarshal(body, &g); err != nil || g.Name == "" {
			f.errs = append(f.errs, "bad group body")
			http.Error(w, "bad group", http.StatusBadRequest)
			return
		}
		indented := "groups:\n  - " + strings.ReplaceAll(strings.TrimSpace(string(body)), "\n", "\n    ") + "\n"
		if _, errs := rulefmt.Parse([]byte(indented), false, model.UTF8Validation, parser.NewParser(parser.Options{})); len(errs) > 0 {
			f.errs = append(f.errs, errs[0].Error())
			http.Error(w, errs[0].Error(), http.StatusBadRequest)
			return
		}
		if f.groups[key] == nil {
			f.groups[key] = map[string]string{}
		}
		f.groups[key][g.Name] = string(body)
		w.WriteHeader(http.StatusAccepted)
	case r.Method == http.MethodGet && group != "":
		body, ok := f.groups[key][group]
		if !ok {
			http.Error(w, "group does not exist", http.StatusNotFound)
			return
		}
		_, _ = io.WriteString(w, body)
	case r.Method == http.MethodDelete && group != "":
		if _, ok := f.groups[key][group]; !ok {
			http.Error(w, "group does not exist", http.StatusNotFound)
			return
		}
		delete(f.groups[key], group)
		w.WriteHeader(http.StatusAccepted)
	default:
		http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusMethodNotAllowed)
	}
}

func TestRulerTarget(t *testing.T) {
	fake := &fakeRuler{groups: map[string]map[string]string{}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	r := rulesync.Ruler{URL: srv.URL, TenantID: "org1"}
	tok := rendered(t)
	if changed, err := r.Apply(context.Background(), tok); err != nil || !changed {
		t.Fatalf("apply: %v, %v", changed, err)
	}
	got := fake.groups["org1/"+rulesync.RulerNamespace]
	if len(got) != 3 || len(fake.errs) > 0 {
		t.Fatalf("ruler holds %d groups (errors %v)", len(got), fake.errs)
	}
	tok.State.Status = nft.StatusSuperseded
	tok.State.SupersededBy = strings.Repeat("b", 64)
	if changed, err := r.Apply(context.Background(), tok); err != nil || !changed {
		t.Fatalf("supersede: %v, %v", changed, err)
	}
	if len(got) != 0 {
		t.Errorf("%d groups remain after the token was superseded", len(got))
	}
	if changed, err := r.Apply(context.Background(), tok); err != nil || changed {
		t.Errorf("deleting again: changed %v, %v", changed, err)
	}
	if _, err := (rulesync.Ruler{URL: srv.URL}).Apply(context.Background(), rendered(t)); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("no tenant: %v", err)
	}
}

// A revision's POSTs replace its predecessor's groups; the predecessor's
// late superseded event must not delete them.
func TestRulerKeepsTheSuccessorsGroups(t *testing.T) {
	fake := &fakeRuler{groups: map[string]map[string]string{}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	r := rulesync.Ruler{URL: srv.URL, TenantID: "org1"}
	ctx := context.Background()
	v1 := rendered(t)
	def2 := v1.Definition
	def2.Version, def2.Supersedes, def2.Description = 2, v1.ID, "revised"
	v2 := nfttest.Token(def2)
	old := v1
	old.State.Status, old.State.SupersededBy = nft.StatusSuperseded, v2.ID
	for _, tok := range []nft.Token{v1, v2, old} {
		if _, err := r.Apply(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	got := fake.groups["org1/"+rulesync.RulerNamespace]
	held := strings.Join(slices.Collect(maps.Values(got)), "\n")
	if len(got) != 3 || !strings.Contains(held, v2.ID) {
		t.Fatalf("the ruler holds %d groups (v2's alerts there: %v)", len(got), strings.Contains(held, v2.ID))
	}
}
