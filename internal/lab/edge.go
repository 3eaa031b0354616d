package lab

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/failoverbot/failoverbot/internal/steps/aws/awstest"
)

// edgeNames are the public names of the seeds' services the edge serves
// (the names their runbooks' http.check steps request).
var edgeNames = []string{awstest.MimirAPIName, awstest.MimirAppName, awstest.MAIPAPIName}

// edge is the seeds' public internet in the lab (Options.Seeds): each
// region's load balancers are one HTTPS server (the primary's behind a
// proxy that fails with the region), and a forward proxy (HTTPS_PROXY)
// resolves a name as Route 53 would — through the records of the lab's
// local AWS, a CNAME or an alias to a load balancer, a weighted set by
// its weights — and tunnels to the load balancer's region. So after a
// runbook moves api.mimir.example.com to the DR load balancer,
// `curl https://api.mimir.example.com/health` reaches the DR region.
type edge struct {
	aws          *AWS
	caPEM        []byte
	leaf         [2][]byte // the certificate and key, PEM
	caFile       string
	pool         *x509.CertPool
	primary, dr  *edgeServer
	primaryProxy *proxy
	srv          *http.Server
	addr         string
}

// edgeServer is a region's load balancers: GET /health and
// /actuator/health answer the status the seeds' checks look for, / a page.
type edgeServer struct {
	region string
	port   int
	cert   tls.Certificate
	mu     sync.Mutex
	srv    *http.Server
}

func (l *Lab) upEdge() error {
	if !l.opts.Seeds {
		return nil
	}
	if l.aws == nil {
		return errors.New("lab: seeds: the edge needs the local AWS (Options.AWS)")
	}
	e := &edge{aws: l.aws, caFile: l.path("edge-ca.pem")}
	cert, err := e.newCerts()
	if err != nil {
		return fmt.Errorf("lab: edge certificates: %w", err)
	}
	if err := os.WriteFile(e.caFile, e.caPEM, 0o644); err != nil {
		return fmt.Errorf("lab: write %s: %w", e.caFile, err)
	}
	for _, s := range []**edgeServer{&e.primary, &e.dr} {
		region := "primary"
		if s == &e.dr {
			region = "dr"
		}
		port, err := freePort()
		if err != nil {
			return err
		}
		*s = &edgeServer{region: region, port: port, cert: cert}
		if err := (*s).Start(); err != nil {
			return err
		}
	}
	if e.primaryProxy, err = newProxy("edge-primary", e.primary.Addr()); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("lab: edge proxy: %w", err)
	}
	e.addr = ln.Addr().String()
	e.srv = &http.Server{Handler: http.HandlerFunc(e.connect), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = e.srv.Serve(ln) }()
	l.edge = e
	return nil
}

// newCerts makes the lab's CA and a certificate for edgeNames (and
// loopback, for the lab's metrics API) signed by it.
func (e *edge) newCerts() (tls.Certificate, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "failover-bot lab CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(7 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	if ca, err = x509.ParseCertificate(caDER); err != nil {
		return tls.Certificate{}, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: edgeNames[0]},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(7 * 24 * time.Hour), DNSNames: append([]string{"localhost"}, edgeNames...),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	e.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	e.leaf = [2][]byte{pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})}
	e.pool = x509.NewCertPool()
	e.pool.AddCert(ca)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// leafPEM is the edge's certificate and key (for the lab's other servers).
func (e *edge) leafPEM() ([]byte, []byte) { return e.leaf[0], e.leaf[1] }

// connect serves CONNECT host:443: the tunnel goes to the region of the
// load balancer the name resolves to.
func (e *edge) connect(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		http.Error(w, "the lab's edge proxy serves CONNECT only (HTTPS_PROXY)", http.StatusMethodNotAllowed)
		return
	}
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	target, err := e.resolve(host)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	up, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		http.Error(w, fmt.Sprintf("%s: %v", host, err), http.StatusBadGateway)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		up.Close()
		http.Error(w, "no hijacking", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
	down, buf, err := hj.Hijack()
	if err != nil {
		up.Close()
		return
	}
	if n := buf.Reader.Buffered(); n > 0 {
		b, _ := buf.Reader.Peek(n)
		_, _ = up.Write(b)
	}
	go func() { _, _ = io.Copy(up, down); up.Close() }()
	go func() { _, _ = io.Copy(down, up); down.Close() }()
}

