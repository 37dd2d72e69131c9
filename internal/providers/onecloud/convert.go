package onecloud

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/accountbridge/accountbridge/internal/providers"
	"github.com/accountbridge/accountbridge/internal/providers/wire"
)

// wirePeer is one box of listPeer (docs/onecloud.md, "Protocol: boxes and disks").
type wirePeer struct {
	DeviceID         wire.Text  `json:"device_id"`
	DeviceSN         wire.Text  `json:"device_sn"`
	PeerID           wire.Text  `json:"peerid"`
	DeviceName       wire.Text  `json:"device_name"`
	DeviceType       wire.Text  `json:"device_type"`
	HardwareModel    wire.Text  `json:"hardware_model"`
	SystemName       wire.Text  `json:"system_name"`
	SystemVersion    wire.Text  `json:"system_version"`
	Upgradeable      wire.Bool  `json:"upgradeable"`
	Status           *wire.Text `json:"status"`            // nil: absent (present and "" is a value)
	ExceptionName    *wire.Text `json:"exception_name"`    // nil: absent
	ExceptionMessage *wire.Text `json:"exception_message"` // nil: absent
	IP               wire.Text  `json:"ip"`
	LanIP            wire.Text  `json:"lan_ip"`
	ConnectTime      wire.Num   `json:"connect_time"`
	DisconnectTime   wire.Num   `json:"disconnect_time"`
}

// boxKey is the stable id of a box: its serial, else its device id, else its peer id.
func (p wirePeer) boxKey() string {
	for _, s := range []wire.Text{p.DeviceSN, p.DeviceID, p.PeerID} {
		if k := providers.SanitizeID(string(s)); k != "" {
			return k
		}
	}
	return ""
}

// peer is a parsed box with its raw JSON (kept in the KV so a vanished box can still be
// reported with its last values).
type peer struct {
	Key  string
	Wire wirePeer
	Raw  json.RawMessage
}

// parsePeers reads the listPeer payload ({"devices":[…]}). Boxes without any id are
// skipped with a warning; a duplicate id keeps the first box.
func parsePeers(payload []byte) ([]peer, []string, error) {
	var p struct {
		Devices []json.RawMessage `json:"devices"`
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		return nil, nil, fmt.Errorf("listPeer: unexpected payload: %v", err)
	}
	var out []peer
	var warns []string
	seen := map[string]bool{}
	for i, raw := range p.Devices {
		var w wirePeer
		if err := json.Unmarshal(raw, &w); err != nil {
			warns = append(warns, fmt.Sprintf("listPeer: device %d is not an object; skipped", i))
			continue
		}
		k := w.boxKey()
		if k == "" {
			warns = append(warns, fmt.Sprintf("listPeer: device %d has no device_sn, device_id or peerid; skipped", i))
			continue
		}
		if seen[k] {
			warns = append(warns, fmt.Sprintf("listPeer: box %s listed twice; the first is used", k))
			continue
		}
		seen[k] = true
		out = append(out, peer{Key: k, Wire: w, Raw: append(json.RawMessage(nil), raw...)})
	}
	return out, warns, nil
}

// parseListPeer is the whole listPeer answer → boxes (envelope included).
func parseListPeer(body []byte) ([]peer, []string, error) {
	payload, err := parseControl("/listPeer", body)
	if err != nil {
		return nil, nil, err
	}
	return parsePeers(payload)
}

// wirePartition is one partition of getUSBInfo (docs/onecloud.md, "Protocol: boxes and disks"); sizes in bytes.
type wirePartition struct {
	Used     wire.Num  `json:"used"`
	Capacity wire.Num  `json:"capacity"`
	Label    wire.Text `json:"label"`
	Path     wire.Text `json:"path"`
	DiskID   wire.Num  `json:"disk_id"`
}

type usbInfo struct {
	Partitions []wirePartition `json:"partitions"`
}

func parseUSB(payload []byte) (usbInfo, error) {
	var u usbInfo
	if err := json.Unmarshal(payload, &u); err != nil {
		return usbInfo{}, fmt.Errorf("getUSBInfo: unexpected payload: %v", err)
	}
	return u, nil
}

// wireIncome is wkb/income-history (docs/onecloud.md, "Protocol: statistics").
type wireIncome struct {
	TotalIncome wire.Num  `json:"totalIncome"`
	Month       wire.Text `json:"month"`
	IncomeArr   []struct {
		Date wire.Text `json:"date"`
		Num  wire.Num  `json:"num"`
	} `json:"incomeArr"`
}

