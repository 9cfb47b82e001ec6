// Aura's page behaviour: htmx for partial updates, set up to live under a strict
// Content-Security-Policy (no inline styles, no eval, no inline script).
import htmx from "htmx.org";
import Sortable from "sortablejs";

htmx.config.includeIndicatorStyles = false; // indicator styles are in app.css instead
htmx.config.allowEval = false;
htmx.config.allowScriptTags = false;
htmx.config.selfRequestsOnly = true;
// A form refused with 422 comes back with its fields marked: swap it in like a success, so
// htmx forms show what is wrong (other errors stay unswapped and the server's page explains).
htmx.config.responseHandling = [
  { code: "204", swap: false },
  { code: "[23]..", swap: true },
  { code: "422", swap: true },
  { code: "[45]..", swap: false, error: true },
];

// A form that was answered with an error keeps focus on its first invalid field, so keyboard
// and screen-reader users land where the problem is.
document.addEventListener("DOMContentLoaded", () => {
  const invalid = document.querySelector("[aria-invalid='true']");
  if (invalid instanceof HTMLElement) invalid.focus();
});

window.htmx = htmx;

// Stages reorder by drag and drop (SortableJS). A list marked `data-sortable="<form id>"` holds
// hidden `stage_ids` inputs tied to that form; after a drop they are in the new order, and the
// form (an htmx form) posts it. Keyboard users have the Move up / Move down buttons instead.

function sortableLists(root) {
  const lists = root.querySelectorAll ? root.querySelectorAll("[data-sortable]") : [];
  for (const list of lists) {
    if (list.dataset.sortableReady) continue;
    list.dataset.sortableReady = "true";
    Sortable.create(list, {
      handle: ".drag-handle",
      animation: 150,
      // Pointer events rather than the HTML5 drag API: the same on touch screens and mice.
      forceFallback: true,
      fallbackTolerance: 3,
      onEnd: (event) => {
        if (event.oldIndex === event.newIndex) return;
        const form = document.getElementById(list.dataset.sortable);
        if (form instanceof HTMLFormElement) form.requestSubmit();
      },
    });
  }
}

htmx.onLoad(sortableLists);

// The pipeline board: cards drag between columns (SortableJS, one group, no reordering within
// a column). A drop fills the board's move form with the card's deal and version and the
// column's stage, and posts it (htmx); the answer is the board as the server has it, so a
// refused move puts the card back where it was, with the reason. Keyboard users have each
// card's "Move to" control, which posts the same form.

function boardColumns(root) {
  const lists = root.querySelectorAll ? root.querySelectorAll("[data-board-column]") : [];
  for (const list of lists) {
    if (list.dataset.sortableReady) continue;
    list.dataset.sortableReady = "true";
    Sortable.create(list, {
      group: "board",
      sort: false,
      draggable: ".deal-card",
      // Controls inside a card stay usable: no drag starts on them.
      filter: "a, select, button, input, label",
      preventOnFilter: false,
      animation: 150,
      forceFallback: true,
      fallbackTolerance: 3,
      onEnd: (event) => {
        if (event.from === event.to) return;
        const form = document.getElementById("board-move");
        if (!(form instanceof HTMLFormElement)) return;
        form.elements.namedItem("deal_id").value = event.item.dataset.deal;
        form.elements.namedItem("version").value = event.item.dataset.version;
        form.elements.namedItem("stage_id").value = event.to.dataset.boardColumn;
        form.requestSubmit();
      },
    });
  }
}

htmx.onLoad(boardColumns);

// The snapshot page's Print button (no inline script under the CSP): prints the page, which
// the stylesheet's print rules reduce to its tables.
document.addEventListener("click", (event) => {
  const target = event.target instanceof Element ? event.target.closest("[data-print]") : null;
  if (target) window.print();
});

// Destructive forms ask first (`data-confirm` on the form: the question; `data-confirm-detail`
// and `data-confirm-button` fill in the rest) in the layout's one modal <dialog>, which keeps
// focus inside, starts on Cancel and closes with Escape. Confirmed, the form posts without its
// `confirm=ask` field, which a browser without script sends to be asked on a page instead.
// Listening in the capture phase runs this before htmx sees the submit.
document.addEventListener(
  "submit",
  (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.confirm) return;
    const dialog = document.getElementById("confirm-dialog");
    if (!(dialog instanceof HTMLDialogElement)) return;
    if (form.dataset.confirmed === "true") {
      delete form.dataset.confirmed;
      return;
    }
    event.preventDefault();
    event.stopImmediatePropagation();
    dialog.querySelector("#confirm-dialog-title").textContent = form.dataset.confirm;
    dialog.querySelector("#confirm-dialog-detail").textContent = form.dataset.confirmDetail || "";
    dialog.querySelector("#confirm-dialog-yes").textContent =
      form.dataset.confirmButton || "Delete";
    const submitter = event.submitter;
    dialog.returnValue = "";
    dialog.addEventListener(
      "close",
      () => {
        if (dialog.returnValue !== "confirm") return;
        const ask = form.querySelector("input[name='confirm'][value='ask']");
        if (ask) ask.remove();
        form.dataset.confirmed = "true";
        form.requestSubmit(submitter instanceof HTMLElement && form.contains(submitter) ? submitter : undefined);
      },
      { once: true },
    );
    dialog.showModal();
  },
  true,
);

