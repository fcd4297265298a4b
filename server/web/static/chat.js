// The chat page: talks to this server's OpenAI-compatible API and the feedback API under /chat/api.
// The conversation lives in this browser (localStorage, one per clone); the key in this tab only.
"use strict";

const STORE = "wechat-twin:";
const $ = (id) => document.getElementById(id);
const state = { models: [], model: null, session: null, controller: null, busy: false };

class AuthError extends Error {}

// ---- storage -------------------------------------------------------------------------------------
function readJSON(key, fallback) {
  try {
    return JSON.parse(localStorage.getItem(STORE + key)) ?? fallback;
  } catch {
    return fallback;
  }
}
const writeJSON = (key, value) => localStorage.setItem(STORE + key, JSON.stringify(value));
const apiKey = () => sessionStorage.getItem(STORE + "key");
const newId = () => Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, "0")).join("");

function conversation() {
  const saved = readJSON("chat:" + state.model, null);
  return saved && Array.isArray(saved.messages) ? saved : { id: newId(), messages: [] };
}
const saveConversation = (chat) => writeJSON("chat:" + state.model, chat);

function sampling() {
  const temperature = Number($("temperature").value);
  const maxTokens = Number($("max-tokens").value);
  writeJSON("sampling", { temperature, maxTokens });
  return { temperature, max_tokens: maxTokens };
}

// ---- HTTP ----------------------------------------------------------------------------------------
async function call(path, options = {}) {
  const headers = { "Content-Type": "application/json", ...(options.headers || {}) };
  const key = apiKey();
  if (key) headers.Authorization = "Bearer " + key;
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401) {
    // Ask once, and only about the key in use: a late refusal of an older key must not wipe a newer one.
    if (apiKey() === key && $("key-prompt").hidden) {
      sessionStorage.removeItem(STORE + "key");
      askForKey(key ? "The server refused that key. Try again." : "This server needs a key.");
    }
    throw new AuthError("a key is needed");
  }
  if (!response.ok) {
    let message = response.status + " " + response.statusText;
    try {
      message = (await response.json()).error.message || message;
    } catch {
      // not the OpenAI error shape: keep the status line
    }
    throw new Error(message);
  }
  return response;
}
const postJSON = async (path, body, signal) =>
  (await call(path, { method: "POST", body: JSON.stringify(body), signal })).json();

// Read an SSE body of chat completion chunks, calling onText with each piece of the reply.
async function readStream(response, onText) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      for (const line of event.split("\n")) {
        if (!line.startsWith("data: ")) continue;
        const data = line.slice(6);
        if (data === "[DONE]") return;
        const chunk = JSON.parse(data);
        if (chunk.error) throw new Error(chunk.error.message);
        const text = chunk.choices?.[0]?.delta?.content;
        if (text) onText(text);
      }
    }
  }
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

function setStatus(text) {
  $("status").textContent = text;
}

function setBusy(busy) {
  state.busy = busy;
  $("send").hidden = busy;
  $("stop").hidden = !busy;
  $("clone").disabled = busy;
  $("new-chat").disabled = busy;
}

function render() {
  const chat = conversation();
  const log = $("log");
  log.replaceChildren();
  const lastUser = chat.messages.map((m) => m.role).lastIndexOf("user");
  chat.messages.forEach((message, index) => {
    const turn = el("section", { className: "turn " + message.role });
    turn.dataset.index = index;
    const last = index === chat.messages.length - 1;
    if (message.role === "user") {
      turn.append(el("div", { className: "bubble", textContent: message.content }));
      if (index === lastUser && !state.busy) turn.append(el("div", { className: "actions" }, [button("Edit", editLast)]));
    } else {
      turn.append(...bubbles(message.content));
      if (message.stopped) turn.append(el("p", { className: "note", textContent: "stopped" }));
      if (last && !state.busy) turn.append(replyActions(chat, message));
    }
    log.append(turn);
  });
  if (state.pair && state.pair.model === state.model) log.append(pairView(state.pair));
  window.scrollTo(0, document.body.scrollHeight);
}

