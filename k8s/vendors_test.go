package k8s_test

import (
	"path"
	"strings"
	"testing"
)

// registryFunctions read the vendor registry (VENDORS_FILE).
var registryFunctions = []string{"neworder", "sendmail"}

// TestVendorRegistryMounted: every rendering ships with the registry on
// (issue 14), and VENDORS_FILE is a file of a Secret volume mounted, as a
// directory (no subPath: the kubelet updates only whole-directory mounts),
// read-only, in the container that reads it, the same Secret for newOrder
// and sendMail, not optional (a missing Secret must not leave newOrder open).
func TestVendorRegistryMounted(t *testing.T) {
	for _, r := range renderings(t) {
		if len(r.all("Service")) == 0 {
			continue
		}
		t.Run(r.Name, func(t *testing.T) {
			secrets := map[string]bool{}
			for _, name := range registryFunctions {
				svc, ok := r.find("Service", name)
				if !ok {
					t.Fatalf("no Service %s", name)
				}
				spec := get(svc.Fields, "spec", "template", "spec")
				c := get(spec, "containers", 0)
				env, _ := containerEnv(r, c)
				file := env["VENDORS_FILE"].Value
				if file == "" {
					t.Errorf("%s: VENDORS_FILE is empty: the registry must ship on", name)
					continue
				}
				var volume string
				for _, m := range list(c, "volumeMounts") {
					dir := str(m, "mountPath")
					if path.Dir(file) != path.Clean(dir) {
						continue
					}
					volume = str(m, "name")
					if str(m, "subPath") != "" {
						t.Errorf("%s: the registry is mounted with subPath: Secret updates would never reach it", name)
					}
					if get(m, "readOnly") != true {
						t.Errorf("%s: the registry mount is not readOnly", name)
					}
				}
				if volume == "" {
					t.Errorf("%s: no volume mounted at %s, the directory of VENDORS_FILE", name, path.Dir(file))
					continue
				}
				for _, v := range list(spec, "volumes") {
					if str(v, "name") != volume {
						continue
					}
					secret := str(v, "secret", "secretName")
					if secret == "" {
						t.Errorf("%s: volume %s is not a Secret", name, volume)
					}
					if get(v, "secret", "optional") == true {
						t.Errorf("%s: the registry Secret is optional: without it newOrder would not start, which is meant", name)
					}
					if items := list(v, "secret", "items"); len(items) > 0 && !strings.Contains(str(items[0], "path"), path.Base(file)) {
						t.Errorf("%s: the Secret's items do not include %s", name, path.Base(file))
					}
					secrets[secret] = true
				}
			}
			if len(secrets) > 1 {
				t.Errorf("newOrder and sendMail read different registries: %v", secrets)
			}
		})
	}
}
