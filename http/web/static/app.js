// Backlot's page: choose images, upload them as a batch (API.md, "Upload a
// batch"), then follow each batch live (batch.js).

import { Batch } from './batch.js';
import { askToken, authHeaders } from './token.js';
import { bytes, plural, sentence, stop } from './words.js';

const $ = (sel, root = document) => root.querySelector(sel);
const form = $('#upload-form');
const input = $('#files');
const drop = $('#drop');
const selection = $('#selection');
const button = $('#upload');
const errorBox = $('#error');

let chosen = []; // Files picked or dropped, in order

// ---- choosing files ---------------------------------------------------------

function choose(files) {
  chosen = Array.from(files);
  button.disabled = chosen.length === 0;
  if (chosen.length === 0) {
    selection.textContent = 'No images chosen.';
    return;
  }
  const size = chosen.reduce((n, f) => n + f.size, 0);
  const names = chosen.slice(0, 3).map((f) => f.name).join(', ');
  const more = chosen.length > 3 ? ` and ${chosen.length - 3} more` : '';
  selection.textContent = `${plural(chosen.length, 'image')} (${bytes(size)}): ${names}${more}`;
  hideError();
}

input.addEventListener('change', () => choose(input.files));

for (const type of ['dragenter', 'dragover']) {
  drop.addEventListener(type, (ev) => {
    ev.preventDefault();
    drop.dataset.drag = 'true';
  });
}
for (const type of ['dragleave', 'dragend']) {
  drop.addEventListener(type, (ev) => {
    if (!drop.contains(ev.relatedTarget)) drop.dataset.drag = 'false';
  });
}
drop.addEventListener('drop', (ev) => {
  ev.preventDefault();
  drop.dataset.drag = 'false';
  if (ev.dataTransfer && ev.dataTransfer.files.length) choose(ev.dataTransfer.files);
});

const quality = $('#quality');
const format = $('#format');
const preset = $('#preset');
// PRESETS are the sets of variants the page offers (API.md "variants"):
// each gets the chosen format and quality.
const PRESETS = {
  web: [
    { name: 'thumb', width: 160, height: 160, fit: 'cover' },
    { name: 'card', width: 480, height: 480, fit: 'cover' },
    { name: 'large', width: 1600, height: 1600, fit: 'contain' },
  ],
};
// Quality applies to the lossy formats; AVIF's default is 60, the others' 85.
let lastFormat = format.value;
const syncQuality = () => {
  quality.disabled = format.value === 'png';
  if (format.value === 'avif' && lastFormat !== 'avif' && quality.value === '85') quality.value = '60';
  if (format.value !== 'avif' && lastFormat === 'avif' && quality.value === '60') quality.value = '85';
  lastFormat = format.value;
};
format.addEventListener('change', syncQuality);
syncQuality();
// A preset replaces the box: its fields are off while one is chosen.
const syncPreset = () => {
  const on = preset.value !== '';
  for (const id of ['#width', '#height', '#fit']) $(id).disabled = on;
  $('#preset-help').hidden = !on;
};
preset.addEventListener('change', syncPreset);
syncPreset();

// ---- upload -----------------------------------------------------------------

form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  hideError();
  if (chosen.length === 0) {
    showError('Choose at least one image first.');
    return;
  }
  if (!form.reportValidity()) return;
  let opts;
  if (preset.value) {
    const variants = PRESETS[preset.value].map((v) => {
      const o = { ...v, format: format.value };
      if (format.value !== 'png') o.quality = Number(quality.value);
      return o;
    });
    opts = { variants: JSON.stringify(variants) };
  } else {
    opts = {
      width: $('#width').value,
      height: $('#height').value,
      fit: $('#fit').value,
      format: format.value,
    };
    if (opts.format !== 'png') opts.quality = quality.value;
  }
  upload(chosen, opts);
});

async function upload(files, opts) {
  hideError();
  const body = new FormData();
  // The options before the files: the server then judges each file's
  // memory need from the bytes it keeps as the file arrives, instead of
  // reading it back from storage.
  for (const [k, v] of Object.entries(opts)) body.append(k, v);
  for (const f of files) body.append('images', f, f.name);

  const batch = new Batch(files, opts);
  button.disabled = true;
  let resp;
  try {
    resp = await send('/api/images', body, (pct) => batch.uploading(pct));
  } catch {
    batch.remove();
    button.disabled = chosen.length === 0;
    showError('The upload did not reach the server. Check the connection and try again.');
    return;
  }
  button.disabled = chosen.length === 0;
  if (resp.status === 401) {
    batch.remove();
    showError('This server needs an API token: enter it below and the upload starts again.');
    askToken(() => upload(files, opts));
    return;
  }
  if (resp.status !== 202 || !resp.json || !resp.json.batchId) {
    batch.remove();
    showError(describe(resp));
    return;
  }
  if (files === chosen) {
    // Clear the files, keep the options for the next batch.
    input.value = '';
    choose([]);
  }
  batch.accepted(resp.json);
}

// send posts body with XMLHttpRequest (fetch reports no upload progress)
// and resolves with {status, json, retryAfter}.
function send(url, body, progress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', url);
    for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
    xhr.responseType = 'text';
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) progress(Math.round((e.loaded / e.total) * 100));
    };
    xhr.onload = () => {
      let json = null;
      try {
        json = JSON.parse(xhr.responseText);
      } catch {
        // not JSON: described by its status
      }
      resolve({ status: xhr.status, json, retryAfter: xhr.getResponseHeader('Retry-After') });
    };
    xhr.onerror = () => reject(new Error('network error'));
    xhr.send(body);
  });
}

// describe turns an error reply into a sentence naming the file.
function describe(resp) {
  const j = resp.json || {};
  let msg = j.error ? stop(j.error) : `The server answered HTTP ${resp.status}.`;
  msg = j.file ? `${j.file}: ${msg}` : sentence(msg);
  if ((resp.status === 503 || resp.status === 507) && resp.retryAfter) msg += ` Try again in ${resp.retryAfter} s.`;
  return 'Upload refused. ' + msg;
}

function showError(msg) {
  errorBox.textContent = msg;
  errorBox.hidden = false;
}

function hideError() {
  errorBox.hidden = true;
  errorBox.textContent = '';
}