function replyActions(chat, message) {
  const actions = el("div", { className: "actions" }, [button("Regenerate", regenerate, { className: "regenerate" })]);
  if (state.session?.feedback) {
    for (const [label, good] of [["👍", true], ["👎", false]]) {
      const pressed = message.label === good;
      actions.append(
        button(label, () => sendLabel(chat, message, good), {
          className: pressed ? "pressed" : "",
          disabled: message.label !== undefined,
          title: good ? "Good reply" : "Bad reply",
          ariaLabel: good ? "Good reply" : "Bad reply",
        }),
      );
    }
    actions.append(button("Show two", showTwo, { className: "show-two" }));
  }
  return actions;
}

function pairView(pair) {
  const candidates = pair.candidates.map((text, index) =>
    el("div", { className: "candidate" }, [
      ...bubbles(text),
      button("Pick this", () => pick(index), { className: "pick" }),
    ]),
  );
  return el("section", { className: "turn assistant" }, [
    el("p", { className: "note", textContent: "Which reply sounds more like them?" }),
    el("div", { className: "pair" }, candidates),
  ]);
}

function showWho() {
  const card = state.models.find((m) => m.id === state.model);
  if (!card) return;
  $("who").textContent = card.parent
    ? `${card.owner_name || card.id}'s clone, trained on ${card.base_model || card.parent}`
    : `${card.id}, the base model (no clone)`;
}

// ---- actions -------------------------------------------------------------------------------------
const contextOf = (chat) => chat.messages.map(({ role, content }) => ({ role, content }));

async function generate() {
  state.pair = null;
  const chat = conversation();
  const reply = { role: "assistant", content: "" };
  const messages = contextOf(chat);
  chat.messages.push(reply);
  saveConversation(chat);
  state.controller = new AbortController();
  setBusy(true);
  setStatus("");
  render();
  const turn = $("log").lastElementChild;
  turn.append(el("div", { className: "bubble typing", textContent: "…" }));
  try {
    const response = await call("/v1/chat/completions", {
      method: "POST",
      signal: state.controller.signal,
      body: JSON.stringify({ model: state.model, messages, stream: true, ...sampling() }),
    });
    await readStream(response, (text) => {
      reply.content += text;
      turn.replaceChildren(...bubbles(reply.content));
    });
  } catch (error) {
    if (error.name === "AbortError") reply.stopped = true;
    else if (!(error instanceof AuthError)) setStatus(error.message);
  } finally {
    state.controller = null;
    if (!reply.content && !reply.stopped) chat.messages.pop();
    saveConversation(chat);
    setBusy(false);
    render();
  }
}

function send(event) {
  event.preventDefault();
  const text = $("input").value.trim();
  if (!text || state.busy || !state.model) return;
  const chat = conversation();
  chat.messages.push({ role: "user", content: text });
  saveConversation(chat);
  $("input").value = "";
  generate();
}

function dropLastReply(chat) {
  if (chat.messages.at(-1)?.role === "assistant") chat.messages.pop();
}

function regenerate() {
  const chat = conversation();
  dropLastReply(chat);
  saveConversation(chat);
  generate();
}

function editLast() {
  const chat = conversation();
  dropLastReply(chat);
  const last = chat.messages.pop();
  saveConversation(chat);
  state.pair = null;
  render();
  $("input").value = last.content;
  $("input").focus();
}

function newChat() {
  saveConversation({ id: newId(), messages: [] });
  state.pair = null;
  setStatus("");
  render();
}

