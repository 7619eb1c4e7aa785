// helmrender renders a Helm 3 chart the way `helm template` does, for
// checking charts on machines without a helm binary (Debian 12 packages
// none). It uses the same template engine (Go text/template), the same
// function library (sprig v3) and re-implements the few functions Helm adds
// itself: include, tpl, required, toYaml, fromYaml, toJson, fromJson and
// lookup (which, as in `helm template`, finds nothing).
//
// It is a test tool, not a Helm replacement: no dependencies (subcharts), no
// hooks, no .Files beyond what the chart here uses (nothing).
//
//	helmrender -chart DIR [-f values.yaml]... [-name RELEASE] [-namespace NS]
//	           [-strict] [-notes FILE] [-values-out FILE]
//
// Rendered manifests go to stdout, each file as "---\n# Source: chart/templates/x".
// Exit status 1 with the template error on stderr if rendering fails
// (including a template's own `fail`).
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"gopkg.in/yaml.v3"
)

type valueFiles []string

func (v *valueFiles) String() string     { return strings.Join(*v, ",") }
func (v *valueFiles) Set(s string) error { *v = append(*v, s); return nil }

// VersionSet mirrors Helm's .Capabilities.APIVersions.
type VersionSet []string

func (v VersionSet) Has(apiVersion string) bool {
	for _, x := range v {
		if x == apiVersion {
			return true
		}
	}
	return false
}

// KubeVersion mirrors Helm's .Capabilities.KubeVersion.
type KubeVersion struct{ Version, Major, Minor string }

func (k KubeVersion) String() string     { return k.Version }
func (k KubeVersion) GitVersion() string { return k.Version }

type Capabilities struct {
	KubeVersion KubeVersion
	APIVersions VersionSet
}

func main() {
	var files valueFiles
	chartDir := flag.String("chart", "", "chart directory")
	release := flag.String("name", "sluice", "release name")
	namespace := flag.String("namespace", "sluice-system", "release namespace")
	strict := flag.Bool("strict", false, "fail on a reference to a missing value (like helm lint --strict)")
	notesOut := flag.String("notes", "", "also render templates/NOTES.txt into this file")
	valuesOut := flag.String("values-out", "", "write the merged values as JSON into this file")
	flag.Var(&files, "f", "values file layered over the chart's values.yaml (repeatable)")
	flag.Parse()
	if *chartDir == "" {
		fmt.Fprintln(os.Stderr, "helmrender: -chart is required")
		os.Exit(2)
	}
	if err := run(*chartDir, files, *release, *namespace, *strict, *notesOut, *valuesOut); err != nil {
		fmt.Fprintln(os.Stderr, "helmrender:", err)
		os.Exit(1)
	}
}

func readYAMLMap(path string) (map[string]interface{}, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out map[string]interface{}
	if err := yaml.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if out == nil {
		out = map[string]interface{}{}
	}
	return out, nil
}

// jsonRoundTrip gives values the types Helm gives them (Helm parses YAML
// through JSON): numbers become float64, maps map[string]interface{}.
func jsonRoundTrip(in interface{}) (map[string]interface{}, error) {
	data, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	var out map[string]interface{}
	err = json.Unmarshal(data, &out)
	return out, err
}

// merge layers src over dst like `helm -f`: maps merge key by key, anything
// else replaces, and null deletes the key.
func merge(dst, src map[string]interface{}) {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
			continue
		}
		srcMap, srcIsMap := v.(map[string]interface{})
		dstMap, dstIsMap := dst[k].(map[string]interface{})
		if srcIsMap && dstIsMap {
			merge(dstMap, srcMap)
		} else {
			dst[k] = v
		}
	}
}

