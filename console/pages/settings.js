// Settings / 设置: workspace, users, keys, connections, outbound webhooks, audit log.
"use strict";
(function () {
  const S = window.Shequn;
  const { el, t, fmt, today, addDays, daysBetween, stamp, bucket, when, table, input, choose, numberOrNull, deliveryCell } = S;

  // ---- settings -------------------------------------------------------------
  const TABS = ["workspace", "users", "keys", "connections", "webhooks", "audit"];

  S.pages.settings = {
    nav: "nav.settings",
    order: 9,
    async render(params, root) {
      const tab = TABS.includes(params.get("tab")) ? params.get("tab") : "workspace";
      const tabs = el("div", { class: "filters" }, ...TABS.map((x) =>
        el("button", { "data-tab": x, "aria-pressed": String(x === tab), onclick: () => S.setParams({ tab: x }) },
          t("settings." + x))));
      const body = el("div", { id: "settings-body" });
      S.fill(root, el("h1", {}, t("nav.settings")), tabs, body);
      const admin = ["admin", "owner"].includes(S.session.workspace.role);
      if (tab !== "workspace" && tab !== "connections" && !admin) {
        S.fill(body, el("div", { class: "state", id: "needs-admin" }, t("settings.needs_admin")));
        return;
      }
      await SETTINGS[tab](body, admin);
    },
  };

  function shown(secretLabel, value) {
    return el("div", { class: "card secret", id: "secret" }, el("h2", {}, secretLabel),
      el("input", { readonly: true, value, id: "secret-value" }), el("p", {}, t("settings.shown_once")));
  }

  const SETTINGS = {
    async workspace(body, admin) {
      const w = S.workspace;
      const exp = (w.points && w.points.expiry) || { kind: "never" };
      const input = (name, value, attrs) => el("input", Object.assign({ name, id: "ws-" + name, value: value === undefined ? "" : value,
        disabled: !admin }, attrs || {}));
      const select = (name, values, value, prefix) => el("select", { name, id: "ws-" + name, disabled: !admin },
        ...values.map((v) => el("option", { value: v, selected: v === value }, t(prefix + v))));
      const row = (key, control) => el("tr", {}, el("th", {}, t(key)), el("td", {}, control));
      const msg = el("div", { class: "msg", role: "status", id: "ws-msg" });
      const form = el("form", { id: "workspace", onsubmit: async (ev) => {
        ev.preventDefault();
        const d = Object.fromEntries(new FormData(form).entries());
        const kind = d.expiry_kind;
        const expiry = kind === "after_days" ? { kind, days: Number(d.expiry_n) }
          : kind === "end_of_year_after" ? { kind, years: Number(d.expiry_n) } : { kind: "never" };
        try {
          S.workspace = await S.api("PATCH", "/v1/workspace", { name: d.name, timezone: d.timezone, currency: d.currency,
            week_start: d.week_start, points: { clawback: d.clawback, expiry } });
          msg.textContent = t("settings.saved");
        } catch (e) { msg.textContent = S.explain(e); }
      } }, el("table", { class: "table" }, el("tbody", {},
        row("settings.ws.name", input("name", w.name)),
        row("settings.ws.timezone", input("timezone", w.timezone)),
        row("settings.ws.currency", input("currency", w.currency, { maxlength: 3 })),
        row("settings.ws.week_start", select("week_start", ["monday", "sunday", "saturday"], w.week_start, "week.")),
        row("settings.ws.points_expiry", el("span", {},
          select("expiry_kind", ["never", "after_days", "end_of_year_after"], exp.kind, "expiry."), " ",
          input("expiry_n", exp.days !== undefined ? exp.days : exp.years !== undefined ? exp.years : "", { type: "number", min: 0, max: 3650 }))),
        row("settings.ws.points_clawback", select("clawback", ["allow_negative", "floor_zero"], (w.points && w.points.clawback) || "allow_negative", "clawback.")))),
        admin ? el("button", { class: "primary", type: "submit" }, t("settings.save")) : null, msg);
      S.fill(body, form);
    },
    async webhooks(body) {
      const [endpoints, messages, spec] = await Promise.all([
        S.api("GET", "/v1/webhook-endpoints?limit=200"), S.api("GET", "/v1/webhook-messages?limit=50"),
        S.api("GET", "/openapi.json"),
      ]);
      const types = Object.keys(spec.webhooks || {}).sort();
      const fail = (e) => body.prepend(el("div", { class: "state error" }, S.explain(e)));
      const act = (method, path, payload, after) => async () => {
        try {
          const r = await S.api(method, path, payload);
          if (after) after(r); else S.route();
        } catch (e) { fail(e); }
      };
      const add = el("div", { class: "card", id: "new-endpoint" }, el("h2", {}, t("settings.add_endpoint")),
        S.editForm("endpoint-form", [
          ["settings.webhook_url", input("url", "", { type: "url", required: true, placeholder: "https://shop.example.com/hooks/shequn" })],
          ["settings.description", input("description", "", { maxlength: 500 })],
          ["settings.event_types", el("select", { name: "types", id: "in-types", multiple: true, size: Math.min(8, types.length + 1) },
            el("option", { value: "*", selected: true }, t("settings.all_events")), ...types.map((x) => el("option", { value: x }, x)))],
          ["settings.include_pii", el("input", { type: "checkbox", name: "include_pii", id: "in-include_pii" })],
        ], t("settings.add_endpoint"), async (d, form) => {
          const chosen = [...form.querySelector("#in-types").selectedOptions].map((o) => o.value);
          const r = await S.api("POST", "/v1/webhook-endpoints", { url: d.url, description: d.description,
            event_types: chosen.includes("*") || !chosen.length ? ["*"] : chosen, include_pii: !!d.include_pii });
          body.prepend(shown(t("settings.signing_secret"), r.secret));
        }));
      const actions = (x) => el("span", { class: "actions" },
        el("button", { "data-endpoint": x.id, "data-act": "toggle",
          onclick: act("PATCH", "/v1/webhook-endpoints/" + x.id, { enabled: !x.enabled }) },
          t(x.enabled ? "settings.disable" : "settings.enable")), " ",
        el("button", { "data-endpoint": x.id, "data-act": "test",
          onclick: act("POST", "/v1/webhook-endpoints/" + x.id + "/test", {}) }, t("settings.send_test")), " ",
        el("button", { "data-endpoint": x.id, "data-act": "rotate",
          onclick: act("POST", "/v1/webhook-endpoints/" + x.id + "/rotate-secret", {},
            (r) => body.prepend(shown(t("settings.signing_secret"), r.secret))) }, t("settings.rotate")), " ",
        el("button", { "data-endpoint": x.id, "data-act": "delete", onclick: async () => {
          if (confirm(t("settings.confirm_delete"))) await act("DELETE", "/v1/webhook-endpoints/" + x.id)();
        } }, t("settings.delete")));
      const detail = el("div", { id: "message-detail" });
      const open = async (m) => {
        try {
          const full = await S.api("GET", "/v1/webhook-messages/" + m.id);
          const attempts = full.attempts || [];
          S.fill(detail, el("div", { class: "card" }, el("h2", {}, m.type + " · " + m.id),
            el("pre", { class: "payload" }, JSON.stringify(full.data, null, 2)),
            table("attempts", ["member.when", "settings.webhook_url", "settings.status_code", "settings.latency", "settings.error"],
              attempts, (a, c) => ({ "member.when": when(a.started_at),
                "settings.webhook_url": (endpoints.items.find((x) => x.id === a.endpoint_id) || {}).url || "–",
                "settings.status_code": a.status_code === null || a.status_code === undefined ? "–" : String(a.status_code),
                "settings.latency": a.latency_ms === null || a.latency_ms === undefined ? "–" : a.latency_ms + " ms",
                "settings.error": a.error || "–" })[c]),
            el("div", { class: "filters" }, el("button", { id: "retry-message",
              onclick: act("POST", "/v1/webhook-messages/" + m.id + "/retry", {}) }, t("settings.resend")))));
          detail.scrollIntoView();
        } catch (e) { fail(e); }
      };
      S.fill(body, add,
        el("h2", { class: "section" }, t("settings.endpoints")),
        table("endpoints", ["settings.webhook_url", "settings.event_types", "settings.status", "settings.last_success", "settings.actions"],
          endpoints.items, (x, c) => ({
            "settings.webhook_url": x.url, "settings.event_types": (x.event_types || []).includes("*") ? t("settings.all_events")
              : (x.event_types || []).join(", "),
            "settings.status": x.enabled ? (x.failing_since ? t("settings.failing") : t("status.active")) : t("status.disabled"),
            "settings.last_success": when(x.last_success_at), "settings.actions": actions(x) })[c]),
        el("h2", { class: "section" }, t("settings.messages")),
        table("messages", ["member.when", "member.event", "settings.deliveries"], messages.items, (m, c) => ({
          "member.when": when(m.created_at), "member.event": m.type,
          "settings.deliveries": (m.endpoints || []).map((d) => t("dispatch." + d.status) + (d.last_status_code ? " " + d.last_status_code : "")).join(" · ") || "–",
        })[c], open), detail);
    },
    async users(body, admin) {
      const users = await S.api("GET", "/v1/users?limit=200");
      const roles = ["viewer", "operator", "admin", "owner"];
      const me = S.session.user.id;
      const invite = el("form", { class: "filters", id: "invite", onsubmit: async (ev) => {
        ev.preventDefault();
        const d = Object.fromEntries(new FormData(ev.target).entries());
        try {
          const r = await S.api("POST", "/v1/users", { email: d.email, role: d.role });
          // This page's own origin: the server may not know the address it is reached at.
          body.prepend(shown(t("settings.invite_link"), location.origin + "/#/accept?token=" + r.token));
        } catch (e) { body.prepend(el("div", { class: "state error" }, S.explain(e))); }
      } }, el("input", { name: "email", type: "email", required: true, placeholder: t("signin.email") }),
        el("select", { name: "role" }, ...roles.map((r) => el("option", { value: r, selected: r === "operator" }, t("role." + r)))),
        el("button", { class: "primary", type: "submit" }, t("settings.invite")));
      const change = async (u, patch) => {
        try { await S.api("PATCH", "/v1/users/" + u.id, patch); S.route(); }
        catch (e) { body.prepend(el("div", { class: "state error" }, S.explain(e))); }
      };
      const rows = users.items.map((u) => el("tr", { "data-user": u.email },
        el("td", {}, u.email), el("td", {}, u.display_name || "–"),
        el("td", {}, admin && u.id !== me
          ? el("select", { onchange: (ev) => change(u, { role: ev.target.value }) },
              ...roles.map((r) => el("option", { value: r, selected: r === u.role }, t("role." + r))))
          : t("role." + u.role)),
        el("td", {}, t("status." + u.status)), el("td", {}, when(u.last_sign_in_at)),
        el("td", {}, admin && u.id !== me
          ? el("button", { onclick: () => change(u, { disabled: u.status === "active" }) },
              t(u.status === "active" ? "settings.disable" : "settings.enable"))
          : "")));
      const invitations = await S.api("GET", "/v1/invitations");
      const pending = invitations.items.filter((i) => i.status === "pending");
      S.fill(body, invite, el("table", { class: "table", id: "users" },
        el("thead", {}, el("tr", {}, ...["signin.email", "accept.name", "settings.role", "settings.status",
          "settings.last_sign_in", "settings.actions"].map((k) => el("th", {}, t(k))))),
        el("tbody", {}, ...rows)),
        el("h2", { class: "section" }, t("settings.invitations")),
        table("invitations", ["signin.email", "settings.role", "settings.expires", "settings.actions"], pending, (i, c) => ({
          "signin.email": i.email || t("settings.any_email"), "settings.role": t("role." + i.role),
          "settings.expires": when(i.expires_at),
          "settings.actions": admin ? el("button", { onclick: async () => {
            try { await S.api("DELETE", "/v1/invitations/" + i.id); S.route(); }
            catch (e) { body.prepend(el("div", { class: "state error" }, S.explain(e))); }
          } }, t("settings.revoke")) : "",
        })[c]));
    },
    async keys(body) {
      const keys = await S.api("GET", "/v1/api-keys?limit=200");
      const create = el("form", { class: "filters", id: "new-key", onsubmit: async (ev) => {
        ev.preventDefault();
        const d = Object.fromEntries(new FormData(ev.target).entries());
        try {
          const r = await S.api("POST", "/v1/api-keys", { role: d.role, name: d.name });
          body.prepend(shown(t("settings.new_key"), r.key));
        } catch (e) { body.prepend(el("div", { class: "state error" }, S.explain(e))); }
      } }, el("input", { name: "name", placeholder: t("settings.key_name") }),
        el("select", { name: "role" }, ...["viewer", "operator", "admin", "owner"].map((r) =>
          el("option", { value: r }, t("role." + r)))),
        el("button", { class: "primary", type: "submit" }, t("settings.create_key")));
      S.fill(body, create, table("keys", ["settings.key_name", "settings.prefix", "settings.role",
        "settings.last_used", "settings.actions"], keys.items, (k, c) => ({
        "settings.key_name": k.name || "–", "settings.prefix": k.prefix + "…", "settings.role": t("role." + k.role),
        "settings.last_used": when(k.last_used_at),
        "settings.actions": k.revoked_at ? t("settings.revoked") : el("button", { onclick: async () => {
          try { await S.api("DELETE", "/v1/api-keys/" + k.id); S.route(); }
          catch (e) { body.prepend(el("div", { class: "state error" }, S.explain(e))); }
        } }, t("settings.revoke")),
      })[c]));
    },
    async connections(body) {
      const cs = await S.api("GET", "/v1/connections?limit=200");
      S.fill(body, table("connections", ["settings.conn_name", "groups.col.platform", "settings.status",
        "settings.last_request", "settings.webhook_url"], cs.items, (x, c) => ({
        "settings.conn_name": x.name, "groups.col.platform": t("platform." + x.platform), "settings.status": x.status,
        "settings.last_request": when(x.last_received_at),
        "settings.webhook_url": el("input", { readonly: true, value: x.webhook_url, class: "url" }),
      })[c]));
    },
    async audit(body) {
      const log = await S.api("GET", "/v1/audit-log?limit=100");
      S.fill(body, el("div", { class: "tools" }, el("span", {}),
        el("a", { href: "/v1/audit-log?format=csv", download: "audit-log.csv", class: "button", id: "csv-audit" }, t("action.csv"))),
        table("audit", ["member.when", "settings.actor", "settings.action", "settings.resource"],
        log.items, (x, c) => ({ "member.when": when(x.occurred_at), "settings.actor": t("actor." + x.actor_type),
          "settings.action": x.action, "settings.resource": x.resource_type })[c]));
    },
  };
})();