// wireOutcome is wkb/outcome-history (same section).
type wireOutcome struct {
	TotalOutcome wire.Num          `json:"totalOutcome"`
	OutcomeArr   []json.RawMessage `json:"outcomeArr"`
}

// wireAccountInfo is wkb/account-info (same section).
type wireAccountInfo struct {
	Balance wire.Num `json:"balance"`
}

// wireDraw is the data of wkb/draw (docs/onecloud.md, "Protocol: withdraw").
type wireDraw struct {
	DrawRet       wire.Num  `json:"drawRet"`
	DrawMsg       wire.Text `json:"drawMsg"`
	DrawTime      wire.Text `json:"drawTime"`
	GasCost       wire.Num  `json:"gasCost"`
	OriginBalance wire.Num  `json:"originBalance"`
}

const gib = 1 << 30

// Box status options of the status enum.
const (
	statusOnline    = "online"
	statusOffline   = "offline"
	statusException = "exception"
)

// Unit of the mining reward (链克 / WKB). It is no ISO 4217 currency, so the income
// sensors carry no monetary device class.
const coinUnit = "WKB"

var (
	accountEntities = []providers.Entity{
		{Key: "balance", Name: "Unwithdrawn balance", Component: providers.Sensor, StateClass: "total", Unit: coinUnit, Precision: providers.Precision(4), Icon: "mdi:wallet"},
		{Key: "yesterday_income", Name: "Yesterday's income", Component: providers.Sensor, StateClass: "measurement", Unit: coinUnit, Precision: providers.Precision(4), Icon: "mdi:cash-plus"},
		{Key: "income_7d", Name: "7-day income", Component: providers.Sensor, StateClass: "measurement", Unit: coinUnit, Precision: providers.Precision(4), Icon: "mdi:chart-bar", Attributes: true},
		{Key: "month_income", Name: "This month's income", Component: providers.Sensor, StateClass: "total", Unit: coinUnit, Precision: providers.Precision(4), Icon: "mdi:calendar-month"},
		{Key: "total_income", Name: "Total income", Component: providers.Sensor, StateClass: "total_increasing", Unit: coinUnit, Precision: providers.Precision(4), Icon: "mdi:sigma"},
		{Key: "total_withdrawn", Name: "Total withdrawn", Component: providers.Sensor, StateClass: "total_increasing", Unit: coinUnit, Precision: providers.Precision(4), Icon: "mdi:bank-transfer-out"},
		{Key: "boxes_online", Name: "Boxes online", Component: providers.Sensor, StateClass: "measurement", Icon: "mdi:server-network"},
		{Key: "boxes", Name: "Boxes", Component: providers.Sensor, StateClass: "measurement", Icon: "mdi:server", Category: providers.CategoryDiagnostic},
		{Key: "withdraw", Name: "Withdraw", Component: providers.Button, Icon: "mdi:cash-fast", Disabled: true},
		{Key: "withdrawal", Name: "Withdrawal", Component: providers.Event, Icon: "mdi:cash-check", EventTypes: eventTypes},
	}
	boxEntities = []providers.Entity{
		{Key: "online", Name: "Online", Component: providers.BinarySensor, DeviceClass: "connectivity"},
		{Key: "status", Name: "Status", Component: providers.Sensor, DeviceClass: "enum", Options: []string{statusOnline, statusOffline, statusException}, Icon: "mdi:list-status"},
		{Key: "exception", Name: "Exception", Component: providers.Sensor, Icon: "mdi:alert-circle-outline"},
		{Key: "last_connect", Name: "Last connect", Component: providers.Sensor, DeviceClass: "timestamp", Category: providers.CategoryDiagnostic},
		{Key: "last_disconnect", Name: "Last disconnect", Component: providers.Sensor, DeviceClass: "timestamp", Category: providers.CategoryDiagnostic},
		{Key: "ip", Name: "Public IP", Component: providers.Sensor, Icon: "mdi:ip-network", Category: providers.CategoryDiagnostic},
		{Key: "lan_ip", Name: "LAN IP", Component: providers.Sensor, Icon: "mdi:ip", Category: providers.CategoryDiagnostic},
		{Key: "firmware", Name: "Firmware", Component: providers.Sensor, Icon: "mdi:chip", Category: providers.CategoryDiagnostic},
		{Key: "model", Name: "Model", Component: providers.Sensor, Icon: "mdi:information-outline", Category: providers.CategoryDiagnostic},
		{Key: "update_available", Name: "Firmware update", Component: providers.BinarySensor, DeviceClass: "update", Category: providers.CategoryDiagnostic},
		{Key: "disk_total", Name: "Disk total", Component: providers.Sensor, DeviceClass: "data_size", StateClass: "measurement", Unit: "GiB", Precision: providers.Precision(2), Icon: "mdi:harddisk", Attributes: true},
		{Key: "disk_used", Name: "Disk used", Component: providers.Sensor, DeviceClass: "data_size", StateClass: "measurement", Unit: "GiB", Precision: providers.Precision(2), Icon: "mdi:harddisk"},
		{Key: "disk_free", Name: "Disk free", Component: providers.Sensor, DeviceClass: "data_size", StateClass: "measurement", Unit: "GiB", Precision: providers.Precision(2), Icon: "mdi:harddisk"},
	}
	// eventTypes are what Command reports on the account device's event entity.
	eventTypes = []string{eventWithdrawn, eventAlreadyWithdrawn, eventWithdrawFailed}
)

