package fl

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/srellama/srellama/nft"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// Model is a logistic regression on standardized features:
// P(incident | x) = sigmoid(Intercept + Weights · x).
type Model struct {
	Features  []string  `json:"features"`
	Weights   []float64 `json:"weights"`
	Intercept float64   `json:"intercept"`
}

// NewModel returns the all-zero model over features (sorted, unique).
func NewModel(features []string) (Model, error) {
	if len(features) == 0 || !sortedUnique(features) {
		return Model{}, errors.New("model: features must be non-empty, sorted and unique")
	}
	return Model{Features: slices.Clone(features), Weights: make([]float64, len(features))}, nil
}

// Clone returns a deep copy.
func (m Model) Clone() Model {
	return Model{Features: slices.Clone(m.Features), Weights: slices.Clone(m.Weights), Intercept: m.Intercept}
}

// Scores returns the predicted incident probability of every row.
func (m Model) Scores(x *Matrix) ([]float64, error) {
	if !slices.Equal(m.Features, x.Features) {
		return nil, errors.New("model: feature space differs from the data's")
	}
	z := make([]float64, x.Rows)
	for i := range z {
		z[i] = m.Intercept
	}
	gemv(blas.NoTrans, x.X, x.Rows, x.Cols, m.Weights, z, 1)
	for i, v := range z {
		z[i] = sigmoid(v)
	}
	return z, nil
}

// ToUpdate packages the weights of the features the site has.
func (m Model) ToUpdate(org string, round uint32, x *Matrix, metrics LocalMetrics) Update {
	u := Update{Org: org, Round: round, Intercept: m.Intercept, Samples: uint64(x.Rows), Metrics: metrics}
	for j, ok := range x.Present {
		if ok {
			u.Features = append(u.Features, m.Features[j])
			u.Weights = append(u.Weights, m.Weights[j])
		}
	}
	return u
}

// TrainConfig controls the local solver: minibatch SGD on the class-weighted
// logistic loss with an elastic-net penalty and an optional FedProx term.
type TrainConfig struct {
	Epochs       int     `json:"epochs"`
	BatchSize    int     `json:"batch_size"`
	LearningRate float64 `json:"learning_rate"`
	// L2 and L1 are the elastic-net penalty strengths (L1 applied as a
	// proximal soft-threshold after each step, so weights become exactly 0).
	L2 float64 `json:"l2"`
	L1 float64 `json:"l1"`
	// ProxMu is FedProx's μ: the solver adds μ/2·‖w − w_global‖², keeping
	// heterogeneous sites from drifting apart.
	ProxMu float64 `json:"prox_mu"`
	// ClassWeighted reweights classes to equal total weight, so rare
	// incidents are not drowned out.
	ClassWeighted bool `json:"class_weighted"`
	// MaxClassWeight, when positive, caps the class-balancing weight of
	// incident rows relative to normal rows: a site whose incidents are
	// rarest would otherwise weigh them 40 times and send the largest
	// update, pulling the federated average its way.
	MaxClassWeight float64 `json:"max_class_weight,omitempty"`
	// MaxUpdateNorm, when positive, bounds the Euclidean norm of the
	// change a training run makes to the model (weights and intercept),
	// scaling larger changes down: no single round of one site can move
	// the federation far.
	MaxUpdateNorm float64 `json:"max_update_norm,omitempty"`
	// NonNegativeDeviation keeps the weights of |z-score| features at or
	// above zero: a metric straying from its baseline, in either direction,
	// may only raise the predicted risk. This prior keeps the model from
	// memorizing which metrics happened to be calm during past incidents.
	NonNegativeDeviation bool `json:"non_negative_deviation"`
	// Seed drives the row shuffling.
	Seed uint64 `json:"seed"`
}

// DefaultTrainConfig suits standardized features and rare incidents.
func DefaultTrainConfig() TrainConfig {
	return TrainConfig{Epochs: 1, BatchSize: 64, LearningRate: 0.05, L2: 1e-4, L1: 1e-5, ClassWeighted: true, Seed: 1}
}

// GeneralizingTrainConfig is the evaluated learner's training (node/evaluate's
// DefaultSMDConfig): DefaultTrainConfig with non-negative weights on
// deviation features, so a larger deviation can only raise risk; the
// incident class weight capped at 5, so the site with the rarest incidents
// does not send the largest update; and every local update's norm bounded
// by 1.
func GeneralizingTrainConfig() TrainConfig {
	c := DefaultTrainConfig()
	c.NonNegativeDeviation = true
	c.MaxClassWeight = 5
	c.MaxUpdateNorm = 1
	return c
}

