package onecloud

import (
	"encoding/json"
	"testing"

	"github.com/accountbridge/accountbridge/internal/providers"
)

// A statistic call that fails keeps the last values and attributes of its statistics.
func TestKeepFailedStats(t *testing.T) {
	p := &Provider{}
	good := providers.Device{Values: map[string]any{"income_7d": 1.5, "balance": 2.0, "boxes": 3},
		Attributes: map[string]map[string]any{"income_7d": {"daily": []map[string]any{{"date": "2026-11-20", "income": 1.5}}}}}
	p.keepFailedStats(&good, accountInput{Month: &wireIncome{}, Outcome: &wireOutcome{}, Info: &wireAccountInfo{}})
	if len(p.lastAcct.Values) != 2 {
		t.Errorf("kept %v, want the statistics only", p.lastAcct.Values)
	}
	failed := providers.Device{Values: map[string]any{"boxes": 3}}
	p.keepFailedStats(&failed, accountInput{}) // every statistic call failed
	if failed.Values["income_7d"] != 1.5 || failed.Values["balance"] != 2.0 {
		t.Errorf("values = %v", failed.Values)
	}
	got, _ := json.Marshal(failed.Attributes)
	if want := `{"income_7d":{"daily":[{"date":"2026-11-20","income":1.5}]}}`; string(got) != want {
		t.Errorf("attributes = %s, want %s", got, want)
	}
}
