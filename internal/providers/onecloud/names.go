package onecloud

import "github.com/accountbridge/accountbridge/internal/providers"

// Names are the device and entity names in other languages (`language: zh`). Box names
// are the user's own and stay as they are.
var Names = map[string]providers.Names{
	"zh": {
		DevicePrefixes: map[string]string{"OneCloud ": "玩客云 "},
		Entities: map[string]string{
			"balance":          "未提现余额",
			"yesterday_income": "昨日收益",
			"income_7d":        "近7日收益",
			"month_income":     "本月收益",
			"total_income":     "累计收益",
			"total_withdrawn":  "累计提现",
			"boxes_online":     "在线设备",
			"boxes":            "设备总数",
			"withdraw":         "提现",
			"withdrawal":       "提现结果",
			"online":           "在线",
			"status":           "状态",
			"exception":        "异常信息",
			"last_connect":     "最后上线时间",
			"last_disconnect":  "最后离线时间",
			"ip":               "公网 IP",
			"lan_ip":           "内网 IP",
			"firmware":         "固件版本",
			"model":            "型号",
			"update_available": "固件更新",
			"disk_total":       "磁盘总容量",
			"disk_used":        "磁盘已用",
			"disk_free":        "磁盘可用",
		},
	},
}
