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
