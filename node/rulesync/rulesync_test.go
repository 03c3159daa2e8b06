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
		changed, err := s.Apply(tok)
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
	tok := nfttest.Token(nfttest.Definition("amf", "Org1MSP"))
	if _, err := s.Apply(tok); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "check", "rules", filepath.Join(s.Dir, rulesync.FileName(tok))).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}

func TestTamperedTokenIsRefused(t *testing.T) {
	s := rulesync.Syncer{Dir: t.TempDir()}
	tok := nfttest.Token(nfttest.Definition("amf", "Org1MSP"))
	tok.Definition.Rules.YAML += "# injected\n"
	if _, err := s.Apply(tok); err == nil || !strings.Contains(err.Error(), "digest mismatch") {
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