func toYAML(v interface{}) string {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return ""
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

func run(chartDir string, files valueFiles, release, namespace string, strict bool, notesOut, valuesOut string) error {
	chartYAML, err := readYAMLMap(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		return err
	}
	chart := map[string]interface{}{}
	for key, field := range map[string]string{
		"name": "Name", "version": "Version", "appVersion": "AppVersion", "description": "Description",
		"type": "Type", "kubeVersion": "KubeVersion", "apiVersion": "APIVersion",
	} {
		chart[field] = chartYAML[key]
	}

	values, err := readYAMLMap(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		return err
	}
	for _, f := range files {
		layer, err := readYAMLMap(f)
		if err != nil {
			return err
		}
		merge(values, layer)
	}
	if values, err = jsonRoundTrip(values); err != nil {
		return err
	}
	if valuesOut != "" {
		data, _ := json.MarshalIndent(values, "", "  ")
		if err := os.WriteFile(valuesOut, data, 0o644); err != nil {
			return err
		}
	}

	chartName, _ := chart["Name"].(string)
	top := map[string]interface{}{
		"Values": values,
		"Chart":  chart,
		"Release": map[string]interface{}{
			"Name": release, "Namespace": namespace, "Service": "Helm",
			"IsInstall": true, "IsUpgrade": false, "Revision": 1,
		},
		"Capabilities": Capabilities{
			KubeVersion: KubeVersion{Version: "v1.29.0", Major: "1", Minor: "29"},
			APIVersions: VersionSet{"v1", "apps/v1", "policy/v1", "networking.k8s.io/v1",
				"rbac.authorization.k8s.io/v1", "coordination.k8s.io/v1", "discovery.k8s.io/v1"},
		},
		"Files": map[string]interface{}{},
	}

	t := template.New("gotpl")
	if strict {
		t.Option("missingkey=error")
	} else {
		t.Option("missingkey=zero")
	}
	funcs := sprig.TxtFuncMap()
	delete(funcs, "env")
	delete(funcs, "expandenv")
	depth := 0
	funcs["include"] = func(name string, data interface{}) (string, error) {
		if depth > 1000 {
			return "", fmt.Errorf("include %q: too deep (recursive template?)", name)
		}
		depth++
		defer func() { depth-- }()
		var buf strings.Builder
		err := t.ExecuteTemplate(&buf, name, data)
		return buf.String(), err
	}
	funcs["tpl"] = func(text string, data interface{}) (string, error) {
		clone, err := t.Clone()
		if err != nil {
			return "", err
		}
		inner, err := clone.New("tpl").Parse(text)
		if err != nil {
			return "", err
		}
		var buf strings.Builder
		err = inner.Execute(&buf, data)
		return buf.String(), err
	}
	funcs["required"] = func(message string, v interface{}) (interface{}, error) {
		if v == nil {
			return nil, errors.New(message)
		}
		if s, ok := v.(string); ok && s == "" {
			return nil, errors.New(message)
		}
		return v, nil
	}
	funcs["toYaml"] = toYAML
	funcs["fromYaml"] = func(s string) map[string]interface{} {
		out := map[string]interface{}{}
		if err := yaml.Unmarshal([]byte(s), &out); err != nil {
			out["Error"] = err.Error()
		}
		return out
	}
	funcs["toJson"] = func(v interface{}) string {
		data, _ := json.Marshal(v)
		return string(data)
	}
	funcs["fromJson"] = func(s string) map[string]interface{} {
		out := map[string]interface{}{}
		if err := json.Unmarshal([]byte(s), &out); err != nil {
			out["Error"] = err.Error()
		}
		return out
	}
	funcs["lookup"] = func(string, string, string, string) (map[string]interface{}, error) {
		return map[string]interface{}{}, nil
	}
	t.Funcs(funcs)

	templatesDir := filepath.Join(chartDir, "templates")
	var names []string
	err = filepath.Walk(templatesDir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(chartDir, path)
		name := chartName + "/" + filepath.ToSlash(rel)
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if _, err := t.New(name).Parse(string(data)); err != nil {
			return err
		}
		names = append(names, name)
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(names)

	render := func(name string) (string, error) {
		vals := map[string]interface{}{}
		for k, v := range top {
			vals[k] = v
		}
		vals["Template"] = map[string]interface{}{"Name": name, "BasePath": chartName + "/templates"}
		var buf strings.Builder
		if err := t.ExecuteTemplate(&buf, name, vals); err != nil {
			return "", err
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}

	var out strings.Builder
	for _, name := range names {
		base := filepath.Base(name)
		if strings.HasPrefix(base, "_") || base == "NOTES.txt" {
			continue
		}
		text, err := render(name)
		if err != nil {
			return err
		}
		if strings.TrimSpace(text) == "" {
			continue
		}
		fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", name, strings.TrimSpace(text))
	}
	if notesOut != "" {
		text, err := render(chartName + "/templates/NOTES.txt")
		if err != nil {
			return err
		}
		if err := os.WriteFile(notesOut, []byte(text), 0o644); err != nil {
			return err
		}
	}
	_, err = os.Stdout.WriteString(out.String())
	return err
}
