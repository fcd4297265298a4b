// The blind test (/chat/blind): a held-out moment of a real conversation, the owner's real reply and the clone's
// side by side in an order only the server knows; the judge picks the one the owner wrote, and the server answers
// which it was. It shares the chat page's key (this tab, or the device when "Keep on this device" is ticked), its
// language choice and its text tables; the server decides which moments this key may see (docs/chat-page.md).
"use strict";

const STORE = "wechat-twin:";
const LANGUAGES = ["zh", "en"];
const $ = (id) => document.getElementById(id);
const state = { clones: [], model: null, trial: null, result: null, judged: 0, fooled: 0, keyReason: null };
const i18n = { language: "en", texts: {} };

class AuthError extends Error {}
class PageError extends Error {}

// ---- language (as the chat page: the browser's, until the page's switch picks one) ----------------
function chosenLanguage() {
  const saved = localStorage.getItem(STORE + "language");
  if (LANGUAGES.includes(saved)) return saved;
  return (navigator.language || "").toLowerCase().startsWith("zh") ? "zh" : "en";
}

const t = (key, values = {}) => i18n.texts[key].replace(/\{(\w+)\}/g, (_, name) => values[name] ?? "");

async function useLanguage(language) {
  i18n.texts = await (await fetch(`/chat/static/texts.${language}.json`)).json();
  i18n.language = language;
  document.documentElement.lang = language === "zh" ? "zh-CN" : "en";
  for (const node of document.querySelectorAll("[data-t]")) node.textContent = t(node.dataset.t);
  for (const attribute of ["title", "placeholder", "aria-label"]) {
    for (const node of document.querySelectorAll(`[data-t-${attribute}]`)) {
      node.setAttribute(attribute, t(node.getAttribute(`data-t-${attribute}`)));
    }
  }
  if (state.keyReason) $("key-reason").textContent = t(state.keyReason);
}

async function switchLanguage() {
  const next = i18n.language === "zh" ? "en" : "zh";
  localStorage.setItem(STORE + "language", next);
  await useLanguage(next);
  fillPicker();
  render();
}

// ---- the key: where the chat page keeps it --------------------------------------------------------
const keyStore = () => (localStorage.getItem(STORE + "keep") === "1" ? localStorage : sessionStorage);
const apiKey = () => keyStore().getItem(STORE + "key");
const forgetKey = () => [sessionStorage, localStorage].forEach((store) => store.removeItem(STORE + "key"));

function askForKey(reason) {
  state.keyReason = reason;
  $("key-reason").textContent = t(reason);
  $("key-prompt").hidden = false;
  $("key").value = "";
  $("key").focus();
}

function useKey(event) {
  event.preventDefault();
  keyStore().setItem(STORE + "key", $("key").value.trim());
  $("key-prompt").hidden = true;
  state.keyReason = null;
  load();
}

// ---- HTTP ----------------------------------------------------------------------------------------
async function call(path, options = {}) {
  const headers = { "Content-Type": "application/json" };
  const key = apiKey();
  if (key) headers.Authorization = "Bearer " + key;
  let response;
  try {
    response = await fetch(path, { ...options, headers });
  } catch {
    throw new PageError(t("offline"));
  }
  if (response.status === 401) {
    if (apiKey() === key && $("key-prompt").hidden) {
      forgetKey();
      askForKey(key ? "key_refused" : "key_needed");
    }
    throw new AuthError("a key is needed");
  }
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      message = (await response.json()).error.message || message;
    } catch {
      // not the OpenAI error shape: keep the status line
    }
    throw new PageError(t("error", { message }));
  }
  return response.json();
}
const postJSON = (path, body) => call(path, { method: "POST", body: JSON.stringify(body) });

function showError(error) {
  if (error instanceof AuthError) return;
  $("status").textContent = error instanceof PageError ? error.message : t("error", { message: error.message });
}

// ---- rendering -----------------------------------------------------------------------------------
function el(tag, props = {}, children = []) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}
const bubbles = (text) =>
  text.split("\n").filter((line) => line.trim()).map((line) => el("div", { className: "bubble", textContent: line }));
