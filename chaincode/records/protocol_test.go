package records_test

import (
	"strings"
	"testing"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/nft"
)

func specJSON(protocol string) string {
	return `{"id":"r1",` + protocol + `"task":"sli-relevance","services":["amf"],"feature_set_digest":"` + nft.DigestBytes(nil) +
		`","strategy":"fedavg","min_participants":2,"commit_deadline":"2026-11-22T10:00:00Z","deadline":"2026-11-22T11:00:00Z"}`
}

func TestRoundSpecNamesItsProtocol(t *testing.T) {
	tests := []struct {
		name, field string
		want        int
		err         string
	}{
		{"unset reads as 1", ``, 1, ""},
		{"current", `"protocol":1,`, records.Protocol, ""},
		{"future", `"protocol":2,`, 0, "protocol 2 is not the one this chaincode runs"},
		{"negative", `"protocol":-1,`, 0, "protocol -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := records.ParseRoundSpec(specJSON(tt.field))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %v, want an error with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Protocol != tt.want {
				t.Fatalf("protocol %d, want %d", s.Protocol, tt.want)
			}
		})
	}
}
