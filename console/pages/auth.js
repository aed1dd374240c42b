// Signing in, accepting an invitation, resetting a password.
"use strict";
(function () {
  const S = window.Shequn;
  const { el, t, fmt, today, addDays, daysBetween, stamp, bucket, when, table, input, choose, numberOrNull, deliveryCell } = S;

  // ---- signing in, invitations, password resets ----------------------
  function authForm(title, fields, button, submit, note) {
    const msg = el("div", { class: "msg", role: "alert" });
    const form = el("form", {
      onsubmit: async (ev) => {
        ev.preventDefault();
        msg.textContent = "";
        const data = Object.fromEntries(new FormData(form).entries());
        try {
          await submit(data, msg);
        } catch (e) {
          msg.textContent = S.explain(e);
        }
      },
    }, ...fields, el("button", { class: "primary", type: "submit" }, button));
    return el("div", { class: "auth" }, el("h1", {}, title), note ? el("p", {}, note) : null, form, msg,
      el("div", { class: "lang" }, el("a", { href: location.hash, onclick: (ev) => {
        ev.preventDefault(); S.setLang(S.lang === "en" ? "zh-CN" : "en");
      } }, t("lang.switch"))));
  }

  function field(name, label, type, attrs) {
    return [el("label", { for: name }, label), el("input", Object.assign({ id: name, name, type }, attrs || {}))];
  }

  async function opened(view) {
    S.session = view;
    S.workspace = await S.api("GET", "/v1/workspace");
    S.go("overview");
  }

  S.pages.signin = {
    public: true,
    render(params) {
      const note = params.get("reason") === "expired" ? t("signin.expired") : null;
      return authForm(t("signin.title"), [
        field("email", t("signin.email"), "email", { autocomplete: "username", required: true }),
        field("password", t("signin.password"), "password", { autocomplete: "current-password", required: true }),
      ], t("action.signin"), async (d) => opened(await S.api("POST", "/v1/sessions", d)), note);
    },
  };

  S.pages.accept = {
    public: true,
    render(params) {
      return authForm(t("accept.title"), [
        field("email", t("signin.email"), "email", { autocomplete: "username" }),
        field("display_name", t("accept.name"), "text", {}),
        field("password", t("signin.password"), "password", { autocomplete: "new-password", required: true }),
      ], t("action.accept"), async (d) => {
        const body = { token: params.get("token") || "", password: d.password };
        if (d.email) body.email = d.email;
        if (d.display_name) body.display_name = d.display_name;
        opened(await S.api("POST", "/v1/invitations/accept", body));
      }, t("accept.hint"));
    },
  };

  S.pages.reset = {
    public: true,
    render(params) {
      return authForm(t("reset.title"), [
        field("password", t("signin.password"), "password", { autocomplete: "new-password", required: true }),
      ], t("action.reset"), async (d, msg) => {
        await S.api("POST", "/v1/password-resets/accept", { token: params.get("token") || "", password: d.password });
        S.go("signin");
      });
    },
  };
})();
