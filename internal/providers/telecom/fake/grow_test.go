package fake

import (
	"encoding/json"
	"testing"
)

func TestGrowMovesUsedAndRemaining(t *testing.T) {
	in := json.RawMessage(`{"flowInfo":{"commonFlow":{"total":"1000","balance":"300","used":"700","over":"0"},` +
		`"totalAmount":{"total":"5000","balance":"4300","used":"700","over":"0"}},"other":1}`)
	var got struct {
		FlowInfo map[string]map[string]string `json:"flowInfo"`
		Other    int                          `json:"other"`
	}
	if err := json.Unmarshal(grow(in, 500), &got); err != nil {
		t.Fatal(err)
	}
	c, tot := got.FlowInfo["commonFlow"], got.FlowInfo["totalAmount"]
	if c["used"] != "1200" || c["balance"] != "0" || c["over"] != "200" {
		t.Errorf("commonFlow = %v, want used 1200, balance 0, over 200", c)
	}
	if tot["used"] != "1200" || tot["balance"] != "3800" || tot["over"] != "0" {
		t.Errorf("totalAmount = %v, want used 1200, balance 3800, over 0", tot)
	}
	if got.Other != 1 {
		t.Error("other fields lost")
	}
}
