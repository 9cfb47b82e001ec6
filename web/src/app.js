// Aura's page behaviour: htmx for partial updates, set up to live under a strict
// Content-Security-Policy (no inline styles, no eval, no inline script).
import htmx from "htmx.org";

htmx.config.includeIndicatorStyles = false; // indicator styles are in app.css instead
htmx.config.allowEval = false;
htmx.config.allowScriptTags = false;
htmx.config.selfRequestsOnly = true;

// A form that was answered with an error keeps focus on its first invalid field, so keyboard
// and screen-reader users land where the problem is.
document.addEventListener("DOMContentLoaded", () => {
  const invalid = document.querySelector("[aria-invalid='true']");
  if (invalid instanceof HTMLElement) invalid.focus();
});

window.htmx = htmx;
