// LearnPulse learner view: live recommendations, nudges and progress over the delivery API.
// Plain browser JavaScript, no build step. Text from the server is only ever set with
// textContent (never innerHTML), so titles and reasons cannot inject markup.
"use strict";

(function () {
  const TOKEN_KEY = "learnpulse.token";
  const SOURCE_LABELS = {
    continue: "Continue", path: "Your path", gap: "Skill gap", popular: "Popular",
    cluster: "People like you", fresh: "New", explore: "Something different",
  };
  const $ = (id) => document.getElementById(id);

  let token = null;
  let recoShownAt = 0; // generated_at_ms of the list on screen (ignore older ones)
  let current = null; // the reco value on screen
  const impressed = new Set(); // content ids already reported as seen in this page
  const nudgeIds = new Set();
  const clicked = new Set(); // what this learner already acted on, kept across re-renders
  const dismissed = new Set();
  const rated = new Map();
  let source = null;

  // ---- token -------------------------------------------------------------------------
  function takeToken() {
    const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
    const fromQuery = new URLSearchParams(location.search).get("token");
    const t = fromHash || fromQuery;
    if (t) {
      sessionStorage.setItem(TOKEN_KEY, t);
      history.replaceState(null, "", location.pathname); // keep it out of history and screenshots
      return t;
    }
    return sessionStorage.getItem(TOKEN_KEY);
  }

  function claims(t) {
    try {
      const b64 = t.split(".")[0].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4)));
    } catch (e) {
      return null;
    }
  }

  // ---- helpers -----------------------------------------------------------------------
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  function ago(ms) {
    const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    if (s < 5) return "just now";
    if (s < 60) return s + " s ago";
    if (s < 3600) return Math.round(s / 60) + " min ago";
    if (s < 86400) return Math.round(s / 3600) + " h ago";
    return Math.round(s / 86400) + " days ago";
  }

  function setStatus(state, text) {
    $("status").dataset.state = state;
    $("status-text").textContent = text;
  }

  function log(text, ok) {
    const li = el("li", ok === false ? "bad" : ok ? "good" : "", text);
    const time = el("time", "muted", new Date().toLocaleTimeString());
    li.prepend(time);
    $("log").prepend(li);
    while ($("log").children.length > 8) $("log").lastChild.remove();
  }

  async function api(path, options) {
    const opts = options || {};
    opts.headers = Object.assign({ Authorization: "Bearer " + token }, opts.headers || {});
    const res = await fetch(path, opts);
    if (res.status === 401) {
      signOut("Your sign-in has expired or is not valid. Open the link from your portal again.");
      throw new Error("unauthorized");
    }
    return res;
  }

  // ---- feedback ----------------------------------------------------------------------
  async function sendFeedback(items, label) {
    try {
      const res = await api("/v1/me/feedback", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(items),
      });
      if (res.status === 202) {
        if (label) log(label, true);
        return true;
      }
      const body = await res.json().catch(() => ({}));
      const why = body.error || (body.errors && body.errors.map((e) => e.path + " " + e.error).join("; "));
      log((label || "Feedback") + " not sent: " + (why || res.status), false);
    } catch (e) {
      if (e.message !== "unauthorized") log((label || "Feedback") + " not sent: offline", false);
    }
    return false;
  }

  function recoContext(item, index) {
    return {
      content_id: item.content_id,
      position: index,
      surface: "web",
      model_version: current ? current.model_version : undefined,
      reco_generated_at_ms: current ? current.generated_at_ms : undefined,
    };
  }

  // ---- recommendations ---------------------------------------------------------------
  function renderRecos(value) {
    if (!value || typeof value.generated_at_ms !== "number") return;
    if (value.generated_at_ms < recoShownAt) return; // an older list arrived late
    recoShownAt = value.generated_at_ms;
    current = value;
    const list = $("recos");
    const before = Array.from(list.children).map((li) => li.dataset.contentId).join("|");
    list.replaceChildren();
    const items = value.items || [];
    $("recos-empty").hidden = items.length > 0;
    $("reco-meta").textContent = items.length
      ? "updated " + ago(value.generated_at_ms) + " · model " + value.model_version
      : "";
    $("reco-meta").dataset.generated = String(value.generated_at_ms);
    const fresh = [];
    items.forEach((item, i) => {
      list.append(recoCard(item, i));
      if (!impressed.has(item.content_id)) {
        impressed.add(item.content_id);
        fresh.push(Object.assign({ type: "impression" }, recoContext(item, i)));
      }
    });
    if (items.map((it) => it.content_id).join("|") !== before) {
      list.classList.remove("flash");
      void list.offsetWidth; // restart the highlight animation
      list.classList.add("flash");
    }
    if (fresh.length) sendFeedback(fresh.slice(0, 100), null);
  }

  function recoCard(item, index) {
    const li = el("li", "reco");
    li.dataset.contentId = item.content_id;
    li.classList.toggle("clicked", clicked.has(item.content_id));
    li.classList.toggle("dismissed", dismissed.has(item.content_id));
    const head = el("div", "reco-head");
    head.append(el("span", "pill pill-" + (item.source || "other"), SOURCE_LABELS[item.source] || item.source || "Suggested"));
    head.append(el("h3", "reco-title", item.title || item.content_id));
    li.append(head);
    const reasons = el("ul", "reasons");
    (item.reasons || []).forEach((r) => reasons.append(el("li", null, r)));
    li.append(reasons);

    const actions = el("div", "actions");
    const open = el("button", "btn primary fb-click", "Open");
    open.type = "button";
    open.addEventListener("click", async () => {
      open.disabled = true;
      const ok = await sendFeedback([Object.assign({ type: "click" }, recoContext(item, index))],
        "Opened “" + (item.title || item.content_id) + "”");
      if (ok) {
        clicked.add(item.content_id);
        li.classList.add("clicked");
      }
      open.disabled = false;
    });
    const dismiss = el("button", "btn ghost fb-dismiss", "Not for me");
    dismiss.type = "button";
    dismiss.addEventListener("click", async () => {
      dismiss.disabled = true;
      const ok = await sendFeedback([Object.assign({ type: "dismiss" }, recoContext(item, index))],
        "Dismissed “" + (item.title || item.content_id) + "”");
      if (ok) {
        dismissed.add(item.content_id);
        li.classList.add("dismissed");
      } else dismiss.disabled = false;
    });
    const stars = el("div", "stars");
    stars.setAttribute("role", "group");
    stars.setAttribute("aria-label", "Rate this suggestion");
    for (let n = 1; n <= 5; n++) {
      const s = el("button", "star fb-rate", "★");
      s.type = "button";
      s.dataset.stars = String(n);
      s.setAttribute("aria-label", n + " of 5");
      s.classList.toggle("on", n <= (rated.get(item.content_id) || 0));
      s.addEventListener("click", async () => {
        const ok = await sendFeedback(
          [Object.assign({ type: "rating", rating: (n - 1) / 4 }, recoContext(item, index))],
          "Rated “" + (item.title || item.content_id) + "” " + n + "/5");
        if (ok) {
          rated.set(item.content_id, n);
          stars.querySelectorAll(".star").forEach((b, i) => b.classList.toggle("on", i < n));
        }
      });
      stars.append(s);
    }
    actions.append(open, dismiss, stars);
    li.append(actions);
    return li;
  }

  // ---- state -------------------------------------------------------------------------
  let stateTimer = null;
  function refreshStateSoon() {
    clearTimeout(stateTimer);
    stateTimer = setTimeout(loadState, 150);
  }

  function bar(label, fraction) {
    const pct = Math.round(Math.max(0, Math.min(1, fraction)) * 100);
    const li = el("li");
    const head = el("div", "bar-label");
    head.append(el("span", null, label), el("span", "muted", pct + "%"));
    const track = el("div", "bar");
    const fill = el("div", "fill");
    fill.style.width = pct + "%";
    track.append(fill);
    li.append(head, track);
    return li;
  }

  async function loadState() {
    const res = await api("/v1/me/state").catch(() => null);
    if (!res || res.status !== 200) return;
    const s = await res.json();
    $("streak").textContent = String(s.streak_days ?? 0);
    $("completed").textContent = String(s.completed ?? 0);
    const prog = Object.entries(s.in_progress || {}).sort((a, b) => b[1] - a[1]);
    $("inprogress-count").textContent = String(prog.length);
    const titles = {};
    ((current && current.items) || []).forEach((it) => (titles[it.content_id] = it.title));
    const ul = $("inprogress");
    ul.replaceChildren();
    prog.slice(0, 5).forEach(([cid, p]) => ul.append(bar(titles[cid] || cid, p)));
    const skills = Object.entries(s.skills || {}).sort((a, b) => b[1] - a[1]).slice(0, 5);
    $("skills-block").hidden = skills.length === 0;
    $("skills").replaceChildren(...skills.map(([skill, m]) => bar(skill.replace(/_/g, " "), m)));
    $("last-active").textContent = s.last_active_ms ? "Last active " + ago(s.last_active_ms) : "";
  }

  // ---- nudges ------------------------------------------------------------------------
  function addNudge(n, atTop) {
    const id = n.nudge_id || n.stream_id;
    if (!id || nudgeIds.has(id)) return;
    nudgeIds.add(id);
    const li = el("li", "nudge" + (atTop ? " new" : ""));
    li.dataset.nudgeId = id;
    li.append(el("p", "nudge-msg", n.message || n.template || "A nudge for you"));
    const meta = el("p", "muted small", [n.reason, n.created_at_ms ? ago(n.created_at_ms) : null]
      .filter(Boolean).join(" · "));
    li.append(meta);
    const actions = el("div", "actions");
    const open = el("button", "btn small primary fb-nudge-open", "Open");
    open.type = "button";
    open.addEventListener("click", async () => {
      const item = { type: "nudge_opened", nudge_id: id, surface: "web" };
      if (n.content_id) item.content_id = n.content_id;
      if (await sendFeedback([item], "Opened a nudge")) li.classList.add("done");
    });
    const dismiss = el("button", "btn small ghost fb-nudge-dismiss", "Dismiss");
    dismiss.type = "button";
    dismiss.addEventListener("click", async () => {
      if (await sendFeedback([{ type: "nudge_dismissed", nudge_id: id, surface: "web" }], "Dismissed a nudge")) {
        li.remove();
        updateNudgeCount();
      }
    });
    actions.append(open, dismiss);
    li.append(actions);
    if (atTop) $("nudges").prepend(li);
    else $("nudges").append(li);
    updateNudgeCount();
  }

  function updateNudgeCount() {
    const n = $("nudges").children.length;
    $("nudges-empty").hidden = n > 0;
    $("nudge-count").hidden = n === 0;
    $("nudge-count").textContent = String(n);
  }

  async function loadNudges() {
    const res = await api("/v1/me/nudges?count=10").catch(() => null);
    if (!res || res.status !== 200) return;
    const body = await res.json();
    (body.nudges || []).forEach((n) => addNudge(n, false));
  }

  // ---- live stream -------------------------------------------------------------------
  function connect() {
    if (source) source.close();
    setStatus("connecting", "Connecting…");
    source = new EventSource("/v1/me/events?token=" + encodeURIComponent(token));
    source.addEventListener("open", () => {
      setStatus("live", "Live");
      loadNudges();
      loadState();
    });
    source.addEventListener("reco", (ev) => {
      renderRecos(JSON.parse(ev.data));
      refreshStateSoon();
    });
    source.addEventListener("nudge", (ev) => {
      addNudge(JSON.parse(ev.data), true);
      log("New nudge", true);
    });
    source.addEventListener("heartbeat", () => setStatus("live", "Live"));
    source.addEventListener("expired", () => {
      source.close();
      signOut("Your sign-in has expired. Open the link from your portal again.");
    });
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED) {
        setStatus("offline", "Offline");
        // The server refused the stream (e.g. token no longer valid): check why, retry later.
        api("/v1/me/state").then(() => setTimeout(connect, 5000)).catch(() => {});
      } else {
        setStatus("connecting", "Reconnecting…");
      }
    });
  }

  // ---- sign-in -----------------------------------------------------------------------
  function signOut(message) {
    if (source) source.close();
    sessionStorage.removeItem(TOKEN_KEY);
    token = null;
    $("view").hidden = true;
    $("signin").hidden = false;
    setStatus("offline", "Signed out");
    $("signin-error").hidden = !message;
    $("signin-error").textContent = message || "";
  }

  function start(t) {
    token = t;
    const c = claims(t);
    $("who").textContent = c && c.sub ? "Signed in as " + c.sub : "";
    $("signin").hidden = true;
    $("view").hidden = false;
    connect();
  }

  $("signin-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const t = $("signin-token").value.trim();
    if (t) {
      sessionStorage.setItem(TOKEN_KEY, t);
      start(t);
    }
  });

  setInterval(() => {
    if (current) $("reco-meta").textContent = "updated " + ago(current.generated_at_ms) + " · model " + current.model_version;
  }, 10000);

  const t = takeToken();
  if (t) start(t);
  else signOut(null);
})();
