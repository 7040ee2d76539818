// Aduan sandbox page: three Telegram-like chats side by side, updated live over a websocket.
// The bot's messages arrive as HTML the server built from Telegram entities (escaped text,
// Telegram's tags only); everything else on the page is set with textContent.
"use strict";

const TEXTS = {
  id: {
    title: "Aduan — sandbox pelatihan",
    subtitle: "Tanpa token dan tanpa internet: bot sungguhan, Telegram tiruan. Coba alurnya dari tiga sisi.",
    citizen: "Warga (pelapor)",
    admin: "Admin kota (pengelola)",
    officer: "Petugas penghubung",
    sample: "Warga contoh (skenario)",
    hint_citizen: "Mulai dengan /start, lalu tekan “Laporan baru”.",
    hint_admin: "/inbox menampilkan laporan yang menunggu verifikasi; buka kartu untuk meneruskan.",
    hint_officer: "/inbox menampilkan laporan yang diteruskan ke instansi Anda.",
    hint_sample: "Warga dari skenario contoh; Anda bisa menjawab atas namanya.",
    placeholder: "Tulis pesan…",
    attach: "Kirim foto dari komputer",
    photo: "Kirim foto contoh (teks di kolom menjadi keterangan)",
    location: "Bagikan lokasi (atau ketik “lat, lon” dulu)",
    send: "Kirim",
    live: "Langsung",
    connecting: "Menyambung…",
    offline: "Terputus — menyambung ulang…",
    empty: "Belum ada pesan.",
    edited: "diedit",
    scenario: "Laporan contoh dimuat: ",
    failed: "Tidak terkirim: ",
    photo_label: "Foto",
    document_label: "Dokumen",
    location_label: "Lokasi",
  },
  en: {
    title: "Aduan — training sandbox",
    subtitle: "No token, no internet: the real bot, a simulated Telegram. Try the workflow from three sides.",
    citizen: "Citizen (reporter)",
    admin: "City admin",
    officer: "Agency liaison officer",
    sample: "Sample citizen (scenario)",
    hint_citizen: "Start with /start, then press “New report”.",
    hint_admin: "/inbox lists reports waiting for verification; open a card to forward it.",
    hint_officer: "/inbox lists the reports forwarded to your agency.",
    hint_sample: "A citizen from the sample scenario; you can answer on their behalf.",
    placeholder: "Write a message…",
    attach: "Send a photo from this computer",
    photo: "Send a sample photo (the typed text becomes its caption)",
    location: "Share a location (or type “lat, lon” first)",
    send: "Send",
    live: "Live",
    connecting: "Connecting…",
    offline: "Disconnected — reconnecting…",
    empty: "No messages yet.",
    edited: "edited",
    scenario: "Sample reports loaded: ",
    failed: "Not sent: ",
    photo_label: "Photo",
    document_label: "Document",
    location_label: "Location",
  },
};
const PANE_ROLES = ["citizen", "admin", "officer"];

const state = {
  lang: localStorage.getItem("aduan-sandbox-lang") || "id",
  session: null,
  chats: new Map(),
  panes: [],
  connection: "connecting",
};

function t(key) {
  return (TEXTS[state.lang] || TEXTS.id)[key] || TEXTS.id[key] || key;
}

function participant(userId) {
  return state.session.participants.find((p) => p.user_id === userId);
}

