// The chat page: talks to this server's OpenAI-compatible API and the feedback API under /chat/api.
// The key and the conversations (one per clone) live in this tab only (sessionStorage), unless the owner of the
// device ticks "Keep on this device" (localStorage, until unticked): a shared browser forgets them on close.
// Every visible string comes from one table per language (texts.zh.json, texts.en.json). What it shares with the
// blind test (the language, the key and its prompt, the HTTP helper, el/bubbles/button) is common.js, loaded first.
"use strict";

const state = { models: [], model: null, session: null, controller: null, busy: false };

// ---- storage -------------------------------------------------------------------------------------
// Which store holds an item (storeOf, keeps) is common.js's: the key prompt there keeps the key the same way.
function readJSON(key, fallback) {
  try {
    return JSON.parse(storeOf(key).getItem(STORE + key)) ?? fallback;
  } catch {
    return fallback;
  }
}
const writeJSON = (key, value) => storeOf(key).setItem(STORE + key, JSON.stringify(value));

// Moves the private items to the store `keep` names: ticking keeps them past the tab, unticking forgets them
// from the device (they stay in this tab until it closes). Private items left in localStorage by a page from
// before this choice existed are moved into the tab the same way when the box is not ticked.
function keepOnDevice(keep) {
  if (keep) localStorage.setItem(KEEP, "1");
  else localStorage.removeItem(KEEP);
  const [from, to] = keep ? [sessionStorage, localStorage] : [localStorage, sessionStorage];
  for (const name of Object.keys(from)) {
    if (!name.startsWith(STORE) || !isPrivate(name.slice(STORE.length))) continue;
    to.setItem(name, from.getItem(name));
    from.removeItem(name);
  }
  $("keep").checked = keep;
}
const newId = () => Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, "0")).join("");

function conversation() {
  const saved = readJSON("chat:" + state.model, null);
  return saved && Array.isArray(saved.messages) ? saved : { id: newId(), messages: [] };
}
const saveConversation = (chat) => writeJSON("chat:" + state.model, chat);

// Only what the owner typed is sent: an empty field leaves the value to the clone (twin.json's tuned sampling and
// reply budget, shown on its model card). Kept under a new name: the old "sampling" always held both values.
const SAMPLING_FIELDS = { temperature: "temperature", max_tokens: "max-tokens" };
function sampling() {
  const typed = {};
  for (const [name, id] of Object.entries(SAMPLING_FIELDS)) {
    const value = $(id).value.trim();
    if (value !== "") typed[name] = Number(value);
  }
  writeJSON("sampling-typed", typed);
  return typed;
}

// ---- streaming -----------------------------------------------------------------------------------
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
        if (chunk.error) throw new PageError(t("error", { message: chunk.error.message }));
        const text = chunk.choices?.[0]?.delta?.content;
        if (text) onText(text);
      }
    }
  }
}

// ---- rendering -----------------------------------------------------------------------------------
// A button whose text and tooltip come from the table: `key` and, where the table has it, `key_title`.
const textButton = (key, onclick, props = {}) =>
  button(t(key), onclick, { title: i18n.texts[key + "_title"] ?? "", ...props });

// Show when a message was sent, as WeChat does: above the first message and after a pause of 5 minutes.
const TIME_GAP_MS = 5 * 60 * 1000;
function timeLabel(message, previousAt) {
  if (!message.at || (previousAt && message.at - previousAt < TIME_GAP_MS)) return null;
  return el("p", { className: "time", textContent: i18n.dates.format(new Date(message.at)) });
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
  let previousAt = null;
  chat.messages.forEach((message, index) => {
    const stamp = timeLabel(message, previousAt);
    if (stamp) log.append(stamp);
    previousAt = message.at ?? previousAt;
    const turn = el("section", { className: "turn " + message.role });
    turn.dataset.index = index;
    const last = index === chat.messages.length - 1;
    if (message.role === "user") {
      turn.append(el("div", { className: "bubble", textContent: message.content }));
      if (index === lastUser && !state.busy) turn.append(el("div", { className: "actions" }, [textButton("edit", editLast)]));
    } else {
      turn.append(...bubbles(message.content));
      if (message.stopped) turn.append(el("p", { className: "note", textContent: t("stopped") }));
      if (last && !state.busy) turn.append(replyActions(chat, message));
    }
    log.append(turn);
  });
  if (state.pair && state.pair.model === state.model) log.append(pairView(state.pair));
  window.scrollTo(0, document.body.scrollHeight);
}

function replyActions(chat, message) {
  const actions = el("div", { className: "actions" }, [textButton("regenerate", regenerate, { className: "regenerate" })]);
  if (state.session?.feedback) {
    for (const [label, good] of [["👍", true], ["👎", false]]) {
      const pressed = message.label === good;
      const name = t(good ? "good_reply" : "bad_reply");
      actions.append(
        button(label, () => sendLabel(chat, message, good), {
          className: pressed ? "pressed" : "",
          disabled: message.label !== undefined,
          title: name,
          ariaLabel: name,
        }),
      );
    }
    actions.append(textButton("show_two", showTwo, { className: "show-two" }));
  }
  return actions;
}

