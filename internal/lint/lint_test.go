// Package lint holds tests that keep the module's structure honest.
package lint

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/freshet-io/freshet"

// layer gives every package its level; a package may import only packages
// of a lower level (and the standard library or third-party modules).
var layer = map[string]int{
	"codec":                            0,
	"metric":                           0,
	"state":                            1,
	"watermark":                        1,
	"window":                           1,
	"source":                           1,
	"sink":                             1,
	"internal/keygroup":                1,
	"internal/valve":                   1,
	"internal/checkpoint/barrier":      1,
	"internal/checkpoint/coordinator":  1,
	"internal/checkpoint/redistribute": 1,
	"internal/statebackend":            2,
	// Connectors use only the public codec, metric, source, sink and
	// watermark packages, like a user's own.
	"connector": 2,
	// Formats of the file sink in packages of their own.
	"connector/file/parquetfile": 3,
	"internal/operator":          3,
	"savepoint":                  3,
	"internal/exchange":          4,
	"internal/exchange/netx":     5, // the network data plane, on exchange
	"internal/graph":             5,
	"internal/bridge":            6,
	"internal/task":              6,
	"internal/taskmanager":       8,
	"internal/jobmanager":        8,
	"internal/cluster":           10, // over the REST API
	"":                           11, // the root package freshet
	"freshettest":                12,
	// The connectors' conformance suite runs jobs on the root package.
	"connector/connectortest": 12,
	"nexmark":                 12, // a user's program on the public API
	"bench":                   13,
	"examples":                13,
	"internal/lint":           13,
	"deploy":                  13, // tests of the deployment artifacts
	"cmd":                     14,
	// End-to-end tests run the command and the examples as processes.
	"e2e": 14,

	// Leaves with no Freshet imports, so gocloud.dev stays out of every
	// other package's test binary.
	"internal/checkpoint/storage": 1,
	"internal/restart":            1,
	"internal/config":             1,
	"internal/metrics":            1,
	// The REST API and its Prometheus export, over the JobManager.
	"internal/rest": 9,
	// The messages between JobManager and TaskManagers are plain data:
	// the package that defines them imports nothing of Freshet's.
	"internal/rpc": 0,
	// The control plane over gRPC: the generated messages and services
	// import nothing of Freshet's; the adapters only rpc and rpcpb.
	"internal/rpc/rpcpb":   0,
	"internal/rpc/grpcrpc": 1,
}

// levelOf returns the layer of pkg or of the nearest listed directory
// above it (examples/wordcount is in examples' layer); the root's layer is
// only the root's.
func levelOf(pkg string) (int, bool) {
	for p := pkg; ; {
		if l, ok := layer[p]; ok {
			return l, true
		}
		i := strings.LastIndex(p, "/")
		if i < 0 {
			return 0, false
		}
		p = p[:i]
	}
}

func TestImportLayers(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		pkg := filepath.ToSlash(rel)
		if pkg == "." {
			pkg = ""
		}
		from, ok := levelOf(pkg)
		if !ok {
			t.Errorf("package %q has no layer; add it to internal/lint", pkg)
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		isTest := strings.HasSuffix(path, "_test.go")
		for _, imp := range f.Imports {
			p := strings.Trim(imp.Path.Value, `"`)
			if p != module && !strings.HasPrefix(p, module+"/") {
				continue
			}
			target := strings.TrimPrefix(strings.TrimPrefix(p, module), "/")
			to, ok := levelOf(target)
			if !ok {
				t.Errorf("%s imports %s, which has no layer", path, p)
				continue
			}
			// External tests may use anything above their package (they
			// are clients), but never what is above the root.
			if isTest && to >= from {
				continue
			}
			if to >= from && target != pkg {
				rp, _ := filepath.Rel(root, path)
				t.Errorf("%s (layer %d) imports %s (layer %d): imports must go down the layers", rp, from, p, to)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// onlyImports lists, for packages held to a narrower rule than their
// layer, every package their non-test files may import: the standard
// library, and the module paths (or prefixes ending in "/") listed.
var onlyImports = map[string][]string{
	// The control plane's transport is a thin adapter: rpc's gateways
	// over gRPC, nothing else of Freshet's.
	"internal/rpc/grpcrpc": {module + "/internal/rpc", module + "/internal/rpc/rpcpb", "google.golang.org/grpc/", "google.golang.org/protobuf/"},
	"internal/rpc/rpcpb":   {"google.golang.org/grpc/", "google.golang.org/protobuf/"},
}

func TestOnlyImports(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for pkg, allowed := range onlyImports {
		files, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(pkg), "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) == 0 {
			t.Errorf("package %s has no files", pkg)
		}
		for _, path := range files {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range f.Imports {
				p := strings.Trim(imp.Path.Value, `"`)
				if !strings.Contains(strings.SplitN(p, "/", 2)[0], ".") {
					continue // the standard library
				}
				ok := false
				for _, a := range allowed {
					if p == a || strings.HasSuffix(a, "/") && (strings.HasPrefix(p, a) || p == strings.TrimSuffix(a, "/")) {
						ok = true
					}
				}
				if !ok {
					rp, _ := filepath.Rel(root, path)
					t.Errorf("%s imports %s; %s may import only %v", rp, p, pkg, allowed)
				}
			}
		}
	}
}
