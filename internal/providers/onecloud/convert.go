package onecloud

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/accountbridge/accountbridge/internal/providers"
)

// The upstream speaks Beijing time.
var cst = time.FixedZone("CST", 8*3600)

// flexNum is a number the upstream sends as a JSON number or a string. An absent, empty
// or unparseable value leaves OK false (Bad keeps unparseable text for a warning); it
// never fails the decoding of the surrounding object.
type flexNum struct {
	V   float64
	OK  bool
	Bad string
}

func (f *flexNum) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" {
		return nil
	}
	if strings.HasPrefix(s, `"`) {
		var str string
		if json.Unmarshal(b, &str) != nil {
			return nil
		}
		s = strings.TrimSpace(str)
		if s == "" {
			return nil
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		if len(s) > 40 {
			s = s[:40]
		}
		f.Bad = s
		return nil
	}
	f.V, f.OK = v, true
	return nil
}

// flexStr is a string the upstream may send as a number; other types leave it unset.
type flexStr struct {
	V  string
	OK bool
}

func (f *flexStr) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		f.V, f.OK = s, true
		return nil
	}
	var n json.Number
	if json.Unmarshal(b, &n) == nil {
		f.V, f.OK = n.String(), true
	}
	return nil
}

// flexBool accepts true/false, 0/1 and their string forms.
type flexBool struct {
	V  bool
	OK bool
}

func (f *flexBool) UnmarshalJSON(b []byte) error {
	switch strings.Trim(strings.TrimSpace(string(b)), `"`) {
	case "true", "1":
		f.V, f.OK = true, true
	case "false", "0":
		f.V, f.OK = false, true
	}
	return nil
}

// wirePeer is one box of listPeer (protocol §8).
type wirePeer struct {
	DeviceID         flexStr  `json:"device_id"`
	DeviceSN         flexStr  `json:"device_sn"`
	PeerID           flexStr  `json:"peerid"`
	DeviceName       flexStr  `json:"device_name"`
	DeviceType       flexStr  `json:"device_type"`
	HardwareModel    flexStr  `json:"hardware_model"`
	SystemName       flexStr  `json:"system_name"`
	SystemVersion    flexStr  `json:"system_version"`
	Upgradeable      flexBool `json:"upgradeable"`
	Status           flexStr  `json:"status"`
	ExceptionName    flexStr  `json:"exception_name"`
	ExceptionMessage flexStr  `json:"exception_message"`
	IP               flexStr  `json:"ip"`
	LanIP            flexStr  `json:"lan_ip"`
	ConnectTime      flexNum  `json:"connect_time"`
	DisconnectTime   flexNum  `json:"disconnect_time"`
}

