// The console's only script: the queue's "select all" box ticks or clears every row's box on the page.
document.addEventListener("DOMContentLoaded", () => {
  const all = document.getElementById("select-all");
  if (!all) {
    return;
  }
  all.addEventListener("change", () => {
    for (const box of document.querySelectorAll("input.pick")) {
      box.checked = all.checked;
    }
  });
});
