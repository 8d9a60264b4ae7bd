// TrackLayer's own script: small behaviours that work under the strict CSP (no inline JS).
"use strict";

// Copy buttons: <button data-copy="#selector">.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source) return;
  try {
    await navigator.clipboard.writeText(source.textContent.trim());
    button.textContent = "Copied";
  } catch {
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    button.textContent = "Selected — press Ctrl+C";
  }
  setTimeout(() => { button.textContent = "Copy"; }, 2000);
});

// Close open menus when clicking elsewhere.
document.addEventListener("click", (event) => {
  document.querySelectorAll("details.switcher[open], details.inline-menu[open]").forEach((menu) => {
    if (!menu.contains(event.target)) menu.removeAttribute("open");
  });
});

// Live tables (the events debugger): a [data-live] region holds a poller (hx-trigger="every 2s"
// data-poll), a filter form ([data-live-filters]) and a Pause button ([data-live-toggle]).
// A poll is skipped while the region is paused, while a filter is being edited (from the first
// keystroke until the filter's own request has answered, or the field is left) and while the
// tab is hidden — so the table never changes under a reader's hands. The state lives on the
// region, outside the swapped table, so it survives every swap.
document.addEventListener("htmx:confirm", (event) => {
  const poller = event.detail.elt;
  if (!poller.matches || !poller.matches("[data-poll]")) return;
  const live = poller.closest("[data-live]");
  if (document.hidden || (live && (live.dataset.paused === "true" || live.dataset.editing === "true"))) {
    event.preventDefault();
  }
});

document.addEventListener("click", (event) => {
  const toggle = event.target.closest("[data-live-toggle]");
  if (!toggle) return;
  const live = toggle.closest("[data-live]");
  if (!live) return;
  const paused = live.dataset.paused !== "true";
  live.dataset.paused = String(paused);
  toggle.setAttribute("aria-pressed", String(paused));
  toggle.textContent = paused ? "Resume" : "Pause";
});

document.addEventListener("input", (event) => {
  const form = event.target.closest && event.target.closest("[data-live-filters]");
  const live = form && form.closest("[data-live]");
  if (live) live.dataset.editing = "true";
});

function stopEditing(event) {
  const form = event.target.closest && event.target.closest("[data-live-filters]");
  const live = form && form.closest("[data-live]");
  if (live) delete live.dataset.editing;
}
document.addEventListener("focusout", stopEditing);
document.addEventListener("htmx:afterRequest", stopEditing);

// Drawers: [data-drawer-close] (or Escape) empties the drawer it is in; an emptied drawer is
// hidden by CSS (.drawer:empty). A freshly loaded drawer takes the focus to its heading.
function closeDrawer(drawer) {
  if (drawer) drawer.replaceChildren();
}
document.addEventListener("click", (event) => {
  const close = event.target.closest("[data-drawer-close]");
  if (close) closeDrawer(close.closest(".drawer"));
});
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  document.querySelectorAll(".drawer:not(:empty)").forEach(closeDrawer);
});
document.addEventListener("htmx:afterSwap", (event) => {
  if (!event.detail.target.classList.contains("drawer")) return;
  const heading = event.detail.target.querySelector("h2[tabindex]");
  if (heading) heading.focus({ preventScroll: true });
});
