"use strict";
// The page talks to the same API as any client, with the user's API key kept in this
// browser; it shows that user's jobs. No library: the page is small enough without.
const $ = (id) => document.getElementById(id);
const FINISHED = ["completed", "cancelled", "failed"];
const LISTED = 100; // rows of each table under the current job
let token = localStorage.getItem("ocr-ray-token") || "";
let options = null;
let currentJob = null;
let pollTimer = null;
let polls = 0;

class ApiError extends Error {
  constructor(status, detail) {
    super(explain(status, detail));
    this.status = status;
  }
}

// What went wrong, in words: the API's own message (it names the field, the folder or
// the allowed roots), without the status code in front.
function explain(status, detail) {
  if (status === 401) return "This key was not accepted: check it, or ask for a new one.";
  if (Array.isArray(detail)) {
    return detail.map((d) => `${(d.loc || []).filter((p) => p !== "body").join(".")}: ${d.msg}`).join("; ");
  }
  if (typeof detail === "string" && detail) return detail.charAt(0).toUpperCase() + detail.slice(1);
  return `The server answered ${status}.`;
}

async function api(path, init = {}) {
  const headers = Object.assign({ Authorization: `Bearer ${token}` }, init.headers || {});
  let response;
  try {
    response = await fetch(path, Object.assign({}, init, { headers }));
  } catch (_) {
    throw new Error("The server cannot be reached; try again in a moment.");
  }
  if (!response.ok) {
    let detail = "";
    try { detail = (await response.json()).detail; } catch (_) { /* not JSON */ }
    throw new ApiError(response.status, detail);
  }
  return response;
}

const json = async (path, init) => (await api(path, init)).json();
const jobPath = (jobId, rest = "") => `/api/bulk/jobs/${encodeURIComponent(jobId)}${rest}`;

function text(el, value) { el.textContent = value; return el; }
function cell(value) { return text(document.createElement("td"), value == null ? "" : String(value)); }
function when(seconds) { return seconds ? new Date(seconds * 1000).toLocaleString() : ""; }

// Key ------------------------------------------------------------------------------
async function connect() {
  const me = await json("/api/me");
  options = await json("/api/bulk/options");
  text($("auth-status"), `connected as ${me.user}${me.admin ? " (admin)" : ""}`);
  $("workspace").hidden = false;
  $("forget-token").hidden = false;
  $("key-help").hidden = true;
  renderForm();
  await refreshJobs();
  const kept = localStorage.getItem("ocr-ray-job");
  if (kept) follow(kept);
}

function useKey() {
  token = $("token").value.trim();
  localStorage.setItem("ocr-ray-token", token);
  connect().catch((error) => {
    $("workspace").hidden = true;
    text($("auth-status"), error.message);
  });
}

function forgetKey() {
  token = "";
  localStorage.removeItem("ocr-ray-token");
  localStorage.removeItem("ocr-ray-job");
  location.reload();
}

// New job ----------------------------------------------------------------------------
function renderForm() {
  const provider = $("provider");
  provider.replaceChildren(...Object.keys(options.providers).map((name) => {
    const option = text(document.createElement("option"), name);
    option.value = name;
    option.selected = name === "tesseract";
    return option;
  }));
  $("folders").replaceChildren(...options.folders.map((f) => Object.assign(document.createElement("option"), { value: f })));
  text($("roots"), `Folders this server may read: ${options.input_roots.join(", ") || "none (uploads only)"}`);
  renderLanguages();
  renderArchiveFormats();
}

// Every format the server has that a job does not make by default, named as the
// server names it: a format plugin shows up here with nothing to change on the page.
function renderArchiveFormats() {
  const boxes = options.formats.filter((fmt) => !fmt.default).map((fmt) => {
    const label = document.createElement("label");
    const box = Object.assign(document.createElement("input"), { type: "checkbox", value: fmt.name });
    label.append(box, ` ${fmt.label}`);
    return label;
  });
  $("archive").replaceChildren(text(document.createElement("legend"), "Also make"), ...boxes);
}

