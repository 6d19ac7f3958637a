export function mount(element, { plugin }) {
  element.textContent = `${plugin} is here`;
}