function exportChat() {
  const card = state.models.find((m) => m.id === state.model);
  const payload = { model: state.model, owner_name: card?.owner_name ?? null, exported_at: new Date().toISOString(),
    ...conversation() };
  const blob = new Blob([JSON.stringify(payload, null, 2)], { type: "application/json" });
  const link = el("a", { href: URL.createObjectURL(blob), download: `wechat-twin-${state.model}.json` });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

async function sendLabel(chat, message, good) {
  const index = chat.messages.indexOf(message);
  try {
    await postJSON("/chat/api/labels", {
      model: state.model,
      conversation: chat.id,
      messages: contextOf({ messages: chat.messages.slice(0, index) }),
      reply: message.content,
      good,
    });
    message.label = good;
    saveConversation(chat);
    render();
  } catch (error) {
    if (!(error instanceof AuthError)) setStatus(error.message);
  }
}

async function showTwo() {
  const chat = conversation();
  dropLastReply(chat);
  setBusy(true);
  setStatus("Writing two replies…");
  try {
    const { temperature, max_tokens } = sampling();
    const pair = await postJSON("/chat/api/pairs", {
      model: state.model,
      conversation: chat.id,
      messages: contextOf(chat),
      temperature: temperature > 0 ? temperature : 0.8,
      max_tokens,
    });
    state.pair = { ...pair, model: state.model };
    setStatus("");
  } catch (error) {
    if (!(error instanceof AuthError)) setStatus(error.message);
  } finally {
    setBusy(false);
    render();
  }
}

async function pick(index) {
  const pair = state.pair;
  try {
    await postJSON(`/chat/api/pairs/${pair.exchange_id}/choice`, { chosen: index });
    const chat = conversation();
    dropLastReply(chat);
    chat.messages.push({ role: "assistant", content: pair.candidates[index], chosen: pair.exchange_id });
    saveConversation(chat);
    state.pair = null;
    render();
  } catch (error) {
    if (!(error instanceof AuthError)) setStatus(error.message);
  }
}

function stop() {
  if (state.controller) state.controller.abort();
}

// ---- start-up and the key ------------------------------------------------------------------------
function askForKey(reason) {
  $("key-reason").textContent = reason;
  $("key-prompt").hidden = false;
  $("key").value = "";
  $("key").focus();
}

function useKey(event) {
  event.preventDefault();
  sessionStorage.setItem(STORE + "key", $("key").value.trim());
  $("key-prompt").hidden = true;
  load();
}

function pickModel(id) {
  state.model = id;
  state.pair = null;
  localStorage.setItem(STORE + "model", id);
  showWho();
  render();
}

async function load() {
  try {
    const [models, session] = await Promise.all([
      call("/v1/models").then((r) => r.json()),
      call("/chat/api/session").then((r) => r.json()),
    ]);
    state.session = session;
    const ids = new Set(models.data.map((m) => m.id));
    // Aliases (a name for another served model) are for old clients: list the base and the clones only.
    state.models = models.data
      .filter((m) => m.root === m.id || !ids.has(m.root))
      .sort((a, b) => Boolean(b.parent) - Boolean(a.parent));
    const select = $("clone");
    select.replaceChildren(
      ...state.models.map((m) =>
        el("option", {
          value: m.id,
          textContent: m.parent ? `${m.owner_name || m.id} (${m.id})` : `${m.id} (base model)`,
        }),
      ),
    );
    const saved = localStorage.getItem(STORE + "model");
    select.value = ids.has(saved) ? saved : state.models[0]?.id;
    pickModel(select.value);
    setStatus("");
  } catch (error) {
    if (!(error instanceof AuthError)) setStatus(error.message);
  }
}

function start() {
  const saved = readJSON("sampling", null);
  if (saved) {
    $("temperature").value = saved.temperature;
    $("max-tokens").value = saved.maxTokens;
  }
  $("composer").addEventListener("submit", send);
  $("input").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) send(event);
  });
  $("stop").addEventListener("click", stop);
  $("new-chat").addEventListener("click", newChat);
  $("export").addEventListener("click", exportChat);
  $("clone").addEventListener("change", (event) => pickModel(event.target.value));
  $("key-form").addEventListener("submit", useKey);
  load();
}

start();
