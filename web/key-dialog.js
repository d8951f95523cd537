// Asks for the API key when the API answers 401, then lets the page start over with it.

import { apiKey, setApiKey, UNAUTHORIZED_EVENT } from "./credentials.js";
import { byId } from "./dom.js";

/** Open the key dialog on every refusal; ``onKey()`` runs once a key has been entered. */
export function askForKeyWhenRefused(onKey) {
  const dialog = byId("api-key-dialog");
  const input = byId("api-key-input");
  const refused = byId("api-key-refused");
  window.addEventListener(UNAUTHORIZED_EVENT, () => {
    if (dialog.open) return;
    // With a key already in use, the server refused that key rather than asked for one.
    refused.textContent = apiKey() ? "The server refused that key." : "";
    input.value = "";
    dialog.showModal();
  });
  // method="dialog": the dialog closes by itself once this handler has run.
  byId("api-key-form").addEventListener("submit", () => {
    setApiKey(input.value.trim());
    onKey();
  });
}
