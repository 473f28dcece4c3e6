// Package node assembles one Eddy node from its parts: storage, metadata,
// producer IDs, the broker, the Kafka listener and the HTTP listener. A
// Node owns every goroutine it starts and stops them all in Close.
package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/broker"
	"github.com/eddy-streaming/eddy/internal/config"
	"github.com/eddy-streaming/eddy/internal/controller"
	"github.com/eddy-streaming/eddy/internal/meta"
	"github.com/eddy-streaming/eddy/internal/server"
	"github.com/eddy-streaming/eddy/internal/storage"
)

// Config is everything a node needs to start.
type Config struct {
	DataDir       string
	KafkaAddr     string // listen address; port 0 picks a free port
	HTTPAddr      string // admin/health listener; empty disables it
	AdvertiseAddr string // where clients connect, if not KafkaAddr
	NodeID        int32
	// Voters, "id@host:port,...", makes the node a member of a cluster
	// whose metadata quorum listens on those addresses (cluster.go);
	// ControllerAddr is this node's own quorum listener. Empty: a
	// standalone single-node cluster.
	Voters         string
	ControllerAddr string
	Rack           string
	Settings       map[string]string // Kafka broker properties
	Logger         *slog.Logger
	// TLSCert and TLSKey (PEM files) put the Kafka listener behind TLS;
	// TLSClientCA also requires client certificates signed by it (mTLS).
	// The files are read again when they change.
	TLSCert, TLSKey, TLSClientCA string
	// BootstrapUser, "name:password" (EDDY_BOOTSTRAP_USER), is created at
	// start with SCRAM credentials unless it exists (users.go).
	BootstrapUser string
	// EncryptionKeyFile turns on encryption at rest with the keys it
	// lists (storage.LoadKeys); empty: off.
	EncryptionKeyFile string
}

// Validate checks the config before anything is opened.
func (c Config) Validate() error {
	switch {
	case c.DataDir == "":
		return errors.New("node: no data directory")
	case c.KafkaAddr == "":
		return errors.New("node: no kafka address")
	case c.NodeID < 0:
		return fmt.Errorf("node: node id must not be negative, got %d", c.NodeID)
	case c.Logger == nil:
		return errors.New("node: no logger")
	}
	if c.BootstrapUser != "" {
		if _, _, err := parseBootstrapUser(c.BootstrapUser); err != nil {
			return err
		}
	}
	return nil
}

// Node is a running Eddy node.
type Node struct {
	cfg       Config
	log       *slog.Logger
	logs      *storage.Manager
	replicas  *replicas
	broker    *broker.Broker
	kafka     *server.Server
	kafkaAddr net.Addr
	http      *http.Server
	httpAddr  net.Addr
	dirLock   *dirLock
	meta      *meta.Store
	quorum    *metaQuorum // nil on a standalone node
	member    *membership // nil on a standalone node
	pprof     *http.Server
	pprofAddr net.Addr
	metrics   *prometheus.Registry // every component's series (metrics.go); nil when off
	ready     *readiness           // how far Start has come (health.go)
	wg        sync.WaitGroup
}

// Start opens the node's data and starts its listeners.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	settings, err := config.ParseBrokerConfig(cfg.Settings)
	if err != nil {
		return nil, fmt.Errorf("broker settings: %w", err)
	}
	n := &Node{cfg: cfg, log: cfg.Logger, ready: newReadiness(cfg.DataDir, cfg.Logger)}
	if settings.Bool("eddy.metrics.enabled") {
		n.metrics = newRegistry()
		n.metrics.MustRegister(n.readyGauge())
	}
	ok := false
	defer func() {
		if !ok {
			n.Close()
		}
	}()
	// HTTP first: probes see a starting node alive, and why it is not
	// ready yet (health.go).
	if err := n.startHTTP(settings); err != nil {
		return nil, err
	}
	if err := n.open(ctx, settings); err != nil {
		return nil, err
	}
	if n.metrics != nil {
		n.metrics.MustRegister(newKafkaCollector(n)) // metrics_kafka.go
	}
	n.ready.set(phaseServing)
	ok = true
	n.log.Info("eddy node started", "node_id", cfg.NodeID, "kafka_addr", n.kafkaAddr.String(), "data_dir", cfg.DataDir)
	return n, nil
}

