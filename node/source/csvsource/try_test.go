package csvsource

import (
	"context"
	"fmt"
	"os"
	"testing"
)

func TestTryNezha(t *testing.T) {
	if os.Getenv("TRY") == "" {
		t.Skip()
	}
	for _, d := range []string{"2022-08-22", "2023-01-29"} {
		s, err := OpenNezha(context.Background(), "/work/shared/datasets/nezha/"+d, NezhaOptions{})
		if err != nil {
			t.Fatal(err)
		}
		svcs, _ := s.Services(context.Background())
		fmt.Println(d, len(svcs), svcs[:3])
		for _, sv := range svcs[:2] {
			a, b, _ := s.Span(sv)
			fmt.Println(sv, a, b, len(s.services[sv].Series), len(s.services[sv].Incidents))
		}
	}
}
