package k8s_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"sigs.k8s.io/yaml"
)

// The control plane of the platform test (platform_test.go): etcd,
// kube-apiserver, Knative's webhooks and Serving's controller, built and
// cached by hack/platform.sh, run as local processes in a network namespace
// of their own, so that the fixed ports Knative binds (its health probes on
// 8080) meet nothing of the machine's, and every other port is a free one.

// platformDir is where hack/platform.sh caches the binaries and Knative's
// config/ folders: $SOPAIPILLAS_PLATFORM, else what `platform.sh dir` says.
// The test is skipped while it is not built, unless
// SOPAIPILLAS_REQUIRE_PLATFORM=1 (make test, make test-platform).
func platformDir(t *testing.T) string {
	t.Helper()
	required := os.Getenv("SOPAIPILLAS_REQUIRE_PLATFORM") == "1"
	skip := func(format string, args ...any) {
		t.Helper()
		if required {
			t.Fatalf(format, args...)
		}
		t.Skipf(format+" (SOPAIPILLAS_REQUIRE_PLATFORM=1 makes this a failure)", args...)
	}
	if testing.Short() && !required {
		t.Skip("the platform test starts a control plane: skipped with -short")
	}
	dir := os.Getenv("SOPAIPILLAS_PLATFORM")
	if dir == "" {
		out, err := run(nil, filepath.Join(repoRoot(t), "hack", "platform.sh"), "dir")
		if err != nil {
			skip("hack/platform.sh dir: %v", err)
		}
		dir = strings.TrimSpace(string(out))
	}
	if _, err := os.Stat(filepath.Join(dir, ".ready")); err != nil {
		skip("the platform is not built in %s: run `hack/platform.sh build` or `make test-platform`", dir)
	}
	if os.Geteuid() != 0 {
		skip("the platform test needs root for a network namespace of its own")
	}
	return dir
}

// netns runs functions on one OS thread that lives in a new network
// namespace with only its loopback up. Sockets it opens and processes it
// starts belong to that namespace; the thread ends with close, and with it
// the namespace once its processes are gone.
type netns struct {
	jobs chan func()
}

func newNetns() (*netns, error) {
	n := &netns{jobs: make(chan func())}
	ready := make(chan error)
	go func() {
		// Never unlocked: the thread's namespace must not return to the
		// scheduler, so the thread exits with this goroutine.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ready <- fmt.Errorf("unshare(CLONE_NEWNET): %w", err)
			return
		}
		if err := loopbackUp(); err != nil {
			ready <- err
			return
		}
		ready <- nil
		for job := range n.jobs {
			job()
		}
	}()
	return n, <-ready
}

// loopbackUp sets the flag IFF_UP on "lo" (netdevice(7)).
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("SIOCGIFFLAGS lo: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("SIOCSIFFLAGS lo: %w", err)
	}
	return nil
}

// do runs f on the namespace's thread.
func (n *netns) do(f func() error) error {
	done := make(chan error, 1)
	n.jobs <- func() { done <- f() }
	return <-done
}

func (n *netns) close() { close(n.jobs) }

// freePorts returns n ports nothing in the namespace listens on.
func (n *netns) freePorts(count int) ([]int, error) {
	var ports []int
	err := n.do(func() error {
		var ls []net.Listener
		defer func() {
			for _, l := range ls {
				l.Close()
			}
		}()
		for range count {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return err
			}
			ls = append(ls, l)
			ports = append(ports, l.Addr().(*net.TCPAddr).Port)
		}
		return nil
	})
	return ports, err
}

// start starts cmd in the namespace. Its Pdeathsig kills it if the
// namespace's thread (its parent) ends first.
func (n *netns) start(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	return n.do(cmd.Start)
}

// platform is a running control plane.
type platform struct {
	t       *testing.T
	dir     string // hack/platform.sh's cache
	work    string // this run's files: pki, data, logs, kubeconfig
	ns      *netns
	kubecfg string
	procs   map[string]*proc
}

