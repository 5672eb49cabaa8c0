// Send the token once; the server answers with an HttpOnly cookie and the page reloads into the app.
document.getElementById("login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const token = document.getElementById("token").value;
  const r = await fetch("/api/login", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({token})});
  if (r.ok) location.reload();
  else document.getElementById("login-error").textContent = (await r.json()).error || "refused";
});