const (
	eventWithdrawn        = "withdrawn"
	eventAlreadyWithdrawn = "already_withdrawn"
	eventWithdrawFailed   = "withdraw_failed"
)

// boxInput is what is known of one box at a poll.
type boxInput struct {
	Key    string
	Wire   wirePeer
	USB    *usbInfo // nil: unknown (not fetched, failed, or never fetched)
	Listed bool     // false: gone from listPeer; reported offline until remove_after
}

// boxDevice converts one box. Missing or unparseable fields stay out of Values.
func boxDevice(accountID string, in boxInput) (providers.Device, []string) {
	w := in.Wire
	var warns []string
	d := providers.Device{
		ID:           providers.DeviceID("onecloud", accountID, in.Key),
		ViaDevice:    providers.DeviceID("onecloud", accountID),
		Name:         strings.TrimSpace(string(w.DeviceName)),
		Manufacturer: "Xunlei",
		Model:        modelName(w),
		SWVersion:    string(w.SystemVersion),
		Entities:     boxEntities,
		Values:       map[string]any{},
	}
	if d.Name == "" {
		d.Name = "OneCloud " + in.Key
	}
	status := strings.ToLower(w.Status.String())
	switch {
	case !in.Listed:
		d.Values["online"] = false
		d.Values["status"] = statusOffline
	case status == statusOnline || status == statusOffline || status == statusException:
		d.Values["online"] = status == statusOnline
		d.Values["status"] = status
	case w.Status != nil:
		// An unknown status is not "online" (as the original monitors read it), but it
		// is not claimed to be one of the enum's options either.
		d.Values["online"] = false
		warns = append(warns, fmt.Sprintf("box %s: unknown status %q", in.Key, w.Status.String()))
	}
	if w.ExceptionMessage != nil || w.ExceptionName != nil {
		msg := w.ExceptionMessage.String()
		if msg == "" {
			msg = w.ExceptionName.String()
		}
		d.Values["exception"] = msg
	}
	for key, n := range map[string]wire.Num{"last_connect": w.ConnectTime, "last_disconnect": w.DisconnectTime} {
		if n.Raw != "" {
			warns = append(warns, fmt.Sprintf("box %s: unparseable %s %q", in.Key, key, n.Raw))
		}
		if n.OK && n.V > 0 && n.V < 1e11 {
			d.Values[key] = time.Unix(int64(n.V), 0).In(wire.CST)
		}
	}
	for key, s := range map[string]wire.Text{"ip": w.IP, "lan_ip": w.LanIP, "firmware": w.SystemVersion, "model": w.HardwareModel} {
		if v := string(s); v != "" {
			d.Values[key] = v
		}
	}
	if w.Upgradeable.OK {
		d.Values["update_available"] = w.Upgradeable.V
	}
	if in.USB != nil {
		var total, used float64
		parts := make([]map[string]any, 0, len(in.USB.Partitions))
		ok := true
		for _, p := range in.USB.Partitions {
			if !p.Capacity.OK || !p.Used.OK {
				ok = false
				warns = append(warns, fmt.Sprintf("box %s: partition %q without a readable size", in.Key, string(p.Label)))
				continue
			}
			total += p.Capacity.V
			used += p.Used.V
			parts = append(parts, map[string]any{
				"label": string(p.Label), "path": string(p.Path),
				"capacity_gib": wire.Round(p.Capacity.V/gib, 2), "used_gib": wire.Round(p.Used.V/gib, 2),
			})
		}
		if ok {
			d.Values["disk_total"] = wire.Round(total/gib, 2)
			d.Values["disk_used"] = wire.Round(used/gib, 2)
			d.Values["disk_free"] = wire.Round(math.Max(total-used, 0)/gib, 2)
		}
		d.Attributes = map[string]map[string]any{"disk_total": {"partitions": parts}}
	}
	return d, warns
}

