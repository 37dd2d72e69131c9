// Package kubernetes checks the manifests of this directory offline: each document is
// decoded strictly into the Kubernetes API type of its kind (an unknown or misspelt field,
// a wrong type or an unexpected apiVersion fails), then the references between them are
// checked, and the ConfigMap's config is parsed by the daemon's own config package with
// the environment the StatefulSet gives each pod.
//
// It is a module of its own so that k8s.io/api stays out of the daemon's module graph
// (and its Docker build); go.work joins the daemon's module for internal/config. CI runs
// it with `make check-k8s`.
package kubernetes

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/accountbridge/accountbridge/internal/config"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// bundle is every object of the directory, by kind.
type bundle struct {
	services     []corev1.Service
	configMaps   []corev1.ConfigMap
	secrets      []corev1.Secret
	statefulSets []appsv1.StatefulSet
	pdbs         []policyv1.PodDisruptionBudget
}

// kinds maps each kind the directory may hold to its apiVersion and a strict decoder.
var kinds = map[string]struct {
	apiVersion string
	decode     func(b *bundle, doc []byte) error
}{
	"Service":             {"v1", func(b *bundle, doc []byte) error { return add(&b.services, doc) }},
	"ConfigMap":           {"v1", func(b *bundle, doc []byte) error { return add(&b.configMaps, doc) }},
	"Secret":              {"v1", func(b *bundle, doc []byte) error { return add(&b.secrets, doc) }},
	"StatefulSet":         {"apps/v1", func(b *bundle, doc []byte) error { return add(&b.statefulSets, doc) }},
	"PodDisruptionBudget": {"policy/v1", func(b *bundle, doc []byte) error { return add(&b.pdbs, doc) }},
}

func add[T any](list *[]T, doc []byte) error {
	var v T
	if err := yaml.UnmarshalStrict(doc, &v); err != nil {
		return err
	}
	*list = append(*list, v)
	return nil
}

var docSep = regexp.MustCompile(`(?m)^---\s*$`)

// load decodes every YAML document of the *.yaml files in dir.
func load(t *testing.T, dir string) *bundle {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s: %v", dir, err)
	}
	b := &bundle{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range docSep.Split(string(data), -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			var tm v1.TypeMeta
			if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
				t.Errorf("%s, document %d: %v", f, i+1, err)
				continue
			}
			k, ok := kinds[tm.Kind]
			if !ok {
				t.Errorf("%s, document %d: kind %q is not checked by this test (add it to kinds)", f, i+1, tm.Kind)
				continue
			}
			if tm.APIVersion != k.apiVersion {
				t.Errorf("%s, document %d: %s has apiVersion %q, want %q", f, i+1, tm.Kind, tm.APIVersion, k.apiVersion)
			}
			if err := k.decode(b, []byte(doc)); err != nil {
				t.Errorf("%s, document %d (%s): %v", f, i+1, tm.Kind, err)
			}
		}
	}
	return b
}

func stripComments(doc string) string {
	var out bytes.Buffer
	for line := range strings.Lines(doc) {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			out.WriteString(line)
		}
	}
	return out.String()
}

