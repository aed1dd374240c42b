// SOP / 内容计划: a plan's month calendar, deliveries and retries, the content library.
"use strict";
(function () {
  const S = window.Shequn;
  const { el, t, fmt, today, addDays, daysBetween, stamp, bucket, when, table, input, choose, numberOrNull, deliveryCell } = S;

  // ---- SOP ----------------------------------------------------------------
  S.pages.sop = {
    nav: "nav.sop",
    order: 6.5,
    async render(params, root) {
      const [plans, contents] = await Promise.all([S.api("GET", "/v1/sop-plans?limit=200"), S.api("GET", "/v1/contents?limit=50")]);
      const planId = params.get("plan") || (plans.items[0] && plans.items[0].id) || "";
      const state = params.get("state") || "";
      const dq = new URLSearchParams({ limit: "50" });
      if (planId) dq.set("plan_id", planId);
      if (state) dq.set("state", state);
      const month = /^\d{4}-\d{2}$/.test(params.get("month") || "") ? params.get("month") : today().slice(0, 7);
      const first = month + "-01";
      const next = addDays(first, 32).slice(0, 7) + "-01";
      const length = daysBetween(first, next);
      const [deliveries, preview] = await Promise.all([
        S.api("GET", "/v1/deliveries?" + dq.toString()),
        planId ? S.api("GET", "/v1/sop-plans/" + planId + "/preview?from=" + first + "&days=" + length) : Promise.resolve({ items: [], relative_steps: [] }),
      ]);
      const groups = Object.fromEntries((await S.all("/v1/groups", 5)).map((g) => [g.id, g.name]));
      const retry = (d) => async () => {
        try { await S.api("POST", "/v1/deliveries/" + d.id + "/retry", {}); S.route(); }
        catch (e) { root.prepend(el("div", { class: "state error" }, S.explain(e))); }
      };
      const canWrite = S.canWrite();
      const plan = plans.items.find((x) => x.id === planId);
      const planActions = canWrite && plan ? (plan.status === "active" ? ["paused", "archived"] : plan.status === "paused"
        ? ["active", "archived"] : []).map((to) => el("button", { "data-plan-to": to, onclick: async () => {
          try { await S.api("POST", "/v1/sop-plans/" + plan.id + "/status", { status: to }); S.route(); }
          catch (e) { root.prepend(el("div", { class: "state error" }, S.explain(e))); }
        } }, t("sop.to." + to))) : [];
      const planSel = el("select", { id: "f-plan", "aria-label": t("sop.plan"), onchange: (ev) => S.setParams({ plan: ev.target.value }) },
        ...plans.items.map((x) => el("option", { value: x.id, selected: x.id === planId }, x.name + " · " + t("pstatus." + x.status))));
      const stateSel = el("select", { id: "f-state", "aria-label": t("sop.col.state"), onchange: (ev) => S.setParams({ state: ev.target.value }) },
        el("option", { value: "" }, t("sop.all_states")),
        ...["pending", "sent", "failed", "dead", "missed", "awaiting_confirmation", "confirmed", "uncertain"].map((x) =>
          el("option", { value: x, selected: x === state }, t("delivery." + x))));
      // The month, weeks starting on the workspace's week start; each day its slots.
      const byDay = {};
      for (const it of preview.items) (byDay[it.local_time.slice(0, 10)] = byDay[it.local_time.slice(0, 10)] || []).push(it);
      const startDow = { monday: 1, sunday: 0, saturday: 6 }[S.workspace.week_start] || 1;
      const lead = (new Date(first + "T00:00:00Z").getUTCDay() - startDow + 7) % 7;
      const now = today();
      const cells = [];
      const weekday = new Intl.DateTimeFormat(S.lang, { weekday: "short", timeZone: "UTC" });
      for (let i = 0; i < 7; i++) {
        // 2024-01-01 was a Monday.
        cells.push(el("div", { class: "weekday" }, weekday.format(new Date(Date.UTC(2024, 0, 1 + ((startDow + 6 + i) % 7))))));
      }
      for (let i = 0; i < lead; i++) cells.push(el("div", { class: "day out" }));
      for (let i = 0; i < length; i++) {
        const day = addDays(first, i);
        const items = byDay[day] || [];
        cells.push(el("div", { class: "day" + (day === now ? " today" : ""), "data-day": day, "data-slots": String(items.length) },
          el("h3", {}, fmt.day(day), items.length ? el("span", { class: "n" }, t("sop.sends", { n: items.length })) : null),
          ...items.slice(0, 4).map((it) => el("div", { class: "slot" }, it.local_time.slice(11, 16) + " " + (groups[it.group_id] || ""))),
          items.length > 4 ? el("div", { class: "note" }, t("sop.more", { n: items.length - 4 })) : null));
      }
      const monthName = new Intl.DateTimeFormat(S.lang, { year: "numeric", month: "long", timeZone: "UTC" })
        .format(new Date(first + "T00:00:00Z"));
      const calendar = el("div", {},
        el("div", { class: "filters" },
          el("button", { id: "month-prev", onclick: () => S.setParams({ month: addDays(first, -1).slice(0, 7) }) }, "‹"),
          el("strong", { id: "month" }, monthName),
          el("button", { id: "month-next", onclick: () => S.setParams({ month: next.slice(0, 7) }) }, "›"),
          preview.relative_steps.length ? el("span", { class: "note" }, t("sop.relative", { n: preview.relative_steps.length })) : null,
          plan && plan.status !== "active" ? el("span", { class: "note", id: "plan-not-sending" }, t("sop.not_sending")) : null),
        preview.items.length ? el("div", { class: "calendar month", id: "calendar" }, ...cells)
          : el("div", { class: "state", id: "calendar-empty" }, t("sop.nothing_planned")));
      S.fill(root, el("h1", {}, t("nav.sop")),
        plans.items.length ? el("div", { class: "filters" }, planSel, ...planActions, stateSel) : el("div", { class: "state" }, t("sop.no_plans")),
        el("div", { class: "card" }, el("h2", {}, t("sop.calendar")), calendar),
        el("div", { class: "card" }, el("div", { class: "tools" }, el("h2", {}, t("sop.deliveries")),
          el("a", { href: "/v1/deliveries?format=csv" + (planId ? "&plan_id=" + planId : "") + (state ? "&state=" + state : ""),
            download: "deliveries.csv", class: "button", id: "csv-deliveries" }, t("action.csv"))),
          table("deliveries", ["sop.col.when", "groups.col.name", "sop.col.state", "sop.col.attempts", "sop.col.message", "settings.actions"],
            deliveries.items, (d, k) => (k === "groups.col.name" ? groups[d.group_id] || "–" : deliveryCell(d, k, canWrite ? retry : null)))),
        el("div", { class: "card" }, el("h2", {}, t("sop.contents")),
          table("contents", ["sop.content", "sop.kind", "sop.preview"], contents.items, (c, k) => ({
            "sop.content": c.name || c.id, "sop.kind": t("ckind." + c.kind),
            "sop.preview": el("button", { onclick: async (ev) => {
              const r = await S.api("GET", "/v1/contents/" + c.id + "/preview");
              ev.target.replaceWith(el("span", { class: "preview" }, (r.message && (r.message.text || r.message.title)) || JSON.stringify(r.message)));
            } }, t("sop.show_preview")) })[k])));
    },
  };
})();