// A notice with an Undo button (`data-expires`: seconds) withdraws it when the time is up; the
// record can still be restored from the deleted list.
function expiringNotices(root) {
  const notices = root.querySelectorAll ? root.querySelectorAll("[data-expires]") : [];
  for (const notice of notices) {
    const seconds = Number(notice.dataset.expires);
    if (!(seconds > 0)) continue;
    setTimeout(() => {
      if (notice.contains(document.activeElement)) document.getElementById("main")?.focus();
      notice.remove();
    }, seconds * 1000);
  }
}

htmx.onLoad(expiringNotices);

// A list's bulk bar: "all on this page" (shown only with script, as it does nothing without),
// a live count of what is selected, and, at submit, the list's
// current search and filters (htmx may have changed them since the page loaded) for "all
// matching".
function bulkBars(root) {
  const bars = root.querySelectorAll ? root.querySelectorAll("form[data-bulk]") : [];
  for (const bar of bars) {
    if (bar.dataset.bulkReady) continue;
    bar.dataset.bulkReady = "true";
    const rows = () => document.querySelectorAll(`input[name='ids'][form='${bar.id}']`);
    const page = bar.querySelector("[data-bulk-page]");
    const allMatching = bar.querySelector("[data-bulk-all-matching]");
    const count = bar.querySelector("[data-bulk-count]");
    const update = () => {
      const boxes = [...rows()];
      const ticked = boxes.filter((box) => box.checked).length;
      if (page) {
        page.checked = boxes.length > 0 && ticked === boxes.length;
        page.indeterminate = ticked > 0 && ticked < boxes.length;
      }
      count.textContent = allMatching.checked
        ? "All matching this list selected, on every page."
        : `${ticked} selected.`;
    };
    if (page) {
      page.closest("label").hidden = false;
      page.addEventListener("change", () => {
        for (const box of rows()) box.checked = page.checked;
        update();
      });
    }
    document.addEventListener("change", (event) => {
      if (event.target instanceof HTMLInputElement && event.target.name === "ids") update();
    });
    allMatching.addEventListener("change", update);
    document.body.addEventListener("htmx:afterSwap", update);
    bar.addEventListener("submit", () => {
      bar.elements.namedItem("filter").value = window.location.search.replace(/^\?/, "");
    });
    update();
  }
}

htmx.onLoad(bulkBars);

// The header's search: `/` or Ctrl-K (Cmd-K) jumps to it from anywhere but a field being typed
// in; Escape empties its results and goes back to the page. Without JavaScript the form opens
// the search page.

function typingInField(target) {
  return (
    target instanceof HTMLElement &&
    (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName))
  );
}

document.addEventListener("keydown", (event) => {
  const search = document.getElementById("header-search");
  if (!(search instanceof HTMLInputElement)) return;
  const ctrlK = (event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "k";
  const slash = event.key === "/" && !event.ctrlKey && !event.metaKey && !event.altKey;
  if (ctrlK || (slash && !typingInField(event.target))) {
    event.preventDefault();
    openMenu(false);
    search.focus();
    search.select();
  } else if (event.key === "Escape" && event.target === search) {
    const results = document.getElementById("header-search-results");
    if (results) results.replaceChildren();
    search.blur();
  }
});

// The workspace header's navigation folds behind a Menu button on narrow screens (the CSS
// decides when); without JavaScript the button stays hidden and the navigation shown.

function openMenu(open) {
  const button = document.querySelector(".menu-button");
  if (!(button instanceof HTMLButtonElement)) return;
  button.setAttribute("aria-expanded", String(open));
  button.closest(".site-header")?.classList.toggle("menu-open", open);
}

document.addEventListener("DOMContentLoaded", () => {
  const button = document.querySelector(".menu-button");
  if (!(button instanceof HTMLButtonElement)) return;
  button.hidden = false;
  button.closest(".site-header")?.classList.add("has-menu");
  button.addEventListener("click", () => {
    openMenu(button.getAttribute("aria-expanded") !== "true");
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && button.getAttribute("aria-expanded") === "true") {
      openMenu(false);
      button.focus();
    }
  });
});
