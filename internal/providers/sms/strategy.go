package sms

import (
	"sort"
)

// Routing strategies (default_strategy, per-order override; docs/sms.md, "How platforms are picked, and failover").
const (
	StrategyPrice    = "price"    // cheapest quote first
	StrategySuccess  = "success"  // highest success rate of our own orders first
	StrategyBalance  = "balance"  // most remaining balance first (spreads spend)
	StrategyRandom   = "random"   // shuffled (load spreading)
	StrategyPriority = "priority" // configured priority, lower first
)

// Strategies lists the strategies.
var Strategies = []string{StrategyPrice, StrategySuccess, StrategyBalance, StrategyRandom, StrategyPriority}

func validStrategy(s string) bool {
	for _, x := range Strategies {
		if s == x {
			return true
		}
	}
	return false
}

// Candidate is a platform the router may buy from, with the figures strategies sort by.
// Money is in the router's currency.
type Candidate struct {
	ID       string
	Priority int
	Price    float64
	Balance  float64 // 0 when unknown
	Success  float64 // smoothed success rate 0..1: (codes+1)/(orders+2)
	Count    int
	p        *Platform
	q        Quote
}

// Rank sorts candidates by strategy. Ties fall back to price, then priority, then id, so
// the order is deterministic (except for random, which uses shuffle).
func Rank(strategy string, cs []Candidate, shuffle func(n int, swap func(i, j int))) {
	byDefault := func(a, b Candidate) bool {
		if a.Price != b.Price {
			return a.Price < b.Price
		}
		if a.Priority != b.Priority {
			return a.Priority < b.Priority
		}
		return a.ID < b.ID
	}
	var less func(a, b Candidate) bool
	switch strategy {
	case StrategySuccess:
		less = func(a, b Candidate) bool {
			if a.Success != b.Success {
				return a.Success > b.Success
			}
			return byDefault(a, b)
		}
	case StrategyBalance:
		less = func(a, b Candidate) bool {
			if a.Balance != b.Balance {
				return a.Balance > b.Balance
			}
			return byDefault(a, b)
		}
	case StrategyPriority:
		less = func(a, b Candidate) bool {
			if a.Priority != b.Priority {
				return a.Priority < b.Priority
			}
			return byDefault(a, b)
		}
	case StrategyRandom:
		sort.SliceStable(cs, func(i, j int) bool { return cs[i].ID < cs[j].ID })
		if shuffle != nil {
			shuffle(len(cs), func(i, j int) { cs[i], cs[j] = cs[j], cs[i] })
		}
		return
	default:
		less = byDefault
	}
	sort.SliceStable(cs, func(i, j int) bool { return less(cs[i], cs[j]) })
}