func modelName(w wirePeer) string {
	t, m := strings.TrimSpace(string(w.DeviceType)), strings.TrimSpace(string(w.HardwareModel))
	switch {
	case t == "":
		return m
	case m == "":
		return t
	default:
		return t + " " + m
	}
}

// accountInput is what the account host said at a poll; nil parts failed or were absent.
type accountInput struct {
	Month     *wireIncome // income-history, current month
	PrevMonth *wireIncome // income-history, previous month (when the current one has < 7 days)
	Outcome   *wireOutcome
	Info      *wireAccountInfo
	Boxes     []providers.Device // the box devices of this snapshot
}

// accountDevice converts the account's statistics, as the original monitors showed them.
func accountDevice(accountID, name string, in accountInput) (providers.Device, []string) {
	if name == "" {
		name = accountID
	}
	d := providers.Device{
		ID:           providers.DeviceID("onecloud", accountID),
		Name:         "OneCloud " + name,
		Manufacturer: "Xunlei",
		Model:        "OneCloud account",
		Entities:     accountEntities,
		Values:       map[string]any{},
	}
	var warns []string
	if in.Info != nil {
		if in.Info.Balance.OK {
			d.Values["balance"] = wire.Round(in.Info.Balance.V, 8)
		} else if in.Info.Balance.Raw != "" {
			warns = append(warns, fmt.Sprintf("account-info: unparseable balance %q", in.Info.Balance.Raw))
		}
	}
	if in.Month != nil {
		if in.Month.TotalIncome.OK {
			d.Values["total_income"] = wire.Round(in.Month.TotalIncome.V, 8)
		}
		type day struct {
			date string
			num  float64
		}
		var days []day // newest first
		month := 0.0
		add := func(inc *wireIncome, current bool) {
			if inc == nil {
				return
			}
			for _, e := range inc.IncomeArr {
				if !e.Num.OK {
					if e.Num.Raw != "" {
						warns = append(warns, fmt.Sprintf("income-history: unparseable amount %q on %s", e.Num.Raw, string(e.Date)))
					}
					continue
				}
				if current {
					month += e.Num.V
				}
				days = append(days, day{formatDate(string(e.Date)), e.Num.V})
			}
		}
		add(in.Month, true)
		add(in.PrevMonth, false)
		d.Values["month_income"] = wire.Round(month, 8)
		if len(days) > 0 {
			d.Values["yesterday_income"] = wire.Round(days[0].num, 8)
			if len(days) > 7 {
				days = days[:7]
			}
			sum := 0.0
			series := make([]map[string]any, len(days))
			for i, x := range days {
				sum += x.num
				series[len(days)-1-i] = map[string]any{"date": x.date, "income": wire.Round(x.num, 8)}
			}
			d.Values["income_7d"] = wire.Round(sum, 8)
			d.Attributes = map[string]map[string]any{"income_7d": {"daily": series}}
		}
	}
	if in.Outcome != nil {
		switch {
		case in.Outcome.TotalOutcome.OK:
			d.Values["total_withdrawn"] = wire.Round(in.Outcome.TotalOutcome.V, 8)
		case in.Outcome.TotalOutcome.Raw == "" && len(in.Outcome.OutcomeArr) == 0:
			d.Values["total_withdrawn"] = 0.0 // a fresh account answers "" with no withdrawals
		case in.Outcome.TotalOutcome.Raw != "":
			warns = append(warns, fmt.Sprintf("outcome-history: unparseable totalOutcome %q", in.Outcome.TotalOutcome.Raw))
		}
	}
	online := 0
	for _, b := range in.Boxes {
		if on, _ := b.Values["online"].(bool); on {
			online++
		}
	}
	d.Values["boxes"] = len(in.Boxes)
	d.Values["boxes_online"] = online
	return d, warns
}

// formatDate turns YYYYMMDD into YYYY-MM-DD; anything else is kept as it came.
func formatDate(s string) string {
	if t, err := time.Parse("20060102", s); err == nil {
		return t.Format("2006-01-02")
	}
	return s
}

// sortDevices orders box devices by id, for a stable snapshot.
func sortDevices(ds []providers.Device) {
	sort.Slice(ds, func(i, j int) bool { return ds[i].ID < ds[j].ID })
}
