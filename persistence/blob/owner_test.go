package blob_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// pathCalls are the standard library's and x/sys's functions that reach
// the file system by name: make, write, rename, remove, open, read, list,
// stat, link, walk, watch the free space. A package calling one of them
// touches files; only fsblob may, so that every byte of the data
// directory goes through the blob store.
var pathCalls = map[string][]string{
	"os": {"Create", "CreateTemp", "Open", "OpenFile", "OpenRoot", "OpenInRoot", "ReadFile", "WriteFile", "ReadDir", "DirFS", "CopyFS",
		"Rename", "Remove", "RemoveAll", "Mkdir", "MkdirAll", "MkdirTemp", "Link", "Symlink", "Readlink",
		"Stat", "Lstat", "Truncate", "Chmod", "Chown", "Lchown", "Chtimes"},
	"io/ioutil":     {"ReadFile", "WriteFile", "ReadDir", "TempFile", "TempDir"},
	"path/filepath": {"Walk", "WalkDir", "Glob"},
	"syscall": {"Open", "Openat", "Creat", "Mkdir", "Mkdirat", "Rename", "Renameat", "Unlink", "Unlinkat", "Rmdir",
		"Link", "Symlink", "Stat", "Lstat", "Statfs", "Truncate"},
	"golang.org/x/sys/unix": {"Open", "Openat", "Openat2", "Creat", "Mkdir", "Mkdirat", "Rename", "Renameat", "Renameat2",
		"Unlink", "Unlinkat", "Rmdir", "Link", "Linkat", "Symlink", "Stat", "Lstat", "Statfs", "Statx", "Truncate"},
}

// allowed are the directories (relative to the module's root, and all
// below them) whose non-test code may touch files, and why:
var allowed = []string{
	"persistence/blob/fsblob",     // the blob store on the data directory: the one owner of its bytes
	"persistence/blob/segblob",    // the blob store's segments and their index, under the data directory's blobs/ (fsblob holds the rest)
	"bench",                       // the benchmark harness: starts nodes on data directories of its own, reads /proc, writes reports
	"persistence/redis/redistest", // test support: reads the log of the redis-server it started in its own temp dir
	"persistence/pebble",          // the embedded store: its own directory under the data dir (store/), and the move of an earlier version's backlot.db into it
	"persistence/blob/s3blob",     // the S3 blob store: its Writers spool to temp files of their own before the PUT (seaweedtest below it: writes the config and reads the log of the weed it started in its own temp dir)
}

// TestOnlyFsblobTouchesFiles: no package of the module but fsblob (and
// the allowed tools) calls a function that reaches the file system by
// name (pathCalls), in any non-test Go file. Tests are free to look at
// and damage the data directory behind the node's back; the node's own
// code goes through blob.Store. (The embedded store owns its directory,
// store/, which Pebble, a dependency this does not look into, writes; its
// package only moves an earlier version's backlot.db there.)
func TestOnlyFsblobTouchesFiles(t *testing.T) {
	root := moduleRoot(t)
	var offences []string
	seen := map[string]int{} // calls found per allowed directory: proof the scan sees them
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			// What the go command ignores: testdata, dot and underscore
			// directories; and other modules' trees.
			name := d.Name()
			if rel != "." && (name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			if rel != "." {
				if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
					return filepath.SkipDir
				}
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		for _, call := range fileCalls(t, path) {
			where := rel + ":" + strconv.Itoa(call.line)
			if dir := allowedDir(rel); dir != "" {
				seen[dir]++
				continue
			}
			offences = append(offences, where+": "+call.name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range offences {
		t.Errorf("%s touches the file system by name: only persistence/blob/fsblob may (go through blob.Store)", o)
	}
	if seen["persistence/blob/fsblob"] < 10 {
		t.Fatalf("the scan found %d file system calls in fsblob, which has dozens: it is blind", seen["persistence/blob/fsblob"])
	}
}

type call struct {
	name string
	line int
}

// fileCalls are the pathCalls that the Go file at path makes (as
// pkg.Func, through whatever name the file imports pkg under).
func fileCalls(t *testing.T, path string) []call {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	local := map[string]string{} // the file's name for an import -> its path
	for _, im := range f.Imports {
		p, _ := strconv.Unquote(im.Path.Value)
		if _, ok := pathCalls[p]; !ok {
			continue
		}
		name := p[strings.LastIndexByte(p, '/')+1:]
		if im.Name != nil {
			name = im.Name.Name
		}
		local[name] = p
	}
	var calls []call
	ast.Inspect(f, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		id, ok := sel.X.(*ast.Ident)
		if !ok {
			return true
		}
		// Any use counts, not only a call: a function value passed on
		// (do(os.Remove)) touches files too.
		if p, ok := local[id.Name]; ok && slices.Contains(pathCalls[p], sel.Sel.Name) {
			calls = append(calls, call{p + "." + sel.Sel.Name, fset.Position(sel.Pos()).Line})
		}
		return true
	})
	return calls
}

func allowedDir(rel string) string {
	for _, dir := range allowed {
		if rel == dir || strings.HasPrefix(rel, dir+"/") {
			return dir
		}
	}
	return ""
}

// moduleRoot is the directory of the go.mod above the test's.
func moduleRoot(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}
