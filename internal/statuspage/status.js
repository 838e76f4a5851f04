// Re-fetches the page's main part every two seconds and swaps it in; says
// so when the endpoint stops answering (the process stopped or restarts).
(function () {
  var main = document.getElementById("main");
  var live = document.getElementById("live");
  function refresh() {
    fetch("/?part=main", { cache: "no-store", credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) throw new Error(r.status + " " + r.statusText);
        return r.text();
      })
      .then(function (html) {
        main.innerHTML = html;
        live.textContent = "live";
        live.className = "live";
      })
      .catch(function (e) {
        live.textContent = "not answering: " + e.message;
        live.className = "live down";
      })
      .finally(function () { setTimeout(refresh, 2000); });
  }
  setTimeout(refresh, 2000);
})();
