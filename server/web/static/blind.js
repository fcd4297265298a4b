// The blind test (/chat/blind): a held-out moment of a real conversation, the owner's real reply and the clone's
// side by side in an order only the server knows; the judge picks the one the owner wrote, and the server answers
// which it was. It shares the chat page's key (this tab, or the device when "Keep on this device" is ticked), its
// language choice and its text tables, through common.js (loaded first); the server decides which moments this key
// may see (docs/chat-page.md).
"use strict";

const state = { clones: [], model: null, trial: null, result: null, judged: 0, fooled: 0 };

// ---- rendering -----------------------------------------------------------------------------------
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
    if (!result) box.append(button(t("blind_pick"), () => pick(side), { className: "pick" }));
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
    section.append(el("div", { className: "actions" }, [button(t("blind_next"), next, { id: "next" })]));
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
  setStatus(t("blind_writing"));
  try {
    state.trial = await postJSON("/chat/api/blind/trials", { model: state.model });
    setStatus("");
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
    const [models, session] = await Promise.all([getJSON("/v1/models"), getJSON("/chat/api/session")]);
    if (!session.blind) {
      setStatus(t("blind_not_allowed"));
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

// What a switch of language redraws.
function redraw() {
  fillPicker();
  render();
}

async function start() {
  await setUpPage({ load, redraw });
  $("clone").addEventListener("change", (event) => pickClone(event.target.value));
  load();
}

start();
