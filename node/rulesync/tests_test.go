package rulesync_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/nft/nfttest"
	"github.com/srellama/srellama/node/rulesync"
)

// Every installed rule file gets its promtool unit tests beside it, which
// promtool runs as they are; retiring the token removes both.
func TestInstalledRulesGetTheirPromtoolTests(t *testing.T) {
	s := rulesync.Syncer{Dir: filepath.Join(t.TempDir(), "rules")}
	tok := rendered(t)
	if _, err := s.Apply(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	tests := filepath.Join(s.Dir, rulesync.TestsDir, rulesync.TestFileName(tok))
	if _, err := os.Stat(tests); err != nil {
		t.Fatalf("no test file beside the rules: %v", err)
	}
	if promtool, err := exec.LookPath("promtool"); err == nil {
		if out, err := exec.Command(promtool, "test", "rules", tests).CombinedOutput(); err != nil {
			t.Errorf("promtool test rules: %v\n%s", err, out)
		}
	} else if os.Getenv("CI") == "true" {
		t.Fatal("CI must have promtool: apt-get install -y prometheus")
	}
	tok.State.Status = nft.StatusRetired
	if _, err := s.Apply(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tests); !os.IsNotExist(err) {
		t.Errorf("the retired token's tests remain: %v", err)
	}
}

// Rules that are not their definition's rendering (the fixture's
// hand-written rules, or a token minted by an older renderer) get no tests.
func TestNoTestsForRulesThatAreNotTheRendering(t *testing.T) {
	s := rulesync.Syncer{Dir: filepath.Join(t.TempDir(), "rules")}
	tok := nfttest.Token(nfttest.Definition("amf", "Org1MSP"))
	if _, err := s.Apply(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir, rulesync.TestsDir, rulesync.TestFileName(tok))); !os.IsNotExist(err) {
		t.Errorf("tests written for rules they do not test: %v", err)
	}
}