function renderLanguages() {
  const langs = options.providers[$("provider").value] || [];
  const boxes = langs.map((lang) => {
    const label = document.createElement("label");
    const box = Object.assign(document.createElement("input"), { type: "checkbox", value: lang, checked: lang === "eng" });
    label.append(box, ` ${lang}`);
    return label;
  });
  $("languages").replaceChildren(text(document.createElement("legend"), "Languages"), ...boxes);
}

const checked = (id) => [...$(id).querySelectorAll("input:checked")].map((b) => b.value);
const chosenFormats = () => [...options.export_formats, ...checked("archive")];

async function startJob(event) {
  event.preventDefault();
  text($("form-error"), "");
  const files = $("files").files;
  const chosen = { provider: $("provider").value, languages: checked("languages"), export_formats: chosenFormats() };
  try {
    let created;
    if (files.length) {
      const form = new FormData();
      for (const file of files) form.append("files", file, file.name);
      for (const [name, value] of Object.entries(chosen)) form.append(name, [].concat(value).join(","));
      created = await json("/api/bulk/upload", { method: "POST", body: form });
    } else if (!$("folder").value.trim()) {
      throw new Error("Choose a folder on the server, or drop files to upload.");
    } else {
      created = await json("/api/bulk/process", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify(Object.assign({ folder_path: $("folder").value.trim() }, chosen)),
      });
    }
    $("files").value = "";
    follow(created.job_id);
    refreshJobs();
  } catch (error) {
    text($("form-error"), `Could not start the job: ${error.message}`);
  }
}

// The current job ----------------------------------------------------------------------
function follow(jobId) {
  currentJob = jobId;
  localStorage.setItem("ocr-ray-job", jobId); // the panel survives a reload
  $("current").hidden = false;
  text($("job-id"), jobId);
  text($("job-error"), "");
  for (const id of ["download", "open-viewer", "failures", "skipped", "review", "retry-failed", "read-unread", "resume"]) $(id).hidden = true;
  clearInterval(pollTimer);
  polls = 0;
  poll();
  pollTimer = setInterval(poll, 1000);
}

async function poll() {
  const jobId = currentJob;
  let p;
  try { p = await json(`/api/bulk/progress/${encodeURIComponent(jobId)}`); } catch (error) {
    if (error.status === 404) { // gone, or another key's: forget it
      clearInterval(pollTimer);
      localStorage.removeItem("ocr-ray-job");
      $("current").hidden = true;
      return;
    }
    text($("counts"), error.message);
    return;
  }
  if (jobId !== currentJob) return;
  showProgress(p);
  if (++polls % 5 === 0) refreshJobs(); // the running job's row moves too
  if (FINISHED.includes(p.status) || p.status === "interrupted") {
    clearInterval(pollTimer);
    await showEnded(p);
    refreshJobs();
  }
}

function showProgress(p) {
  // By pages while it reads (one long PDF moves the bar as its ranges are read); a job
  // that ended early shows the share of files read, never a full bar it did not earn.
  const ended = FINISHED.includes(p.status) || p.status === "interrupted";
  $("bar").value = !ended && p.pages_total ? 100 * p.pages_done / p.pages_total : p.percentage;
  text($("job-status"), p.status);
  text($("job-about"), describe(p));
  const eta = p.finish_at == null ? "" :
    ` · ETA ${Math.round(p.eta_s)} s (done by ${when(p.finish_at)})`;
  const reason = p.error ? ` · ${p.error}` : "";
  const more = (known) => known ? "" : "+";
  const unread = p.cancelled_files ? ` · ${p.cancelled_files} not read (cancelled)` : "";
  text($("counts"), `${p.pages_done}/${p.pages_total}${more(p.pages_total_known)} pages · ` +
    `${p.current - p.cancelled_files}/${p.total}${more(p.total_known)} files · ` +
    `${p.succeeded} ok · ${p.failed} failed · ${p.skipped - p.cancelled_files} skipped${unread} · ` +
    `${p.review_pages} to review · ${p.pages_rate.toFixed(2)} pages/s${eta}${reason}`);
  $("cancel").hidden = ended;
}

