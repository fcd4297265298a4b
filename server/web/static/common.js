// What the chat page (chat.js) and its blind test (blind.js) share, so the two pages cannot drift apart: the
// language (the browser's, zh-* → Chinese, else English, until the page's switch picks one, remembered in
// localStorage) and its text tables, where the key is kept (this tab, or the device when "Keep on this device" is
// ticked) and the prompt that asks for it, the HTTP helper, and the small DOM helpers.
// A plain script each page loads before its own: its top-level names are the pages' globals. A page hands over
// what only it knows through setUpPage (how to load itself and how to redraw in another language).
"use strict";

const STORE = "wechat-twin:";
const LANGUAGES = ["zh", "en"];
const $ = (id) => document.getElementById(id);
const i18n = { language: "en", texts: {}, dates: null };
// The page's own part (setUpPage): `load` asks the API for what it shows (again once a key is entered), `redraw`
// draws it again in a new language. `keyReason`: the text key of the open key prompt's reason, null when closed.
const page = { load: () => {}, redraw: () => {}, keyReason: null };

class AuthError extends Error {}
// An error whose message is already in the page's language; any other (the browser's own) is wrapped.
class PageError extends Error {}

// ---- language ------------------------------------------------------------------------------------
function browserLanguage() {
  return (navigator.language || "").toLowerCase().startsWith("zh") ? "zh" : "en";
}

function chosenLanguage() {
  const saved = localStorage.getItem(STORE + "language");
  return LANGUAGES.includes(saved) ? saved : browserLanguage();
}

// The text for `key` in the page's language, with {name} filled from `values`.
const t = (key, values = {}) => i18n.texts[key].replace(/\{(\w+)\}/g, (_, name) => values[name] ?? "");

// The browser's own tag when it is of the page's language (en-GB keeps its dates), else the language itself.
function locale() {
  const own = navigator.language || "";
  return own.toLowerCase().split("-")[0] === i18n.language ? own : i18n.language === "zh" ? "zh-CN" : "en";
}

async function useLanguage(language) {
  const response = await fetch(`/chat/static/texts.${language}.json`);
  i18n.texts = await response.json();
  i18n.language = language;
  i18n.dates = new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeStyle: "short" });
  document.documentElement.lang = language === "zh" ? "zh-CN" : "en";
  for (const node of document.querySelectorAll("[data-t]")) node.textContent = t(node.dataset.t);
  for (const attribute of ["title", "placeholder", "aria-label"]) {
    for (const node of document.querySelectorAll(`[data-t-${attribute}]`)) {
      node.setAttribute(attribute, t(node.getAttribute(`data-t-${attribute}`)));
    }
  }
  if (page.keyReason) $("key-reason").textContent = t(page.keyReason);
}

async function switchLanguage() {
  const next = i18n.language === "zh" ? "en" : "zh";
  localStorage.setItem(STORE + "language", next);
  await useLanguage(next);
  page.redraw();
}

// ---- storage -------------------------------------------------------------------------------------
// The key and the conversations are private; the language, the clone picked and the sampling typed are not.
const KEEP = STORE + "keep";
const isPrivate = (name) => name === "key" || name.startsWith("chat:");
const keeps = () => localStorage.getItem(KEEP) === "1";
const storeOf = (name) => (isPrivate(name) && !keeps() ? sessionStorage : localStorage);
const apiKey = () => storeOf("key").getItem(STORE + "key");
const forgetKey = () => [sessionStorage, localStorage].forEach((store) => store.removeItem(STORE + "key"));

// ---- the key prompt ------------------------------------------------------------------------------
function askForKey(reason) {
  page.keyReason = reason;
  $("key-reason").textContent = t(reason);
  $("key-prompt").hidden = false;
  $("key").value = "";
  $("key").focus();
}

function useKey(event) {
  event.preventDefault();
  storeOf("key").setItem(STORE + "key", $("key").value.trim());
  $("key-prompt").hidden = true;
  page.keyReason = null;
  $("key-reason").textContent = "";
  page.load();
}

// ---- HTTP ----------------------------------------------------------------------------------------
async function call(path, options = {}) {
  const headers = { "Content-Type": "application/json", ...(options.headers || {}) };
  const key = apiKey();
  if (key) headers.Authorization = "Bearer " + key;
  let response;
  try {
    response = await fetch(path, { ...options, headers });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new PageError(t("offline"));
  }
  if (response.status === 401) {
    // Ask once, and only about the key in use: a late refusal of an older key must not wipe a newer one.
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
  return response;
}
const getJSON = async (path) => (await call(path)).json();
const postJSON = async (path, body, signal) =>
  (await call(path, { method: "POST", body: JSON.stringify(body), signal })).json();

function setStatus(text) {
  $("status").textContent = text;
}

function showError(error) {
  if (error instanceof AuthError) return;
  setStatus(error instanceof PageError ? error.message : t("error", { message: error.message }));
}

// ---- rendering -----------------------------------------------------------------------------------
function el(tag, props = {}, children = []) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}
// A reply that is a burst (lines joined by \n) shows as separate bubbles, as WeChat shows them.
const bubbles = (text) =>
  text.split("\n").filter((line) => line.trim()).map((line) => el("div", { className: "bubble", textContent: line }));
const button = (label, onclick, props = {}) => el("button", { type: "button", textContent: label, onclick, ...props });

// ---- start-up ------------------------------------------------------------------------------------
// Shows the page in its language and wires the key prompt and the language switch to the page's `load` and
// `redraw`; the page then adds its own controls and calls its `load`.
async function setUpPage({ load, redraw }) {
  Object.assign(page, { load, redraw });
  await useLanguage(chosenLanguage());
  $("key-form").addEventListener("submit", useKey);
  $("language").addEventListener("click", switchLanguage);
}