func (c TrainConfig) validate() error {
	switch {
	case c.Epochs < 1:
		return errors.New("train: epochs must be at least 1")
	case c.BatchSize < 1:
		return errors.New("train: batch size must be at least 1")
	case !(c.LearningRate > 0) || math.IsInf(c.LearningRate, 0):
		return errors.New("train: learning rate must be positive and finite")
	case c.L2 < 0 || c.L1 < 0 || c.ProxMu < 0 || !isFinite(c.L2) || !isFinite(c.L1) || !isFinite(c.ProxMu):
		return errors.New("train: penalties must be non-negative and finite")
	case c.MaxClassWeight < 0 || c.MaxUpdateNorm < 0 || !isFinite(c.MaxClassWeight) || !isFinite(c.MaxUpdateNorm):
		return errors.New("train: class weight cap and update norm bound must be non-negative and finite")
	}
	return nil
}

// TrainResult summarizes a local training run.
type TrainResult struct {
	Model Model
	// Loss is the mean class-weighted log loss over the last epoch.
	Loss float64
}

// Train runs cfg.Epochs epochs of minibatch SGD on x starting from init.
// Features the site lacks (x.Present false) keep init's weights: they are
// masked, neither trained nor shrunk.
func Train(x *Matrix, init Model, cfg TrainConfig) (TrainResult, error) {
	if err := cfg.validate(); err != nil {
		return TrainResult{}, err
	}
	if !slices.Equal(init.Features, x.Features) || len(init.Weights) != x.Cols {
		return TrainResult{}, errors.New("train: model and data have different feature spaces")
	}
	pos := 0
	for _, y := range x.Y {
		if y == 1 {
			pos++
		}
	}
	if pos == 0 || pos == x.Rows {
		return TrainResult{}, fmt.Errorf("train: %w: %d rows, %d incident rows", ErrSingleClass, x.Rows, pos)
	}
	wPos, wNeg := 1.0, 1.0
	if cfg.ClassWeighted {
		wPos = float64(x.Rows) / (2 * float64(pos))
		wNeg = float64(x.Rows) / (2 * float64(x.Rows-pos))
		if cfg.MaxClassWeight > 0 && wPos > cfg.MaxClassWeight*wNeg {
			wPos = cfg.MaxClassWeight * wNeg
		}
	}

	global := init.Clone()
	m := init.Clone()
	d := x.Cols
	bs := min(cfg.BatchSize, x.Rows)
	z := make([]float64, bs)
	grad := make([]float64, d)
	nonNeg := make([]bool, d)
	if cfg.NonNegativeDeviation {
		for j, f := range x.Features {
			_, t := SplitFeatureName(f)
			nonNeg[j] = t.IsDeviation()
		}
	}
	// Batches are contiguous row ranges visited in a fresh random order
	// every epoch: no copying, one sequential read of the data per epoch.
	// Rows should be shuffled once beforehand (Matrix.ShuffleRows) so that
	// a batch is not one stretch of time.
	order := make([]int, (x.Rows+bs-1)/bs)
	for i := range order {
		order[i] = i
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	var loss float64
	for range cfg.Epochs {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		loss = 0
		var weightSum float64
		for _, b := range order {
			lo := b * bs
			n := min(bs, x.Rows-lo)
			batch := x.X[lo*d : (lo+n)*d]
			by := x.Y[lo : lo+n]
			for k := range n {
				z[k] = m.Intercept
			}
			gemv(blas.NoTrans, batch, n, d, m.Weights, z[:n], 1)
			var gIntercept, bw float64
			for k := range n {
				// Loss and gradient from one exponential: with e = exp(-|z|),
				// log(1+exp(∓z)) = log1p(e) + max(0, ∓z).
				e := math.Exp(-math.Abs(z[k]))
				p := 1 / (1 + e)
				if z[k] < 0 {
					p = e / (1 + e)
				}
				w := wNeg
				if by[k] == 1 {
					w = wPos
					loss += w * (math.Log1p(e) + math.Max(0, -z[k]))
				} else {
					loss += w * (math.Log1p(e) + math.Max(0, z[k]))
				}
				bw += w
				z[k] = w * (p - by[k])
				gIntercept += z[k]
			}
			weightSum += bw
			gemv(blas.Trans, batch, n, d, z[:n], grad, 0)
			step := cfg.LearningRate / float64(n)
			shrink := cfg.LearningRate * cfg.L1
			for j := range d {
				if !x.Present[j] {
					continue
				}
				g := grad[j]/float64(n) + cfg.L2*m.Weights[j] + cfg.ProxMu*(m.Weights[j]-global.Weights[j])
				w := softThreshold(m.Weights[j]-cfg.LearningRate*g, shrink)
				if nonNeg[j] && w < 0 {
					w = 0
				}
				m.Weights[j] = w
			}
			m.Intercept -= step*gIntercept + cfg.LearningRate*cfg.ProxMu*(m.Intercept-global.Intercept)
		}
		loss /= weightSum
	}
	for j, w := range m.Weights {
		if !isFinite(w) {
			return TrainResult{}, fmt.Errorf("train: weight of %s diverged to %v (learning rate too high?)", m.Features[j], w)
		}
	}
	if !isFinite(m.Intercept) {
		return TrainResult{}, errors.New("train: intercept diverged (learning rate too high?)")
	}
	if cfg.MaxUpdateNorm > 0 {
		clipChange(&m, global, cfg.MaxUpdateNorm)
	}
	return TrainResult{Model: m, Loss: loss}, nil
}

// clipChange scales m − from down to norm bound when it is longer. Scaling
// keeps non-negative weights non-negative when from's are (a convex
// combination of two non-negative values).
func clipChange(m *Model, from Model, bound float64) {
	d := float64(m.Intercept - from.Intercept)
	sq := d * d
	for j, w := range m.Weights {
		d := float64(w - from.Weights[j])
		sq += d * d
	}
	norm := math.Sqrt(sq)
	if norm <= bound {
		return
	}
	s := bound / norm
	for j, w := range m.Weights {
		m.Weights[j] = from.Weights[j] + float64(s*float64(w-from.Weights[j]))
	}
	m.Intercept = from.Intercept + float64(s*float64(m.Intercept-from.Intercept))
}

// gemv computes y = A·v + beta·y (NoTrans) or y = Aᵀ·v + beta·y (Trans)
// for the row-major rows×cols matrix a.
func gemv(t blas.Transpose, a []float64, rows, cols int, v, y []float64, beta float64) {
	if rows == 0 || cols == 0 {
		return
	}
	A := blas64.General{Rows: rows, Cols: cols, Stride: cols, Data: a[:rows*cols]}
	blas64.Gemv(t, 1, A, blas64.Vector{N: len(v), Inc: 1, Data: v}, beta, blas64.Vector{N: len(y), Inc: 1, Data: y})
}

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

func softThreshold(w, t float64) float64 {
	switch {
	case w > t:
		return w - t
	case w < -t:
		return w + t
	}
	return 0
}

// modelMagic starts an encoded global model: "SLFM", version 1.
var modelMagic = [5]byte{'S', 'L', 'F', 'M', 1}

// Encode returns the canonical binary form of the model: magic and
// version, feature count (u32), names (u16 length + bytes), intercept and
// weights as little-endian float64. Nodes that aggregated the same updates
// hold the same bytes.
func (m Model) Encode() ([]byte, error) {
	if len(m.Features) == 0 || len(m.Features) > MaxFeatures || !sortedUnique(m.Features) {
		return nil, errors.New("model: features must be 1..MaxFeatures, sorted and unique")
	}
	if len(m.Weights) != len(m.Features) {
		return nil, fmt.Errorf("model: %d weights for %d features", len(m.Weights), len(m.Features))
	}
	b := append([]byte(nil), modelMagic[:]...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(m.Features)))
	for _, f := range m.Features {
		if len(f) > MaxNameLen {
			return nil, fmt.Errorf("model: feature name of %d bytes", len(f))
		}
		b = appendString(b, f)
	}
	if !isFinite(m.Intercept) {
		return nil, errors.New("model: intercept is not finite")
	}
	b = appendFloat(b, m.Intercept)
	for i, w := range m.Weights {
		if !isFinite(w) {
			return nil, fmt.Errorf("model: weight of %s is %v", m.Features[i], w)
		}
		b = appendFloat(b, w)
	}
	return b, nil
}

// Digest is "sha256:<hex>" of Encode, the name of a global model on the
// ledger.
func (m Model) Digest() (string, error) {
	b, err := m.Encode()
	if err != nil {
		return "", err
	}
	return nft.DigestBytes(b), nil
}
