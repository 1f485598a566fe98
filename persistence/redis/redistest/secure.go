package redistest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Secure protects the servers of a test: passwords and TLS. The zero value
// is plain TCP without passwords.
type Secure struct {
	Password         string // requirepass (and masterauth) of primaries and replicas
	SentinelPassword string // requirepass of the Sentinels (and what they use with each other)
	TLS              *TLS   // when set, TLS only: no plain port
}

// TLS is a CA and a certificate it signed for 127.0.0.1, as PEM files.
type TLS struct {
	CA, Cert, Key string // file paths
	pool          *x509.CertPool
}

// WithSecure starts the server (and, given to StartSentinels through
// SentinelConfig.Secure, its Sentinels) with sec's passwords and TLS.
func WithSecure(sec Secure) Option { return func(s *Server) { s.sec = sec } }

// NewTLS writes a fresh CA and a certificate for 127.0.0.1 into a temp dir.
func NewTLS(t testing.TB) *TLS {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "redistest CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	tl := &TLS{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "cert.pem"), Key: filepath.Join(dir, "key.pem"), pool: x509.NewCertPool()}
	tl.pool.AddCert(ca)
	for path, block := range map[string]*pem.Block{
		tl.CA: {Type: "CERTIFICATE", Bytes: caDER}, tl.Cert: {Type: "CERTIFICATE", Bytes: der}, tl.Key: {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return tl
}

// ClientTLS is a client configuration that trusts the CA.
func (tl *TLS) ClientTLS() *tls.Config {
	if tl == nil {
		return nil
	}
	return &tls.Config{RootCAs: tl.pool, MinVersion: tls.VersionTLS12}
}

// serverArgs are a data node's flags for sec (none for the zero value).
func (sec Secure) serverArgs(port int) []string {
	var args []string
	if sec.Password != "" {
		args = append(args, "--requirepass", sec.Password, "--masterauth", sec.Password)
	}
	if sec.TLS != nil {
		args = append(args, "--port", "0", "--tls-port", itoa(port),
			"--tls-cert-file", sec.TLS.Cert, "--tls-key-file", sec.TLS.Key, "--tls-ca-cert-file", sec.TLS.CA,
			"--tls-replication", "yes", "--tls-auth-clients", "no")
	}
	return args
}

// sentinelConf is a Sentinel's config lines for sec, but for the ones
// about its primary (auth-pass), which follow its monitor line.
func (sec Secure) sentinelConf(port int) string {
	conf := ""
	if sec.TLS != nil {
		conf += "port 0\ntls-port " + itoa(port) + "\ntls-cert-file " + sec.TLS.Cert + "\ntls-key-file " + sec.TLS.Key +
			"\ntls-ca-cert-file " + sec.TLS.CA + "\ntls-replication yes\ntls-auth-clients no\n"
	} else {
		conf += "port " + itoa(port) + "\n"
	}
	if sec.SentinelPassword != "" {
		conf += "requirepass " + sec.SentinelPassword + "\nsentinel sentinel-pass " + sec.SentinelPassword + "\n"
	}
	return conf
}

// options are go-redis options reaching addr, a data node or (sentinel)
// a Sentinel, under sec.
func (sec Secure) options(addr string, sentinel bool) *goredis.Options {
	o := &goredis.Options{Addr: addr, MaxRetries: -1, Password: sec.Password, TLSConfig: sec.TLS.ClientTLS()}
	if sentinel {
		o.Password = sec.SentinelPassword
	}
	return o
}

// dial opens a connection to addr as sec says: TLS when set.
func (sec Secure) dial(addr string) (net.Conn, error) {
	if sec.TLS != nil {
		return tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, sec.TLS.ClientTLS())
	}
	return net.DialTimeout("tcp", addr, time.Second)
}