// boxKey is the stable id of a box: its serial, else its device id, else its peer id.
func (p wirePeer) boxKey() string {
	for _, s := range []flexStr{p.DeviceSN, p.DeviceID, p.PeerID} {
		if k := providers.SanitizeID(strings.TrimSpace(s.V)); k != "" {
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

// wirePartition is one partition of getUSBInfo (protocol §9); sizes in bytes.
type wirePartition struct {
	Used     flexNum `json:"used"`
	Capacity flexNum `json:"capacity"`
	Label    flexStr `json:"label"`
	Path     flexStr `json:"path"`
	DiskID   flexNum `json:"disk_id"`
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

// wireIncome is wkb/income-history (protocol §5).
type wireIncome struct {
	TotalIncome flexNum `json:"totalIncome"`
	Month       flexStr `json:"month"`
	IncomeArr   []struct {
		Date flexStr `json:"date"`
		Num  flexNum `json:"num"`
	} `json:"incomeArr"`
}

// wireOutcome is wkb/outcome-history (protocol §6).
type wireOutcome struct {
	TotalOutcome flexNum           `json:"totalOutcome"`
	OutcomeArr   []json.RawMessage `json:"outcomeArr"`
}

// wireAccountInfo is wkb/account-info (protocol §7).
type wireAccountInfo struct {
	Balance flexNum `json:"balance"`
}

// wireDraw is the data of wkb/draw (protocol §10).
type wireDraw struct {
	DrawRet       flexNum `json:"drawRet"`
	DrawMsg       flexStr `json:"drawMsg"`
	DrawTime      flexStr `json:"drawTime"`
	GasCost       flexNum `json:"gasCost"`
	OriginBalance flexNum `json:"originBalance"`
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
		Name:         strings.TrimSpace(w.DeviceName.V),
		Manufacturer: "Xunlei",
		Model:        modelName(w),
		SWVersion:    w.SystemVersion.V,
		Entities:     boxEntities,
		Values:       map[string]any{},
	}
	if d.Name == "" {
		d.Name = "OneCloud " + in.Key
	}
	status := strings.ToLower(strings.TrimSpace(w.Status.V))
	switch {
	case !in.Listed:
		d.Values["online"] = false
		d.Values["status"] = statusOffline
	case status == statusOnline || status == statusOffline || status == statusException:
		d.Values["online"] = status == statusOnline
		d.Values["status"] = status
	case w.Status.OK:
		// An unknown status is not "online" (as the original monitors read it), but it
		// is not claimed to be one of the enum's options either.
		d.Values["online"] = false
		warns = append(warns, fmt.Sprintf("box %s: unknown status %q", in.Key, w.Status.V))
	}
	if w.ExceptionMessage.OK || w.ExceptionName.OK {
		msg := strings.TrimSpace(w.ExceptionMessage.V)
		if msg == "" {
			msg = strings.TrimSpace(w.ExceptionName.V)
		}
		d.Values["exception"] = msg
	}
	for key, n := range map[string]flexNum{"last_connect": w.ConnectTime, "last_disconnect": w.DisconnectTime} {
		if n.Bad != "" {
			warns = append(warns, fmt.Sprintf("box %s: unparseable %s %q", in.Key, key, n.Bad))
		}
		if n.OK && n.V > 0 && n.V < 1e11 {
			d.Values[key] = time.Unix(int64(n.V), 0).In(cst)
		}
	}
	for key, s := range map[string]flexStr{"ip": w.IP, "lan_ip": w.LanIP, "firmware": w.SystemVersion, "model": w.HardwareModel} {
		if v := strings.TrimSpace(s.V); v != "" {
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
				warns = append(warns, fmt.Sprintf("box %s: partition %q without a readable size", in.Key, p.Label.V))
				continue
			}
			total += p.Capacity.V
			used += p.Used.V
			parts = append(parts, map[string]any{
				"label": p.Label.V, "path": p.Path.V,
				"capacity_gib": round(p.Capacity.V/gib, 2), "used_gib": round(p.Used.V/gib, 2),
			})
		}
		if ok {
			d.Values["disk_total"] = round(total/gib, 2)
			d.Values["disk_used"] = round(used/gib, 2)
			d.Values["disk_free"] = round(math.Max(total-used, 0)/gib, 2)
		}
		d.Attributes = map[string]map[string]any{"disk_total": {"partitions": parts}}
	}
	return d, warns
}

func modelName(w wirePeer) string {
	t, m := strings.TrimSpace(w.DeviceType.V), strings.TrimSpace(w.HardwareModel.V)
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

// accountDevice converts the account's statistics (the original monitor's, protocol §12).
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
			d.Values["balance"] = round(in.Info.Balance.V, 8)
		} else if in.Info.Balance.Bad != "" {
			warns = append(warns, fmt.Sprintf("account-info: unparseable balance %q", in.Info.Balance.Bad))
		}
	}
	if in.Month != nil {
		if in.Month.TotalIncome.OK {
			d.Values["total_income"] = round(in.Month.TotalIncome.V, 8)
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
					if e.Num.Bad != "" {
						warns = append(warns, fmt.Sprintf("income-history: unparseable amount %q on %s", e.Num.Bad, e.Date.V))
					}
					continue
				}
				if current {
					month += e.Num.V
				}
				days = append(days, day{formatDate(e.Date.V), e.Num.V})
			}
		}
		add(in.Month, true)
		add(in.PrevMonth, false)
		d.Values["month_income"] = round(month, 8)
		if len(days) > 0 {
			d.Values["yesterday_income"] = round(days[0].num, 8)
			if len(days) > 7 {
				days = days[:7]
			}
			sum := 0.0
			series := make([]map[string]any, len(days))
			for i, x := range days {
				sum += x.num
				series[len(days)-1-i] = map[string]any{"date": x.date, "income": round(x.num, 8)}
			}
			d.Values["income_7d"] = round(sum, 8)
			d.Attributes = map[string]map[string]any{"income_7d": {"daily": series}}
		}
	}
	if in.Outcome != nil {
		switch {
		case in.Outcome.TotalOutcome.OK:
			d.Values["total_withdrawn"] = round(in.Outcome.TotalOutcome.V, 8)
		case in.Outcome.TotalOutcome.Bad == "" && len(in.Outcome.OutcomeArr) == 0:
			d.Values["total_withdrawn"] = 0.0 // a fresh account answers "" with no withdrawals
		case in.Outcome.TotalOutcome.Bad != "":
			warns = append(warns, fmt.Sprintf("outcome-history: unparseable totalOutcome %q", in.Outcome.TotalOutcome.Bad))
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

func round(v float64, places int) float64 {
	p := math.Pow10(places)
	if r := math.Round(v*p) / p; !math.IsInf(r, 0) && !math.IsNaN(r) {
		return r
	}
	return v
}

// sortDevices orders box devices by id, for a stable snapshot.
func sortDevices(ds []providers.Device) {
	sort.Slice(ds, func(i, j int) bool { return ds[i].ID < ds[j].ID })
}