function describe(p) {
  const parts = [`from ${p.inputs.join(", ")}`];
  if (p.started_at) parts.push(`started ${when(p.started_at)}`);
  if (p.finished_at && !["running", "cancelling"].includes(p.status)) parts.push(`ended ${when(p.finished_at)}`);
  parts.push(optionsLine(p.options));
  if (p.retry_of) parts.push(`retries job ${p.retry_of}`);
  return parts.join(" · ");
}

function optionsLine(o) {
  if (!o || !o.provider) return "";
  const flags = ["rotate", "deskew", "cache", "handwriting"].filter((name) => o[name]);
  return [`${o.provider} (${(o.languages || []).join("+")})`, `${o.dpi} dpi`, ...flags,
    (o.export_formats || []).join(",")].join(", ");
}

async function showEnded(p) {
  const jobId = p.job_id;
  $("retry-failed").hidden = !(p.failed > 0 && FINISHED.includes(p.status));
  $("read-unread").hidden = !(p.cancelled_files > 0);
  $("resume").hidden = p.status !== "interrupted";
  if (!FINISHED.includes(p.status)) return;
  $("download").hidden = false;
  $("open-viewer").hidden = p.current === 0;
  await Promise.all([
    fillTable("failures", jobId, "status=failed", (f) => [f.path, f.error.code, f.error.message]),
    fillTable("skipped", jobId, "status=skipped", (f) => [f.path, f.error ? f.error.code : "", f.error ? f.error.message : ""]),
    fillTable("review", jobId, "review=true", (f) => [f.path, f.review_pages.join(", "), f.warnings.join(", ")]),
  ]);
  if (jobId === currentJob && !$("viewer").hidden) openViewer(jobId);
}

async function fillTable(id, jobId, filter, columns) {
  const page = await json(jobPath(jobId, `/files?${filter}&limit=${LISTED}`));
  if (jobId !== currentJob) return;
  $(id).querySelector("tbody").replaceChildren(...page.data.map((f) => {
    const tr = document.createElement("tr");
    tr.append(...columns(f).map(cell));
    return tr;
  }));
  $(id).hidden = page.data.length === 0;
}

// The browser streams the file from a short-lived link: nothing passes through here.
async function download(event) {
  event.preventDefault();
  try {
    const link = await json(jobPath(currentJob, "/download-link?format=zip"), { method: "POST" });
    window.location.assign(link.url);
  } catch (error) {
    text($("job-error"), `Could not download: ${error.message}`);
  }
}

async function act(what, path, confirmText) {
  if (confirmText && !window.confirm(confirmText)) return;
  text($("job-error"), "");
  try {
    const answer = await json(jobPath(currentJob, path), { method: "POST" });
    follow(answer.job_id || currentJob);
    refreshJobs();
  } catch (error) {
    text($("job-error"), `Could not ${what}: ${error.message}`);
  }
}

// The viewer -------------------------------------------------------------------------------
const view = { job: null, cursor: null, query: "", review: [], at: -1, file: null, page: 1, detail: null, asked: 0 };

function filterParams() {
  const filter = $("filter").value;
  const params = new URLSearchParams({ limit: "50" });
  if (filter === "failed") params.set("status", "failed");
  if (filter === "review") params.set("review", "true");
  if (view.query) params.set("q", view.query);
  return params;
}

async function openViewer(jobId) {
  view.job = jobId;
  view.review = [];
  view.reviewCursor = 0;
  view.reviewDone = false;
  view.at = -1;
  $("viewer").hidden = false;
  text($("viewer-job"), jobId);
  await listFiles(true);
  $("viewer").scrollIntoView({ behavior: "smooth", block: "start" });
}