func TestManifests(t *testing.T) {
	b := load(t, ".")
	if len(b.statefulSets) != 1 || len(b.configMaps) != 1 || len(b.secrets) != 1 {
		t.Fatalf("want one StatefulSet, ConfigMap and Secret; got %d, %d, %d", len(b.statefulSets), len(b.configMaps), len(b.secrets))
	}
	sts := b.statefulSets[0]
	spec := sts.Spec
	pod := spec.Template.Spec

	sel, err := v1.LabelSelectorAsSelector(spec.Selector)
	if err != nil || sel.Empty() || !sel.Matches(labels.Set(spec.Template.Labels)) {
		t.Errorf("the StatefulSet's selector %v must match its pod template's labels %v (%v)", spec.Selector, spec.Template.Labels, err)
	}
	// The governing Service: headless, selecting the pods.
	svc := find(b.services, func(s corev1.Service) bool { return s.Name == spec.ServiceName })
	if svc == nil {
		t.Errorf("serviceName %q names no Service of the directory", spec.ServiceName)
	} else if svc.Spec.ClusterIP != corev1.ClusterIPNone || !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(spec.Template.Labels)) {
		t.Errorf("Service %s must be headless and select the pods", svc.Name)
	}
	for _, pdb := range b.pdbs {
		s, err := v1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || s.Empty() || !s.Matches(labels.Set(spec.Template.Labels)) {
			t.Errorf("PodDisruptionBudget %s does not select the pods", pdb.Name)
		}
	}
	if spec.Replicas == nil || *spec.Replicas < 1 {
		t.Fatal("the StatefulSet needs replicas")
	}

	// Volumes: every mount is a volume or a claim template; every ConfigMap and Secret
	// a volume names is in the directory.
	vols := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		vols[v.Name] = v
	}
	claims := map[string]bool{}
	for _, c := range spec.VolumeClaimTemplates {
		claims[c.Name] = true
		if c.Spec.Resources.Requests.Storage().IsZero() {
			t.Errorf("volumeClaimTemplate %s requests no storage", c.Name)
		}
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(pod.Containers))
	}
	ctr := pod.Containers[0]
	mounts := map[string]string{} // mount path → volume
	for _, m := range ctr.VolumeMounts {
		if _, ok := vols[m.Name]; !ok && !claims[m.Name] {
			t.Errorf("volumeMount %s names no volume or volumeClaimTemplate", m.Name)
		}
		mounts[m.MountPath] = m.Name
	}
	for _, v := range vols {
		if v.ConfigMap != nil && find(b.configMaps, func(c corev1.ConfigMap) bool { return c.Name == v.ConfigMap.Name }) == nil {
			t.Errorf("volume %s: ConfigMap %q is not in the directory", v.Name, v.ConfigMap.Name)
		}
		if v.Secret != nil && find(b.secrets, func(s corev1.Secret) bool { return s.Name == v.Secret.SecretName }) == nil {
			t.Errorf("volume %s: Secret %q is not in the directory", v.Name, v.Secret.SecretName)
		}
	}

	// The shard index is the pod's ordinal, the count its replicas.
	env := map[string]corev1.EnvVar{}
	for _, e := range ctr.Env {
		env[e.Name] = e
	}
	if e := env["SHARD_INDEX"]; e.ValueFrom == nil || e.ValueFrom.FieldRef == nil ||
		e.ValueFrom.FieldRef.FieldPath != "metadata.labels['apps.kubernetes.io/pod-index']" {
		t.Errorf("SHARD_INDEX must come from the pod-index label, got %+v", e)
	}
	if got := env["SHARD_COUNT"].Value; got != strconv.Itoa(int(*spec.Replicas)) {
		t.Errorf("SHARD_COUNT = %q, want the replicas, %d", got, *spec.Replicas)
	}

	// Probes run `bridge health` on the config the daemon runs with.
	cfgPath := ""
	if i := slices.Index(ctr.Args, "-c"); i >= 0 && i+1 < len(ctr.Args) {
		cfgPath = ctr.Args[i+1]
	}
	if len(ctr.Args) == 0 || ctr.Args[0] != "run" || cfgPath == "" {
		t.Fatalf("args = %q, want run -c CONFIG", ctr.Args)
	}
	for name, p := range map[string]*corev1.Probe{"startup": ctr.StartupProbe, "liveness": ctr.LivenessProbe, "readiness": ctr.ReadinessProbe} {
		want := []string{"bridge", "health", "-c", cfgPath}
		if p == nil || p.Exec == nil || !slices.Equal(p.Exec.Command, want) {
			t.Errorf("%s probe must exec %q", name, want)
		}
	}

	// The config: the ConfigMap key the daemon reads, valid for every ordinal.
	dir, file := filepath.Split(cfgPath)
	cmVol, ok := vols[mounts[filepath.Clean(dir)]]
	if !ok || cmVol.ConfigMap == nil {
		t.Fatalf("%s is not on a ConfigMap volume", cfgPath)
	}
	cm := find(b.configMaps, func(c corev1.ConfigMap) bool { return c.Name == cmVol.ConfigMap.Name })
	if cm == nil {
		t.Fatal("the config's ConfigMap is missing")
	}
	src, ok := cm.Data[file]
	if !ok {
		t.Fatalf("ConfigMap %s has no key %q", cm.Name, file)
	}
	secretDir := ""
	var secret *corev1.Secret
	for path, vol := range mounts {
		if v := vols[vol]; v.Secret != nil {
			secretDir = path
			secret = find(b.secrets, func(s corev1.Secret) bool { return s.Name == v.Secret.SecretName })
		}
	}
	for ordinal := range int(*spec.Replicas) {
		lookup := func(k string) (string, bool) {
			switch k {
			case "SHARD_INDEX":
				return strconv.Itoa(ordinal), true
			case "POD_NAME":
				return fmt.Sprintf("%s-%d", sts.Name, ordinal), true
			}
			if e, ok := env[k]; ok && e.ValueFrom == nil {
				return e.Value, true
			}
			return "", false
		}
		readFile := func(p string) ([]byte, error) {
			rel, err := filepath.Rel(secretDir, p)
			if secret == nil || err != nil || strings.HasPrefix(rel, "..") {
				return nil, fmt.Errorf("%s is not in the Secret's volume (%s)", p, secretDir)
			}
			if v, ok := secret.StringData[rel]; ok {
				return []byte(v), nil
			}
			if v, ok := secret.Data[rel]; ok {
				return v, nil
			}
			return nil, fmt.Errorf("Secret %s has no key %q", secret.Name, rel)
		}
		cfg, err := config.Parse(cm.Name+"/"+file, []byte(src), config.LoadOptions{LookupEnv: lookup, ReadFile: readFile})
		if err != nil {
			t.Fatalf("pod %d: %v", ordinal, err)
		}
		if cfg.Shard.Index != ordinal || cfg.Shard.Count != int(*spec.Replicas) {
			t.Errorf("pod %d runs shard %+v", ordinal, cfg.Shard)
		}
		if m := mounts[filepath.Dir(cfg.Store.Path)]; !claims[m] {
			t.Errorf("store.path %s is not on the pod's own volume (volumeClaimTemplates)", cfg.Store.Path)
		}
		if cfg.MQTT.ClientID == config.DefaultClientID {
			t.Error("mqtt.client_id must differ per pod")
		}
	}
}

func find[T any](list []T, ok func(T) bool) *T {
	for i := range list {
		if ok(list[i]) {
			return &list[i]
		}
	}
	return nil
}

// The check must fail on what it is there to catch.
func TestStrictDecodingCatchesMistakes(t *testing.T) {
	for name, doc := range map[string]string{
		"misspelt field": "apiVersion: apps/v1\nkind: StatefulSet\nspec:\n  replica: 3\n",
		"wrong type":     "apiVersion: apps/v1\nkind: StatefulSet\nspec:\n  replicas: three\n",
		"misplaced key":  "apiVersion: v1\nkind: Service\nspec:\n  clusterIP: None\n  containers: []\n",
	} {
		var b bundle
		var tm v1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			t.Fatal(err)
		}
		if err := kinds[tm.Kind].decode(&b, []byte(doc)); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}
