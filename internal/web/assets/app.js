// accountbridge web UI: plain DOM, no build step, no external resources.
"use strict";

const meta = (n) => document.querySelector(`meta[name="${n}"]`).content;
const CSRF = meta("csrf-token");
const LANG = meta("ab-lang") === "zh" ? "zh" : "en";
const EDITOR = meta("ab-editor") === "on";

const T = {
  en: {
    "nav.accounts": "Accounts", "nav.alerts": "Alerts", "nav.sms": "SMS", "nav.config": "Config",
    account: "Account", provider: "Provider", status: "Status", last_poll: "Last poll", next_poll: "Next poll",
    backoff: "Backoff", last_error: "Last error", actions: "Actions", poll_now: "Poll now",
    lift: "Lift quarantine", enable: "Enable", disable: "Disable", devices: "Devices",
    "st.ok": "ok", "st.failing": "failing", "st.quarantined": "quarantined", "st.disabled": "disabled", "st.pending": "pending",
    never: "never", none: "—", failures: "failures", until: "until", disabled_cfg: "disabled in the config (enabled: false); edit the config and restart to poll it",
    paused: "paused from this page until the next restart",
    "adv.auth": "The service refused the login. Check the account's username and password in the config.",
    "adv.rate_limited": "The service asked to slow down. The bridge waits and tries again by itself; nothing to do.",
    "adv.permanent": "Polling cannot succeed until you act: fix what the message says (password, captcha, confirm the new device in the app), then press “Lift quarantine”.",
    "adv.transient": "Network or service trouble. Retried automatically with backoff; if it lasts, check the network or proxy.",
    "adv.timeout": "The service did not answer in time. Retried automatically; raise the account's timeout if it keeps happening.",
    "adv.panic": "A bug in the bridge. Please report it with the log.",
    device: "Device", entity: "Entity", state: "State", unit: "Unit", key: "Key", category: "Category", back: "← Accounts",
    alerts_firing: "Active (firing or pending)", alerts_history: "History (last 200)", rule: "Rule", since: "Since", at: "At", message: "Message", value: "Value",
    no_alerts: "No alert is firing or pending.", no_history: "No alert yet.",
    platforms: "Platforms", platform: "Platform", family: "Protocol", balance: "Balance", health: "Health", response: "Response",
    success: "Success", orders_n: "Orders", watch: "Watch list", pair: "Service / country", offers: "Offers (cheapest first)",
    in_stock: "in stock", no_stock: "no stock", unhealthy: "unhealthy",
    order_form: "New order", service: "Service", country: "Country", strategy: "Strategy", max_price: "Max price",
    any_platform: "any", place: "Place order", orders_active: "Orders in flight", orders_done: "Finished orders",
    request: "Request", phone: "Number", code: "Code", price: "Price", created: "Created", cancel: "Cancel", reason: "Reason",
    no_sms: "No SMS platform accounts are configured.", spend_today: "Spent today", no_orders: "None.",
    config_in_use: "Config in use (secrets as ***)", editor: "Edit", check: "Check", save: "Save",
    editor_help: "Secrets show as \"***\" and keep their saved value. The file is checked like `bridge check` before saving; the previous file is kept as .bak. Changes apply when the app restarts.",
    editor_off: "The editor is available when the config in use is a YAML file (in the app: /config/accountbridge.yaml).",
    valid: "The config is valid.", saved: "Saved. Restart the app (or the daemon) to apply it. Backup:", not_saved: "Not saved:",
    line: "line", ordered: "Order placed:", done: "Done.", live: "live updates", offline: "reconnecting…",
  },
  zh: {
    "nav.accounts": "账号", "nav.alerts": "告警", "nav.sms": "短信", "nav.config": "配置",
    account: "账号", provider: "服务", status: "状态", last_poll: "上次轮询", next_poll: "下次轮询",
    backoff: "退避", last_error: "最后错误", actions: "操作", poll_now: "立即轮询",
    lift: "解除隔离", enable: "启用", disable: "停用", devices: "设备",
    "st.ok": "正常", "st.failing": "失败", "st.quarantined": "已隔离", "st.disabled": "已停用", "st.pending": "等待中",
    never: "从未", none: "—", failures: "次失败", until: "直到", disabled_cfg: "配置中已停用（enabled: false）；修改配置并重启后才会轮询",
    paused: "已在本页暂停，重启后恢复",
    "adv.auth": "服务拒绝登录。请检查配置中该账号的用户名和密码。",
    "adv.rate_limited": "服务要求放慢请求。桥接会自动等待并重试，无需操作。",
    "adv.permanent": "需要您处理后才能继续：按提示修正（密码、验证码、在 App 中确认新设备），然后点击“解除隔离”。",
    "adv.transient": "网络或服务故障。会自动退避重试；若持续出现，请检查网络或代理。",
    "adv.timeout": "服务未及时响应。会自动重试；若经常发生，请调大该账号的 timeout。",
    "adv.panic": "桥接程序错误，请附上日志报告。",
    device: "设备", entity: "实体", state: "状态", unit: "单位", key: "键", category: "类别", back: "← 账号",
    alerts_firing: "当前（告警中或等待中）", alerts_history: "历史（最近 200 条）", rule: "规则", since: "开始", at: "时间", message: "消息", value: "值",
    no_alerts: "没有正在告警的项目。", no_history: "暂无告警。",
    platforms: "平台", platform: "平台", family: "协议", balance: "余额", health: "健康", response: "响应",
    success: "成功率", orders_n: "订单", watch: "关注列表", pair: "服务 / 国家", offers: "报价（从低到高）",
    in_stock: "有货", no_stock: "无货", unhealthy: "不可用",
    order_form: "新订单", service: "服务", country: "国家", strategy: "策略", max_price: "最高价",
    any_platform: "任意", place: "下单", orders_active: "进行中的订单", orders_done: "已结束的订单",
    request: "请求", phone: "号码", code: "验证码", price: "价格", created: "创建", cancel: "取消", reason: "原因",
    no_sms: "未配置短信平台账号。", spend_today: "今日花费", no_orders: "无。",
    config_in_use: "当前配置（密钥显示为 ***）", editor: "编辑", check: "检查", save: "保存",
    editor_help: "密钥显示为 \"***\"，保存时保留原值。保存前按 `bridge check` 校验，旧文件保存为 .bak。重启应用后生效。",
    editor_off: "当前配置为 YAML 文件时才能编辑（应用中：/config/accountbridge.yaml）。",
    valid: "配置有效。", saved: "已保存。重启应用（或守护进程）后生效。备份：", not_saved: "未保存：",
    line: "第", ordered: "已下单：", done: "完成。", live: "实时更新", offline: "正在重连…",
  },
};
const t = (k) => (T[LANG][k] !== undefined ? T[LANG][k] : (T.en[k] !== undefined ? T.en[k] : k));