func (n *Node) open(ctx context.Context, settings config.BrokerConfig) error {
	// Keys first, before anything in the data directory is created,
	// locked or written: a wrong or missing key leaves it as it was.
	var keys *storage.Keyring
	if n.cfg.EncryptionKeyFile != "" {
		var err error
		if keys, err = storage.LoadKeys(n.cfg.EncryptionKeyFile); err != nil {
			return err
		}
	}
	if _, err := storage.CheckKeys(filepath.Join(n.cfg.DataDir, "logs"), keys); err != nil {
		return err
	}
	metaDir := filepath.Join(n.cfg.DataDir, "meta")
	if err := os.MkdirAll(metaDir, 0o755); err != nil {
		return fmt.Errorf("creating data directory: %w", err)
	}
	lock, err := lockDataDir(n.cfg.DataDir)
	if err != nil {
		return err
	}
	n.dirLock = lock
	n.ready.set(phaseOpeningMeta)
	store, err := n.openMeta(ctx, metaDir, settings)
	if err != nil {
		return err
	}
	n.meta = store
	n.ready.set(phaseRecovering)
	// Storage starts with the dynamic settings stored; later changes reach
	// its log cleaner through OnSettingsChange.
	effective := store.BrokerConfig(settings, n.cfg.NodeID)
	scfg := storageConfig(filepath.Join(n.cfg.DataDir, "logs"), n.log, effective)
	scfg.Reserve = store.Reserve()
	scfg.Keys = keys
	n.internalMetrics(&scfg, settings) // metrics_internal.go
	// On a cluster the high watermark is the replicas' (internal/replica),
	// not the log end.
	scfg.ManualHighWatermark = n.quorum != nil
	// Logs found on disk get their topic's config as of this start; the
	// broker re-applies configs whenever they change afterwards.
	scfg.LogConfig = func(topic string) storage.LogConfig {
		t, _ := store.Topic(topic)
		return config.ResolveLogConfig(t.Configs, effective)
	}
	n.logs, err = storage.Open(ctx, scfg)
	if err != nil {
		return fmt.Errorf("opening logs: %w", err)
	}
	n.ready.set(phaseRegistering)
	ctrl, err := controller.New(controller.Config{Store: store, Node: n.cfg.NodeID, Settings: settings})
	if err != nil {
		return err
	}
	n.controllerMetrics(ctrl) // metrics_internal.go
	pids, err := n.producerIDs(metaDir, ctrl)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", n.cfg.KafkaAddr)
	if err != nil {
		return fmt.Errorf("kafka listener: %w", err)
	}
	n.kafkaAddr = ln.Addr()
	host, port, err := n.advertised()
	if err != nil {
		ln.Close()
		return err
	}
	var epoch int64
	if n.quorum != nil {
		if epoch, err = n.register(ctx, ctrl, host, port); err != nil {
			ln.Close()
			return err
		}
	}
	if err := n.bootstrapUser(ctrl); err != nil {
		ln.Close()
		return err
	}
	bcfg := broker.Config{NodeID: n.cfg.NodeID, AdvertiseHost: host, AdvertisePort: port, Logger: n.log,
		Settings: settings, OnSettingsChange: n.settingsChanged, Clustered: n.quorum != nil, Controller: n.controllerID,
		Ctrl: ctrl, Registerer: n.registerer()}
	if n.quorum != nil {
		bcfg.Quorum = n.quorum.status
	}
	if settings.AuthorizerEnabled() {
		bcfg.Authorizer = newAuthorizer(settings, store, n.log)
	}
	n.replicas, err = n.startReplicas(effective, ctrl, selfAddr(host, port))
	if err != nil {
		ln.Close()
		return err
	}
	if cl := n.replicas.client; cl != nil {
		// The transaction coordinators write markers to other leaders
		// with the client the followers fetch with.
		bcfg.Send = func(ctx context.Context, broker int32, req kmsg.Request) (kmsg.Response, error) {
			return cl.Broker(int(broker)).Request(ctx, req)
		}
	}
	b, err := broker.New(ctx, bcfg, n.logs, n.replicas.Manager, store, pids)
	if err != nil {
		ln.Close()
		return fmt.Errorf("starting broker: %w", err)
	}
	n.broker = b
	srvCfg, err := serverConfig(n.log, settings)
	if err == nil {
		n.listenerSecurity(&srvCfg, settings)
		srvCfg.Registerer = n.registerer()
		n.kafka, err = server.New(srvCfg, b)
	}
	if err != nil {
		ln.Close()
		return err
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		err := n.kafka.Serve(ln)
		n.ready.kafkaStopped.Store(true)
		if err != nil {
			n.log.Error("kafka listener stopped", "err", err)
		}
	}()
	if n.quorum != nil {
		// As a Kafka broker does, start only once the controller counts
		// this node in: before that it leads nothing.
		n.member = n.startMembership(ctrl, epoch, effective)
		n.ready.set(phaseFenced)
		if err := n.member.waitUnfenced(ctx); err != nil {
			return err
		}
		return n.waitImageUnfenced(ctx, store, epoch)
	}
	return nil
}

