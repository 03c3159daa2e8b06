package shimstub_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/queryresult"

	"github.com/srellama/srellama/chaincode/shimstub"
)

// memory is a committed state in a map, enough to drive shimstub.State.
type memory struct {
	values  map[string]string
	history map[string][]*queryresult.KeyModification // oldest first
}

func (m memory) Get(key string) ([]byte, bool, error) {
	v, ok := m.values[key]
	if !ok {
		return nil, false, nil
	}
	return []byte(v), true, nil
}

func (m memory) Range(start, end string) (shimstub.Cursor, error) {
	var keys []string
	for k := range m.values {
		if k >= start && (end == "" || k < end) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return &cursor{m: m, keys: keys}, nil
}

func (m memory) History(key string) ([]*queryresult.KeyModification, error) {
	mods := slices.Clone(m.history[key])
	slices.Reverse(mods)
	return mods, nil
}

type cursor struct {
	m    memory
	keys []string
}

func (c *cursor) Next() (string, []byte, bool, error) {
	if len(c.keys) == 0 {
		return "", nil, false, nil
	}
	k := c.keys[0]
	c.keys = c.keys[1:]
	return k, []byte(c.m.values[k]), true, nil
}

var errPrivate = errors.New("no private data here")

// world holds simple keys a, b, c and composite keys tok/svc1/t1,
// tok/svc1/t2, tok/svc2/t3.
func world(t *testing.T) *shimstub.State {
	t.Helper()
	m := memory{values: map[string]string{"a": "va", "b": "vb", "c": "vc"}, history: map[string][]*queryresult.KeyModification{
		"a": {{TxId: "tx1", Value: []byte("v0")}, {TxId: "tx2", IsDelete: true}, {TxId: "tx3", Value: []byte("va")}},
	}}
	for _, attrs := range [][]string{{"svc1", "t1"}, {"svc1", "t2"}, {"svc2", "t3"}} {
		k, err := shim.CreateCompositeKey("tok", attrs)
		if err != nil {
			t.Fatal(err)
		}
		m.values[k] = "v" + attrs[1]
	}
	return shimstub.NewState(m, 64, errPrivate)
}

func keysOf(t *testing.T, s *shimstub.State, it shim.StateQueryIteratorInterface) string {
	t.Helper()
	var keys []string
	for it.HasNext() {
		kv, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if _, attrs, err := s.SplitCompositeKey(kv.GetKey()); err == nil {
			keys = append(keys, strings.Join(attrs, "/"))
		} else {
			keys = append(keys, kv.GetKey())
		}
	}
	return strings.Join(keys, ",")
}

func TestWritesAreBufferedAndEmptyValuesDelete(t *testing.T) {
	tests := []struct {
		name  string
		do    func(s *shimstub.State) error
		want  []shimstub.Write
		after string // GetState("a") after the writes: committed state only
	}{
		{"put", func(s *shimstub.State) error { return s.PutState("a", []byte("new")) },
			[]shimstub.Write{{Key: "a", Value: []byte("new")}}, "va"},
		{"put of an empty value is a delete", func(s *shimstub.State) error { return s.PutState("a", []byte{}) },
			[]shimstub.Write{{Key: "a", Delete: true}}, "va"},
		{"put of nil is a delete", func(s *shimstub.State) error { return s.PutState("a", nil) },
			[]shimstub.Write{{Key: "a", Delete: true}}, "va"},
		{"delete", func(s *shimstub.State) error { return s.DelState("a") },
			[]shimstub.Write{{Key: "a", Delete: true}}, "va"},
		{"last write to a key wins", func(s *shimstub.State) error {
			s.DelState("a")
			return s.PutState("a", []byte("again"))
		}, []shimstub.Write{{Key: "a", Value: []byte("again")}}, "va"},
		{"writes come sorted by key", func(s *shimstub.State) error {
			s.PutState("z", []byte("1"))
			s.DelState("m")
			return s.PutState("b", []byte("2"))
		}, []shimstub.Write{{Key: "b", Value: []byte("2")}, {Key: "m", Delete: true}, {Key: "z", Value: []byte("1")}}, "va"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := world(t)
			if err := tt.do(s); err != nil {
				t.Fatal(err)
			}
			got := s.Writes()
			if len(got) != len(tt.want) {
				t.Fatalf("writes = %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i].Key != tt.want[i].Key || got[i].Delete != tt.want[i].Delete || string(got[i].Value) != string(tt.want[i].Value) {
					t.Fatalf("writes = %+v, want %+v", got, tt.want)
				}
			}
			if v, err := s.GetState("a"); err != nil || string(v) != tt.after {
				t.Errorf("GetState(a) after the writes = %q, %v; want the committed %q", v, err, tt.after)
			}
		})
	}
}