// resolve follows name's records in the local AWS's zones to a load
// balancer and returns the address of its region's edge server.
func (e *edge) resolve(name string) (string, error) {
	lb, err := e.aws.resolve(name)
	if err != nil {
		return "", err
	}
	switch {
	case strings.Contains(lb, "."+awstest.PrimaryRegion+"."):
		return e.primaryProxy.Addr(), nil
	case strings.Contains(lb, "."+awstest.DRRegion+"."):
		return e.dr.Addr(), nil
	}
	return "", fmt.Errorf("%s → %s: not a load balancer of the lab's regions", name, lb)
}

// resolve is name's target as Route 53 answers it: the CNAME's value or
// the alias's DNS name; of a weighted set, one drawn by weight.
func (a *AWS) resolve(name string) (string, error) {
	fqdn := strings.TrimSuffix(name, ".") + "."
	var targets []string
	var weights []int64
	for _, zone := range []string{a.maip.ZoneID, a.mimir.ZoneID} {
		for _, r := range a.srv.Records(zone) {
			if r.Name != fqdn || (r.Type != "CNAME" && r.Type != "A") {
				continue
			}
			t := ""
			if r.Alias != nil {
				t = r.Alias.DNSName
			} else if len(r.Values) > 0 {
				t = r.Values[0]
			}
			w := int64(1)
			if r.Weight != nil {
				w = *r.Weight
			}
			if t != "" && w > 0 {
				targets, weights = append(targets, strings.TrimSuffix(t, ".")), append(weights, w)
			}
		}
	}
	if len(targets) == 0 {
		return "", fmt.Errorf("%s: no such record in the lab's Route 53 (NXDOMAIN)", name)
	}
	var total int64
	for _, w := range weights {
		total += w
	}
	n := mrand.Int64N(total)
	for i, w := range weights {
		if n < w {
			return targets[i], nil
		}
		n -= w
	}
	return targets[len(targets)-1], nil
}

// Addr is the server's address.
func (s *edgeServer) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

// Start serves on the server's port (no-op when serving).
func (s *edgeServer) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return nil
	}
	ln, err := listenRetry("127.0.0.1", s.port)
	if err != nil {
		return fmt.Errorf("lab: edge %s: %w", s.region, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"ok","region":%q}`+"\n", s.region)
	})
	mux.HandleFunc("GET /actuator/health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"UP","region":%q}`+"\n", s.region)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "<html><body>%s, served from the %s region</body></html>\n", r.Host, s.region)
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{s.cert}, MinVersion: tls.VersionTLS12}}
	go func(srv *http.Server) { _ = srv.ServeTLS(ln, "", "") }(s.srv)
	return nil
}

// Stop closes the server (no-op when stopped).
func (s *edgeServer) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		_ = s.srv.Close()
		s.srv = nil
	}
}

func (e *edge) env(m map[string]string) {
	m["LAB_HTTPS_PROXY"] = "http://" + e.addr
	m["LAB_EDGE_CA_FILE"] = e.caFile
}

func (e *edge) close() error {
	e.primary.Stop()
	e.dr.Stop()
	return errors.Join(e.primaryProxy.Close(), e.srv.Close())
}

// EdgeProxy is the lab's edge as http.check takes it (Options.Seeds): the
// proxy function and the lab's CA; nil, nil without seeds.
func (l *Lab) EdgeProxy() (func(*http.Request) (*url.URL, error), *x509.CertPool) {
	if l.edge == nil {
		return nil, nil
	}
	u := &url.URL{Scheme: "http", Host: l.edge.addr}
	return func(r *http.Request) (*url.URL, error) {
		if h := r.URL.Hostname(); net.ParseIP(h) != nil || h == "localhost" {
			return nil, nil
		}
		return u, nil
	}, l.edge.pool
}
