// The build page's live view: polls the page's /live endpoint and appends new output, until the
// build ends. Without this script the page shows the output as it was when loaded.
(() => {
  const steps = document.getElementById("steps");
  if (!steps || steps.dataset.finished === "true") return;
  const statusEl = document.getElementById("job-status");

  function stepElement(step) {
    let el = document.getElementById(`step-${step.idx}`);
    if (el) return el;
    const empty = document.getElementById("steps-empty");
    if (empty) empty.remove();
    el = document.createElement("details");
    el.className = "step";
    el.id = `step-${step.idx}`;
    el.dataset.seq = "0";
    el.open = true;
    const summary = document.createElement("summary");
    const pre = document.createElement("pre");
    pre.className = "output";
    el.append(summary, pre);
    steps.append(el);
    return el;
  }

  function show(step) {
    const el = stepElement(step);
    const summary = el.querySelector("summary");
    summary.textContent = "";
    const badge = document.createElement("span");
    badge.className = `status status-${step.state}`;
    badge.textContent = step.state;
    summary.append(badge, ` ${step.name}`);
    if (step.text) el.querySelector("pre").append(document.createTextNode(step.text));
    el.dataset.seq = String(step.last_seq);
  }

  async function poll() {
    const after = [...steps.querySelectorAll("details.step")]
      .map((el) => `${el.id.slice(5)}:${el.dataset.seq || 0}`)
      .join(",");
    try {
      const url = new URL(steps.dataset.live, window.location.href);
      url.searchParams.set("after", after);
      const response = await fetch(url, {
        headers: { Accept: "application/json" },
      });
      if (response.ok) {
        const live = await response.json();
        live.steps.forEach(show);
        statusEl.textContent = live.status;
        statusEl.className = `status status-${live.status}`;
        if (live.finished) {
          // Reload once so the retry/cancel buttons match the finished build.
          window.location.reload();
          return;
        }
      }
    } catch (_) {
      // The server may be restarting; try again.
    }
    setTimeout(poll, 1000);
  }
  setTimeout(poll, 1000);
})();
