package chaincode_test

import (
	"context"
	"strings"
	"testing"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/node/ledger/chaincode"
)

// The schedule functions call their transactions with the arguments the
// chaincode takes and decode its answers.
func TestScheduleFunctions(t *testing.T) {
	ctx := context.Background()
	l := &fake{result: []byte(`{"id":"daily","services":["amf"],"status":"active","cadence_seconds":86400}`)}
	c := chaincode.New(l)
	set, err := c.SetSchedule(ctx, records.ScheduleSpec{ID: "daily", Services: []string{"amf"}, CadenceSeconds: 86400})
	if err != nil || set.TxID != "tx1" || set.Result.ID != "daily" || set.Result.Status != records.ScheduleActive || set.Result.CadenceSeconds != 86400 {
		t.Fatalf("SetSchedule: %+v %v", set, err)
	}
	if _, err := c.StopSchedule(ctx, "daily", "moving on"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Schedule(ctx, "daily"); err != nil {
		t.Fatal(err)
	}
	l.result = []byte(`{"id":"daily.3","schedule_id":"daily","period":3,"status":"open"}`)
	opened, err := c.OpenDueRound(ctx, "daily")
	if err != nil || opened.Result.ID != "daily.3" || opened.Result.Period != 3 {
		t.Fatalf("OpenDueRound: %+v %v", opened, err)
	}
	l.result = []byte(`{"items":[],"bookmark":"","count":0}`)
	if page, err := c.Schedules(ctx, chaincode.PageRequest{Size: 5}); err != nil || page.Items == nil {
		t.Fatalf("Schedules: %+v %v", page, err)
	}
	l.result = []byte(`{"msp_id":"Org1MSP","services":["amf"]}`)
	if org, err := c.DeclareServices(ctx, nil); err != nil || org.Result.Services[0] != "amf" {
		t.Fatalf("DeclareServices: %+v %v", org, err)
	}
	want := []string{
		`Schedules:Set {"cadence_seconds":86400,"commit_seconds":0,"id":"daily",`,
		"Schedules:Stop daily|moving on",
		"Schedules:Get daily",
		"Schedules:OpenDue daily",
		"Schedules:List 5|",
		"Consortium:DeclareServices []",
	}
	for i, w := range want {
		if !strings.HasPrefix(l.calls[i], w) {
			t.Errorf("call %d = %q, want it to start with %q", i, l.calls[i], w)
		}
	}
}