function pairView(pair) {
  const candidates = pair.candidates.map((text, index) =>
    el("div", { className: "candidate" }, [
      ...bubbles(text),
      textButton("pick", () => pick(index), { className: "pick" }),
    ]),
  );
  return el("section", { className: "turn assistant" }, [
    el("p", { className: "note", textContent: t("which_reply") }),
    el("div", { className: "pair" }, candidates),
  ]);
}

function showWho() {
  const card = state.models.find((m) => m.id === state.model);
  if (!card) return;
  $("who").textContent = card.parent
    ? t("who_clone", { owner: card.owner_name || card.id, base: card.base_model || card.parent })
    : t("who_base", { model: card.id });
  showOwnSampling(card);
}

// The clone's own values (its card's `sampling`), shown in the empty fields and spelled out under them.
function showOwnSampling(card) {
  const own = card.sampling;
  if (!own) return;
  for (const [name, id] of Object.entries(SAMPLING_FIELDS)) $(id).placeholder = String(own[name]);
  $("sampling-own").textContent = t("sampling_own", { temperature: own.temperature, max_tokens: own.max_tokens });
}

// ---- actions -------------------------------------------------------------------------------------
const contextOf = (chat) => chat.messages.map(({ role, content }) => ({ role, content }));

async function generate() {
  state.pair = null;
  const chat = conversation();
  const reply = { role: "assistant", content: "", at: Date.now() };
  const messages = contextOf(chat);
  chat.messages.push(reply);
  saveConversation(chat);
  state.controller = new AbortController();
  setBusy(true);
  setStatus("");
  render();
  const turn = $("log").lastElementChild;
  turn.append(el("div", { className: "bubble typing", textContent: t("typing") }));
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
    else showError(error);
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
  chat.messages.push({ role: "user", content: text, at: Date.now() });
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
    showError(error);
  }
}

async function showTwo() {
  const chat = conversation();
  dropLastReply(chat);
  setBusy(true);
  setStatus(t("writing_two"));
  try {
    const { temperature, max_tokens } = sampling();
    const pair = await postJSON("/chat/api/pairs", {
      model: state.model,
      conversation: chat.id,
      messages: contextOf(chat),
      // two candidates need a temperature above 0: without one the server takes the clone's own
      ...(temperature > 0 ? { temperature } : {}),
      ...(max_tokens ? { max_tokens } : {}),
    });
    state.pair = { ...pair, model: state.model };
    setStatus("");
  } catch (error) {
    showError(error);
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
    chat.messages.push({ role: "assistant", content: pair.candidates[index], chosen: pair.exchange_id, at: Date.now() });
    saveConversation(chat);
    state.pair = null;
    render();
  } catch (error) {
    showError(error);
  }
}

function stop() {
  if (state.controller) state.controller.abort();
}

// ---- start-up ------------------------------------------------------------------------------------
function pickModel(id) {
  state.model = id;
  state.pair = null;
  localStorage.setItem(STORE + "model", id);
  showWho();
  render();
}

function fillPicker() {
  const select = $("clone");
  const chosen = select.value;
  select.replaceChildren(
    ...state.models.map((m) =>
      el("option", {
        value: m.id,
        textContent: m.parent
          ? t("option_clone", { owner: m.owner_name || m.id, model: m.id })
          : t("option_base", { model: m.id }),
      }),
    ),
  );
  if (chosen) select.value = chosen;
}

async function load() {
  try {
    const [models, session] = await Promise.all([getJSON("/v1/models"), getJSON("/chat/api/session")]);
    state.session = session;
    $("blind-link").hidden = !session.blind;
    const ids = new Set(models.data.map((m) => m.id));
    // Aliases (a name for another served model) are for old clients: list the base and the clones only.
    state.models = models.data
      .filter((m) => m.root === m.id || !ids.has(m.root))
      .sort((a, b) => Boolean(b.parent) - Boolean(a.parent));
    fillPicker();
    const select = $("clone");
    const saved = localStorage.getItem(STORE + "model");
    select.value = ids.has(saved) ? saved : state.models[0]?.id;
    pickModel(select.value);
    setStatus("");
  } catch (error) {
    showError(error);
  }
}

// What a switch of language redraws.
function redraw() {
  setStatus("");
  fillPicker();
  showWho();
  render();
}

async function start() {
  await setUpPage({ load, redraw });
  localStorage.removeItem(STORE + "sampling");
  keepOnDevice(keeps());
  $("keep").addEventListener("change", (event) => keepOnDevice(event.target.checked));
  const typed = readJSON("sampling-typed", {});
  for (const [name, id] of Object.entries(SAMPLING_FIELDS)) $(id).value = typed[name] ?? "";
  $("composer").addEventListener("submit", send);
  $("input").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) send(event);
  });
  $("stop").addEventListener("click", stop);
  $("new-chat").addEventListener("click", newChat);
  $("export").addEventListener("click", exportChat);
  $("clone").addEventListener("change", (event) => pickModel(event.target.value));
  load();
}

start();
