// The Greeting component for the opac.biblio.sidebar slot.
export function Greeting({ name = "reader" } = {}) {
  const el = document.createElement("p");
  el.className = "hello-world-greeting";
  el.textContent = `Hello ${name}`;
  return el;
}
