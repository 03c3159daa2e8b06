package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/ollama/ollama/api"

	"github.com/srellama/srellama/llm/builtin"
	"github.com/srellama/srellama/llm/ollama"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/config"
)

// ollamaLLM adapts llm/ollama's generator to the workflow: the model's
// validated answer, or the builtin fallback with the reason recorded in
// the definition's provenance.
type ollamaLLM struct{ g ollama.Generator }

func (o ollamaLLM) Generate(ctx context.Context, in builtin.Input) (nft.Definition, error) {
	res, err := o.g.Generate(ctx, in)
	return res.Definition, err
}

// newOllama builds the LLM generator from the configuration. The host
// defaults to Ollama's own default and may omit the scheme, as OLLAMA_HOST
// often does.
func newOllama(g config.Generator, log *slog.Logger) (ollamaLLM, error) {
	host := g.Host
	if host == "" {
		host = "http://127.0.0.1:11434"
	}
	if !strings.Contains(host, "://") {
		host = "http://" + host
	}
	u, err := url.Parse(host)
	if err != nil || u.Host == "" {
		return ollamaLLM{}, fmt.Errorf("daemon: generator.ollama_host %q is not a URL", g.Host)
	}
	return ollamaLLM{ollama.Generator{
		Client: api.NewClient(u, http.DefaultClient),
		Config: ollama.Config{Model: g.Model, Samples: g.Samples, Timeout: config.Duration(g.Timeout)},
		Logger: log,
	}}, nil
}
