// What every page uses: the filter bar and periods, local days and
// instants, charts, tables, forms. Registered on `Shequn` (app.js).
"use strict";
(function () {
  const S = window.Shequn;
  const { el, t, fmt } = S;

  // ---- the filter bar ------------------------------------------------
  // Today in the workspace's timezone, as YYYY-MM-DD.
  function today() {
    return new Intl.DateTimeFormat("en-CA", { timeZone: S.workspace.timezone }).format(new Date());
  }
  function addDays(iso, n) {
    const d = new Date(iso + "T00:00:00Z");
    d.setUTCDate(d.getUTCDate() + n);
    return d.toISOString().slice(0, 10);
  }
  function daysBetween(a, b) {
    return Math.round((new Date(b + "T00:00:00Z") - new Date(a + "T00:00:00Z")) / 86400000);
  }

  // The instant of local time `hm` (HH:MM) on `iso` (YYYY-MM-DD) in `tz`.
  function localInstant(iso, hm, tz) {
    const guess = Date.parse(iso + "T" + (hm || "00:00") + ":00Z");
    const parts = Object.fromEntries(new Intl.DateTimeFormat("en-US", {
      timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    }).formatToParts(new Date(guess)).map((x) => [x.type, x.value]));
    const local = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute, +parts.second);
    return new Date(guess - (local - guess));
  }
  const midnight = (iso, tz) => localInstant(iso, "00:00", tz);
  // An instant as the workspace's local "YYYY-MM-DDTHH:MM" (for datetime-local inputs).
  function localText(instant, tz) {
    const parts = Object.fromEntries(new Intl.DateTimeFormat("en-US", {
      timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    }).formatToParts(new Date(instant)).map((x) => [x.type, x.value]));
    return parts.year + "-" + parts.month + "-" + parts.day + "T" + parts.hour + ":" + parts.minute;
  }
  // A datetime-local input's value, read in the workspace's timezone (null when empty).
  S.fromLocal = (text) => (text ? localInstant(text.slice(0, 10), text.slice(11, 16), S.workspace.timezone).toISOString() : null);
  S.toLocal = (instant) => (instant ? localText(instant, S.workspace.timezone) : "");
  S.midnight = midnight;

  // Every item of a paged list (at most `pages` pages of 200).
  S.all = async function (path, pages) {
    const items = [];
    let cursor = null;
    for (let i = 0; i < (pages || 10); i++) {
      const sep = path.includes("?") ? "&" : "?";
      const r = await S.api("GET", path + sep + "limit=200" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
      items.push(...r.items);
      cursor = r.next_cursor;
      if (!cursor) break;
    }
    return items;
  };

  // The period the filters name, and the one before it of the same length.
  S.period = function (params) {
    const end = today();
    const preset = params.get("range") || "7d";
    let from, to = end;
    if (preset === "today") from = end;
    else if (preset === "30d") from = addDays(end, -29);
    else if (preset === "month") from = end.slice(0, 8) + "01";
    else if (preset === "custom" && params.get("from") && params.get("to")) {
      from = params.get("from");
      to = params.get("to");
    } else from = addDays(end, -6);
    const len = daysBetween(from, to) + 1;
    return { preset, from, to, prevFrom: addDays(from, -len), prevTo: addDays(from, -1) };
  };

  // The filter bar's scope as a query: layer, tier, campaign, group, staff.
  const SCOPE = [["layer", "layer_id"], ["tier", "tier"], ["campaign", "campaign_id"], ["group", "group_id"]];
  S.scope = function (params) {
    const q = new URLSearchParams();
    for (const [name, key] of SCOPE) if (params.get(name)) q.set(key, params.get(name));
    if (params.get("staff") === "1") q.set("include_staff", "true");
    const s = q.toString();
    return s ? "&" + s : "";
  };

  function scopeSelects(params) {
    const L = S.lists || { layers: [], tiers: [], campaigns: [], groups: [] };
    const options = {
      layer: L.layers.map((x) => [x.id, x.name]), tier: L.tiers.map((x) => [x.key, x.name]),
      campaign: L.campaigns.map((x) => [x.id, x.name]), group: L.groups.map((x) => [x.id, x.name]),
    };
    return [...SCOPE.map(([name]) => el("select", { id: "f-" + name, "aria-label": t("scope." + name),
      onchange: (ev) => S.setParams({ [name]: ev.target.value }) },
      el("option", { value: "" }, t("scope." + name)),
      ...options[name].map(([v, label]) => el("option", { value: v, selected: params.get(name) === v }, label)))),
      el("label", { class: "check" }, el("input", { type: "checkbox", id: "f-staff", checked: params.get("staff") === "1",
        onchange: (ev) => S.setParams({ staff: ev.target.checked ? "1" : "" }) }), " ", t("scope.staff"))];
  }

  S.filterBar = function (params, scoped) {
    const p = S.period(params);
    const presets = ["today", "7d", "30d", "month", "custom"].map((r) =>
      el("button", { "data-range": r, "aria-pressed": String(p.preset === r), onclick: () => S.setParams({ range: r }) },
        t("filter." + r)));
    const custom = p.preset === "custom"
      ? [el("label", {}, t("filter.from"), " ", el("input", { type: "date", id: "from", value: p.from })),
         el("label", {}, t("filter.to"), " ", el("input", { type: "date", id: "to", value: p.to })),
         el("button", { onclick: () => S.setParams({
           from: document.getElementById("from").value, to: document.getElementById("to").value }) }, t("filter.apply"))]
      : [];
    const interval = params.get("interval") || "day";
    const intervals = el("select", { id: "interval", "aria-label": t("filter.interval"),
      onchange: (ev) => S.setParams({ interval: ev.target.value }) },
      ...["day", "week", "month"].map((i) => el("option", { value: i, selected: i === interval }, t("interval." + i))));
    return el("div", { class: "filters" }, ...presets, ...custom, intervals,
      ...(scoped === false ? [] : scopeSelects(params)), el("span", { class: "asof", id: "asof" }));
  };

  function stamp() {
    const s = document.getElementById("asof");
    if (s && S.asOf) s.textContent = t("asof", { time: fmt.time(S.asOf) });
  }

  // Days bucketed by week or month: flows summed, stocks and rates averaged.
  function bucket(days, interval, keys) {
    if (interval === "day") return days;
    const out = [];
    for (const d of days) {
      const k = interval === "month" ? d.date.slice(0, 7) + "-01" : weekStart(d.date);
      let b = out.length && out[out.length - 1].date === k ? out[out.length - 1] : null;
      if (!b) { b = { date: k, _n: 0 }; out.push(b); }
      b._n += 1;
      for (const [key, how] of Object.entries(keys)) {
        const v = d[key];
        if (v === null || v === undefined) continue;
        if (how === "last") b[key] = v;
        else if (how === "sum") b[key] = (b[key] || 0) + v;
        else b[key] = ((b[key] || 0) * (b._n - 1) + v) / b._n;
      }
    }
    return out;
  }
  function weekStart(iso) {
    const d = new Date(iso + "T00:00:00Z");
    const back = (d.getUTCDay() + 6) % 7;
    return addDays(iso, -back);
  }

  // ---- charts ----------------------------------------------------------
  S.chart = function (node, dates, series, money) {
    const c = echarts.init(node, null, { renderer: "canvas" });
    c.setOption({
      animation: false,
      tooltip: { trigger: "axis" },
      legend: { top: 0 },
      grid: { left: 48, right: 16, top: 32, bottom: 28 },
      toolbox: { feature: { saveAsImage: { title: t("chart.save") } } },
      xAxis: { type: "category", data: dates.map(fmt.day) },
      yAxis: { type: "value", axisLabel: { formatter: (v) => (money ? fmt.money(v) : fmt.num(v)) } },
      series: series.map((s) => ({ type: s.type || "line", name: s.name, data: s.data, smooth: true, showSymbol: false })),
    });
    new ResizeObserver(() => c.resize()).observe(node);
    node.setAttribute("data-drawn", "true");
    window.shequnDrawnAt = performance.now();
    return c;
  };

  // ---- tables ----------------------------------------------------------------
  const when = (iso) => (iso ? fmt.time(new Date(iso)) : "–");

  function table(id, columns, rows, cell, onRow) {
    if (!rows.length) return el("div", { class: "state", id: id + "-empty" }, t("state.none"));
    return el("table", { class: "table", id },
      el("thead", {}, el("tr", {}, ...columns.map((c) => el("th", {}, t(c))))),
      el("tbody", {}, ...rows.map((r) => el("tr", { class: onRow ? "link" : null, onclick: onRow ? () => onRow(r) : null },
        ...columns.map((c) => el("td", {}, cell(r, c)))))));
  }


  // ---- forms ------------------------------------------------------------------
  // A labelled form: rows of [labelKey, control]; `submit(data, form)` saves,
  // its error is shown under the form, translated.
  S.editForm = function (id, rows, button, submit) {
    const msg = el("div", { class: "msg full", role: "status", id: id + "-msg" });
    const form = el("form", { class: "edit", id, onsubmit: async (ev) => {
      ev.preventDefault();
      msg.className = "msg full";
      msg.textContent = "";
      try {
        await submit(Object.fromEntries(new FormData(form).entries()), form);
        msg.className = "msg full ok";
        msg.textContent = t("settings.saved");
      } catch (e) {
        msg.className = "msg full err";
        msg.textContent = S.explain(e);
      }
    } }, ...rows.flatMap(([key, control]) => [el("label", { for: control.id || null }, t(key)), control]),
      el("div", { class: "full" }, el("button", { class: "primary", type: "submit" }, button)), msg);
    return form;
  };
  const input = (name, value, attrs) => el("input", Object.assign({ name, id: "in-" + name,
    value: value === null || value === undefined ? "" : value }, attrs || {}));
  const choose = (name, values, value, label) => el("select", { name, id: "in-" + name },
    ...values.map((v) => el("option", { value: v, selected: v === value }, label(v))));
  const numberOrNull = (v) => (v === "" || v === undefined ? null : Number(v));
  S.canWrite = () => S.session.workspace.role !== "viewer";

  // ---- SOP sends, in a group's page and the SOP page ----------------------------
  const deliveryCell = (d, k, retry) => ({
    "sop.col.when": when(d.fire_at), "sop.col.state": t("delivery." + d.state),
    "sop.col.message": d.last_error || (d.message && d.message.text) || "–",
    "sop.col.attempts": String(d.attempt_count),
    "settings.actions": ["dead", "uncertain"].includes(d.state) && retry ? el("button", { "data-retry": d.id, onclick: retry(d) },
      t("sop.retry")) : "",
  })[k];


  Object.assign(S, { today, addDays, daysBetween, stamp, bucket, when, table, input, choose, numberOrNull, deliveryCell });
})();
