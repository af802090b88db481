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
  document.getElementById("negative").textContent = body.scores.negative.toFixed(3);
  document.getElementById("positive").textContent = body.scores.positive.toFixed(3);
  document.getElementById("version").textContent = body.model_version;
  document.getElementById("result").hidden = false;
});
