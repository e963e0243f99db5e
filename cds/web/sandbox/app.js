/* The sandbox page: load a chart, show what the checks see (asked of the service, never computed
 * here), compose the blinatumomab order, sign it through the real CDS Hooks endpoint, render the
 * cards as an EHR does, and send real feedback on accept and override. Plain JS, no build step. */
(function () {
  "use strict";

  const SERVICE = "blinatumomab-order-sign";
  const UCUM = "http://unitsofmeasure.org";
  const RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm";
  const SNOMED = "http://snomed.info/sct";
  const INDICATION_SYSTEM = "https://cds.example.org/fhir/CodeSystem/blinatumomab-indication";
  const CYCLE_EXTENSION = "https://cds.example.org/fhir/StructureDefinition/treatment-cycle";
  const UNITS = [
    ["ug/d", "mcg/day"],
    ["ug/m2/d", "mcg/m²/day"],
    ["mg/d", "mg/day"],
    ["ug/(24.h)", "mcg/24 h"],
    ["ug/h", "mcg/h (rate)"],
  ];
  const ROUTES = {
    iv: { system: SNOMED, code: "47625008", display: "Intravenous route" },
    oral: { system: SNOMED, code: "26643006", display: "Oral route" },
  };
  const PREMEDS = {
    dexamethasone: { code: "3264", route: "iv", how: "IV" },
    prednisone: { code: "8640", route: "oral", how: "PO" },
  };
  const PREFETCH_KEYS = {
    Observation: "observations",
    Immunization: "immunizations",
    MedicationRequest: "medications",
    Medication: "medications",
    Condition: "conditions",
    Encounter: "medications", // as `_include=MedicationRequest:encounter` brings it
  };
  const DAY = 86400000;
  const FINDING_CODE = "org.example.cds.finding-code"; // cds/cards.py FINDING_CODE_EXTENSION

  const state = {
    source: null, // { bundle, description, patient }: the Bundle as loaded, to reload or re-pick
    shift: null, // { days, birthDate, movedBirthDate }: how the chart's dates were moved
    patient: null, // the Patient resource
    chart: [], // every other resource of the chart that is not a draft order
    drafts: [], // the draft orders (what context.draftOrders will hold)
    blinatumomab: null, // "MedicationRequest/<id>" of the order the form edits
    cards: [],
    signedAt: null,
  };

  const $ = (id) => document.getElementById(id);
  const md = () => window.SandboxMarkdown;

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function uuid() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    const bytes = window.crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  const clone = (value) => JSON.parse(JSON.stringify(value));
  const label = (resource) => `${resource.resourceType}/${resource.id}`;

  // ------------------------------------------------------------------ talking to the service

  function showError(message) {
    const box = $("error");
    box.textContent = message;
    box.hidden = !message;
  }

  /* body[data-busy] while a request is in flight, so that automation can wait for quiet. */
  let inFlight = 0;
  function busy(change) {
    inFlight += change;
    if (inFlight > 0) document.body.dataset.busy = String(inFlight);
    else delete document.body.dataset.busy;
  }

  async function call(method, url, body) {
    const options = { method, headers: { Accept: "application/json" } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    let response;
    let text;
    busy(1);
    try {
      response = await fetch(url, options);
      text = await response.text();
    } catch (error) {
      throw new Error(`${method} ${url}: the service did not answer (${error.message})`);
    } finally {
      busy(-1);
    }
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch (error) {
      json = null;
    }
    if (!response.ok) {
      let why = (json && json.issue && json.issue.map((i) => i.diagnostics).join("; ")) || text;
      if (response.status === 401) {
        why =
          "the service requires a JWT signed by a trusted EHR, which this page cannot send. " +
          "Run it in open development mode (python -m cds serve --dev) to use the sandbox page.";
      }
      const error = new Error(`${method} ${url}: HTTP ${response.status}: ${why}`);
      error.status = response.status;
      throw error;
    }
    return { json, headers: response.headers };
  }

  async function guarded(action) {
    try {
      showError("");
      return await action();
    } catch (error) {
      showError(error.message);
      return undefined;
    }
  }

  // ------------------------------------------------------------------ the chart

  function resourcesOf(document) {
    if (document && document.resourceType === "Bundle") {
      return (document.entry || []).map((e) => e && e.resource).filter((r) => r && r.resourceType);
    }
    if (document && document.hook && document.context) {
      // a CDS Hooks request: its prefetch is the chart, its draftOrders the drafts
      const found = [];
      for (const value of Object.values(document.prefetch || {})) {
        if (value && value.resourceType === "Bundle") found.push(...resourcesOf(value));
        else if (value && value.resourceType) found.push(value);
      }
      const drafts = resourcesOf((document.context || {}).draftOrders || {});
      return found.concat(drafts.map((r) => Object.assign({ status: "draft" }, r)));
    }
    throw new Error("expected a FHIR Bundle (or a CDS Hooks order-sign request)");
  }

  function isDraft(resource) {
    return (
      ["MedicationRequest", "ServiceRequest"].includes(resource.resourceType) &&
      resource.status === "draft"
    );
  }

  async function useChart(bundle, description, shift) {
    const resources = resourcesOf(bundle);
    const patient = resources.find((r) => r.resourceType === "Patient");
    if (!patient) throw new Error("the Bundle holds no Patient");
    if (!patient.id) patient.id = "sandbox-patient";
    state.patient = patient;
    state.shift = shift || null;
    state.drafts = resources.filter(isDraft).map(clone);
    state.drafts.forEach((r, i) => {
      if (!r.id) r.id = `draft-${i + 1}`;
    });
    state.chart = resources.filter((r) => r !== patient && !isDraft(r));
    state.blinatumomab = null;
    state.signedAt = null;
    clearCards("Sign the order to see the cards.");
    $("chart-status").textContent = description;
    renderShift();
    renderSave();
    const summary = await refreshSummary();
    const order = summary && summary.orders[0];
    state.blinatumomab = order ? order.resource : null;
    renderOrder();
    document.body.dataset.loads = String(Number(document.body.dataset.loads || 0) + 1);
  }

  /* Say whether and by how much the dates were moved, with the birth date as filed. */
  function renderShift() {
    const note = $("shift-note");
    const shift = state.shift;
    if (!shift) {
      note.hidden = true;
      note.replaceChildren();
      return;
    }
    note.hidden = false;
    note.dataset.days = String(shift.days);
    if (!shift.days) {
      note.replaceChildren(el("strong", {}, "Dates as in the file"), " (not moved).");
      return;
    }
    const direction = shift.days > 0 ? "forward" : "back";
    const days = Math.abs(shift.days);
    note.replaceChildren(
      el("strong", {}, `Dates moved ${days} day${days === 1 ? "" : "s"} ${direction}`),
      " so that the orders are signed today; every date in the chart moved by the same amount.",
      shift.birthDate ? el("br") : null,
      shift.birthDate ? `Birth date ${shift.movedBirthDate} (in the file: ${shift.birthDate}).` : null
    );
  }

  /* Any chart Bundle goes through the service, which reads it as `check` does: the patients it
   * holds (a picker when several), references resolved, dates moved when asked. */
  async function openChart(bundle, description, patient) {
    state.source = { bundle, description, patient: patient || null };
    const { json } = await call("POST", "/sandbox/chart", {
      bundle,
      patient: patient || null,
      moveDates: $("move-dates").checked,
    });
    const picker = $("bundle-patient");
    const several = json.patients.length > 1;
    $("bundle-patient-row").hidden = !several;
    if (several) {
      picker.replaceChildren(
        el("option", { value: "" }, `Choose one of the ${json.patients.length} patients…`),
        ...json.patients.map((p) => el("option", { value: p.id }, p.label))
      );
      picker.value = json.patient || "";
    }
    if (!json.chart) {
      state.patient = null;
      state.shift = null;
      renderShift();
      $("chart-status").textContent = `${description}: the Bundle holds ${json.patients.length} patients; choose one.`;
      $("summary").replaceChildren(el("p", { class: "muted" }, "Choose a patient of the Bundle."));
      clearCards("Sign the order to see the cards.");
      renderOrder();
      renderSave();
      document.body.dataset.picks = String(Number(document.body.dataset.picks || 0) + 1);
      picker.focus();
      return;
    }
    const chosen = json.patients.find((p) => p.id === json.patient);
    const who = several && chosen ? ` — ${chosen.name}` : "";
    await useChart(json.chart, `${description}${who}`, json.shift);
  }

  async function loadSample(name) {
    if (!name) return;
    const { json } = await call("GET", `/sandbox/patients/${encodeURIComponent(name)}?dates=original`);
    $("case-name").value = name;
    await openChart(json, name, null);
  }

  async function usePasted() {
    const text = $("bundle-json").value.trim();
    if (!text) throw new Error("paste a FHIR Bundle first (or choose a file)");
    let document;
    try {
      document = JSON.parse(text);
    } catch (error) {
      throw new Error(`the pasted text is not JSON (${error.message})`);
    }
    $("patient-select").value = "";
    if (document && document.resourceType === "Bundle") {
      await openChart(document, "pasted Bundle", null);
    } else {
      state.source = null;
      $("bundle-patient-row").hidden = true;
      await useChart(document, "pasted CDS Hooks request (dates as sent)", null);
    }
  }

  // ------------------------------------------------------------------ the request

  function searchset(resources) {
    return resources.length
      ? { resourceType: "Bundle", type: "searchset", entry: resources.map((r) => ({ resource: r })) }
      : null; // null: the EHR knows there is no such data
  }

  function hookRequest() {
    const keys = { observations: [], immunizations: [], medications: [], conditions: [] };
    for (const resource of state.chart) {
      const key = PREFETCH_KEYS[resource.resourceType];
      if (key) keys[key].push(resource);
    }
    const prefetch = { patient: state.patient };
    for (const [key, resources] of Object.entries(keys)) prefetch[key] = searchset(resources);
    return {
      hook: "order-sign",
      hookInstance: uuid(),
      context: {
        userId: "Practitioner/sandbox-pharmacist",
        patientId: state.patient.id,
        draftOrders: {
          resourceType: "Bundle",
          type: "collection",
          entry: state.drafts.map((r) => ({ resource: r })),
        },
      },
      prefetch,
    };
  }

  // ------------------------------------------------------------------ what the checks see

  let summaryTimer = null;
  let summaryRun = 0;

  function scheduleSummary() {
    clearTimeout(summaryTimer);
    summaryTimer = setTimeout(() => guarded(refreshSummary), 250);
  }

  async function refreshSummary() {
    clearTimeout(summaryTimer);
    summaryTimer = null;
    if (!state.patient) return null;
    const run = ++summaryRun;
    $("draft-json").textContent = JSON.stringify(state.drafts, null, 2);
    const { json } = await call("POST", "/sandbox/summary", hookRequest());
    if (run === summaryRun) renderSummary(json);
    return json;
  }

  function day(iso) {
    return iso ? iso.slice(0, 10) : "undated";
  }

  function row(name, ...value) {
    return el("tr", {}, el("th", { scope: "row" }, name), el("td", {}, ...value));
  }

  function from(resource, date) {
    return el("span", { class: "from" }, ` — ${resource}${date === undefined ? "" : `, ${day(date)}`}`);
  }

  function measurement(found, what) {
    if (!found) return el("span", { class: "missing" }, `no ${what} on file`);
    return el(
      "span",
      {},
      found.text,
      found.stale ? el("span", { class: "flag" }, ` (older than ${found.maxAgeDays} days)`) : null,
      from(found.resource, found.date)
    );
  }

  function list(items, empty) {
    return items.length ? el("ul", {}, items.map((i) => el("li", {}, i))) : el("span", { class: "muted" }, empty);
  }

  function missing(text) {
    return el("span", { class: "missing" }, text);
  }

  function group(name) {
    return el("tr", { class: "group" }, el("th", { colspan: "2", scope: "colgroup" }, name));
  }

  const KIND = { crs: "cytokine release syndrome", neurotoxicity: "neurological toxicity", seizure: "seizure" };

  function renderSummary(view) {
    const p = view.patient;
    const shift = state.shift;
    const born = p.birthDate && shift && shift.days && shift.birthDate ? `born ${p.birthDate}; in the file ${shift.birthDate}` : `born ${p.birthDate}`;
    const table = el(
      "table",
      { id: "summary-table" },
      el("caption", {}, "What each check reads, and where it came from (resource, date)"),
      group("Patient"),
      row("Age", p.ageYears === null ? missing("unknown (no birth date)") : `${p.ageYears} years (${born}; age at ${p.ageAt})`),
      row("Sex", p.sex || missing("unknown"))
    );
    table.dataset.age = p.ageYears === null ? "" : String(p.ageYears);
    table.append(group("Dose check"), row("Weight", measurement(view.weight, "weight")), row("Height", measurement(view.height, "height")));
    view.orders.forEach((order, index) => {
      const which = view.orders.length > 1 ? ` (${order.resource})` : "";
      if (index > 0 || view.orders.length > 1) table.append(group(`Order ${order.resource}`));
      table.append(
        row(`BSA${which}`, order.bsa.text ? `${order.bsa.text}: ${order.bsa.basis}` : missing(order.bsa.basis)),
        row(`Dose basis${which}`, order.doseBand),
        row(`Indication${which}`, `${order.indication || "unknown"} (${order.indicationBasis})`),
        row(`Cycle${which}`, `${order.cycle === null ? "unknown" : order.cycle} (${order.cycleBasis})`),
        row(`Starts${which}`, `${order.start.replace("T", " ").slice(0, 16)} UTC, day ${order.cycleDay} of the cycle`),
        row(`Ordered${which}`, list(order.steps.map((s) => s.text), "no dose"), from(order.resource))
      );
    });
    if (!view.orders.length) {
      table.append(row("Order", missing("no blinatumomab order among the draft orders")));
    }
    view.orders.forEach((order) => {
      const which = view.orders.length > 1 ? ` (${order.resource})` : "";
      table.append(
        group(`Lab check${which}`),
        ...order.labs.map((lab) =>
          row(
            lab.test,
            lab.result ? [lab.result.value, from(lab.result.resource, lab.result.date)] : missing(`none in the ${lab.withinDays} days before the start`)
          )
        ),
        group(`Hospitalisation check${which}`),
        row(
          "Encounter",
          order.setting.encounter
            ? [`class ${order.setting.class || "not recorded"}`, from(order.setting.encounter)]
            : missing("no encounter on the order"),
          el("div", {}, order.setting.inpatient ? "Counted as inpatient." : "Not counted as inpatient.")
        ),
        group(`Cycle check: earlier cycles and interruptions${which}`),
        row(
          "Earlier infusions",
          list(
            order.infusions.map((i) => [
              `cycle ${i.cycle === null ? "?" : i.cycle}: ${day(i.start)} to ${day(i.end)}, then ${i.gapDaysAfter} days until ${i.gapUntil}`,
              from(i.resource),
            ]),
            "none before this order"
          )
        )
      );
    });
    if (!view.orders.length) {
      table.append(group("Cycle check"), row("Earlier cycles", list(view.earlierCycles.map((c) => [`cycle ${c.cycle === null ? "?" : c.cycle} from ${day(c.start)} (${c.status})`, from(c.resource)]), "no earlier blinatumomab orders")));
    }
    const pregnancy = view.pregnancy;
    table.append(group("Pregnancy check"));
    if (pregnancy.applies === false && !pregnancy.results.length && !pregnancy.problems.length) {
      table.append(row("Pregnancy", `Check does not apply${pregnancy.why ? ` (${pregnancy.why})` : ""}.`));
    } else {
      table.append(
        row(
          "Pregnancy",
          el(
            "div",
            {},
            pregnancy.applies
              ? "Check applies (female of reproductive potential)."
              : pregnancy.applies === false
                ? `No test asked for${pregnancy.why ? ` (${pregnancy.why})` : ""}; a positive result or pregnancy on file still counts.`
                : "Cannot tell whether the check applies."
          ),
          list(
            pregnancy.results.map((r) => [`${r.test}: ${r.value}${r.reading ? ` → ${r.reading}` : ""}`, from(r.resource, r.date)]),
            "no pregnancy status or hCG result"
          )
        ),
        row(
          "Problem list",
          list(
            pregnancy.problems.map((c) => [`pregnancy (${c.status})${c.counts ? ", counted as current" : ", not counted"}`, from(c.resource, c.date)]),
            "no pregnancy entry"
          )
        )
      );
    }
    table.append(
      group("Live-vaccine check"),
      row(
        "Live vaccines",
        view.immunizationsRead
          ? list(
              view.liveVaccines.map((v) => [`${v.vaccine}, ${v.how} (${v.status}; matched by ${v.matchedBy})`, from(v.resource, v.date)]),
              "none given or ordered"
            )
          : missing("immunization history not available")
      ),
      group("Toxicity entries (CRS, neurotoxicity, seizures)"),
      row(
        "Toxicity",
        list(
          view.toxicity.map((t) => [`${KIND[t.kind] || t.kind}${t.grade === null ? ", grade unreadable" : `, grade ${t.grade}`}${t.ended ? `, ended ${day(t.ended)}` : ""}`, from(t.resource, t.onset)]),
          "no CRS, neurotoxicity or seizure entry"
        )
      )
    );
    const unavailable = Object.entries(view.unavailable);
    if (unavailable.length || view.issues.length) {
      table.append(group("Missing or unreadable"));
      if (unavailable.length) table.append(row("Not available", list(unavailable.map(([k, why]) => `${k}: ${why}`), "")));
      if (view.issues.length) table.append(row("Unreadable", list(view.issues.map((i) => `${i.resource || i.source}: ${i.problem}`), "")));
    }
    $("summary").replaceChildren(table, el("p", { class: "muted" }, `As of ${view.asOf.slice(0, 16).replace("T", " ")} UTC (the service's clock).`));
  }

  // ------------------------------------------------------------------ the order form

  function currentOrder() {
    return state.drafts.find((r) => label(r) === state.blinatumomab) || null;
  }

  function utcInput(iso) {
    const time = Date.parse(iso);
    return Number.isNaN(time) ? "" : new Date(time).toISOString().slice(0, 16);
  }

  function quantityOf(dosage) {
    for (const item of dosage.doseAndRate || []) {
      if (item.doseQuantity) return [item.doseQuantity, false];
      if (item.rateQuantity) return [item.rateQuantity, true];
    }
    return dosage.doseQuantity ? [dosage.doseQuantity, false] : [null, false];
  }

  /* The order as the form can show it, and what the form cannot show (said, not hidden). */
  function readOrder(order) {
    const unsure = [];
    const reasons = (order.reasonCode || []).flatMap((c) => c.coding || []);
    const indication = (reasons.find((c) => c.system === INDICATION_SYSTEM) || {}).code || "";
    const cycleExt = (order.extension || []).find((e) => e.url === CYCLE_EXTENSION);
    const dosages = (order.dosageInstruction || []).slice().sort((a, b) => (a.sequence || 0) - (b.sequence || 0));
    let start = order.authoredOn || "";
    const steps = dosages.map((dosage, index) => {
      const repeat = (dosage.timing || {}).repeat || {};
      const [quantity, rate] = quantityOf(dosage);
      let days = "";
      if (repeat.boundsDuration) {
        const d = repeat.boundsDuration;
        days = (d.code || d.unit) === "h" ? d.value / 24 : d.value;
      } else if (repeat.boundsPeriod && repeat.boundsPeriod.start && repeat.boundsPeriod.end) {
        days = Math.round((Date.parse(repeat.boundsPeriod.end) - Date.parse(repeat.boundsPeriod.start)) / DAY);
      }
      if (index === 0 && repeat.boundsPeriod && repeat.boundsPeriod.start) start = repeat.boundsPeriod.start;
      const unit = quantity ? quantity.code || quantity.unit : "ug/d";
      if (!UNITS.some(([code]) => code === unit)) unsure.push(`unit ${unit}`);
      if (repeat.frequency && repeat.frequency !== 1) unsure.push(`${repeat.frequency} administrations per period`);
      if (rate && unit !== "ug/h") unsure.push("a rate in another unit");
      return { dose: quantity ? quantity.value : "", unit, days };
    });
    const supply = (order.dispenseRequest || {}).expectedSupplyDuration;
    let bag = "24";
    if (supply) {
      const hours = (supply.code || supply.unit) === "d" ? supply.value * 24 : supply.value;
      bag = String(hours);
    }
    return { indication, cycle: cycleExt ? cycleExt.valueInteger : "", start: utcInput(start), bag, steps, unsure };
  }

  function stepRow(step) {
    const unit = el("select", { class: "step-unit", "aria-label": "Unit" },
      UNITS.map(([code, text]) => el("option", { value: code }, text)));
    if (!UNITS.some(([code]) => code === step.unit)) unit.append(el("option", { value: step.unit }, step.unit));
    unit.value = step.unit;
    const tr = el(
      "tr",
      { class: "step" },
      el("td", {}, el("input", { class: "step-dose", type: "number", min: "0", step: "any", value: step.dose, "aria-label": "Dose" })),
      el("td", {}, unit),
      el("td", {}, el("input", { class: "step-days", type: "number", min: "1", step: "1", value: step.days, "aria-label": "Days" })),
      el("td", {}, el("button", { type: "button", class: "remove-step", onclick: () => { tr.remove(); formChanged(); } }, "Remove"))
    );
    return tr;
  }

  function renderOrder() {
    const order = currentOrder();
    $("order-form").hidden = !order;
    $("new-order").hidden = !!order || !state.patient;
    $("sign").disabled = !state.patient;
    $("order-note").textContent = order
      ? `Editing ${label(order)} (${(order.medicationCodeableConcept || {}).text || "blinatumomab"}).`
      : state.patient
        ? "No blinatumomab order among the draft orders."
        : "No order yet.";
    if (order) {
      const form = readOrder(order);
      $("indication").value = form.indication;
      $("cycle").value = form.cycle;
      $("start").value = form.start;
      if (![...$("bag").options].some((o) => o.value === form.bag)) {
        $("bag").append(el("option", { value: form.bag }, `${form.bag} hours`));
      }
      $("bag").value = form.bag;
      $("steps").replaceChildren(...form.steps.map(stepRow));
      const warning = $("order-warning");
      warning.hidden = !form.unsure.length;
      warning.textContent = form.unsure.length
        ? `The form cannot show everything in this order (${[...new Set(form.unsure)].join(", ")}); ` +
          "it is signed as written until you edit the form, which rewrites its dosage."
        : "";
    }
    renderDrafts();
  }

  function renderDrafts() {
    const others = state.drafts.filter((r) => label(r) !== state.blinatumomab);
    $("draft-list").replaceChildren(
      ...(others.length
        ? others.map((r) => {
            const name = (r.medicationCodeableConcept || r.code || {}).text || label(r);
            const how = (r.dosageInstruction || []).map((d) => d.text).filter(Boolean).join("; ");
            return el(
              "li",
              { dataset: { resource: label(r) } },
              el("span", {}, `${name}${how ? `: ${how}` : ""} `),
              el("button", { type: "button", class: "remove-draft", onclick: () => removeDraft(label(r)) }, "Remove")
            );
          })
        : [el("li", { class: "muted" }, "none")])
    );
    $("draft-json").textContent = JSON.stringify(state.drafts, null, 2);
  }

  function removeDraft(resource) {
    state.drafts = state.drafts.filter((r) => label(r) !== resource);
    draftsChanged();
  }

  function quantity(value, unit) {
    return { value, unit, system: UCUM, code: unit };
  }

  function isoUtc(time) {
    return new Date(time).toISOString().replace(".000Z", "+00:00");
  }

  /* Write the form back into the order: indication, cycle, dosage steps and bag are rewritten;
   * everything else on the order (medication, subject, requester, notes, ...) is kept. */
  function writeOrder(order) {
    const indication = $("indication").value;
    order.reasonCode = (order.reasonCode || [])
      .map((c) => Object.assign({}, c, { coding: (c.coding || []).filter((x) => x.system !== INDICATION_SYSTEM) }))
      .filter((c) => c.coding.length || c.text);
    if (indication) order.reasonCode.push({ coding: [{ system: INDICATION_SYSTEM, code: indication }] });
    if (!order.reasonCode.length) delete order.reasonCode;
    const cycle = parseInt($("cycle").value, 10);
    order.extension = (order.extension || []).filter((e) => e.url !== CYCLE_EXTENSION);
    if (cycle >= 1) order.extension.push({ url: CYCLE_EXTENSION, valueInteger: cycle });
    if (!order.extension.length) delete order.extension;
    let at = Date.parse(`${$("start").value}:00Z`);
    if (Number.isNaN(at)) at = Date.now();
    order.dosageInstruction = Array.from($("steps").querySelectorAll("tr.step")).map((tr, index) => {
      const dose = parseFloat(tr.querySelector(".step-dose").value);
      const unit = tr.querySelector(".step-unit").value;
      const days = parseFloat(tr.querySelector(".step-days").value);
      const repeat = { frequency: 1, period: 1, periodUnit: "d" };
      const bounds = { start: isoUtc(at) };
      if (days > 0) {
        at += days * DAY;
        bounds.end = isoUtc(at);
      }
      repeat.boundsPeriod = bounds;
      const dosage = {
        sequence: index + 1,
        text: `${Number.isNaN(dose) ? "?" : dose} ${unit} continuous IV infusion${days > 0 ? ` for ${days} days` : ""}`,
        route: { coding: [ROUTES.iv] },
        timing: { repeat },
      };
      if (!Number.isNaN(dose)) {
        dosage.doseAndRate = [{ [unit === "ug/h" ? "rateQuantity" : "doseQuantity"]: quantity(dose, unit) }];
      }
      return dosage;
    });
    const hours = Number($("bag").value);
    order.dispenseRequest = Object.assign({}, order.dispenseRequest, {
      expectedSupplyDuration: hours % 24 === 0 && hours >= 168 ? quantity(hours / 24, "d") : quantity(hours, "h"),
    });
    return order;
  }

  function formChanged() {
    const order = currentOrder();
    if (!order) return;
    writeOrder(order);
    $("order-warning").hidden = true;
    draftsChanged();
  }

  function draftsChanged() {
    renderDrafts();
    markCardsStale();
    scheduleSummary();
  }

  function newOrder() {
    const start = new Date(Math.ceil(Date.now() / 3600000) * 3600000);
    const order = {
      resourceType: "MedicationRequest",
      id: `blinatumomab-${uuid().slice(0, 8)}`,
      status: "draft",
      intent: "order",
      medicationCodeableConcept: {
        coding: [{ system: RXNORM, code: "1597258", display: "blinatumomab" }],
        text: "Blinatumomab (BLINCYTO) continuous IV infusion",
      },
      subject: { reference: `Patient/${state.patient.id}` },
      authoredOn: isoUtc(Date.now() - (Date.now() % 1000)),
      dosageInstruction: [
        { sequence: 1, timing: { repeat: { boundsPeriod: { start: isoUtc(start), end: isoUtc(start.getTime() + 7 * DAY) } } }, doseAndRate: [{ doseQuantity: quantity(9, "ug/d") }] },
        { sequence: 2, timing: { repeat: { boundsDuration: quantity(21, "d") } }, doseAndRate: [{ doseQuantity: quantity(28, "ug/d") }] },
      ],
      dispenseRequest: { expectedSupplyDuration: quantity(24, "h") },
    };
    state.drafts.push(order);
    state.blinatumomab = label(order);
    renderOrder();
    formChanged();
  }

  function addPremedication() {
    const drug = $("premed-drug").value;
    const mg = parseFloat($("premed-mg").value);
    if (!(mg > 0)) throw new Error("enter the premedication dose in mg");
    const known = PREMEDS[drug];
    const order = currentOrder();
    const form = order ? readOrder(order) : null;
    const startsAt = form && form.start ? Date.parse(`${form.start}:00Z`) : Date.now();
    state.drafts.push({
      resourceType: "MedicationRequest",
      id: `${drug}-${uuid().slice(0, 8)}`,
      status: "draft",
      intent: "order",
      medicationCodeableConcept: { coding: [{ system: RXNORM, code: known.code, display: drug }], text: drug },
      subject: { reference: `Patient/${state.patient.id}` },
      authoredOn: isoUtc(Date.now() - (Date.now() % 1000)),
      dosageInstruction: [
        {
          text: `${drug} ${mg} mg ${known.how} once, 1 hour before blinatumomab`,
          timing: { event: [isoUtc(startsAt - 3600000)] },
          route: { coding: [ROUTES[known.route]] },
          doseAndRate: [{ doseQuantity: quantity(mg, "mg") }],
        },
      ],
    });
    draftsChanged();
  }

  // ------------------------------------------------------------------ signing and the cards

  function clearCards(message) {
    state.cards = [];
    $("cards").replaceChildren(el("p", { class: "muted" }, message));
  }

  function markCardsStale() {
    if (state.signedAt) {
      $("sign-status").textContent = "The draft changed since signing: sign again to re-check.";
      $("cards").classList.add("stale");
      state.signedAt = null; // what is shown is no longer what would be saved
    }
    renderSave();
  }

  async function sign() {
    if (!state.patient) throw new Error("load a patient first");
    if (summaryTimer !== null) await refreshSummary(); // the summary shows what is signed
    const request = hookRequest();
    $("request-json").textContent = JSON.stringify(request, null, 2);
    $("sign").disabled = true;
    $("sign-status").textContent = "Signing…";
    try {
      const { json } = await call("POST", `/cds-services/${SERVICE}`, request);
      state.cards = json.cards || [];
      state.signedAt = new Date();
      renderCards(state.cards);
      document.body.dataset.signs = String(Number(document.body.dataset.signs || 0) + 1);
      const count = state.cards.length;
      $("sign-status").textContent = `Signed at ${state.signedAt.toISOString().slice(11, 19)} UTC: ${count} card${count === 1 ? "" : "s"}.`;
      renderSave();
    } catch (error) {
      $("sign-status").textContent = "Signing failed.";
      throw error;
    } finally {
      $("sign").disabled = false;
    }
  }

  function renderCards(cards) {
    $("cards").classList.remove("stale");
    if (!cards.length) {
      $("cards").replaceChildren(el("p", { id: "no-cards", class: "ok" }, "No cards: every check ran and found nothing to say."));
      return;
    }
    $("cards").replaceChildren(...cards.map(renderCard));
  }

  function renderCard(card) {
    const topic = ((card.source || {}).topic || {}).code || "";
    const detail = el("div", { class: "detail" });
    detail.innerHTML = md().render(card.detail || ""); // escaped by the renderer
    const source = card.source || {};
    const sourceLine = el(
      "p",
      { class: "source" },
      "Source: ",
      source.url && /^https?:\/\//i.test(source.url)
        ? el("a", { href: source.url, target: "_blank", rel: "noopener noreferrer" }, source.label)
        : source.label,
      topic ? el("span", { class: "topic" }, ` · ${topic}`) : null
    );
    const links = (card.links || [])
      .filter((l) => /^https?:\/\//i.test(l.url))
      .map((l) => el("a", { class: "card-link", href: l.url, target: "_blank", rel: "noopener noreferrer" }, l.label));
    const node = el("article", {
      class: `card indicator-${card.indicator}`,
      dataset: { uuid: card.uuid, indicator: card.indicator, topic },
    });
    const suggestions = (card.suggestions || []).map((s) =>
      el(
        "button",
        {
          type: "button",
          class: `suggestion${s.isRecommended ? " recommended" : ""}`,
          dataset: { uuid: s.uuid },
          onclick: () => guarded(() => accept(card, s, node)),
        },
        s.label
      )
    );
    const overrideButton = el("button", { type: "button", class: "override", onclick: () => openOverride(card, node) }, "Override…");
    node.append(
      el("header", {}, el("span", { class: "badge" }, card.indicator), el("h3", { class: "summary" }, card.summary)),
      detail,
      sourceLine,
      links.length ? el("p", { class: "links" }, ...links) : null,
      el("div", { class: "actions" }, ...suggestions, overrideButton),
      el("p", { class: "card-status", "aria-live": "polite" })
    );
    return node;
  }

  function openOverride(card, node) {
    if (node.querySelector(".override-form")) return;
    const reasons = card.overrideReasons || [];
    const select = el(
      "select",
      { class: "override-reason", "aria-label": "Override reason" },
      el("option", { value: "" }, reasons.length ? "Choose a reason…" : "(no coded reasons on this card)"),
      reasons.map((r, i) => el("option", { value: String(i) }, r.display || r.code))
    );
    const comment = el("textarea", { class: "override-comment", rows: "2", "aria-label": "Comment", placeholder: "Comment (optional with a reason)" });
    const send = el("button", { type: "button", class: "send-override", disabled: true }, "Send override");
    const ready = () => {
      send.disabled = !(select.value || comment.value.trim());
    };
    select.addEventListener("change", ready);
    comment.addEventListener("input", ready);
    send.addEventListener("click", () =>
      guarded(async () => {
        const reason = select.value ? reasons[Number(select.value)] : null;
        const overrideReason = {};
        if (reason) overrideReason.reason = Object.assign({ userSelected: true }, reason);
        if (comment.value.trim()) overrideReason.userComment = comment.value.trim();
        const answer = await sendFeedback({ card: card.uuid, outcome: "overridden", overrideReason, outcomeTimestamp: new Date().toISOString() }, card);
        form.remove();
        settle(node, "overridden", `Overridden${reason ? `: ${reason.display || reason.code}` : ""}. ${answer}`);
      })
    );
    const form = el("div", { class: "override-form" }, select, comment, send);
    node.querySelector(".actions").after(form);
    select.focus();
  }

  function settle(node, outcome, text) {
    node.classList.add(`outcome-${outcome}`);
    node.dataset.outcome = outcome;
    node.querySelectorAll(".actions button").forEach((b) => (b.disabled = true));
    node.querySelector(".card-status").textContent = text;
  }

  async function sendFeedback(item, card) {
    const { json } = await call("POST", `/cds-services/${SERVICE}/feedback`, { feedback: [item] });
    const stored = (json.items || [])[0] || {};
    const said = stored.knownCard ? "Feedback recorded." : "Feedback recorded (card not known to the service).";
    logFeedback(item, card);
    return said;
  }

  /* The feedback sent, listed per patient: outcome, card, the reason's display text, comment. */
  function logFeedback(item, card) {
    const who = `Patient/${state.patient.id}`;
    let section = Array.from($("feedback-log").children).find((s) => s.dataset.patient === who);
    if (!section) {
      const name = patientName(state.patient);
      section = el("section", { class: "feedback-patient", dataset: { patient: who } }, el("h4", {}, `${name} (${who})`), el("ol", {}));
      $("feedback-log").append(section);
    }
    const override = item.overrideReason || {};
    const reason = override.reason ? override.reason.display || override.reason.code : null;
    section.querySelector("ol").append(
      el(
        "li",
        { dataset: { card: item.card, outcome: item.outcome } },
        `${item.outcomeTimestamp.slice(11, 19)} ${item.outcome}: ${card.summary}`,
        reason ? el("div", { class: "reason" }, `Reason: ${reason}`) : null,
        override.userComment ? el("div", { class: "comment" }, `Comment: ${override.userComment}`) : null
      )
    );
  }

  function patientName(patient) {
    for (const name of patient.name || []) {
      const text = name.text || [...(name.given || []), name.family || ""].join(" ").trim();
      if (text) return text;
    }
    return patient.id;
  }

  /* Apply a suggestion's FHIR actions to the draft, as an EHR would. */
  function applyActions(actions) {
    for (const action of actions || []) {
      if (action.type === "create" && action.resource) {
        const resource = clone(action.resource);
        if (!resource.id) resource.id = `${(resource.resourceType || "r").toLowerCase()}-${uuid().slice(0, 8)}`;
        state.drafts.push(resource);
      } else if (action.type === "update" && action.resource) {
        const resource = clone(action.resource);
        const index = state.drafts.findIndex((r) => r.resourceType === resource.resourceType && r.id === resource.id);
        if (index >= 0) state.drafts[index] = resource;
        else state.drafts.push(resource);
      } else if (action.type === "delete") {
        const target = action.resourceId || (action.resource && label(action.resource)) || "";
        const ids = Array.isArray(target) ? target : [target];
        state.drafts = state.drafts.filter((r) => !ids.some((id) => id === label(r) || id === r.id));
      }
    }
  }

  async function accept(card, suggestion, node) {
    applyActions(suggestion.actions);
    const answer = await sendFeedback(
      { card: card.uuid, outcome: "accepted", acceptedSuggestions: [{ id: suggestion.uuid }], outcomeTimestamp: new Date().toISOString() },
      card
    );
    settle(node, "accepted", `Accepted: ${suggestion.label}. ${answer}`);
    if (!state.drafts.some((r) => label(r) === state.blinatumomab)) state.blinatumomab = null;
    renderOrder();
    await refreshSummary();
    await sign(); // re-run the checks on the changed draft, as signing again would
    $("cards-heading").focus(); // the card that held the focus is gone: keep keyboard users here
  }

  // ------------------------------------------------------------------ save as a test case

  function renderSave() {
    const ready = Boolean(state.patient && state.signedAt);
    $("save-case").disabled = !ready;
    $("save-status").textContent = ready ? "" : "Sign the order first: the case keeps the cards of the last signing.";
  }

  const byKey = (a, b) => (a.join("\u0000") < b.join("\u0000") ? -1 : a.join("\u0000") > b.join("\u0000") ? 1 : 0);

  /* NAME.json: the chart and the draft orders as signed (a Bundle `python -m cds check` reads,
   * evaluated as of the orders' authoredOn, set to the signing time); NAME.expected.json: the cards
   * of that signing as [topic, indicator, finding code], as fhir-fixtures/charts/ keeps them. */
  function testCase() {
    const signed = isoUtc(state.signedAt.getTime() - (state.signedAt.getTime() % 1000));
    const drafts = state.drafts.map((r) => Object.assign(clone(r), { status: "draft", authoredOn: signed }));
    const chart = {
      resourceType: "Bundle",
      type: "collection",
      entry: [state.patient, ...state.chart, ...drafts].map((r) => ({
        fullUrl: `urn:uuid:${r.resourceType.toLowerCase()}-${r.id}`.slice(0, 120),
        resource: r,
      })),
    };
    const cards = state.cards.map((c) => [((c.source || {}).topic || {}).code || "", c.indicator || "", (c.extension || {})[FINDING_CODE] || ""]);
    return { chart, expected: { cards: cards.sort(byKey) } };
  }

  function download(name, document) {
    const blob = new Blob([JSON.stringify(document, null, 2) + "\n"], { type: "application/json" });
    const url = URL.createObjectURL(blob);
    const link = el("a", { href: url, download: name, hidden: true });
    window.document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  function saveCase() {
    if (!state.signedAt) throw new Error("sign the order first: a test case keeps the cards of a signing");
    const name = $("case-name").value.trim();
    if (!/^[a-z0-9][a-z0-9-]{0,120}$/.test(name)) {
      $("case-name").focus();
      throw new Error("name the case with lower-case letters, digits and hyphens (e.g. adult-70kg-rr-overdose)");
    }
    const { chart, expected } = testCase();
    download(`${name}.json`, chart);
    download(`${name}.expected.json`, expected);
    $("save-status").textContent = `Saved ${name}.json and ${name}.expected.json (${expected.cards.length} card${expected.cards.length === 1 ? "" : "s"}). Put both in fhir-fixtures/charts/ and commit them.`;
  }

  // ------------------------------------------------------------------ start

  async function start() {
    $("patient-select").addEventListener("change", (e) => guarded(() => loadSample(e.target.value)));
    $("use-bundle").addEventListener("click", () => guarded(usePasted));
    $("bundle-file").addEventListener("change", async (e) => {
      const file = e.target.files[0];
      if (!file) return;
      $("bundle-json").value = await file.text();
      await guarded(usePasted);
    });
    $("move-dates").addEventListener("change", () => {
      const source = state.source;
      if (source) guarded(() => openChart(source.bundle, source.description, source.patient));
    });
    $("bundle-patient").addEventListener("change", (e) => {
      const source = state.source;
      if (source && e.target.value) guarded(() => openChart(source.bundle, source.description, e.target.value));
    });
    $("save-case").addEventListener("click", () => guarded(async () => saveCase()));
    $("order-form").addEventListener("input", formChanged);
    $("order-form").addEventListener("change", formChanged);
    $("order-form").addEventListener("submit", (e) => e.preventDefault());
    $("add-step").addEventListener("click", () => {
      $("steps").append(stepRow({ dose: 28, unit: "ug/d", days: 21 }));
      formChanged();
    });
    $("new-order").addEventListener("click", () => guarded(async () => newOrder()));
    $("add-premed").addEventListener("click", () => guarded(async () => addPremedication()));
    $("premed-drug").addEventListener("change", () => {
      $("premed-mg").value = $("premed-drug").value === "prednisone" ? "100" : "20";
    });
    $("sign").addEventListener("click", () => guarded(sign));
    await guarded(async () => {
      const discovery = await call("GET", "/cds-services");
      const service = (discovery.json.services || []).find((s) => s.id === SERVICE);
      if (service && /OPEN DEVELOPMENT MODE/.test(service.description || "")) {
        $("mode").textContent = "open development mode";
        $("mode").hidden = false;
      }
    });
    await guarded(async () => {
      const { json } = await call("GET", "/sandbox/patients");
      const select = $("patient-select");
      for (const p of json.patients) {
        const expected = (p.expectedCards || []).map((c) => c.join(" ")).join(", ") || "no cards";
        select.append(el("option", { value: p.name, title: `expected: ${expected}` }, `${p.name} — ${p.patient}`));
      }
      if (!json.patients.length) $("chart-status").textContent = "No sample charts found; paste a Bundle.";
    });
    document.body.dataset.ready = "true";
  }

  document.addEventListener("DOMContentLoaded", start);
})();