func TestReads(t *testing.T) {
	s := world(t)
	if v, err := s.GetState("missing"); v != nil || err != nil {
		t.Errorf("GetState of a missing key = %q, %v; want nil, nil", v, err)
	}
	vs, err := s.GetMultipleStates("a", "missing", "c")
	if err != nil || len(vs) != 3 || string(vs[0]) != "va" || vs[1] != nil || string(vs[2]) != "vc" {
		t.Errorf("GetMultipleStates = %q, %v", vs, err)
	}
	it, err := s.GetHistoryForKey("a")
	if err != nil {
		t.Fatal(err)
	}
	var txs []string
	for it.HasNext() {
		m, _ := it.Next()
		txs = append(txs, m.GetTxId())
	}
	if strings.Join(txs, ",") != "tx3,tx2,tx1" {
		t.Errorf("history = %v, want newest first", txs)
	}
}

func TestRangeQueries(t *testing.T) {
	tests := []struct {
		name  string
		query func(s *shimstub.State) (shim.StateQueryIteratorInterface, error)
		want  string
	}{
		{"all simple keys: the empty start skips composite keys", func(s *shimstub.State) (shim.StateQueryIteratorInterface, error) { return s.GetStateByRange("", "") }, "a,b,c"},
		{"end is exclusive", func(s *shimstub.State) (shim.StateQueryIteratorInterface, error) { return s.GetStateByRange("a", "c") }, "a,b"},
		{"partial composite key", func(s *shimstub.State) (shim.StateQueryIteratorInterface, error) {
			return s.GetStateByPartialCompositeKey("tok", []string{"svc1"})
		}, "svc1/t1,svc1/t2"},
		{"object type alone", func(s *shimstub.State) (shim.StateQueryIteratorInterface, error) {
			return s.GetStateByPartialCompositeKey("tok", nil)
		}, "svc1/t1,svc1/t2,svc2/t3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := world(t)
			it, err := tt.query(s)
			if err != nil {
				t.Fatal(err)
			}
			if got := keysOf(t, s, it); got != tt.want {
				t.Errorf("keys = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestPagination(t *testing.T) {
	type query func(s *shimstub.State, bookmark string) (shim.StateQueryIteratorInterface, string, error)
	byRange := func(s *shimstub.State, bookmark string) (shim.StateQueryIteratorInterface, string, error) {
		it, meta, err := s.GetStateByRangeWithPagination("", "", 2, bookmark)
		return it, meta.GetBookmark(), err
	}
	byPartial := func(s *shimstub.State, bookmark string) (shim.StateQueryIteratorInterface, string, error) {
		it, meta, err := s.GetStateByPartialCompositeKeyWithPagination("tok", nil, 2, bookmark)
		return it, meta.GetBookmark(), err
	}
	allComposite := func(s *shimstub.State, bookmark string) (shim.StateQueryIteratorInterface, string, error) {
		it, meta, err := s.GetAllStatesCompositeKeyWithPagination(2, bookmark)
		return it, meta.GetBookmark(), err
	}
	t3, _ := shim.CreateCompositeKey("tok", []string{"svc2", "t3"})
	tests := []struct {
		name               string
		q                  query
		bookmark           string
		wantKeys, wantNext string
	}{
		{"range, first page", byRange, "", "a,b", "c"},
		{"range, from the bookmark, inclusive", byRange, "c", "c", ""},
		{"partial composite key, first page", byPartial, "", "svc1/t1,svc1/t2", t3},
		{"partial composite key, last page", byPartial, t3, "svc2/t3", ""},
		{"every composite key", allComposite, "", "svc1/t1,svc1/t2", t3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := world(t)
			it, next, err := tt.q(s, tt.bookmark)
			if err != nil {
				t.Fatal(err)
			}
			if got := keysOf(t, s, it); got != tt.wantKeys || next != tt.wantNext {
				t.Errorf("page = %s next %q, want %s next %q", got, next, tt.wantKeys, tt.wantNext)
			}
			if err := s.CheckWritable(); err != nil {
				t.Errorf("a read-only paginated transaction: %v", err)
			}
			s.PutState("x", []byte("1"))
			if err := s.CheckWritable(); !errors.Is(err, shimstub.ErrPaginatedWithRWTx) {
				t.Errorf("a paginated query and a write: %v, want ErrPaginatedWithRWTx", err)
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	s := world(t)
	second := func(_ any, err error) error { return err }
	third := func(_, _ any, err error) error { return err }
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"empty key", s.PutState("", []byte("v")), "empty string"},
		{"empty key read", second(s.GetState("")), "empty string"},
		{"invalid UTF-8 key", s.PutState("\xff", []byte("v")), "UTF-8"},
		{"invalid UTF-8 delete", s.DelState("\xff"), "UTF-8"},
		{"oversized key", s.PutState(strings.Repeat("k", 65), []byte("v")), "longer than"},
		{"range from the composite namespace", second(s.GetStateByRange("\x00a", "")), "null character"},
		{"range to the composite namespace", second(s.GetStateByRange("a", "\x00")), "null character"},
		{"bad composite attribute", second(s.CreateCompositeKey("t", []string{"a\x00"})), "U+0000"},
		{"page size zero", third(s.GetStateByRangeWithPagination("", "", 0, "")), "page size"},
		{"bookmark outside the range", third(s.GetStateByPartialCompositeKeyWithPagination("tok", []string{"svc1"}, 2, "zzz")), "outside"},
		{"empty event name", s.SetEvent("", nil), "event name"},
		{"rich query", second(s.GetQueryResult("{}")), "CouchDB"},
		{"rich query, paginated", third(s.GetQueryResultWithPagination("{}", 1, "")), "CouchDB"},
		{"private data", second(s.GetPrivateData("c", "k")), errPrivate.Error()},
		{"key-level endorsement", s.SetStateValidationParameter("k", nil), "state-based"},
	}
	for _, tt := range tests {
		if tt.err == nil || !strings.Contains(tt.err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tt.name, tt.err, tt.want)
		}
	}
	if len(s.Writes()) != 0 {
		t.Errorf("refused calls buffered writes: %+v", s.Writes())
	}
}

func TestSplitCompositeKey(t *testing.T) {
	key, _ := shim.CreateCompositeKey("tok", []string{"svc", "", "t1"})
	tests := []struct {
		key, wantType, wantAttrs string
		ok                       bool
	}{
		{key, "tok", "svc,,t1", true},
		{"\x00tok\x00", "tok", "", true},
		{"plain", "", "", false},
		{"\x00", "", "", false},
		{"\x00tok\x00svc", "", "", false}, // unterminated attribute
	}
	s := world(t)
	for _, tt := range tests {
		typ, attrs, err := s.SplitCompositeKey(tt.key)
		if (err == nil) != tt.ok || typ != tt.wantType || strings.Join(attrs, ",") != tt.wantAttrs {
			t.Errorf("SplitCompositeKey(%q) = %q %q %v", tt.key, typ, attrs, err)
		}
	}
}

func TestEventLastOneWins(t *testing.T) {
	s := world(t)
	s.SetEvent("first", []byte("1"))
	s.SetEvent("second", []byte("2"))
	if ev := s.Event(); ev == nil || ev.Name != "second" || string(ev.Payload) != "2" {
		t.Errorf("event = %+v", ev)
	}
}
