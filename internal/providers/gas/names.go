package gas

import "github.com/accountbridge/accountbridge/internal/providers"

// Names are the device and entity names in other languages (`language: zh`).
var Names = map[string]providers.Names{
	"zh": {
		DevicePrefixes: map[string]string{"PetroChina Gas ": "昆仑燃气 "},
		Entities: map[string]string{
			"balance":            "余额",
			"amount_owed":        "欠费",
			"meter_reading":      "表读数",
			"last_reading_time":  "最后抄表时间",
			"last_communication": "最后通讯时间",
			"account":            "户号",
			"last_payment":       "最近缴费",
			"last_payment_time":  "最近缴费时间",
			"last_day_volume":    "最近一日用气量",
			"last_day_cost":      "最近一日燃气费",
			"month_volume":       "本月用气量",
			"month_cost":         "本月燃气费",
			"last_month_volume":  "上月用气量",
			"last_month_cost":    "上月燃气费",
			"year_volume":        "年度累计用气量",
			"year_cost":          "年度累计燃气费",
			"tier":               "阶梯档位",
			"tier_remaining":     "本档剩余气量",
			"unit_price":         "当前单价",
		},
	},
}
