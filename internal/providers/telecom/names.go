package telecom

import "github.com/accountbridge/accountbridge/internal/providers"

// Names are the device and entity names in other languages (`language: zh`).
var Names = map[string]providers.Names{
	"zh": {
		DevicePrefixes: map[string]string{"China Telecom ": "中国电信 "},
		Entities: map[string]string{
			"balance":           "余额",
			"arrears":           "欠费",
			"month_spend":       "本月消费",
			"voice_used":        "已用通话",
			"voice_remaining":   "剩余通话",
			"voice_total":       "通话总量",
			"data_used":         "已用流量",
			"data_remaining":    "剩余流量",
			"data_total":        "流量总量",
			"data_over":         "超出流量",
			"data_used_percent": "流量使用率",
			"common_used":       "已用通用流量",
			"common_remaining":  "剩余通用流量",
			"common_total":      "通用流量总量",
			"special_used":      "已用定向流量",
			"special_remaining": "剩余定向流量",
			"special_total":     "定向流量总量",
			"throttled":         "已限速",
			"points":            "积分",
			"plan":              "套餐",
			"share_members":     "共享成员",
			"updated":           "数据更新时间",
		},
	},
}