async function listFiles(fresh) {
  const params = filterParams();
  if (!fresh && view.cursor) params.set("cursor", String(view.cursor));
  const list = $("file-list");
  const asked = ++view.asked; // only the latest ask is shown, whatever order answers come in
  try {
    const page = await json(jobPath(view.job, `/files?${params}`));
    if (asked !== view.asked) return;
    if (fresh) list.replaceChildren();
    list.append(...page.data.map(fileItem));
    if (fresh && page.data.length === 0) list.append(text(document.createElement("li"), "No file matches."));
    view.cursor = page.next_cursor;
    $("more-files").hidden = page.next_cursor == null;
  } catch (error) {
    list.replaceChildren(text(document.createElement("li"), error.message));
  }
}

function fileItem(f) {
  const li = document.createElement("li");
  li.className = f.status;
  li.dataset.id = f.id;
  const facts = f.status === "failed" || f.status === "skipped" ? `${f.status}: ${f.error ? f.error.code : ""}` :
    `${f.status} · ${f.pages} page${f.pages === 1 ? "" : "s"}` +
    (f.review_pages.length ? ` · review p. ${f.review_pages.join(", ")}` : "") +
    (f.matched_pages.length ? ` · found on p. ${f.matched_pages.join(", ")}` : "");
  li.append(text(document.createElement("span"), f.path), text(Object.assign(document.createElement("span"), { className: "status" }), facts));
  li.addEventListener("click", () => showPage(f.id, f.matched_pages[0] || f.review_pages[0] || 1));
  return li;
}

async function showPage(fileId, number) {
  try {
    if (!view.detail || view.file !== fileId) view.detail = await json(jobPath(view.job, `/files/${fileId}`));
  } catch (error) {
    text($("page-facts"), error.message);
    return;
  }
  view.file = fileId;
  const detail = view.detail;
  const pages = detail.pages.length;
  view.page = Math.min(Math.max(1, number), Math.max(1, pages));
  for (const li of $("file-list").children) li.classList.toggle("chosen", li.dataset.id === String(fileId));
  $("page-pane").hidden = false;
  text($("page-title"), detail.file.path);
  const failed = detail.file.error && detail.file.status !== "succeeded";
  $("file-error").hidden = !failed;
  if (failed) text($("file-error"), `${detail.file.status}: ${detail.file.error.code}: ${detail.file.error.message}`);
  text($("page-number"), pages ? `page ${view.page} of ${pages}` : "no pages");
  $("prev-page").disabled = view.page <= 1;
  $("next-page").disabled = view.page >= pages;
  $("stage").hidden = !pages;
  if (!pages) {
    text($("page-facts"), "");
    text($("page-text"), "");
    return;
  }
  const page = detail.pages[view.page - 1];
  text($("page-facts"), pageFacts(page));
  text($("page-text"), page.text || "(no text)");
  await drawPage(fileId, page);
}

function pageFacts(page) {
  const facts = [page.warnings.length ? `warnings: ${page.warnings.join(", ")}` : "no warnings"];
  if (page.confidence != null) facts.push(`confidence ${Math.round(page.confidence)}`);
  facts.push(`read by ${page.source.replace("_", " ")}`);
  if (page.rotation) facts.push(`turned ${page.rotation}° to read`);
  if (page.deskew) facts.push(`levelled by ${page.deskew}°`);
  if (page.dpi) facts.push(`${page.dpi} dpi`);
  return facts.join(" · ");
}

// Rendered at the width the screen shows it (in steps, so renders are reused), and
// boxed in the same pixels; the boxes are placed in percent, so they follow the image
// as the page resizes.
async function drawPage(fileId, page) {
  const stage = $("stage");
  const wanted = Math.ceil(stage.clientWidth * (window.devicePixelRatio || 1) / 200) * 200;
  const width = Math.min(options.viewer_max_width, Math.max(200, wanted));
  const base = jobPath(view.job, `/files/${fileId}/pages/${page.number}`);
  const image = $("page-image");
  $("boxes").replaceChildren();
  try {
    const [blob, words] = await Promise.all([
      api(`${base}/image?width=${width}`).then((r) => r.blob()),
      json(`${base}/words?width=${width}`),
    ]);
    if (view.file !== fileId || view.page !== page.number) return;
    if (image.src) URL.revokeObjectURL(image.src);
    image.src = URL.createObjectURL(blob);
    await image.decode().catch(() => {});
    drawBoxes(words);
  } catch (error) {
    image.removeAttribute("src");
    text($("page-facts"), `${pageFacts(page)} · the image cannot be shown: ${error.message}`);
  }
}

