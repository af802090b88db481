// The Try it page: one prediction through the API (a file, so the pages need no inline script).
document.getElementById("try").addEventListener("submit", async (event) => {
  event.preventDefault();
  const headers = {"content-type": "application/json"};
  const token = document.getElementById("token");
  if (token && token.value) headers["authorization"] = "Bearer " + token.value;
  const response = await fetch("/predict", {method: "POST", headers, body: JSON.stringify({text: document.getElementById("text").value})});
  const body = await response.json();
  if (!response.ok) { document.getElementById("error").textContent = JSON.stringify(body.detail); return; }
  document.getElementById("error").textContent = "";
  document.getElementById("label").textContent = body.label;
  document.getElementById("confidence").textContent = body.confidence.toFixed(3);
  // One row per class the answering version has (neutral too, for a three-class version).
  document.getElementById("scores").textContent = Object.entries(body.scores).map(([name, p]) => `${name} ${p.toFixed(3)}`).join(", ");
  document.getElementById("version").textContent = body.model_version;
  document.getElementById("result").hidden = false;
});
