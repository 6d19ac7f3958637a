// {{title}}: a UI component for the opac.biblio.sidebar slot (an ES module).
export function Widget({ biblionumber } = {}) {
  const el = document.createElement("div");
  el.className = "{{name}}-widget";
  el.textContent = `{{title}} for record ${biblionumber ?? "?"}`;
  return el;
}