function drawBoxes(words) {
  if (!words.width) return;
  const pct = (value, of) => `${(100 * value / of).toFixed(3)}%`;
  $("boxes").replaceChildren(...words.words.map((w) => {
    const [left, top, right, bottom] = w.box;
    const box = document.createElement("div");
    box.className = w.confidence < words.low_confidence ? "word doubt" : "word";
    box.title = `${w.text} (${Math.round(w.confidence)})`;
    Object.assign(box.style, {
      left: pct(left, words.width), top: pct(top, words.height),
      width: pct(right - left, words.width), height: pct(bottom - top, words.height),
    });
    return box;
  }));
}

// The review queue: every flagged page of the job, in file order, fetched as needed.
async function moveReview(step) {
  const next = view.at + step;
  while (next >= view.review.length && !view.reviewDone) await loadReview();
  if (next < 0 || next >= view.review.length) {
    text($("page-facts"), step > 0 ? "No more pages to review." : "This is the first page to review.");
    return;
  }
  view.at = next;
  const [fileId, number] = view.review[next];
  await showPage(fileId, number);
}

async function loadReview() {
  const params = new URLSearchParams({ review: "true", limit: "50", cursor: String(view.reviewCursor) });
  const page = await json(jobPath(view.job, `/files?${params}`));
  for (const f of page.data) for (const n of f.review_pages) view.review.push([f.id, n]);
  view.reviewCursor = page.next_cursor;
  view.reviewDone = page.next_cursor == null;
}

// Jobs -----------------------------------------------------------------------------------
async function refreshJobs() {
  let page;
  try { page = await json("/api/bulk/jobs?limit=50"); } catch (error) {
    text($("auth-status"), error.message);
    return;
  }
  $("job-rows").replaceChildren(...page.data.map((j) => {
    const tr = document.createElement("tr");
    const files = `${j.current - j.cancelled_files}/${j.total}`;
    tr.append(...[j.job_id, j.status, j.inputs.join(", "), when(j.started_at || j.created_at),
      optionsLine(j.options), files, j.succeeded, j.failed, j.pages, j.review_pages].map(cell));
    tr.addEventListener("click", () => follow(j.job_id));
    return tr;
  }));
}

function setUpDrop() {
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    $("files").files = e.dataTransfer.files;
  });
}

$("save-token").addEventListener("click", useKey);
$("forget-token").addEventListener("click", forgetKey);
$("provider").addEventListener("change", () => renderLanguages());
$("job-form").addEventListener("submit", startJob);
$("refresh").addEventListener("click", () => refreshJobs());
$("download").addEventListener("click", download);
$("cancel").addEventListener("click", () => act("cancel", "/cancel",
  `Cancel job ${currentJob}? The files it has not read yet are recorded as not read; "Read the files not read" reads them later.`));
$("retry-failed").addEventListener("click", () => act("retry", "/retry?files=failed"));
$("read-unread").addEventListener("click", () => act("read them", "/retry?files=unread"));
$("resume").addEventListener("click", () => act("resume", "/resume"));
$("open-viewer").addEventListener("click", () => openViewer(currentJob));
$("filter").addEventListener("change", () => listFiles(true));
$("search-form").addEventListener("submit", (e) => { e.preventDefault(); view.query = $("search").value.trim(); listFiles(true); });
$("more-files").addEventListener("click", () => listFiles(false));
$("next-review").addEventListener("click", () => moveReview(1));
$("prev-review").addEventListener("click", () => moveReview(-1));
$("prev-page").addEventListener("click", () => showPage(view.file, view.page - 1));
$("next-page").addEventListener("click", () => showPage(view.file, view.page + 1));
setUpDrop();
$("token").value = token;
if (token) connect().catch((error) => text($("auth-status"), error.message));
