// The Label page: one queued tweet at a time, labelled with the keyboard (n / e / p / s / u / m).
const $ = (id) => document.getElementById(id);
let current = null;
let busy = false;

function show(body) {
  current = body.item;
  const p = body.progress;
  $("progress").textContent = `${p.done} of ${p.total} labelled, ${p.left} left; ${p.yours} by you`;
  $("answer").hidden = true;
  if (!current) {
    $("tweet").textContent = "Nothing left to label. The queue refills with the daily batch (or: sentiops label queue).";
    $("buttons").hidden = true;
    return;
  }
  $("buttons").hidden = false;
  $("tweet").textContent = current.text;
  $("status").textContent = body.your_label ? `You labelled this ${body.your_label}: press n, e or p to change it, s to keep it.` : "";
}

async function call(method, path, body) {
  const options = {method, headers: {"content-type": "application/json"}, credentials: "same-origin"};
  if (body) options.body = JSON.stringify(body);
  const response = await fetch(path, options);
  const data = await response.json();
  if (!response.ok) throw new Error(typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail));
  return data;
}

// "n" is negative, so neutral takes its second letter.
const CLASS_KEYS = {n: "negative", e: "neutral", p: "positive"};

async function act(key) {
  if (busy) return;
  busy = true;
  try {
    if (key === "u") { show(await call("POST", "/ui/label/undo")); return; }
    if (!current) return;
    const id = encodeURIComponent(current.id);
    if (key in CLASS_KEYS) {
      await call("POST", `/ui/label/items/${id}`, {label: CLASS_KEYS[key]});
    } else if (key === "s") {
      await call("POST", `/ui/label/items/${id}/skip`);
    } else if (key === "m") {
      const answer = await call("GET", `/ui/label/items/${id}/model`);
      $("answer").textContent = `model ${answer.model_version}: ${answer.label} (confidence ${Number(answer.confidence).toFixed(2)})`;
      $("answer").hidden = false;
      return;
    } else {
      return;
    }
    show(await call("GET", "/ui/label/next"));
  } catch (error) {
    $("status").textContent = error.message;
    if (key !== "u" && key !== "m") show(await call("GET", "/ui/label/next"));
  } finally {
    busy = false;
  }
}

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || event.target.tagName === "INPUT") return;
  if (["n", "e", "p", "s", "u", "m"].includes(event.key)) { event.preventDefault(); act(event.key); }
});
document.querySelectorAll("#buttons button").forEach((b) => b.addEventListener("click", () => act(b.dataset.key)));
call("GET", "/ui/label/next").then(show).catch((error) => { $("status").textContent = error.message; });
