package fake

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
)

// SMSAPI fakes the self-hosted sms_api of seed 002 (laozig/sms__api, docs/sms.md, "Protocol: sms_api"): GET with query
// parameters, a token minted by login and stored on the user (only the latest works),
// the account family {"success",...} and the number family {"stat","message","code",
// "data"} with business failures on HTTP 200 (code -2 no balance, -3 no numbers),
// search_projects' amount always 0.1, the price frozen on get_phone and refunded on
// release, and a code that arrives on a get_sms_code call with probability Arrival
// (seeded, deterministic) once the market's code delay has passed.
//
// Offers are keyed by (project_id, "cn").
type SMSAPI struct {
	*Market
	Username, Password string
	Arrival            float64 // chance per get_sms_code call that a due code arrives; default 0.7

	amu       sync.Mutex
	token     string
	tokens    int
	rng       *rand.Rand
	blacklist map[string]bool
}

// NewSMSAPI returns the fake with one user and a balance of 100.
func NewSMSAPI(username, password string) *SMSAPI {
	s := &SMSAPI{Market: newMarket("138", 11), Username: username, Password: password, Arrival: 0.7,
		rng: rand.New(rand.NewPCG(1, 2)), blacklist: map[string]bool{}}
	s.balance = 100
	return s
}

// ExpireToken invalidates the current token (as a new login elsewhere would).
func (s *SMSAPI) ExpireToken() { s.amu.Lock(); s.token = "x-expired"; s.amu.Unlock() }

// Logins is how many tokens were minted.
func (s *SMSAPI) Logins() int { s.amu.Lock(); defer s.amu.Unlock(); return s.tokens }

func (s *SMSAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	endpoint := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/api"), "/")
	op := map[string]string{"login": OpLogin, "balance": OpBalance, "search_projects": OpPrices, "get_phone": OpBuy,
		"get_sms_code": OpCheck, "release_phone": OpCancel, "blacklist_phone": OpCancel}[endpoint]
	numberFamily := op == OpBuy || op == OpCheck || op == OpCancel
	if tok, injected := s.begin(op); injected {
		if st, ok := httpStatus(tok); ok {
			writeStatusJSON(w, st, map[string]any{"error": "服务器内部错误"})
			return
		}
		s.injected(w, tok)
		return
	}
	q := r.URL.Query()
	if op == OpLogin {
		if q.Get("username") == "" || q.Get("password") == "" {
			writeStatusJSON(w, 400, map[string]any{"success": false, "message": "缺少必要的登录信息"})
			return
		}
		if q.Get("username") != s.Username || q.Get("password") != s.Password {
			writeStatusJSON(w, 401, map[string]any{"success": false, "message": "用户名或密码错误"})
			return
		}
		s.amu.Lock()
		s.tokens++
		s.token = fmt.Sprintf("eyJhbGciOiJIUzI1NiJ9.fake%d.sig", s.tokens)
		tok := s.token
		s.amu.Unlock()
		writeJSON(w, map[string]any{"success": true, "message": "登录成功", "user": map[string]any{"username": s.Username,
			"email": "test@example.com", "token": tok, "balance": s.Balance()}})
		return
	}
	if op == "" {
		writeStatusJSON(w, 404, map[string]any{"error": "资源未找到"})
		return
	}
	tok := q.Get("token")
	s.amu.Lock()
	valid := tok != "" && tok == s.token
	s.amu.Unlock()
	if tok == "" {
		writeStatusJSON(w, 400, map[string]any{"success": false, "message": "缺少必要的token信息"})
		return
	}
	if !valid {
		if numberFamily {
			writeStatusJSON(w, 401, map[string]any{"stat": false, "message": "无效的token，请重新登录", "code": -1, "data": nil})
		} else {
			writeStatusJSON(w, 401, map[string]any{"success": false, "message": "无效的token，请重新登录"})
		}
		return
	}
	switch endpoint {
	case "balance":
		writeJSON(w, map[string]any{"success": true, "message": "查询成功", "username": s.Username, "balance": s.Balance()})
	case "search_projects":
		var projects []map[string]any
		for _, offers := range s.offersOf() {
			for id := range offers {
				if pid := q.Get("project_id"); pid == "" || pid == id {
					projects = append(projects, map[string]any{"project_id": id, "name": "项目" + id, "amount": 0.1})
				}
			}
		}
		msg := "搜索成功"
		if len(projects) == 0 {
			msg, projects = "没有找到匹配的项目", []map[string]any{}
		}
		writeJSON(w, map[string]any{"success": true, "message": msg, "projects": projects})
	case "get_phone":
		pid := q.Get("project_id")
		if pid == "" {
			writeStatusJSON(w, 400, map[string]any{"stat": false, "message": "缺少必要的参数", "code": -1, "data": nil})
			return
		}
		if _, offered := s.offer(pid, "cn"); !offered {
			writeStatusJSON(w, 404, map[string]any{"stat": false, "message": "无效的项目ID", "code": -1, "data": nil})
			return
		}
		o, res := s.buy(pid, "cn")
		switch res {
		case noBalance:
			writeJSON(w, map[string]any{"stat": false, "message": "账户余额不足", "code": -2, "data": nil})
		case noNumbers:
			writeJSON(w, map[string]any{"stat": false, "message": "没有可用号码", "code": -3, "data": nil})
		default:
			writeJSON(w, map[string]any{"stat": true, "message": "ok", "code": 1, "data": o.Phone})
		}
	case "get_sms_code":
		o, found := s.byPhone(q.Get("phone"))
		switch {
		case q.Get("project_id") == "" || q.Get("phone") == "":
			writeStatusJSON(w, 400, map[string]any{"message": "缺少必要的参数", "code": -1, "data": nil})
			return
		case !found || o.State == Cancelled:
			writeStatusJSON(w, 404, map[string]any{"stat": false, "message": "该手机号不存在或不属于当前用户", "code": -1, "data": nil})
			return
		case o.Service != q.Get("project_id"):
			writeStatusJSON(w, 400, map[string]any{"stat": false, "message": "该手机号与项目ID不匹配", "code": -1, "data": nil})
			return
		}
		due, _ := s.check(o.ID)
		if due.State == Received || due.State == Finished {
			s.amu.Lock()
			arrived := s.rng.Float64() < s.Arrival
			s.amu.Unlock()
			if arrived || due.State == Finished {
				s.finish(o.ID) // the debit becomes final
				writeJSON(w, map[string]any{"stat": true, "message": "ok", "code": due.Code, "data": []map[string]any{{
					"project_id": o.Service, "modle": "【测试】您的验证码" + due.Code + "。如非本人操作，请忽略本短信。", "phone": o.Phone, "project_type": "1"}}})
				return
			}
		}
		writeJSON(w, map[string]any{"stat": true, "message": "ok", "code": "", "data": []any{}})
	case "release_phone", "blacklist_phone":
		o, found := s.byPhone(q.Get("phone"))
		if !found || o.State == Cancelled {
			writeStatusJSON(w, 404, map[string]any{"message": "该手机号不存在或不属于当前用户", "code": -1, "data": nil})
			return
		}
		if endpoint == "blacklist_phone" {
			s.amu.Lock()
			dup := s.blacklist[o.Phone]
			s.blacklist[o.Phone] = true
			s.amu.Unlock()
			if dup {
				writeStatusJSON(w, 409, map[string]any{"message": "该手机号已在黑名单中", "code": -1, "data": nil})
				return
			}
		}
		if o.State == Waiting || o.State == Received {
			s.refundRelease(o.ID)
		}
		writeJSON(w, map[string]any{"message": "ok", "data": []any{}})
	}
}

