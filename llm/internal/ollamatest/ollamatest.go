// Package ollamatest runs a real Ollama server on a loopback port for
// end-to-end tests, serving a tiny random-weight model it creates.
//
// The server binary is found through $SRELLAMA_OLLAMA_BIN, then PATH. Where
// there is none the test is skipped with instructions, except under CI=true,
// where it fails: CI builds ollama (see the llm package's README).
package ollamatest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ollama/ollama/api"

	"github.com/srellama/srellama/llm/internal/tinygguf"
)

// BinEnv names the environment variable that points at the ollama binary.
const BinEnv = "SRELLAMA_OLLAMA_BIN"

// InstallHint says how to get a binary.
const InstallHint = "run llm/scripts/install-ollama.sh \"$HOME/go/bin\" (Debian nlohmann-json3-dev and libstb-dev, " +
	"miniaudio.h from npm's llama.rn@0.12.9, go install github.com/ollama/ollama@v0.17.4; about 5-11 minutes on 2 cores), " +
	"then set " + BinEnv + "=$HOME/go/bin/ollama or put ollama on PATH"

// Server is a running Ollama server.
type Server struct {
	Client *api.Client
	URL    *url.URL
	bin    string
	env    []string
}

// CLI runs the ollama command line against the server, in dir.
func (s *Server) CLI(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, s.bin, args...)
	cmd.Dir = dir
	cmd.Env = s.env
	return cmd.CombinedOutput()
}

// Bin finds the ollama binary or skips (fails under CI).
func Bin(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(BinEnv); p != "" {
		return p
	}
	if p, err := exec.LookPath("ollama"); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI needs an ollama binary: %s", InstallHint)
	}
	t.Skipf("no ollama binary (set %s or put ollama on PATH); to build one: %s", BinEnv, InstallHint)
	return ""
}

// Start runs `ollama serve` on a free loopback port with a private model
// store, and stops it when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Bin(t)
	port := freePort(t)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "serve")
	ownGroup(cmd)
	env := append(os.Environ(),
		"OLLAMA_HOST=127.0.0.1:"+port,
		"OLLAMA_MODELS="+filepath.Join(dir, "models"),
		"HOME="+dir,
		"OLLAMA_NOPRUNE=1",
		"OLLAMA_KEEP_ALIVE=10m",
		"OLLAMA_NUM_PARALLEL=1",
	)
	cmd.Env = env
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start ollama: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("ollama server log (tail):\n%s", tail(logs.String(), 6000))
		}
	})
	u := &url.URL{Scheme: "http", Host: "127.0.0.1:" + port}
	client := api.NewClient(u, http.DefaultClient)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := client.Heartbeat(context.Background()); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ollama did not answer on %s within 30s:\n%s", u, tail(logs.String(), 4000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	return &Server{Client: client, URL: u, bin: bin, env: env}
}

// CreateTinyModel writes the random-weight model, uploads it as a blob and
// creates model name from it with the given template and system prompt.
func (s *Server) CreateTinyModel(t testing.TB, name, template, system string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tiny.gguf")
	if err := tinygguf.Write(path, 42); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Client.CreateBlob(ctx, digest, bytes.NewReader(data)); err != nil {
		t.Fatalf("upload blob: %v", err)
	}
	stream := false
	err = s.Client.Create(ctx, &api.CreateRequest{
		Model:    name,
		Files:    map[string]string{"tiny.gguf": digest},
		Template: template,
		System:   system,
		Stream:   &stream,
	}, func(api.ProgressResponse) error { return nil })
	if err != nil {
		t.Fatalf("create model %s: %v", name, err)
	}
}

func freePort(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
