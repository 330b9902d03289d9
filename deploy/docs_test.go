package deploy

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/freshet-io/freshet/internal/config"
)

var update = flag.Bool("update", false, "rewrite the keys table of docs/deployment.md from internal/config")

// deploymentDoc is the page on deployment.
var deploymentDoc = filepath.Join(repoRoot, "docs", "deployment.md")

// The keys table sits between these lines.
const (
	keysBegin = "<!-- keys -->\n"
	keysEnd   = "<!-- /keys -->\n"
)

// keysTable renders config.Keys as the page's Markdown table.
func keysTable() string {
	var b strings.Builder
	b.WriteString("| key | default | environment variable | meaning |\n|---|---|---|---|\n")
	for _, k := range config.Keys() {
		def := "(none)"
		if k.Default != "" {
			def = "`" + k.Default + "`"
		}
		b.WriteString("| `" + k.Name + "` | " + def + " | `" + k.Env + "` | " + k.Doc + " |\n")
	}
	return b.String()
}

// TestDocumentedKeys checks that docs/deployment.md's table of keys is
// internal/config's: every key with its default, variable and meaning.
// -update rewrites the table.
func TestDocumentedKeys(t *testing.T) {
	data, err := os.ReadFile(deploymentDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	i, j := strings.Index(doc, keysBegin), strings.Index(doc, keysEnd)
	if i < 0 || j < i {
		t.Fatalf("%s has no %q … %q lines around the keys table", deploymentDoc, keysBegin, keysEnd)
	}
	got, want := doc[i+len(keysBegin):j], keysTable()
	if got == want {
		return
	}
	if *update {
		if err := os.WriteFile(deploymentDoc, []byte(doc[:i+len(keysBegin)]+want+doc[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	for _, k := range config.Keys() {
		if !strings.Contains(got, "| `"+k.Name+"` |") {
			t.Errorf("%s does not document key %s", deploymentDoc, k.Name)
		}
	}
	t.Errorf("%s's keys table is not internal/config's; rewrite it with go test ./deploy -run TestDocumentedKeys -update\ngot:\n%s\nwant:\n%s",
		deploymentDoc, got, want)
}

// repoPath is a path in the repository as the page writes it, in backticks.
var repoPath = regexp.MustCompile("`((?:deploy|docs|scripts|examples|cmd|internal)/[A-Za-z0-9_./-]*|Dockerfile|Makefile)`")

// TestDeploymentDocPaths checks that the files the page names exist.
func TestDeploymentDocPaths(t *testing.T) {
	data, err := os.ReadFile(deploymentDoc)
	if err != nil {
		t.Fatal(err)
	}
	ms := repoPath.FindAllStringSubmatch(string(data), -1)
	if len(ms) < 5 {
		t.Fatalf("%s names %d files of the repository, want the ones it describes", deploymentDoc, len(ms))
	}
	for _, m := range ms {
		if _, err := os.Stat(filepath.Join(repoRoot, filepath.FromSlash(m[1]))); err != nil {
			t.Errorf("%s names %s: %v", deploymentDoc, m[1], err)
		}
	}
}

// TestReadmeLinksDeploymentDoc checks that the README points to the page.
func TestReadmeLinksDeploymentDoc(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "`docs/deployment.md`") {
		t.Error("README.md does not name docs/deployment.md")
	}
}