// proc is a started process; done closes when it has exited.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// startPlatform starts etcd and kube-apiserver and waits for them; stop is
// registered as the test's cleanup.
func startPlatform(t *testing.T) *platform {
	t.Helper()
	dir := platformDir(t)
	ns, err := newNetns()
	if err != nil {
		if os.Getenv("SOPAIPILLAS_REQUIRE_PLATFORM") == "1" {
			t.Fatalf("a network namespace for the platform: %v", err)
		}
		t.Skipf("a network namespace for the platform: %v", err)
	}
	work, err := os.MkdirTemp("", "sopaipillas-platform-")
	if err != nil {
		t.Fatal(err)
	}
	p := &platform{t: t, dir: dir, work: work, ns: ns, procs: map[string]*proc{}}
	t.Cleanup(p.stop)

	ports, err := ns.freePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	etcdClient, etcdPeer, apiPort := ports[0], ports[1], ports[2]
	pki := filepath.Join(work, "pki")
	if err := writePKI(pki); err != nil {
		t.Fatal(err)
	}
	peer := "http://127.0.0.1:" + strconv.Itoa(etcdPeer)
	client := "http://127.0.0.1:" + strconv.Itoa(etcdClient)
	p.spawn("etcd", nil, "--name", "platform", "--data-dir", filepath.Join(work, "etcd"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "platform="+peer, "--unsafe-no-fsync", "--log-level", "warn")
	p.spawn("kube-apiserver", nil,
		"--etcd-servers", client,
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
		"--secure-port", strconv.Itoa(apiPort),
		"--endpoint-reconciler-type", "none",
		"--service-cluster-ip-range", "127.100.0.0/16",
		"--authorization-mode", "RBAC",
		"--client-ca-file", filepath.Join(pki, "ca.crt"),
		"--tls-cert-file", filepath.Join(pki, "apiserver.crt"),
		"--tls-private-key-file", filepath.Join(pki, "apiserver.key"),
		"--service-account-issuer", "https://kubernetes.default.svc",
		"--service-account-key-file", filepath.Join(pki, "sa.key"),
		"--service-account-signing-key-file", filepath.Join(pki, "sa.key"),
		"--cert-dir", filepath.Join(work, "apiserver-certs"),
		"--profiling=false")

	p.kubecfg = filepath.Join(work, "kubeconfig")
	if err := writeKubeconfig(p.kubecfg, pki, "https://127.0.0.1:"+strconv.Itoa(apiPort)); err != nil {
		t.Fatal(err)
	}
	p.poll("kube-apiserver ready", 2*time.Minute, func() error {
		_, err := p.kubectl(nil, "get", "--raw", "/readyz")
		return err
	})
	return p
}

// spawn starts bin/<name> of the cache in the namespace, its output in
// <work>/<name>.log; a process that exits before stop fails the test.
func (p *platform) spawn(name string, env []string, args ...string) {
	p.t.Helper()
	log, err := os.Create(filepath.Join(p.work, name+".log"))
	if err != nil {
		p.t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(p.dir, "bin", name), args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := p.ns.start(cmd); err != nil {
		p.t.Fatalf("starting %s: %v", name, err)
	}
	pr := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { pr.err = cmd.Wait(); close(pr.done) }()
	p.procs[name] = pr
}

// exited returns an error naming the first process that has ended.
func (p *platform) exited() error {
	for name, pr := range p.procs {
		select {
		case <-pr.done:
			return fmt.Errorf("%s exited (%v); its log: %s", name, pr.err, filepath.Join(p.work, name+".log"))
		default:
		}
	}
	return nil
}

// kill stops one process: SIGTERM, SIGKILL after 10 s.
func (p *platform) kill(name string) {
	pr, ok := p.procs[name]
	if !ok {
		return
	}
	delete(p.procs, name)
	_ = pr.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-pr.done:
	case <-time.After(10 * time.Second):
		_ = pr.cmd.Process.Kill()
		<-pr.done
	}
}

// stop ends every process in reverse order of start, shows the logs of a
// failed test and removes the run's files.
func (p *platform) stop() {
	order := []string{"serving-controller", "eventing-webhook", "serving-webhook", "kube-apiserver", "etcd"}
	for _, name := range order {
		p.kill(name)
	}
	for name := range p.procs {
		p.kill(name)
	}
	p.ns.close()
	if p.t.Failed() {
		p.showLogs()
	}
	if os.Getenv("SOPAIPILLAS_PLATFORM_KEEP") == "" {
		_ = os.RemoveAll(p.work)
	} else {
		p.t.Logf("platform files kept in %s", p.work)
	}
}

// showLogs logs the tail of each process's log.
func (p *platform) showLogs() {
	logs, _ := filepath.Glob(filepath.Join(p.work, "*.log"))
	for _, l := range logs {
		data, _ := os.ReadFile(l)
		if len(data) > 4000 {
			data = data[len(data)-4000:]
		}
		p.t.Logf("--- tail of %s:\n%s", filepath.Base(l), data)
	}
}

// kubectl runs the cached kubectl against the platform.
func (p *platform) kubectl(stdin io.Reader, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(p.dir, "bin", "kubectl"), append([]string{"--kubeconfig", p.kubecfg}, args...)...)
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := p.ns.start(cmd); err != nil {
		return nil, err
	}
	if err := cmd.Wait(); err != nil {
		return stdout.Bytes(), fmt.Errorf("kubectl %s: %w\n%s%s", strings.Join(args, " "), err, stderr.String(), stdout.String())
	}
	return stdout.Bytes(), nil
}

// getJSON reads one object into v.
func (p *platform) getJSON(v any, args ...string) error {
	out, err := p.kubectl(nil, append(append([]string{"get"}, args...), "-o", "json")...)
	if err != nil {
		return err
	}
	return json.Unmarshal(out, v)
}