const button = (key, onclick, props = {}) => el("button", { type: "button", textContent: t(key), onclick, ...props });

function ownerName() {
  const card = state.clones.find((m) => m.id === state.model);
  return card?.owner_name || state.model || "";
}

function render() {
  $("score").textContent = state.judged ? t("blind_score", { judged: state.judged, fooled: state.fooled }) : "";
  const log = $("log");
  log.replaceChildren();
  const trial = state.trial;
  if (!trial) return;
  for (const turn of trial.messages) {
    // The friend's messages are on the right, as a friend sees their own on the chat page; the owner's on the left.
    const node = el("section", { className: "turn " + turn.role });
    node.append(...bubbles(turn.content));
    log.append(node);
  }
  const owner = ownerName();
  const result = state.result;
  const candidates = trial.candidates.map((text, side) => {
    const box = el("div", { className: "candidate" }, bubbles(text));
    if (!result) box.append(button("blind_pick", () => pick(side), { className: "pick" }));
    else {
      if (side === result.owner_side) box.classList.add("owner");
      const label = side === result.owner_side ? t("blind_owner_label", { owner }) : t("blind_clone_label");
      box.append(el("p", { className: "note", textContent: label }));
    }
    return box;
  });
  const section = el("section", { className: "turn assistant" }, [
    el("p", { className: "note", textContent: t("blind_question", { owner }) }),
    el("div", { className: "pair" }, candidates),
  ]);
  if (result) {
    const side = t(result.owner_side === 0 ? "blind_side_left" : "blind_side_right");
    const text = t(result.fooled ? "blind_fooled" : "blind_found", { owner, side });
    section.append(el("p", { className: "verdict " + (result.fooled ? "fooled" : "right"), textContent: text }));
    section.append(el("div", { className: "actions" }, [button("blind_next", next, { id: "next" })]));
  }
  log.append(section);
}

function fillPicker() {
  const select = $("clone");
  const chosen = state.model;
  select.replaceChildren(
    ...state.clones.map((m) => el("option", { value: m.id, textContent: t("option_clone", { owner: m.owner_name || m.id, model: m.id }) })),
  );
  if (chosen) select.value = chosen;
}

// ---- actions -------------------------------------------------------------------------------------
async function next() {
  state.trial = null;
  state.result = null;
  render();
  $("status").textContent = t("blind_writing");
  try {
    state.trial = await postJSON("/chat/api/blind/trials", { model: state.model });
    $("status").textContent = "";
  } catch (error) {
    showError(error);
  }
  render();
}

async function pick(side) {
  try {
    state.result = await postJSON(`/chat/api/blind/trials/${state.trial.trial_id}/pick`, { picked: side });
    state.judged += 1;
    if (state.result.fooled) state.fooled += 1;
    render();
  } catch (error) {
    showError(error);
  }
}

function pickClone(id) {
  state.model = id;
  localStorage.setItem(STORE + "model", id);
  next();
}

async function load() {
  try {
    const [models, session] = await Promise.all([call("/v1/models"), call("/chat/api/session")]);
    if (!session.blind) {
      $("status").textContent = t("blind_not_allowed");
      return;
    }
    const ids = new Set(models.data.map((m) => m.id));
    // Clones only (the base model has no owner to judge), without the aliases old clients use.
    state.clones = models.data.filter((m) => m.parent && (m.root === m.id || !ids.has(m.root)));
    fillPicker();
    const saved = localStorage.getItem(STORE + "model");
    const first = state.clones.some((m) => m.id === saved) ? saved : state.clones[0]?.id;
    if (first) {
      $("clone").value = first;
      pickClone(first);
    }
  } catch (error) {
    showError(error);
  }
}

async function start() {
  await useLanguage(chosenLanguage());
  $("key-form").addEventListener("submit", useKey);
  $("language").addEventListener("click", switchLanguage);
  $("clone").addEventListener("change", (event) => pickClone(event.target.value));
  load();
}

start();
