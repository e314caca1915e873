"use strict";
// The page talks to the same API as any client, with the user's API key kept in this
// browser; the job list shows that user's jobs.
const $ = (id) => document.getElementById(id);
let token = localStorage.getItem("ocr-ray-token") || "";
let options = null;
let currentJob = null;
let pollTimer = null;

async function api(path, init = {}) {
  const headers = Object.assign({ Authorization: `Bearer ${token}` }, init.headers || {});
  const response = await fetch(path, Object.assign({}, init, { headers }));
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail || detail; } catch (_) { /* not JSON */ }
    throw new Error(`${response.status}: ${typeof detail === "string" ? detail : JSON.stringify(detail)}`);
  }
  return response;
}

function text(el, value) { el.textContent = value; return el; }

async function loadOptions() {
  const me = await (await api("/api/me")).json();
  options = await (await api("/api/bulk/options")).json();
  text($("auth-status"), `connected as ${me.user}${me.admin ? " (admin)" : ""}`);
  const provider = $("provider");
  provider.replaceChildren(...Object.keys(options.providers).map((name) => {
    const option = text(document.createElement("option"), name);
    option.value = name;
    if (name === "tesseract") option.selected = true;
    return option;
  }));
  $("folders").replaceChildren(...options.folders.map((f) => Object.assign(document.createElement("option"), { value: f })));
  renderLanguages();
  renderArchiveFormats();
  refreshJobs();
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

function chosenFormats() {
  const archive = [...$("archive").querySelectorAll("input:checked")].map((b) => b.value);
  return [...options.export_formats, ...archive];
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

function chosenLanguages() {
  return [...$("languages").querySelectorAll("input:checked")].map((b) => b.value);
}

async function startJob(event) {
  event.preventDefault();
  text($("form-error"), "");
  const files = $("files").files;
  try {
    let response;
    if (files.length) {
      const form = new FormData();
      for (const file of files) form.append("files", file, file.name);
      form.append("provider", $("provider").value);
      form.append("languages", chosenLanguages().join(","));
      form.append("export_formats", chosenFormats().join(","));
      response = await api("/api/bulk/upload", { method: "POST", body: form });
    } else {
      const body = {
        folder_path: $("folder").value, provider: $("provider").value,
        languages: chosenLanguages(), export_formats: chosenFormats(),
      };
      response = await api("/api/bulk/process", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      });
    }
    follow((await response.json()).job_id);
    $("files").value = "";
  } catch (error) {
    text($("form-error"), error.message);
  }
}

function follow(jobId) {
  currentJob = jobId;
  $("current").hidden = false;
  text($("job-id"), jobId);
  $("download").hidden = true;
  $("failures").hidden = true;
  $("review").hidden = true;
  clearInterval(pollTimer);
  poll();
  pollTimer = setInterval(poll, 1000);
}

async function poll() {
  const jobId = currentJob;
  let p;
  try { p = await (await api(`/api/bulk/progress/${encodeURIComponent(jobId)}`)).json(); }
  catch (error) { text($("counts"), error.message); return; }
  if (jobId !== currentJob) return;
  // By pages once any are known: one long PDF moves the bar as its ranges are read.
  $("bar").value = p.pages_total ? 100 * p.pages_done / p.pages_total : p.percentage;
  text($("job-status"), p.status);
  const eta = p.finish_at == null ? "" :
    ` · ETA ${Math.round(p.eta_s)} s (done by ${new Date(p.finish_at * 1000).toLocaleString()})`;
  const reason = p.error ? ` · ${p.error}` : "";
  const more = (known) => known ? "" : "+";
  const unread = p.cancelled_files ? ` · ${p.cancelled_files} not read (cancelled)` : "";
  text($("counts"), `${p.pages_done}/${p.pages_total}${more(p.pages_total_known)} pages · ` +
    `${p.current - p.cancelled_files}/${p.total}${more(p.total_known)} files · ` +
    `${p.succeeded} ok · ${p.failed} failed · ${p.skipped - p.cancelled_files} skipped${unread} · ` +
    `${p.review_pages} to review · ${p.pages_rate.toFixed(2)} pages/s${eta}${reason}`);
  if (["completed", "cancelled", "failed"].includes(p.status)) {
    clearInterval(pollTimer);
    $("cancel").hidden = true;
    await showFailures(jobId);
    await showReview(jobId);
    await offerDownload(jobId);
    refreshJobs();
  } else {
    $("cancel").hidden = false;
  }
}

async function showFailures(jobId) {
  const rows = await (await api(`/api/bulk/files/${encodeURIComponent(jobId)}?status=failed&limit=1000`)).json();
  const body = $("failures").querySelector("tbody");
  body.replaceChildren(...rows.map((r) => {
    const tr = document.createElement("tr");
    tr.append(text(document.createElement("td"), r.path), text(document.createElement("td"), r.error.code),
      text(document.createElement("td"), r.error.message));
    return tr;
  }));
  $("failures").hidden = rows.length === 0;
}

async function showReview(jobId) {
  const rows = await (await api(`/api/bulk/files/${encodeURIComponent(jobId)}?review=true&limit=1000`)).json();
  const body = $("review").querySelector("tbody");
  body.replaceChildren(...rows.map((r) => {
    const tr = document.createElement("tr");
    tr.append(text(document.createElement("td"), r.path), text(document.createElement("td"), r.review_pages.join(", ")),
      text(document.createElement("td"), r.warnings.join(", ")));
    return tr;
  }));
  $("review").hidden = rows.length === 0;
}

async function offerDownload(jobId) {
  // The token travels in a header, so the archive is fetched here and handed over as a blob.
  const blob = await (await api(`/api/bulk/results/${encodeURIComponent(jobId)}`)).blob();
  const link = $("download");
  link.href = URL.createObjectURL(blob);
  link.download = `ocr-${jobId}.zip`;
  link.hidden = false;
}

async function refreshJobs() {
  const page = await (await api("/api/bulk/jobs?limit=50")).json();
  $("job-rows").replaceChildren(...page.data.map((j) => {
    const tr = document.createElement("tr");
    for (const value of [j.job_id, j.status, `${j.current}/${j.total}`, j.succeeded, j.failed, j.pages, j.review_pages]) {
      tr.append(text(document.createElement("td"), String(value)));
    }
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

$("save-token").addEventListener("click", () => {
  token = $("token").value.trim();
  localStorage.setItem("ocr-ray-token", token);
  loadOptions().catch((error) => text($("auth-status"), error.message));
});
$("provider").addEventListener("change", renderLanguages);
$("job-form").addEventListener("submit", startJob);
$("refresh").addEventListener("click", () => refreshJobs());
$("cancel").addEventListener("click", () => api(`/api/bulk/jobs/${encodeURIComponent(currentJob)}/cancel`, { method: "POST" }).then(poll));
setUpDrop();
$("token").value = token;
if (token) loadOptions().catch((error) => text($("auth-status"), error.message));
