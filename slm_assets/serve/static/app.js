// Playground: ask two served models the same question, side by side, streaming both answers.
// Plain browser JavaScript, no build step. The key stays in this page's memory only.
"use strict";

const $ = (id) => document.getElementById(id);
let loadedWithKey = null;

function headers() {
  return { "Authorization": "Bearer " + $("api-key").value.trim(), "Content-Type": "application/json" };
}

async function errorText(response) {
  try {
    const body = await response.json();
    const message = body.error && (body.error.message || body.error);
    return `${response.status}: ${message || JSON.stringify(body)}`;
  } catch (e) {
    return `${response.status} ${response.statusText}`;
  }
}

async function loadModels() {
  const key = $("api-key").value.trim();
  if (!key || key === loadedWithKey) return;
  const response = await fetch("/v1/models", { headers: headers() });
  if (!response.ok) throw new Error(await errorText(response));
  const names = (await response.json()).data.map((m) => m.id);
  const tuned = names.find((n) => n !== "base") || names[0];
  const defaults = { "model-left": names.includes("base") ? "base" : names[0], "model-right": tuned };
  for (const id of ["model-left", "model-right"]) {
    const select = $(id);
    select.replaceChildren(...names.map((n) => new Option(n, n)));
    select.value = defaults[id];
  }
  loadedWithKey = key;
}

// The passages an answer was grounded in: document, pages and chunk id.
function showSources(pane, sources) {
  const list = pane.querySelector(".sources");
  list.replaceChildren();
  for (const source of sources) {
    const item = document.createElement("li");
    const pages = source.page_start ? ` p.${source.page_start}` + (source.page_end && source.page_end !== source.page_start ? `–${source.page_end}` : "") : "";
    item.textContent = `${source.title || source.source}${pages} (${source.source}, chunk ${source.chunk_id})`;
    list.appendChild(item);
  }
}

// Streams one chat completion into a pane; resolves when the pane shows its answer or error.
async function askPane(pane, model, question) {
  const answer = pane.querySelector(".answer");
  const meta = pane.querySelector(".meta");
  answer.textContent = "";
  meta.textContent = "waiting…";
  showSources(pane, []);
  pane.dataset.state = "running";
  const started = performance.now();
  let firstToken = null;
  let usage = null;
  try {
    const response = await fetch("/v1/chat/completions", {
      method: "POST",
      headers: headers(),
      body: JSON.stringify({
        model, stream: true, stream_options: { include_usage: true },
        messages: [{ role: "user", content: question }],
        max_tokens: Number($("max-tokens").value) || 128,
        temperature: Number($("temperature").value) || 0,
      }),
    });
    if (!response.ok) throw new Error(await errorText(response));
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let finished = false;
    while (!finished) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        if (!event.startsWith("data: ")) continue;
        const data = event.slice(6);
        if (data === "[DONE]") { finished = true; break; }
        const chunk = JSON.parse(data);
        if (chunk.error) throw new Error(chunk.error.message);
        if (chunk.usage) usage = chunk.usage;
        if (chunk.sources) showSources(pane, chunk.sources);
        const text = chunk.choices && chunk.choices[0] && chunk.choices[0].delta.content;
        if (text) {
          if (firstToken === null) firstToken = performance.now() - started;
          answer.textContent += text;
        }
      }
    }
    const total = performance.now() - started;
    const parts = [`${Math.round(total)} ms`];
    if (firstToken !== null) parts.push(`first token ${Math.round(firstToken)} ms`);
    if (usage) parts.push(`${usage.completion_tokens} tokens`);
    if (!answer.textContent) answer.textContent = "(empty answer)";
    meta.textContent = parts.join(" · ");
    pane.dataset.state = "done";
  } catch (error) {
    answer.textContent = String(error.message || error);
    meta.textContent = `failed after ${Math.round(performance.now() - started)} ms`;
    pane.dataset.state = "error";
  }
}

async function askBoth(event) {
  event.preventDefault();
  const question = $("question").value.trim();
  if (!question) return;
  $("ask").disabled = true;
  $("status").textContent = "";
  try {
    await loadModels();
    await Promise.all([
      askPane($("pane-left"), $("model-left").value, question),
      askPane($("pane-right"), $("model-right").value, question),
    ]);
  } catch (error) {
    $("status").textContent = String(error.message || error);
  } finally {
    $("ask").disabled = false;
  }
}

$("ask-form").addEventListener("submit", askBoth);
$("api-key").addEventListener("change", () => {
  loadModels().then(() => { $("status").textContent = ""; })
    .catch((error) => { $("status").textContent = String(error.message || error); });
});
