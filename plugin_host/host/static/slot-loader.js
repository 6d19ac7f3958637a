// The slot loader: Koha's pages include it (the Koha bridge adds it to intranet_js and
// opac_js with its SRI hash); it asks the plugin host which components fill each slot on
// the page, fetches each with its own SRI hash, and mounts it. One component failing
// (it throws, never loads, or its bytes do not match their hash) never breaks the page
// or the other components: its slot says which plugin failed, and the rest go on.
//
// A component module exports a function (the manifest's `export`, default `mount`)
// called as fn(element, {slot, host, plugin, version}).

const host = new URL("../", import.meta.url);
const me = document.querySelector('script[src*="/ui/loader.js"]');
const side = me?.dataset.kohaInterface ?? (document.body?.id?.startsWith("opac") ? "opac" : "staff");
const TIMEOUT_MS = Number(me?.dataset.kohaTimeoutMs ?? 10000);

// where each slot lives on Koha's pages (an element with data-koha-slot="…" also works)
const PLACES = {
  "staff.head": "head", "opac.head": "head",
  "staff.dashboard": "#container-main, #main_intranet-main .main",
  "staff.biblio.sidebar": "#catalog_detail aside, #catalogue_detail_biblio",
  "staff.patron.summary": "#patron-information, .patroninfo",
  "staff.tools": "#tools_main, #main_tools-home .main",
  "opac.biblio.sidebar": "#opac-detail .col-lg-3, #opac-detail aside",
  "opac.user.summary": "#opac-user .maincontent, #usersummary",
};

function placeFor(slot) {
  const marked = document.querySelector(`[data-koha-slot="${CSS.escape(slot)}"]`);
  if (marked) return marked;
  const where = PLACES[slot] && document.querySelector(PLACES[slot]);
  if (!where) return null;
  if (where === document.head) return where;
  const box = document.createElement("div");
  box.dataset.kohaSlot = slot;
  where.append(box);
  return box;
}

function failed(box, component, why) {
  const note = document.createElement("p");
  note.setAttribute("role", "status");
  note.className = "koha-slot-error";
  note.textContent = `${component.plugin}: its component for ${box.dataset.kohaSlot ?? "this slot"} could not be shown (${why}).`;
  if (box !== document.head) box.append(note);
  console.warn("koha slot loader:", component.plugin, why);
}

async function mount(box, slot, component) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  let code;
  try {
    const r = await fetch(new URL(component.url.replace(/^\//, ""), host),
      { integrity: component.integrity, signal: controller.signal, credentials: "omit" });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    code = await r.text();
  } catch (e) {
    return failed(box, component, e.name === "AbortError" ? "it did not load in time"
      : e.name === "TypeError" ? "its bytes do not match their hash, or it could not be fetched"
      : e.message);
  } finally {
    clearTimeout(timer);
  }
  const url = URL.createObjectURL(new Blob([code], { type: "text/javascript" }));
  let late;
  const tooLate = new Promise((_, reject) => {
    late = setTimeout(() => reject(new Error("it did not start in time")), TIMEOUT_MS);
  });
  try {
    const run = async () => {
      const module = await import(url);
      const fn = module[component.export] ?? module.default;
      if (typeof fn !== "function") throw new Error(`it exports no ${component.export}()`);
      const target = box === document.head ? box : box.appendChild(document.createElement("div"));
      target.dataset.kohaPlugin = component.plugin;
      await fn(target, { slot, host: host.href, plugin: component.plugin, version: component.version });
    };
    await Promise.race([run(), tooLate]);
  } catch (e) {
    failed(box, component, e.message === "it did not start in time" ? e.message : `it failed: ${e.message}`);
  } finally {
    clearTimeout(late);
    URL.revokeObjectURL(url);
  }
}

async function fill(slot) {
  const box = placeFor(slot);
  if (!box) return;
  let listing;
  try {
    const r = await fetch(new URL(`ui/slots/${encodeURIComponent(slot)}`, host), { credentials: "omit" });
    listing = await r.json();
  } catch (e) {
    console.warn("koha slot loader: no listing for", slot, e);
    return;
  }
  await Promise.all(listing.components.map((c) => mount(box, slot, c)));
}

const slots = new Set([...document.querySelectorAll("[data-koha-slot]")].map((e) => e.dataset.kohaSlot));
for (const slot of Object.keys(PLACES)) if (slot.startsWith(side + ".")) slots.add(slot);
await Promise.all([...slots].map(fill));
document.documentElement.dataset.kohaSlotsLoaded = "true";
