// Asks for the API key when the API answers 401, signs in with it, then lets the page start
// over with the session.

import { session, signIn, UNAUTHORIZED_EVENT } from "./credentials.js";
import { byId } from "./dom.js";

/** Open the key dialog on every refusal; ``onSignIn()`` runs once a key was accepted. */
export function askForKeyWhenRefused(onSignIn) {
  const dialog = byId("api-key-dialog");
  const input = byId("api-key-input");
  const refused = byId("api-key-refused");
  window.addEventListener(UNAUTHORIZED_EVENT, () => {
    if (dialog.open) return;
    // Signed in already: the session ended (it expired, or its key was replaced).
    refused.textContent = session()?.keys_required ? "The session ended; sign in again." : "";
    input.value = "";
    dialog.showModal();
  });
  byId("api-key-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    refused.textContent = "";
    if (!(await signIn(input.value.trim()))) {
      refused.textContent = "The server refused that key.";
      input.select();
      return;
    }
    input.value = "";
    dialog.close();
    onSignIn();
  });
}