async function post(userId, action, body) {
  const response = await fetch(`/api/users/${userId}/${action}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const result = await response.json().catch(() => ({ ok: false, error: response.statusText }));
  if (!response.ok || !result.ok) throw new Error(result.error || response.statusText);
  return result;
}

function toast(pane, text, alert) {
  const box = pane.root.querySelector(".toast");
  box.textContent = text;
  box.classList.toggle("alert", Boolean(alert));
  box.hidden = false;
  clearTimeout(pane.toastTimer);
  pane.toastTimer = setTimeout(() => { box.hidden = true; }, alert ? 6000 : 3500);
}

async function act(pane, action, body) {
  try {
    const result = await post(pane.userId, action, body);
    if (result.answer && result.answer.text) toast(pane, result.answer.text, result.answer.show_alert);
    return result;
  } catch (error) {
    toast(pane, t("failed") + error.message, true);
    return null;
  }
}

// ----------------------------------------------------------------------------- rendering
function timeOf(seconds) {
  if (!seconds) return "";
  const d = new Date(seconds * 1000);
  const options = { hour: "2-digit", minute: "2-digit" };
  // The city's time, as the bot's own messages give it (the browser may be elsewhere).
  if (state.session && state.session.timezone) options.timeZone = state.session.timezone;
  try {
    return d.toLocaleTimeString(state.lang === "en" ? "en-GB" : "id-ID", options);
  } catch (error) {
    delete options.timeZone;
    return d.toLocaleTimeString(state.lang === "en" ? "en-GB" : "id-ID", options);
  }
}

function renderMessage(pane, message) {
  const wrap = document.createElement("div");
  wrap.className = `msg ${message.out ? "out" : "in"}`;
  wrap.dataset.messageId = message.id;
  const bubble = document.createElement("div");
  bubble.className = "bubble";
  if (message.reply_to) {
    const quote = document.createElement("span");
    quote.className = "quote";
    quote.textContent = message.reply_to;
    bubble.append(quote);
  }
  if (message.media) {
    const box = document.createElement("span");
    box.className = "placeholder";
    const label = message.media.kind === "photo" ? t("photo_label") : t("document_label");
    box.textContent = `🗂 ${label}${message.media.name ? ": " + message.media.name : ""}`;
    if (message.media.url) {
      const img = document.createElement("img");
      img.src = message.media.url;
      img.alt = label;
      img.addEventListener("error", () => img.replaceWith(box)); // bytes that are no picture
      bubble.append(img);
    } else {
      bubble.append(box);
    }
  }
  if (message.location) {
    const line = document.createElement("span");
    line.className = "location";
    const { latitude, longitude } = message.location;
    line.textContent = `📍 ${t("location_label")}: ${latitude.toFixed(5)}, ${longitude.toFixed(5)}`;
    bubble.append(line);
  }
  if (message.html) {
    const body = document.createElement("span");
    body.className = "body";
    body.innerHTML = message.html; // built server-side: escaped text + Telegram's tags only
    body.querySelectorAll("tg-spoiler").forEach((s) => s.addEventListener("click", () => s.classList.add("shown")));
    bubble.append(body);
  }
  const meta = document.createElement("span");
  meta.className = "meta";
  meta.textContent = (message.edited ? t("edited") + " · " : "") + timeOf(message.date);
  bubble.append(meta);
  wrap.append(bubble);
  if (message.buttons && message.buttons.length) {
    const inline = document.createElement("div");
    inline.className = "inline";
    for (const row of message.buttons) {
      const line = document.createElement("div");
      line.className = "row";
      for (const button of row) {
        if (button.url) {
          const link = document.createElement("a");
          link.className = "inline-btn";
          link.href = button.url;
          link.target = "_blank";
          link.rel = "noopener noreferrer";
          link.textContent = button.text + " ↗";
          line.append(link);
          continue;
        }
        const press = document.createElement("button");
        press.type = "button";
        press.className = "inline-btn";
        press.textContent = button.text;
        press.addEventListener("click", async () => {
          press.disabled = true;
          await act(pane, "click", { message_id: message.id, data: button.data });
          press.disabled = false;
        });
        line.append(press);
      }
      inline.append(line);
    }
    wrap.append(inline);
  }
  return wrap;
}

function renderPane(pane) {
  const chat = state.chats.get(pane.userId);
  const list = pane.root.querySelector(".messages");
  const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  list.replaceChildren();
  const messages = chat ? chat.messages : [];
  if (!messages.length) {
    const empty = document.createElement("p");
    empty.className = "empty";
    empty.textContent = t("empty");
    list.append(empty);
  }
  for (const message of messages) list.append(renderMessage(pane, message));
  if (nearBottom || pane.stick) list.scrollTop = list.scrollHeight;
  pane.stick = false;
  const keyboard = pane.root.querySelector(".keyboard");
  keyboard.replaceChildren();
  for (const row of chat ? chat.keyboard : []) {
    const line = document.createElement("div");
    line.className = "row";
    for (const key of row) {
      const press = document.createElement("button");
      press.type = "button";
      press.className = "key";
      press.textContent = key.text;
      press.addEventListener("click", () => act(pane, "key", { text: key.text }));
      line.append(press);
    }
    keyboard.append(line);
  }
}

function labelPane(pane) {
  const person = participant(pane.userId);
  const root = pane.root;
  root.dataset.role = person.role;
  root.dataset.userId = String(person.user_id);
  root.querySelector(".avatar").textContent = person.name.slice(0, 1);
  const role = t(person.role) + (person.detail ? ` · ${person.detail}` : "");
  root.querySelector(".role").textContent = `${role} · ${person.language.toUpperCase()}`;
  root.querySelector(".hint").textContent = t(`hint_${person.role}`);
  const select = root.querySelector(".user-select");
  select.replaceChildren(...state.session.participants.map((p) => {
    const option = document.createElement("option");
    option.value = String(p.user_id);
    option.textContent = p.name;
    option.selected = p.user_id === pane.userId;
    return option;
  }));
  root.querySelector(".text").placeholder = t("placeholder");
  root.querySelectorAll("[data-title]").forEach((b) => {
    b.title = t(b.dataset.title);
    b.setAttribute("aria-label", t(b.dataset.title));
  });
}

function applyLanguage() {
  document.documentElement.lang = state.lang;
  document.querySelectorAll("[data-i18n]").forEach((node) => { node.textContent = t(node.dataset.i18n); });
  document.querySelectorAll("[data-lang]").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.lang === state.lang)));
  document.title = t("title");
  const connection = document.getElementById("connection");
  connection.dataset.state = state.connection;
  connection.textContent = t(state.connection);
  const scenario = document.getElementById("scenario");
  const codes = (state.session && state.session.scenario) || [];
  scenario.hidden = !codes.length;
  scenario.textContent = t("scenario") + codes.join(", ");
  for (const pane of state.panes) { labelPane(pane); renderPane(pane); }
}

// ------------------------------------------------------------------------------- panes
function buildPane(userId) {
  const root = document.getElementById("pane-template").content.firstElementChild.cloneNode(true);
  const pane = { root, userId, stick: true, toastTimer: null };
  const input = root.querySelector(".text");
  root.querySelector(".composer").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    pane.stick = true;
    if (!(await act(pane, "text", { text }))) input.value = text;
  });
  root.querySelector(".sample-photo").addEventListener("click", async () => {
    const caption = input.value.trim();
    input.value = "";
    pane.stick = true;
    await act(pane, "photo", caption ? { caption } : {});
  });
  const file = root.querySelector(".file");
  root.querySelector(".attach").addEventListener("click", () => file.click());
  file.addEventListener("change", () => {
    const chosen = file.files && file.files[0];
    if (!chosen) return;
    const reader = new FileReader();
    reader.onload = async () => {
      const caption = input.value.trim();
      input.value = "";
      pane.stick = true;
      await act(pane, "photo", { data: String(reader.result), ...(caption ? { caption } : {}) });
      file.value = "";
    };
    reader.readAsDataURL(chosen);
  });
  root.querySelector(".location").addEventListener("click", async () => {
    const typed = input.value.match(/^\s*(-?\d+(?:\.\d+)?)\s*[,; ]\s*(-?\d+(?:\.\d+)?)\s*$/);
    const body = typed ? { latitude: Number(typed[1]), longitude: Number(typed[2]) } : {};
    if (typed) input.value = "";
    pane.stick = true;
    await act(pane, "location", body);
  });
  root.querySelector(".user-select").addEventListener("change", (event) => {
    pane.userId = Number(event.target.value);
    pane.stick = true;
    labelPane(pane);
    renderPane(pane);
  });
  return pane;
}

// -------------------------------------------------------------------------------- live
function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/api/live`);
  socket.addEventListener("open", () => { state.connection = "live"; applyLanguage(); });
  socket.addEventListener("message", (event) => {
    const data = JSON.parse(event.data);
    if (data.type !== "chat") return;
    state.chats.set(data.user_id, data);
    for (const pane of state.panes) if (pane.userId === data.user_id) renderPane(pane);
  });
  socket.addEventListener("close", () => {
    state.connection = "offline";
    applyLanguage();
    setTimeout(connect, 1500);
  });
}

async function main() {
  if (!TEXTS[state.lang]) state.lang = "id";
  document.querySelectorAll("[data-lang]").forEach((button) => button.addEventListener("click", () => {
    state.lang = button.dataset.lang;
    localStorage.setItem("aduan-sandbox-lang", state.lang);
    applyLanguage();
  }));
  state.session = await (await fetch("/api/session")).json();
  const container = document.getElementById("panes");
  for (const role of PANE_ROLES) {
    const person = state.session.participants.find((p) => p.role === role);
    if (!person) continue;
    const pane = buildPane(person.user_id);
    state.panes.push(pane);
    container.append(pane.root);
  }
  applyLanguage();
  connect();
}

main();
