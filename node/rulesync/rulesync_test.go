package rulesync_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/srellama/srellama/llm/render"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/nft/nfttest"
	"github.com/srellama/srellama/node/rulesync"
)

func TestActiveTokensAreInstalledAndInactiveOnesRemoved(t *testing.T) {
	s := rulesync.Syncer{Dir: filepath.Join(t.TempDir(), "rules")}
	tok := nfttest.Token(nfttest.Definition("amf", "Org1MSP"))
	path := filepath.Join(s.Dir, rulesync.FileName(tok))

	steps := []struct {
		name    string
		status  nft.Status
		changed bool
		exists  bool
	}{
		{"minted", nft.StatusActive, true, true},
		{"seen again after a restart", nft.StatusActive, false, true},
		{"retired", nft.StatusRetired, true, false},
		{"retired again", nft.StatusRetired, false, false},
	}
	for _, st := range steps {
		tok.State.Status = st.status
		changed, err := s.Apply(context.Background(), tok)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		_, statErr := os.Stat(path)
		if changed != st.changed || (statErr == nil) != st.exists {
			t.Fatalf("%s: changed %v (want %v), file exists %v (want %v)", st.name, changed, st.changed, statErr == nil, st.exists)
		}
	}
}

func TestWrittenRulesPassPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is required in CI")
		}
		t.Skip("promtool not installed (apt-get install -y prometheus)")
	}
	s := rulesync.Syncer{Dir: t.TempDir()}
	tok := rendered(t) // with alerts, which get the token label
	if _, err := s.Apply(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "check", "rules", filepath.Join(s.Dir, rulesync.FileName(tok))).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}

// A revision replaces its predecessor's file, whatever order the events
// come in; alerts name the token; a service this node does not run gets
// no file and is reported.
func TestRevisionReplacesAndAlertsNameTheToken(t *testing.T) {
	var skipped []string
	s := rulesync.Syncer{Dir: t.TempDir(), Served: rulesync.Served{
		Installs: func(_ context.Context, service string) (bool, error) { return service == "amf", nil },
		Skipped:  func(t nft.Token) { skipped = append(skipped, t.Definition.SLI.Service) }}}
	ctx := context.Background()
	v1 := rendered(t)
	def2 := v1.Definition
	def2.Version, def2.Supersedes, def2.Description = 2, v1.ID, "revised"
	v2 := nfttest.Token(def2)
	old := v1
	old.State.Status, old.State.SupersededBy = nft.StatusSuperseded, v2.ID

	for _, tok := range []nft.Token{v1, v2, old, v1} { // a replay repeats v1's mint after all
		if _, err := s.Apply(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Apply(ctx, v2); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(s.Dir, "*.yml"))
	if len(files) != 1 {
		t.Fatalf("%d rule files for one SLO: %v", len(files), files)
	}
	raw, err := os.ReadFile(filepath.Join(s.Dir, rulesync.FileName(v2)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), "token "+v2.ID) || strings.Count(string(raw), rulesync.LabelToken+`: "`+v2.ID+`"`) < 2 {
		t.Fatalf("the file does not name token v2 on its alerts:\n%s", raw)
	}
	// v1's late superseded event must not remove v2's file.
	if _, err := s.Apply(ctx, old); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir, rulesync.FileName(v2))); err != nil {
		t.Fatal("a superseded token's event removed its successor's file")
	}

	udm := nfttest.Token(nfttest.Definition("udm", "Org2MSP"))
	if changed, err := s.Apply(ctx, udm); err != nil || changed {
		t.Fatalf("a service not served here: changed %v, %v", changed, err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir, rulesync.FileName(udm))); err == nil || len(skipped) != 1 || skipped[0] != "udm" {
		t.Fatalf("udm installed or not reported (skipped %v)", skipped)
	}
}

func TestTamperedTokenIsRefused(t *testing.T) {
	s := rulesync.Syncer{Dir: t.TempDir()}
	tok := nfttest.Token(nfttest.Definition("amf", "Org1MSP"))
	tok.Definition.Rules.YAML += "# injected\n"
	if _, err := s.Apply(context.Background(), tok); err == nil || !strings.Contains(err.Error(), "digest mismatch") {
		t.Fatalf("err = %v", err)
	}
	if entries, _ := os.ReadDir(s.Dir); len(entries) != 0 {
		t.Fatal("a refused token left a file")
	}
}

func TestReload(t *testing.T) {
	var calls int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		switch {
		case r.Method != http.MethodPost:
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
		case r.URL.Path == "/disabled/-/reload":
			http.Error(w, "Lifecycle API is not enabled.", http.StatusForbidden)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	if err := (rulesync.Syncer{ReloadURL: srv.URL + "/-/reload"}).Reload(ctx); err != nil || calls != 1 {
		t.Fatalf("reload: %v (calls %d)", err, calls)
	}
	err := rulesync.Syncer{ReloadURL: srv.URL + "/disabled/-/reload"}.Reload(ctx)
	if err == nil || !strings.Contains(err.Error(), "Lifecycle API is not enabled") {
		t.Fatalf("a refused reload must say why: %v", err)
	}
	if err := (rulesync.Syncer{}).Reload(ctx); err != nil {
		t.Fatalf("no reload URL must be a no-op: %v", err)
	}
}

// rendered is a token whose rules are the full rendering, alerts included.
func rendered(t *testing.T) nft.Token {
	t.Helper()
	def := nfttest.Definition("amf", "Org1MSP")
	yaml, err := render.Render(def, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	def.Rules = nft.Rules{YAML: yaml, Digest: nft.RulesDigest(yaml)}
	return nfttest.Token(def)
}
