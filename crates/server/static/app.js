// Progressive enhancement only: every page works without this file.
// Forms or buttons with data-confirm ask before submitting.
document.addEventListener("submit", (event) => {
  const form = event.target;
  const asker = event.submitter && event.submitter.dataset.confirm ? event.submitter : form;
  const question = asker.dataset ? asker.dataset.confirm : undefined;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

// Copy buttons: [data-copy] names (by CSS selector) the element whose text it copies. They are
// hidden in the markup, since without this script they could do nothing.
for (const button of document.querySelectorAll("[data-copy]")) {
  button.hidden = false;
}

function copyBySelection(source) {
  const range = document.createRange();
  range.selectNodeContents(source);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
  try {
    return document.execCommand("copy");
  } catch (_) {
    return false;
  }
}

document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source) return;
  const text = source.textContent.trim();
  let copied = false;
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      copied = true;
    } catch (_) {
      copied = false;
    }
  }
  if (!copied) copied = copyBySelection(source);
  button.textContent = copied ? "Copied" : "Select and copy it yourself";
});

// Links with data-dialog open their confirmation page inside a <dialog> instead of navigating:
// the page's [data-dialog-content] section (its form included) is shown in place. Anything
// unexpected falls back to following the link.
document.addEventListener("click", async (event) => {
  const link = event.target.closest("a[data-dialog]");
  if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey
      || event.shiftKey || event.altKey) return;
  if (typeof HTMLDialogElement !== "function" || !window.fetch || !window.DOMParser) return;
  event.preventDefault();
  try {
    const response = await fetch(link.href, { credentials: "same-origin" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    const content = page.querySelector("[data-dialog-content]");
    if (!content) throw new Error("no dialog content");
    let dialog = document.getElementById("confirm-dialog");
    if (!dialog) {
      dialog = document.createElement("dialog");
      dialog.id = "confirm-dialog";
      dialog.className = "confirm";
      document.body.appendChild(dialog);
    }
    dialog.replaceChildren(document.importNode(content, true));
    for (const cancel of dialog.querySelectorAll("[data-dialog-cancel]")) {
      cancel.addEventListener("click", (e) => {
        e.preventDefault();
        dialog.close();
      });
    }
    dialog.showModal();
  } catch (_) {
    window.location.assign(link.href);
  }
});

// Choosing a custom expiry date selects "Custom date" in the expiry list.
document.addEventListener("input", (event) => {
  const date = event.target.closest("[data-expiry-date]");
  if (!date || !date.value) return;
  const select = date.form && date.form.querySelector("[data-expiry-select]");
  if (select && select.querySelector("option[value='custom']")) select.value = "custom";
});

// Pages showing work in progress (the project page while pipelines run) refresh themselves.
const refreshing = document.querySelector("[data-refresh]");
if (refreshing) {
  const seconds = Number(refreshing.dataset.refresh) || 5;
  setTimeout(() => window.location.reload(), seconds * 1000);
}

// A table wider than its column scrolls sideways: the edge with more to see fades, and a hint
// above it says so (without this script the table still scrolls, only without the cue).
function markScrollableTables() {
  for (const wrap of document.querySelectorAll(".table-wrap")) {
    const more = wrap.scrollWidth - wrap.clientWidth;
    const scrollable = more > 1;
    wrap.classList.toggle("scrollable", scrollable);
    wrap.classList.toggle("more-left", scrollable && wrap.scrollLeft > 1);
    wrap.classList.toggle("more-right", scrollable && wrap.scrollLeft < more - 1);
    let hint = wrap.previousElementSibling;
    if (!hint || !hint.classList.contains("scroll-hint")) {
      if (!scrollable) continue;
      hint = document.createElement("span");
      hint.className = "scroll-hint";
      hint.textContent = "Scroll sideways for more →";
      wrap.before(hint);
    }
    hint.hidden = !scrollable;
  }
}
document.addEventListener("scroll", (event) => {
  if (event.target.classList && event.target.classList.contains("table-wrap")) markScrollableTables();
}, true);
window.addEventListener("resize", markScrollableTables);
markScrollableTables();
