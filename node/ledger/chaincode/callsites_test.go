package chaincode_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The node calls the chaincode only through this client: no other
// non-test source under node/ or network/ names a transaction
// ("Rounds:Get"), so a renamed transaction or a changed result type fails
// to compile rather than at run time.
func TestNoStringNamedCallsOutsideTheClient(t *testing.T) {
	roots := []string{"../..", "../../../network"} // this package is node/ledger/chaincode
	self, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	txName := regexp.MustCompile(`^[A-Z][A-Za-z]*:[A-Z][A-Za-z]*$`)
	fset := token.NewFileSet()
	files := 0
	visit := func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if abs, _ := filepath.Abs(path); abs == self || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		files++
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil && txName.MatchString(s) {
					t.Errorf("%s calls transaction %q by name: add or use a function of node/ledger/chaincode", fset.Position(lit.Pos()), s)
				}
			}
			return true
		})
		return nil
	}
	for _, root := range roots {
		if err := filepath.WalkDir(root, visit); err != nil {
			t.Fatal(err)
		}
	}
	if files < 60 {
		t.Fatalf("checked only %d source files under node/ and network/: is the walk rooted wrong?", files)
	}
}