// h builds an element: h("td", {class: "x"}, "text", child…). Text is always text (no HTML).
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat()) {
    if (kid === undefined || kid === null || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}

const pad = (n) => String(n).padStart(2, "0");
function fmtTime(iso) {
  if (!iso) return t("never");
  const d = new Date(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
function rel(iso) {
  if (!iso) return "";
  const s = Math.round((new Date(iso) - Date.now()) / 1000);
  const a = Math.abs(s);
  const v = a < 60 ? `${a}s` : a < 3600 ? `${Math.round(a / 60)}m` : a < 86400 ? `${Math.round(a / 3600)}h` : `${Math.round(a / 86400)}d`;
  if (LANG === "zh") return s < 0 ? `${v}前` : `${v}后`;
  return s < 0 ? `${v} ago` : `in ${v}`;
}
const timeCell = (iso, cls) => h("td", { class: cls, "data-time": iso || "" }, fmtTime(iso), iso ? h("div", { class: "muted small" }, rel(iso)) : null);
const badge = (state, label) => h("span", { class: `badge ${state}` }, label || t("st." + state));

function toast(msg) {
  const el = document.getElementById("toast");
  el.textContent = msg;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, 4000);
}

async function api(path, opts = {}) {
  const init = { method: opts.method || "GET", headers: {}, credentials: "same-origin" };
  if (init.method !== "GET") init.headers["X-CSRF-Token"] = CSRF;
  if (opts.body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(opts.body);
  }
  const res = await fetch("api/" + path, init);
  const ct = res.headers.get("Content-Type") || "";
  const body = ct.includes("json") ? await res.json() : await res.text();
  if (!res.ok) throw new Error(body && body.error ? body.error : String(body).trim() || res.statusText);
  return body;
}

const state = { accounts: null, alerts: null, sms: null };
const main = document.getElementById("main");

// ---- accounts ----
function renderAccounts() {
  const rows = (state.accounts || []).map((a) => {
    const st = a.state;
    const actions = h("td", { class: "actions" },
      h("button", { class: "poll", disabled: !a.enabled || st === "quarantined", onclick: () => act(a.id, "poll") }, t("poll_now")),
      st === "quarantined" ? h("button", { class: "reset primary", onclick: () => act(a.id, "reset") }, t("lift")) : null,
      a.disabled_in_config ? null : a.enabled
        ? h("button", { class: "disable", onclick: () => act(a.id, "disable") }, t("disable"))
        : h("button", { class: "enable", onclick: () => act(a.id, "enable") }, t("enable")));
    const err = a.last_error && st !== "ok"
      ? h("td", { class: "last-error" }, h("div", { class: "err" }, (a.last_error_kind ? a.last_error_kind + ": " : "") + a.last_error),
        h("div", { class: "advice" }, t("adv." + (a.last_error_kind || "transient"))))
      : h("td", { class: "last-error muted" }, st === "disabled" ? (a.disabled_in_config ? t("disabled_cfg") : t("paused")) : t("none"));
    const backoff = a.consecutive_failures > 0
      ? h("td", { class: "backoff" }, `${a.consecutive_failures} ${t("failures")}`,
        a.backoff_until && new Date(a.backoff_until) > Date.now() ? h("div", { class: "muted small" }, `${t("until")} ${fmtTime(a.backoff_until)}`) : null)
      : h("td", { class: "backoff muted" }, t("none"));
    return h("tr", { "data-account": a.id, "data-state": st },
      h("td", {}, h("strong", {}, a.name || a.id), a.name ? h("div", { class: "muted small code" }, a.id) : null,
        h("div", { class: "small" }, (a.devices || []).map((d) => h("a", { href: `#/device/${encodeURIComponent(d)}`, class: "dev" }, d)))),
      h("td", {}, a.provider, a.schedule ? h("div", { class: "muted small" }, a.schedule) : null),
      h("td", { class: "status" }, badge(st)),
      timeCell(a.last_run, "last-poll"), timeCell(st === "quarantined" || st === "disabled" ? "" : a.next_run, "next-poll"),
      backoff, err, actions);
  });
  main.replaceChildren(h("h2", {}, t("nav.accounts")), h("div", { class: "card" }, h("table", { id: "accounts" },
    h("thead", {}, h("tr", {}, ["account", "provider", "status", "last_poll", "next_poll", "backoff", "last_error", "actions"].map((k) => h("th", {}, t(k))))),
    h("tbody", {}, rows))));
}

async function act(id, what) {
  try {
    await api(`accounts/${encodeURIComponent(id)}/${what}`, { method: "POST" });
    toast(`${id}: ${t(what === "poll" ? "poll_now" : what === "reset" ? "lift" : what)} ✓`);
    state.accounts = await api("accounts");
    if (page() === "accounts") renderAccounts();
  } catch (e) { toast(`${id}: ${e.message}`); }
}

// ---- device ----
async function renderDevice(id) {
  let d;
  try { d = await api(`devices/${encodeURIComponent(id)}`); } catch (e) { main.replaceChildren(h("p", { class: "err" }, e.message)); return; }
  const fmt = (v) => (v === null || v === undefined ? "unknown" : typeof v === "object" ? JSON.stringify(v)
    : typeof v === "number" && !Number.isInteger(v) ? String(Math.round(v * 1000) / 1000) : String(v));
  main.replaceChildren(h("p", {}, h("a", { href: "#/accounts" }, t("back"))),
    h("h2", {}, d.name, " ", h("span", { class: "muted small code" }, d.id)),
    h("div", { class: "card" }, h("table", { id: "entities" },
      h("thead", {}, h("tr", {}, ["entity", "key", "state", "unit", "category"].map((k) => h("th", {}, t(k))))),
      h("tbody", {}, d.entities.map((e) => h("tr", { "data-key": e.key },
        h("td", {}, e.name || e.key), h("td", { class: "code muted" }, `${e.component}.${e.key}`),
        h("td", { class: "state", title: JSON.stringify(e.state) }, fmt(e.state)), h("td", {}, e.unit || ""), h("td", { class: "muted" }, e.category || "")))))));
}

// ---- alerts ----
function renderAlerts() {
  const a = state.alerts || { active: [], history: [] };
  const row = (x, withState) => h("tr", { "data-alert": x.id },
    h("td", {}, badge(x.state, x.state)), h("td", { class: "code" }, x.rule),
    h("td", {}, h("a", { href: `#/device/${encodeURIComponent(x.device)}` }, x.device_name || x.device), x.entity ? h("div", { class: "muted small code" }, x.entity) : null),
    h("td", {}, x.value === undefined ? "" : `${x.value}${x.unit ? " " + x.unit : ""}`),
    timeCell(withState ? x.at : x.since), h("td", {}, x.message || ""));
  const table = (list, empty, withState) => list.length === 0 ? h("p", { class: "muted" }, t(empty)) :
    h("table", {}, h("thead", {}, h("tr", {}, ["status", "rule", "device", "value", withState ? "at" : "since", "message"].map((k) => h("th", {}, t(k))))),
      h("tbody", {}, list.map((x) => row(x, withState))));
  main.replaceChildren(h("h2", {}, t("alerts_firing")), h("div", { class: "card", id: "alerts-active" }, table(a.active || [], "no_alerts", false)),
    h("h2", {}, t("alerts_history")), h("div", { class: "card", id: "alerts-history" }, table(a.history || [], "no_history", true)));
}

// ---- SMS ----
function renderSMS() {
  const s = state.sms;
  if (!s) { main.replaceChildren(h("p", { class: "muted" }, t("no_sms"))); return; }
  const form = h("form", { class: "row", id: "order-form", onsubmit: placeOrder },
    h("label", {}, t("service"), h("input", { name: "service", required: true, size: 8, value: s.watch[0] ? s.watch[0].service : "" })),
    h("label", {}, t("country"), h("input", { name: "country", required: true, size: 6, value: s.watch[0] ? s.watch[0].country : "" })),
    h("label", {}, t("strategy"), h("select", { name: "strategy" }, s.strategies.map((x) => h("option", { value: x, selected: x === s.default_strategy }, x)))),
    h("label", {}, t("platform"), h("select", { name: "platform" }, h("option", { value: "" }, t("any_platform")), s.platforms.map((p) => h("option", { value: p.id }, p.id)))),
    h("label", {}, `${t("max_price")} (${s.currency})`, h("input", { name: "max_price", type: "number", step: "any", min: "0", size: 6 })),
    h("button", { class: "primary", type: "submit" }, t("place")));
  main.replaceChildren(
    h("h2", {}, t("order_form")), h("div", { class: "card" }, form),
    h("div", { id: "sms-tables" }));
  renderSMSTables();
}

function renderSMSTables() {
  const box = document.getElementById("sms-tables");
  const s = state.sms;
  if (!box || !s) return;
  const money = (v, c) => (v === undefined || v === null ? "—" : `${Math.round(v * 100) / 100} ${c || ""}`);
  const platforms = h("table", { id: "platforms" },
    h("thead", {}, h("tr", {}, ["platform", "family", "balance", "health", "response", "success", "orders_n"].map((k) => h("th", {}, t(k))))),
    h("tbody", {}, s.platforms.map((p) => h("tr", { "data-platform": p.id },
      h("td", { class: "code" }, p.id), h("td", {}, p.family), h("td", {}, money(p.balance, p.currency)),
      h("td", {}, p.healthy ? badge("ok") : badge("failing", t("unhealthy")), p.problem ? h("div", { class: "advice" }, p.problem) : null),
      h("td", {}, p.checked ? `${Math.round(p.latency_ms)} ms` : "—"),
      h("td", {}, p.success_rate === undefined ? "—" : `${Math.round(p.success_rate)}%`), h("td", {}, p.orders)))));
  const watch = h("table", { id: "watch" },
    h("thead", {}, h("tr", {}, h("th", {}, t("pair")), h("th", {}, t("offers")))),
    h("tbody", {}, s.watch.map((w) => h("tr", {}, h("td", { class: "code" }, `${w.service} / ${w.country}`),
      h("td", {}, w.offers.length === 0 ? "—" : w.offers.map((o) => h("div", {},
        h("span", { class: "code" }, o.platform), ": ", money(o.price, o.currency),
        o.currency !== s.currency ? ` (${money(o.router_price, s.currency)})` : "", " · ",
        o.in_stock ? `${t("in_stock")}${o.count !== undefined ? " (" + o.count + ")" : ""}` : t("no_stock"),
        o.healthy ? "" : ` · ${t("unhealthy")}`)))))));
  const orderRow = (o) => h("tr", { "data-order": o.request_id, "data-state": o.state },
    h("td", { class: "code" }, o.request_id), h("td", {}, `${o.service} / ${o.country}`, o.strategy ? h("div", { class: "muted small" }, o.strategy) : null),
    h("td", {}, badge(o.state, o.state)), h("td", { class: "code" }, o.platform || "—"), h("td", { class: "code" }, o.phone || "—"),
    h("td", { class: "sms-code code" }, o.code || ""), h("td", {}, o.price !== undefined ? money(o.price, o.currency) : "—"),
    timeCell(o.created),
    h("td", { class: "small" }, o.reason ? h("div", { class: "err" }, o.reason) : null, o.message || ""),
    h("td", {}, o.active ? h("button", { class: "cancel", onclick: () => cancelOrder(o.request_id) }, t("cancel")) : null));
  const orders = (list) => list.length === 0 ? h("p", { class: "muted" }, t("no_orders")) : h("table", {},
    h("thead", {}, h("tr", {}, ["request", "pair", "status", "platform", "phone", "code", "price", "created", "reason", ""].map((k) => h("th", {}, k ? t(k) : "")))),
    h("tbody", {}, list.map(orderRow)));
  const active = s.orders.filter((o) => o.active), done = s.orders.filter((o) => !o.active);
  box.replaceChildren(
    h("h2", {}, t("orders_active")), h("div", { class: "card", id: "orders-active" }, orders(active)),
    h("h2", {}, t("orders_done")), h("div", { class: "card", id: "orders-done" }, orders(done)),
    h("h2", {}, t("platforms"), " ", h("span", { class: "muted small" }, `${t("spend_today")}: ${money(s.spend_today, s.currency)}`)),
    h("div", { class: "card" }, platforms),
    h("h2", {}, t("watch")), h("div", { class: "card" }, watch));
}

async function placeOrder(ev) {
  ev.preventDefault();
  const f = new FormData(ev.target);
  const body = { service: f.get("service").trim(), country: f.get("country").trim(), strategy: f.get("strategy") };
  if (f.get("platform")) body.platform = f.get("platform");
  if (f.get("max_price")) body.max_price = Number(f.get("max_price"));
  try {
    const r = await api("sms/orders", { method: "POST", body });
    toast(`${t("ordered")} ${r.request_id}`);
    state.sms = await api("sms");
    renderSMSTables();
  } catch (e) { toast(e.message); }
}

async function cancelOrder(rid) {
  try {
    await api(`sms/orders/${encodeURIComponent(rid)}/cancel`, { method: "POST" });
    toast(`${rid}: ${t("cancel")} ✓`);
  } catch (e) { toast(e.message); }
}

// ---- config ----
async function renderConfig() {
  let c;
  try { c = await api("config"); } catch (e) { main.replaceChildren(h("p", { class: "err" }, e.message)); return; }
  const parts = [];
  if (c.editor) {
    const ta = h("textarea", { id: "config-text", spellcheck: "false", wrap: "off" });
    ta.value = c.editor.text;
    let base = c.editor.base;
    const gutter = h("div", { class: "gutter code", id: "gutter" });
    const out = h("div", { id: "config-result" });
    let bad = new Set();
    const paintGutter = () => {
      const n = ta.value.split("\n").length;
      gutter.replaceChildren(...Array.from({ length: n }, (_, i) => h("div", { class: bad.has(i + 1) ? "bad" : null, "data-line": i + 1 }, i + 1)));
      gutter.scrollTop = ta.scrollTop;
    };
    ta.addEventListener("input", paintGutter);
    ta.addEventListener("scroll", () => { gutter.scrollTop = ta.scrollTop; });
    const goLine = (line) => {
      const lines = ta.value.split("\n");
      const start = lines.slice(0, line - 1).join("\n").length + (line > 1 ? 1 : 0);
      ta.focus();
      ta.setSelectionRange(start, start + (lines[line - 1] || "").length);
      ta.scrollTop = Math.max(0, (line - 5) * 19);
    };
    const run = async (save) => {
      try {
        const r = await api(save ? "config/save" : "config/check", { method: "POST", body: { text: ta.value, base } });
        bad = new Set(r.problems.map((p) => p.line).filter((l) => l > 0));
        paintGutter();
        if (r.ok) {
          if (r.saved) base = r.base;
          out.replaceChildren(h("p", { class: "ok", id: "config-ok" }, r.saved ? `${t("saved")} ${r.backup}` : t("valid")));
        } else {
          out.replaceChildren(h("p", { class: "err" }, save ? t("not_saved") : ""), h("ul", { class: "problems", id: "config-problems" },
            r.problems.map((p) => h("li", { "data-line": p.line, class: "err" },
              p.line > 0 ? h("a", { class: "goto", onclick: () => goLine(p.line) }, LANG === "zh" ? `第 ${p.line} 行` : `line ${p.line}`) : null,
              p.line > 0 ? ": " : "", p.path ? h("span", { class: "code" }, p.path + ": ") : null, p.msg))));
        }
      } catch (e) { out.replaceChildren(h("p", { class: "err" }, e.message)); }
    };
    parts.push(h("h2", {}, t("editor"), " ", h("span", { class: "muted small code" }, c.editor.path)),
      h("div", { class: "card" }, h("p", { class: "muted small" }, t("editor_help")),
        h("p", {}, h("button", { id: "config-check", onclick: () => run(false) }, t("check")),
          h("button", { id: "config-save", class: "primary", onclick: () => run(true) }, t("save"))), out,
        h("div", { class: "editor" }, gutter, ta)));
    setTimeout(paintGutter, 0);
  } else {
    parts.push(h("p", { class: "muted" }, c.editor_error || t("editor_off")));
  }
  parts.push(h("h2", {}, t("config_in_use")), h("div", { class: "card" }, h("pre", { class: "code", id: "config-masked" }, c.masked)));
  main.replaceChildren(...parts);
}

// ---- routing and live updates ----
function page() {
  const p = (location.hash || "#/accounts").slice(2).split("/");
  return p[0] || "accounts";
}

async function route() {
  const [p, arg] = (location.hash || "#/accounts").slice(2).split("/");
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.page === (p || "accounts"));
  switch (p) {
    case "device": return renderDevice(decodeURIComponent(arg || ""));
    case "alerts": state.alerts = state.alerts || await api("alerts"); return renderAlerts();
    case "sms": state.sms = state.sms || await api("sms"); return renderSMS();
    case "config": return renderConfig();
    default: state.accounts = state.accounts || await api("accounts"); return renderAccounts();
  }
}

function live() {
  const dot = document.getElementById("live");
  const es = new EventSource("api/events");
  es.onopen = () => { dot.classList.add("on"); dot.title = t("live"); };
  es.onerror = () => { dot.classList.remove("on"); dot.title = t("offline"); };
  es.addEventListener("accounts", (e) => { state.accounts = JSON.parse(e.data); if (page() === "accounts") renderAccounts(); });
  es.addEventListener("alerts", (e) => { state.alerts = JSON.parse(e.data); if (page() === "alerts") renderAlerts(); });
  es.addEventListener("sms", (e) => { state.sms = JSON.parse(e.data); if (page() === "sms") renderSMSTables(); });
}

for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
document.documentElement.lang = LANG === "zh" ? "zh-CN" : "en";
if (!EDITOR) document.querySelector('#nav a[data-page="config"]').textContent = t("nav.config");
window.addEventListener("hashchange", () => route().catch((e) => toast(e.message)));
route().catch((e) => toast(e.message));
live();