// injected renders an injected token: no_balance, no_numbers, bad_token, bad_project.
func (s *SMSAPI) injected(w http.ResponseWriter, tok string) {
	switch tok {
	case "no_balance":
		writeJSON(w, map[string]any{"stat": false, "message": "账户余额不足", "code": -2, "data": nil})
	case "no_numbers":
		writeJSON(w, map[string]any{"stat": false, "message": "没有可用号码", "code": -3, "data": nil})
	case "bad_token":
		writeStatusJSON(w, 401, map[string]any{"success": false, "stat": false, "message": "token已过期，请重新登录", "code": -1, "data": nil})
	case "bad_login":
		writeStatusJSON(w, 401, map[string]any{"success": false, "message": "用户名或密码错误"})
	case "bad_project":
		writeStatusJSON(w, 404, map[string]any{"stat": false, "message": "无效的项目ID", "code": -1, "data": nil})
	case "not_found":
		writeStatusJSON(w, 404, map[string]any{"stat": false, "message": "该手机号不存在或不属于当前用户", "code": -1, "data": nil})
	default:
		writeStatusJSON(w, 500, map[string]any{"error": tok})
	}
}

func (s *SMSAPI) byPhone(phone string) (Order, bool) {
	for _, o := range s.Orders() {
		if o.Phone == phone && o.State != Cancelled {
			return o, true
		}
	}
	return Order{}, false
}

// refundRelease releases a number: the frozen price is refunded when no code arrived.
func (s *SMSAPI) refundRelease(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.orders[id]
	if o.State == Waiting || o.State == Received {
		s.balance += o.Price
		s.refunds++
	}
	o.State = Cancelled
}

func writeStatusJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
