package sms

import (
	"maps"

	"github.com/accountbridge/accountbridge/internal/providers"
)

// Names are the device and entity names in other languages (`language: zh`). Account
// names the user set stay as they are; only the default "SMS platform <id>" and the
// router's name are translated.
//
// Entities of a watched pair have keys made of the pair (price_tg_us): providers.Names
// matches whole keys, so the table lists every pair of the service and country codes
// the platforms' built-in vocabularies know. A pair outside them keeps its English name.
var Names = map[string]providers.Names{
	"zh": {
		DevicePrefixes: map[string]string{"SMS platform ": "接码平台 ", "SMS router": "接码路由"},
		Entities:       zhEntities(),
	},
}

// zhFixed are the names of the entities whose keys do not depend on the watch list.
var zhFixed = map[string]string{
	"balance":           "余额",
	"problem":           "故障",
	"low_balance":       "余额不足",
	"response_time":     "接口响应时间",
	"last_api_error":    "最近接口错误",
	"success_rate":      "订单成功率",
	"spend_today":       "今日花费",
	"healthy_platforms": "正常平台数",
	"active_orders":     "进行中的订单",
}

// zhPair are the name prefixes of a watched pair's entities, followed by "tg/us".
var zhPair = map[string]func(Pair) string{
	"价格 ":   priceKey,
	"可用号码 ": stockKey,
	"最便宜 ":  cheapestKey,
}

func zhEntities() map[string]string {
	out := maps.Clone(zhFixed)
	countries := map[string]bool{}
	for c := range activateCountries {
		countries[c] = true
	}
	for c := range fivesimCountries {
		countries[c] = true
	}
	for svc := range fivesimServices {
		for c := range countries {
			w := Pair{Service: svc, Country: c}
			for prefix, key := range zhPair {
				out[key(w)] = prefix + pairLabel(w)
			}
		}
	}
	return out
}
