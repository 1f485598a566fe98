package actors

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// TestOneTopology guards part 1 of the design: a node alone is a cluster
// of one, so no actor asks which it is. Config.Cluster is read in
// system.go only, where the engine and the member list are chosen; any
// other read of it in the package's code, or anything named "clustered"
// (the old branches' predicate), is a mode branch creeping back.
func TestOneTopology(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok && sel.Sel.Name == "Cluster" && name != "system.go" {
				t.Errorf("%s: reads .Cluster: the actors must not branch on the topology", fset.Position(sel.Pos()))
			}
			if id, ok := n.(*ast.Ident); ok && strings.Contains(strings.ToLower(id.Name), "clustered") {
				t.Errorf("%s: %s: the actors must not ask whether they are clustered", fset.Position(id.Pos()), id.Name)
			}
			return true
		})
	}
	if checked < 8 {
		t.Fatalf("checked %d files", checked)
	}
}
