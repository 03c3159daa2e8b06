package rulesync

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/srellama/srellama/chaincode/devca"
	"github.com/srellama/srellama/llm/ruletest"
	"github.com/srellama/srellama/nft"
)

// TestsDir is the folder, inside the rules directory, that holds each rule
// file's generated `promtool test rules` file. It is a subfolder so that a
// Prometheus loading rules/*.yml never reads a test file as rules.
const TestsDir = "tests"

// TestFileName is the promtool test file of a token's rule file, inside
// TestsDir; run it with `promtool test rules rules/tests/<file>`.
func TestFileName(t nft.Token) string { return FileName(t) + ".test.yml" }

// writeTests keeps the token's generated unit tests beside its rule file:
// a healthy service fires nothing, a fast burn pages with the expected
// labels and annotations, missing metrics fire the no-data alert. Rules the
// generator cannot write input series for (error-ratio queries), or that
// are not the rendering of their definition (tokens minted by an older
// renderer), get no test file; a stale one is removed.
func (s Syncer) writeTests(t nft.Token) error {
	path := filepath.Join(s.Dir, TestsDir, TestFileName(t))
	tests, err := ruletest.ForRules(t.Definition, filepath.Join("..", FileName(t)), map[string]string{LabelToken: t.ID})
	if err != nil {
		if rmErr := os.Remove(path); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
			return fmt.Errorf("rulesync: %w", rmErr)
		}
		return nil
	}
	if current, err := os.ReadFile(path); err == nil && string(current) == tests.YAML {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("rulesync: %w", err)
	}
	if err := devca.WriteFileAtomic(path, []byte(tests.YAML), 0o644); err != nil {
		return fmt.Errorf("rulesync: %w", err)
	}
	return nil
}

// removeTests removes the test file of t's SLO when remove accepts the
// rule file now installed for it (or none is): the tests are the
// installed rules', and a successor's stay.
func (s Syncer) removeTests(t nft.Token, remove func(current []byte) bool) error {
	current, err := os.ReadFile(filepath.Join(s.Dir, FileName(t)))
	switch {
	case err == nil && !remove(current):
		return nil
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("rulesync: %w", err)
	}
	err = os.Remove(filepath.Join(s.Dir, TestsDir, TestFileName(t)))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("rulesync: %w", err)
	}
	return nil
}