// waitImageUnfenced waits until this node's own metadata shows this
// incarnation unfenced: the controller answers the heartbeat once it has
// applied the change, and a follower (an observer most of all) applies it
// a little later. Until then this node's Metadata would leave itself out.
func (n *Node) waitImageUnfenced(ctx context.Context, store *meta.Store, epoch int64) error {
	for {
		if b, ok := store.Image().Broker(n.cfg.NodeID); ok && b.Epoch == epoch && !b.Fenced {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node: waiting for this node's metadata to show it unfenced: %w", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// serverConfig maps the broker's listener settings onto server's config.
func serverConfig(log *slog.Logger, settings config.BrokerConfig) (server.Config, error) {
	overrides, err := server.ParseIPOverrides(settings.String("max.connections.per.ip.overrides"))
	if err != nil {
		return server.Config{}, err
	}
	queued := settings.Int("queued.max.request.bytes")
	if queued <= 0 { // as in Kafka: unbounded
		queued = math.MaxInt64
	}
	ms := func(name string) time.Duration {
		return time.Duration(max(0, settings.Int(name))) * time.Millisecond
	}
	return server.Config{
		Logger:          log,
		MaxRequestBytes: int32(settings.Int("socket.request.max.bytes")),
		MaxQueuedBytes:  queued,
		ReadTimeout:     ms("eddy.request.read.timeout.ms"),
		IdleTimeout:     ms("connections.max.idle.ms"),
		Limits: server.Limits{
			MaxConnections:      int(settings.Int("max.connections")),
			MaxConnectionsPerIP: int(settings.Int("max.connections.per.ip")),
			PerIPOverrides:      overrides,
			CreationRate:        int(settings.Int("max.connection.creation.rate")),
		},
	}, nil
}

// storageConfig maps the broker's log.* settings onto storage's config.
func storageConfig(dir string, log *slog.Logger, settings config.BrokerConfig) storage.Config {
	cs := cleanerSettings(settings)
	if !settings.Bool("log.cleaner.enable") {
		cs.Threads = -1
	}
	return storage.Config{
		Dir:                     dir,
		Logger:                  log,
		RetentionCheckInterval:  time.Duration(settings.Int("log.retention.check.interval.ms")) * time.Millisecond,
		CleanerThreads:          cs.Threads,
		CleanerBackoff:          cs.Backoff,
		CleanerIOBytesPerSecond: cs.IOBytesPerSecond,
		CleanerDedupeBufferSize: cs.DedupeBufferSize,
		VerifyBytesPerSecond:    verifyRate(settings),
		MaxOpenFiles:            int(settings.Int("eddy.log.max.open.files")),
	}
}

// verifyRate is eddy.log.verify.bytes.per.second in storage's terms: 0
// turns the background verifier off, which storage spells -1.
func verifyRate(settings config.BrokerConfig) float64 {
	rate := float64(settings.Int("eddy.log.verify.bytes.per.second"))
	if rate == 0 {
		return -1
	}
	return rate
}

// cleanerSettings maps the log.cleaner.* settings that may change at run
// time (Kafka's dynamic ones) onto storage's.
func cleanerSettings(settings config.BrokerConfig) storage.CleanerSettings {
	// Kafka's default rate is Double.MAX_VALUE, meaning unthrottled, which
	// storage spells 0.
	rate, err := strconv.ParseFloat(settings.String("log.cleaner.io.max.bytes.per.second"), 64)
	if err != nil || rate >= math.MaxFloat64 {
		rate = 0
	}
	return storage.CleanerSettings{
		Threads:          int(settings.Int("log.cleaner.threads")),
		Backoff:          time.Duration(settings.Int("log.cleaner.backoff.ms")) * time.Millisecond,
		IOBytesPerSecond: rate,
		DedupeBufferSize: settings.Int("log.cleaner.dedupe.buffer.size"),
	}
}

// settingsChanged applies changed dynamic broker settings to the parts of
// the node that cache them.
func (n *Node) settingsChanged(bc config.BrokerConfig) {
	n.logs.SetCleanerSettings(cleanerSettings(bc))
}

// advertised is the host and port clients are told to connect to.
func (n *Node) advertised() (string, int32, error) {
	addr := n.cfg.AdvertiseAddr
	if addr == "" {
		addr = n.kafkaAddr.String()
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("advertise address %q: %w", addr, err)
	}
	port, err := strconv.ParseInt(portStr, 10, 32)
	if err != nil || port <= 0 {
		return "", 0, fmt.Errorf("advertise address %q: bad port", addr)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		return "", 0, fmt.Errorf("advertise address %q: set --advertise-addr when listening on all interfaces", addr)
	}
	return host, int32(port), nil
}

func (n *Node) startHTTP(settings config.BrokerConfig) error {
	pprofAddr := settings.String("eddy.pprof.addr")
	if n.cfg.HTTPAddr != "" {
		ln, err := net.Listen("tcp", n.cfg.HTTPAddr)
		if err != nil {
			return fmt.Errorf("http listener: %w", err)
		}
		n.httpAddr = ln.Addr()
		mux := http.NewServeMux()
		if n.metrics != nil {
			mux.Handle("/metrics", metricsHandler(n.metrics, n.log))
		}
		// Profiles reveal internals and cost CPU: they are served on
		// loopback, or to super users (httpauth.go), unless the operator
		// names their own address.
		loopback := isLoopback(ln.Addr())
		withPprof := pprofAddr == ""
		if withPprof {
			addPprof(mux)
		}
		tlsCfg, err := n.httpTLS()
		if err != nil {
			ln.Close()
			return fmt.Errorf("http listener: %w", err)
		}
		if tlsCfg != nil {
			ln = tls.NewListener(ln, tlsCfg)
		}
		// Probes carry no credentials, and the answers reveal only a
		// reason: /healthz and /readyz are open to all.
		top := http.NewServeMux()
		top.HandleFunc("/healthz", n.healthz)
		top.HandleFunc("/readyz", n.readyz)
		top.Handle("/", n.newHTTPAuth(settings).wrap(mux, loopback || !withPprof))
		n.http = n.serveHTTP(ln, top)
		n.log.Info("http listener started", "http_addr", n.httpAddr.String(), "tls", tlsCfg != nil, "pprof", withPprof, "pprof_super_users_only", withPprof && !loopback)
	}
	if pprofAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", pprofAddr)
	if err != nil {
		return fmt.Errorf("pprof listener: %w", err)
	}
	n.pprofAddr = ln.Addr()
	mux := http.NewServeMux()
	addPprof(mux)
	n.pprof = n.serveHTTP(ln, n.newHTTPAuth(settings).wrap(mux, isLoopback(ln.Addr())))
	n.log.Info("pprof listener started", "pprof_addr", n.pprofAddr.String())
	return nil
}

// addPprof serves Go's profiles; performance work here is done with them
// (BENCHMARKS.md).
func addPprof(mux *http.ServeMux) {
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}

func isLoopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

func (n *Node) serveHTTP(ln net.Listener, h http.Handler) *http.Server {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("http listener stopped", "err", err)
		}
	}()
	return srv
}

// KafkaAddr is the address the Kafka listener is bound to.
func (n *Node) KafkaAddr() string { return n.kafkaAddr.String() }

// RequestMemory reports the bytes reserved for Kafka requests in flight:
// their frames and their decoded form.
func (n *Node) RequestMemory() (frames, decoded int64) { return n.kafka.MemoryInUse() }

// HTTPAddr is the address the HTTP listener is bound to, "" if none.
func (n *Node) HTTPAddr() string { return addrString(n.httpAddr) }

// PprofAddr is the address of the pprof listener (eddy.pprof.addr), "" if
// none.
func (n *Node) PprofAddr() string { return addrString(n.pprofAddr) }

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// Close moves a cluster member's leaderships away, stops the listeners,
// then flushes and closes the logs.
func (n *Node) Close() error {
	if n.member != nil {
		n.controlledShutdown(n.member)
	}
	var errs []error
	for _, srv := range []*http.Server{n.http, n.pprof} {
		if srv != nil {
			errs = append(errs, srv.Close())
		}
	}
	if n.kafka != nil {
		errs = append(errs, n.kafka.Close())
	}
	n.wg.Wait()
	if n.broker != nil {
		errs = append(errs, n.broker.Close())
	}
	if n.replicas != nil {
		n.replicas.close()
	}
	if n.quorum != nil {
		errs = append(errs, n.quorum.close())
	}
	if n.logs != nil {
		errs = append(errs, n.logs.Close())
	}
	// Last: the directory is ours until every file in it is closed.
	errs = append(errs, n.dirLock.release())
	n.log.Info("eddy node stopped")
	return errors.Join(errs...)
}