// apply applies YAML documents in their order, with one extra kubectl flag
// such as --dry-run=server ("" for none).
func (p *platform) apply(flag string, docs ...[]byte) ([]byte, error) {
	args := []string{"apply", "-f", "-"}
	if flag != "" {
		args = append(args, flag)
	}
	return p.kubectl(bytes.NewReader(joinDocs(docs)), args...)
}

func joinDocs(docs [][]byte) []byte {
	var b bytes.Buffer
	for _, d := range docs {
		b.WriteString("---\n")
		b.Write(d)
		b.WriteString("\n")
	}
	return b.Bytes()
}

// poll calls f until it succeeds or the deadline passes, or a process of
// the platform exits; then the test fails with f's last error.
func (p *platform) poll(what string, timeout time.Duration, f func() error) {
	p.t.Helper()
	err := pollUntil(timeout, func() error {
		if err := p.exited(); err != nil {
			return stopPolling{err}
		}
		return f()
	})
	if err != nil {
		p.t.Fatalf("%s: not within %s: %v", what, timeout, err)
	}
}

func pollUntil(timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	wait := 50 * time.Millisecond
	for {
		err := f()
		if err == nil {
			return nil
		}
		var stop stopPolling
		if errors.As(err, &stop) {
			return stop.err
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(wait)
		wait = min(2*wait, time.Second)
	}
}

// writePKI makes a CA, the API server's serving certificate, an admin
// client certificate (group system:masters) and the service account key.
func writePKI(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "sopaipillas-platform-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	if ca, err = x509.ParseCertificate(caDER); err != nil {
		return err
	}
	leaf := func(name string, serial int64, tmpl x509.Certificate) error {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		tmpl.SerialNumber = big.NewInt(serial)
		tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.Add(24*time.Hour)
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		der, err := x509.CreateCertificate(rand.Reader, &tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return err
		}
		return writeKeyPair(dir, name, der, key)
	}
	if err := writeKeyPair(dir, "ca", caDER, caKey); err != nil {
		return err
	}
	if err := leaf("apiserver", 2, x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(127, 100, 0, 1)},
	}); err != nil {
		return err
	}
	if err := leaf("admin", 3, x509.Certificate{
		Subject:     pkix.Name{CommonName: "platform-admin", Organization: []string{"system:masters"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return err
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalECPrivateKey(saKey)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "sa.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)
}

func writeKeyPair(dir, name string, certDER []byte, key *ecdsa.PrivateKey) error {
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, name+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
}

// writeKubeconfig writes a kubeconfig for the admin certificate.
func writeKubeconfig(path, pki, server string) error {
	b64 := func(name string) (string, error) {
		data, err := os.ReadFile(filepath.Join(pki, name))
		return base64.StdEncoding.EncodeToString(data), err
	}
	ca, err := b64("ca.crt")
	if err != nil {
		return err
	}
	crt, err := b64("admin.crt")
	if err != nil {
		return err
	}
	key, err := b64("admin.key")
	if err != nil {
		return err
	}
	cfg := map[string]any{
		"apiVersion":      "v1",
		"kind":            "Config",
		"current-context": "platform",
		"clusters":        []any{map[string]any{"name": "platform", "cluster": map[string]any{"server": server, "certificate-authority-data": ca}}},
		"users":           []any{map[string]any{"name": "admin", "user": map[string]any{"client-certificate-data": crt, "client-key-data": key}}},
		"contexts":        []any{map[string]any{"name": "platform", "context": map[string]any{"cluster": "platform", "user": "admin"}}},
	}
	data, err := yaml.Marshal(cfg)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}

// configDocs reads every YAML document of the files matching the patterns
// under <dir>/config (hack/platform.sh's copy of Knative's config/ folders).
func (p *platform) configDocs(patterns ...string) []object {
	p.t.Helper()
	var out []object
	for _, pat := range patterns {
		files, err := filepath.Glob(filepath.Join(p.dir, "config", pat))
		if err != nil || len(files) == 0 {
			p.t.Fatalf("no Knative config file matches %s in %s (%v)", pat, p.dir, err)
		}
		sort.Strings(files)
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				p.t.Fatal(err)
			}
			objs, err := parseObjects(data)
			if err != nil {
				p.t.Fatalf("%s: %v", f, err)
			}
			out = append(out, objs...)
		}
	}
	return out
}

// docs returns the YAML of objects.
func docs(objs []object) [][]byte {
	out := make([][]byte, len(objs))
	for i, o := range objs {
		out[i] = o.Doc
	}
	return out
}

// marshalDocs turns decoded objects into YAML documents.
func marshalDocs(t testing.TB, objs ...any) [][]byte {
	t.Helper()
	var out [][]byte
	for _, o := range objs {
		data, err := yaml.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, data)
	}
	return out
}

// stopPolling ends pollUntil at once with err.
type stopPolling struct{ err error }

func (s stopPolling) Error() string { return s.err.Error() }

// errNotYet marks a condition polled for that does not hold yet.
var errNotYet = errors.New("not yet")
