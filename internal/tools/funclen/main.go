// Command funclen fails when a function or method in the project's own
// (non-test, non-generated) Go code runs over a line limit. A function
// that long usually does several things that deserve names; `make check`
// runs it so the limit holds as the code grows.
//
//	go run ./internal/tools/funclen [-max 100] [-allow FILE] [DIR]
//
// The allow file lists "path.go:Func" entries (one per line, # comments)
// that are known to be over the limit; an entry that is no longer over it
// is reported too, so the list only shrinks.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	max := flag.Int("max", 100, "the most lines a function may span, its braces included")
	allow := flag.String("allow", "", "a file of path.go:Func entries allowed over the limit")
	flag.Parse()
	root := "."
	if flag.NArg() > 0 {
		root = flag.Arg(0)
	}
	os.Exit(run(os.Stdout, root, *max, *allow))
}

func run(w io.Writer, root string, max int, allowFile string) int {
	allowed, err := readAllow(allowFile)
	if err != nil {
		fmt.Fprintln(w, "funclen:", err)
		return 2
	}
	long, err := scan(root, max)
	if err != nil {
		fmt.Fprintln(w, "funclen:", err)
		return 2
	}
	bad := 0
	for _, f := range long {
		if allowed[f.key] {
			delete(allowed, f.key)
			continue
		}
		fmt.Fprintf(w, "%s:%d: %s is %d lines (at most %d): split it into functions that say what they do\n", f.path, f.line, f.name, f.lines, max)
		bad++
	}
	stale := make([]string, 0, len(allowed))
	for k := range allowed {
		stale = append(stale, k)
	}
	sort.Strings(stale)
	for _, k := range stale {
		fmt.Fprintf(w, "%s: allowed in %s but no longer over %d lines: remove the entry\n", k, allowFile, max)
		bad++
	}
	if bad > 0 {
		return 1
	}
	return 0
}

// long is one function over the limit; key is its allow-file entry.
type long struct {
	path, name, key string
	line, lines     int
}

// scan parses every non-test, non-generated .go file under root.
func scan(root string, max int) ([]long, error) {
	var out []long
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		found, err := scanFile(root, path, max)
		out = append(out, found...)
		return err
	})
	return out, err
}

func scanFile(root, path string, max int) ([]long, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	if ast.IsGenerated(f) {
		return nil, nil
	}
	rel, err := filepath.Rel(root, path)
	if err != nil {
		rel = path
	}
	rel = filepath.ToSlash(rel)
	var out []long
	for _, decl := range f.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok || fn.Body == nil {
			continue
		}
		start, end := fset.Position(fn.Pos()).Line, fset.Position(fn.End()).Line
		if n := end - start + 1; n > max {
			name := funcName(fn)
			out = append(out, long{path: rel, name: name, key: rel + ":" + name, line: start, lines: n})
		}
	}
	return out, nil
}

// funcName is Func, or Type.Method for a method.
func funcName(fn *ast.FuncDecl) string {
	if fn.Recv == nil || len(fn.Recv.List) == 0 {
		return fn.Name.Name
	}
	t := fn.Recv.List[0].Type
	if s, ok := t.(*ast.StarExpr); ok {
		t = s.X
	}
	switch x := t.(type) {
	case *ast.IndexExpr:
		t = x.X
	case *ast.IndexListExpr:
		t = x.X
	}
	if id, ok := t.(*ast.Ident); ok {
		return id.Name + "." + fn.Name.Name
	}
	return fn.Name.Name
}

func readAllow(path string) (map[string]bool, error) {
	out := map[string]bool{}
	if path == "" {
		return out, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read the allow file: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if line != "" {
			out[line] = true
		}
	}
	return out, sc.Err()
}
