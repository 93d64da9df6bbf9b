// The dashboard's router: #/ (batches), #/batches/<id>, #/models, #/webhooks. Each page renders once and
// then refreshes its data on a timer (live updates by polling: right whichever process answers), paused
// while the tab is hidden.
import { apiKey, onKeyNeeded, setApiKey } from "./api.js";
import { batchesPage } from "./page-batches.js";
import { batchPage } from "./page-batch.js";
import { modelsPage } from "./page-models.js";
import { webhooksPage } from "./page-webhooks.js";

const view = document.getElementById("view");
const live = document.getElementById("live");
const dialog = document.getElementById("key-dialog");
let current = null;

function route() {
  current?.stop();
  const hash = location.hash.replace(/^#/, "") || "/";
  const batch = /^\/batches\/(.+)$/.exec(hash);
  const page = batch ? batchPage(decodeURIComponent(batch[1])) : hash === "/models" ? modelsPage() : hash === "/webhooks" ? webhooksPage() : batchesPage();
  for (const link of document.querySelectorAll("[data-nav]")) link.classList.toggle("active", link.dataset.nav === page.nav);
  view.replaceChildren(page.node);
  current = poll(page);
}

/** Runs page.refresh now and then every page.everyMs, skipping ticks while the tab is hidden. */
function poll(page) {
  let stopped = false;
  let timer = null;
  const tick = async () => {
    if (stopped) return;
    if (!document.hidden) {
      try {
        await page.refresh();
        live.classList.remove("stale");
        live.textContent = "live";
      } catch (error) {
        live.classList.add("stale");
        live.textContent = error.status === 401 ? "API key needed" : "not updating";
      }
    }
    if (!stopped) timer = setTimeout(tick, page.everyMs ?? 2000);
  };
  void tick();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
    now() {
      clearTimeout(timer);
      void tick();
    },
  };
}

function openKeyDialog() {
  if (dialog.open) return;
  document.getElementById("key-input").value = apiKey();
  dialog.showModal();
}

onKeyNeeded(openKeyDialog);
document.getElementById("key-button").addEventListener("click", openKeyDialog);
document.getElementById("key-cancel").addEventListener("click", () => dialog.close());
document.getElementById("key-form").addEventListener("submit", () => {
  setApiKey(document.getElementById("key-input").value.trim());
  current?.now();
});
window.addEventListener("hashchange", route);
document.addEventListener("visibilitychange", () => !document.hidden && current?.now());
route();
