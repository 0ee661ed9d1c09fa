// mcpop-bridge: serve a stdio MCP server as streamable HTTP, as one static binary.
//
// Each HTTP session (an initialize POST without Mcp-Session-Id) starts its own child process and the
// bridge relays JSON-RPC messages between the session's streamable-HTTP transport and the child's
// stdin/stdout unchanged, so the server's own protocol, capabilities and tools pass through as they are.
// Both transports are the official MCP Go SDK's (github.com/modelcontextprotocol/go-sdk).
//
//	mcpop-bridge [--port 8000] [--path /mcp] [--health /healthz] [--session-timeout 30m] -- COMMAND [ARG...]
//	mcpop-bridge --copy-to DIR     copy this binary to DIR/mcpop-bridge (the init container's job)
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const sessionHeader = "Mcp-Session-Id"

var version = "dev"

type session struct {
	transport *mcp.StreamableServerTransport
	cancel    context.CancelFunc
	once      sync.Once
	closers   []io.Closer
	// guarded by bridge.mu: requests in flight (an open GET stream counts) and when the last one ended
	active   int
	lastSeen time.Time
}

func (s *session) close() {
	s.once.Do(func() {
		s.cancel()
		for _, c := range s.closers {
			_ = c.Close()
		}
	})
}

type bridge struct {
	command  []string
	idle     time.Duration
	mu       sync.Mutex
	sessions map[string]*session
}

// enter and leave bracket a request on a session, for the idle timeout.
func (b *bridge) enter(s *session) {
	b.mu.Lock()
	s.active++
	b.mu.Unlock()
}

func (b *bridge) leave(s *session) {
	b.mu.Lock()
	s.active--
	s.lastSeen = time.Now()
	b.mu.Unlock()
}

// reap closes sessions with no request in flight for longer than the idle timeout: a client that went
// away without DELETE must not keep its server process forever.
func (b *bridge) reap() {
	for range time.Tick(b.idle / 4) {
		now := time.Now()
		var idle []string
		b.mu.Lock()
		for id, s := range b.sessions {
			if s.active == 0 && now.Sub(s.lastSeen) > b.idle {
				idle = append(idle, id)
			}
		}
		b.mu.Unlock()
		for _, id := range idle {
			log.Printf("session %s: idle for more than %s", id[:8], b.idle)
			b.drop(id)
		}
	}
}

type connCloser struct{ conn mcp.Connection }

func (c connCloser) Close() error { return c.conn.Close() }

// relay copies messages from src to dst until either side fails, then closes the session.
func (b *bridge) relay(ctx context.Context, id string, s *session, src, dst mcp.Connection) {
	defer b.drop(id)
	for {
		msg, err := src.Read(ctx)
		if err != nil {
			return
		}
		if err := dst.Write(ctx, msg); err != nil {
			return
		}
	}
}

func (b *bridge) drop(id string) {
	b.mu.Lock()
	s := b.sessions[id]
	delete(b.sessions, id)
	b.mu.Unlock()
	if s != nil {
		s.close()
		log.Printf("session %s: closed", id[:8])
	}
}

func (b *bridge) open() (string, *session, error) {
	id := rand.Text()
	ctx, cancel := context.WithCancel(context.Background())
	transport := &mcp.StreamableServerTransport{SessionID: id}
	server, err := transport.Connect(ctx)
	if err != nil {
		cancel()
		return "", nil, err
	}
	cmd := exec.Command(b.command[0], b.command[1:]...)
	cmd.Stderr = os.Stderr
	child, err := (&mcp.CommandTransport{Command: cmd, TerminateDuration: 2 * time.Second}).Connect(ctx)
	if err != nil {
		_ = server.Close()
		cancel()
		return "", nil, fmt.Errorf("starting %s: %w", b.command[0], err)
	}
	s := &session{transport: transport, cancel: cancel, closers: []io.Closer{connCloser{child}, connCloser{server}},
		lastSeen: time.Now()}
	b.mu.Lock()
	b.sessions[id] = s
	b.mu.Unlock()
	go b.relay(ctx, id, s, server, child)
	go b.relay(ctx, id, s, child, server)
	log.Printf("session %s: started %s", id[:8], b.command[0])
	return id, s, nil
}

func (b *bridge) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	id := req.Header.Get(sessionHeader)
	if id == "" {
		if req.Method != http.MethodPost {
			http.Error(w, "Bad Request: "+req.Method+" requires an Mcp-Session-Id header", http.StatusBadRequest)
			return
		}
		body, err := io.ReadAll(io.LimitReader(req.Body, 16<<20))
		if err != nil {
			http.Error(w, "cannot read the request body", http.StatusBadRequest)
			return
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		newID, s, err := b.open()
		if err != nil {
			log.Print(err)
			http.Error(w, "cannot start the stdio server", http.StatusBadGateway)
			return
		}
		b.enter(s)
		s.transport.ServeHTTP(w, req)
		b.leave(s)
		if !isInitialize(body) {
			b.drop(newID) // only an initialize opens a session a client can address again
		}
		return
	}
	b.mu.Lock()
	s := b.sessions[id]
	b.mu.Unlock()
	if s == nil {
		http.Error(w, "session not found", http.StatusNotFound)
		return
	}
	switch req.Method {
	case http.MethodDelete:
		b.drop(id)
		w.WriteHeader(http.StatusNoContent)
	case http.MethodGet, http.MethodPost:
		b.enter(s)
		defer b.leave(s)
		s.transport.ServeHTTP(w, req)
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// isInitialize reports whether a POST body is a single initialize request.
func isInitialize(body []byte) bool {
	var msg struct {
		Method string `json:"method"`
	}
	return json.Unmarshal(body, &msg) == nil && msg.Method == "initialize"
}

func copyTo(dir string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	in, err := os.Open(self)
	if err != nil {
		return err
	}
	defer in.Close()
	dest := filepath.Join(dir, "mcpop-bridge")
	out, err := os.OpenFile(dest, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("mcpop-bridge: ")
	port := flag.Int("port", 8000, "HTTP port to listen on")
	path := flag.String("path", "/mcp", "path of the streamable-HTTP MCP endpoint")
	health := flag.String("health", "/healthz", "path of the health endpoint")
	host := flag.String("host", "", "address to listen on (default: all)")
	dir := flag.String("copy-to", "", "copy this binary into DIR and exit")
	idle := flag.Duration("session-timeout", 30*time.Minute, "close a session (and its server process) idle this long")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println(version)
		return
	}
	if *dir != "" {
		if err := copyTo(*dir); err != nil {
			log.Fatalf("copy to %s: %v", *dir, err)
		}
		return
	}
	if flag.NArg() == 0 {
		log.Fatal("no command: mcpop-bridge [flags] -- COMMAND [ARG...]")
	}
	if *idle <= 0 {
		log.Fatal("--session-timeout must be positive")
	}
	b := &bridge{command: flag.Args(), idle: *idle, sessions: map[string]*session{}}
	go b.reap()
	mux := http.NewServeMux()
	mux.Handle(*path, b)
	mux.HandleFunc(*health, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	srv := &http.Server{Addr: fmt.Sprintf("%s:%d", *host, *port), Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		b.mu.Lock()
		ids := make([]string, 0, len(b.sessions))
		for id := range b.sessions {
			ids = append(ids, id)
		}
		b.mu.Unlock()
		for _, id := range ids {
			b.drop(id)
		}
	}()
	log.Printf("%s serving %s on %s%s (health %s)", version, b.command[0], srv.Addr, *path, *health)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
