// Package schematest checks documents against Energinet's CIM schemas in tests, with real
// validators: xmllint (libxml2, Debian package libxml2-utils, installed by scripts/deps.sh)
// for XSD, and github.com/santhosh-tekuri/jsonschema for JSON Schema. Both check namespaces,
// enumerations (the code lists), patterns, lengths and attributes, which a hand-written
// structural check does not.
package schematest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/dlclark/regexp2"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// xmllint returns the path of the xmllint binary. Without it the test fails when CI=true (the
// check must run there) and is skipped elsewhere, saying how to install it.
func xmllint(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("xmllint")
	if err == nil {
		return path
	}
	msg := "xmllint is not installed; the XSD checks need it (apt-get install libxml2-utils, or ./scripts/deps.sh)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// ValidateXML validates doc against the XSD at xsdPath (and the schemas it imports, from the
// same folder) with `xmllint --schema`. A document that does not validate is an error naming
// each finding with its line; a schema xmllint cannot load, or xmllint failing to run, ends
// the test.
func ValidateXML(t testing.TB, xsdPath string, doc []byte) error {
	t.Helper()
	cmd := exec.Command(xmllint(t), "--noout", "--nonet", "--schema", xsdPath, "-")
	cmd.Stdin = bytes.NewReader(doc)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err == nil {
		return nil
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("run xmllint: %v", err)
	}
	// xmllint's exit codes: 3 and 4 are a document that does not validate (or is not well
	// formed, 1); 5 is a schema it could not compile.
	text := strings.TrimSpace(strings.ReplaceAll(out.String(), "- fails to validate", ""))
	if exit.ExitCode() == 5 {
		t.Fatalf("xmllint cannot use the schema %s: %s", xsdPath, text)
	}
	return fmt.Errorf("%s does not validate: %s", filepath.Base(xsdPath), text)
}

// JSON validates documents against the JSON Schema files of one folder, which refer to each
// other by file name.
type JSON struct {
	c   *jsonschema.Compiler
	ids map[string]string // file name -> the schema's $id

	mu       sync.Mutex
	compiled map[string]*jsonschema.Schema
}

// LoadJSON reads every *.schema.json file of dir.
func LoadJSON(dir string) (*JSON, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.schema.json"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("load JSON schemas: none in %s (%v)", dir, err)
	}
	j := &JSON{c: jsonschema.NewCompiler(), ids: map[string]string{}, compiled: map[string]*jsonschema.Schema{}}
	// JSON Schema patterns are ECMA-262 regular expressions; Energinet's ISO 8601 duration
	// pattern uses a lookahead, which Go's regexp does not have.
	j.c.UseRegexpEngine(ecmaRegexp)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("load JSON schema: %w", err)
		}
		// Some of Energinet's files begin with a UTF-8 byte order mark, which JSON forbids.
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))))
		if err != nil {
			return nil, fmt.Errorf("load JSON schema %s: %w", f, err)
		}
		// Energinet's files carry an $id of the machine they were made on; the references
		// between them are relative to it, so each is added under its own $id.
		id, _ := doc.(map[string]any)["$id"].(string)
		if id == "" {
			id = "file:///schemas/" + filepath.Base(f)
		}
		if err := j.c.AddResource(id, doc); err != nil {
			return nil, fmt.Errorf("load JSON schema %s: %w", f, err)
		}
		j.ids[filepath.Base(f)] = id
	}
	return j, nil
}

// Validate validates doc against the schema in the named file (such as
// "Request-validated-measure-data-assembly-model.schema.json").
func (j *JSON) Validate(file string, doc []byte) error {
	j.mu.Lock()
	s, ok := j.compiled[file]
	if !ok {
		id, known := j.ids[file]
		if !known {
			j.mu.Unlock()
			return fmt.Errorf("no JSON schema %s", file)
		}
		var err error
		if s, err = j.c.Compile(id); err != nil {
			j.mu.Unlock()
			return fmt.Errorf("compile JSON schema %s: %w", file, err)
		}
		j.compiled[file] = s
	}
	j.mu.Unlock()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(bytes.TrimPrefix(doc, []byte("\xef\xbb\xbf"))))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	if err := s.Validate(v); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

// ecmaRegexp compiles a JSON Schema pattern as an ECMA-262 regular expression.
func ecmaRegexp(pattern string) (jsonschema.Regexp, error) {
	re, err := regexp2.Compile(pattern, regexp2.ECMAScript)
	if err != nil {
		return nil, err
	}
	return ecma{re}, nil
}

// ecma is a regexp2 expression as jsonschema uses one.
type ecma struct{ re *regexp2.Regexp }

// MatchString reports whether s contains a match; regexp2 fails only on a timeout, which is
// not set here.
func (e ecma) MatchString(s string) bool {
	ok, err := e.re.MatchString(s)
	return ok && err == nil
}

// String is the pattern.
func (e ecma) String() string { return e.re.String() }
