// A batch on the page: its cards, progress and event stream (API.md,
// "Progress events").
//
// Events are applied idempotently, keyed by their id: EventSource reconnects
// by itself with Last-Event-ID after a server restart, and when the page has
// to open a new EventSource (a new token, a stream refused with an error
// status) it asks for ?lastEventId= itself. An id already applied is
// ignored, so a batch still ends complete and nothing shows twice.

import { askToken, authHeaders, withToken } from './token.js';
import { bytes, plural, sentence, stop } from './words.js';

const EVENT_TYPES = ['queued', 'processing', 'retrying', 'completed', 'failed', 'done'];
const TERMINAL = new Set(['completed', 'failed']);
const $ = (sel, root = document) => root.querySelector(sel);
let count = 0; // batches made on this page

export class Batch {
  constructor(files, opts) {
    this.n = ++count;
    this.el = $('#batch-template').content.firstElementChild.cloneNode(true);
    this.list = $('[data-images]', this.el);
    this.status = $('[data-status]', this.el);
    this.bar = $('progress', this.el);
    this.pct = $('[data-pct]', this.el);
    this.reconnectEl = $('[data-reconnecting]', this.el);
    this.bar.id = 'progress-' + this.n;
    this.el.id = 'batch-' + this.n;
    this.el.dataset.reconnects = '0';
    const vs = opts.variants ? JSON.parse(opts.variants) : null;
    const optText = vs
      ? vs.map((v) => `${v.name} ${v.width}×${v.height}`).join(' · ') + ` · ${vs[0].format}` + (vs[0].quality ? ` q${vs[0].quality}` : '')
      : `${opts.width}×${opts.height} · ${opts.fit} · ${opts.format}` + (opts.quality ? ` q${opts.quality}` : '');
    $('.batch-title', this.el).textContent = `Batch ${this.n}`;
    const sub = document.createElement('span');
    sub.className = 'batch-opts';
    sub.textContent = optText;
    $('.batch-title', this.el).append(sub);

    this.cards = new Map(); // image id → card
    this.pending = files.map((f) => this.card(f.name, f)); // cards waiting for their ids
    this.applied = new Set(); // ids of the events applied
    this.lastId = 0;
    this.total = files.length;
    this.finished = false;
    this.backoff = 1000;
    $('#batches').prepend(this.el);
  }

  uploading(pct) {
    this.setProgress(pct);
    this.status.textContent = pct < 100 ? `Uploading… ${pct}%` : 'Upload sent, waiting for the server…';
  }

  remove() {
    for (const c of this.pending) c.remove();
    this.el.remove();
  }

  // accepted takes the 202 reply: cards get their ids, the stream opens.
  accepted(r) {
    this.id = r.batchId;
    this.events = r.events;
    this.statusURL = r.status;
    this.total = r.total;
    this.el.dataset.batch = r.batchId;
    r.images.forEach((im, i) => {
      let c = this.pending[i];
      if (!c || c.name !== im.name) c = this.card(im.name);
      c.id = im.id;
      c.el.dataset.image = im.id;
      this.cards.set(im.id, c);
    });
    for (const c of this.pending) if (!c.id) c.remove();
    this.pending = [];
    for (const c of this.cards.values()) c.set('queued');
    this.el.dataset.state = 'streaming';
    this.setProgress(0);
    this.update();
    this.open();
  }

  card(name, file) {
    const c = new Card(name, file);
    this.list.append(c.el);
    return c;
  }

  open() {
    if (this.finished) return;
    // A new EventSource sends no Last-Event-ID: say where we are in the URL.
    const params = this.lastId > 0 ? { lastEventId: String(this.lastId) } : {};
    const es = new EventSource(withToken(this.events, params));
    this.es = es;
    for (const type of EVENT_TYPES) {
      es.addEventListener(type, (e) => this.apply(type, e));
    }
    es.onopen = () => {
      this.backoff = 1000;
      this.reconnecting(false);
    };
    es.onerror = () => {
      if (this.finished || es !== this.es) return;
      this.reconnecting(true);
      // CONNECTING: the browser retries by itself, with Last-Event-ID.
      // CLOSED: the server answered with an error status; find out why.
      if (es.readyState === EventSource.CLOSED) this.probe();
    };
  }

  // probe asks the status endpoint why the stream was refused, then
  // reopens it (with a new token if that was the reason).
  async probe() {
    let resp;
    try {
      resp = await fetch(this.statusURL, { headers: authHeaders(), cache: 'no-store' });
    } catch {
      resp = null; // server unreachable: try again later
    }
    if (this.finished) return;
    if (resp && resp.status === 401) {
      this.status.textContent = 'Waiting for the API token…';
      askToken(() => this.open());
      return;
    }
    if (resp && resp.status === 404) {
      this.finish();
      this.el.dataset.state = 'done';
      this.status.textContent = 'This batch is no longer known to the server.';
      return;
    }
    setTimeout(() => this.open(), this.backoff);
    this.backoff = Math.min(this.backoff * 2, 30000);
  }

  reconnecting(on) {
    if (on && this.reconnectEl.hidden) {
      this.el.dataset.reconnects = String(Number(this.el.dataset.reconnects) + 1);
    }
    this.reconnectEl.hidden = !on;
  }

  apply(type, e) {
    const id = Number(e.lastEventId);
    if (!Number.isSafeInteger(id) || id <= 0) return;
    if (this.applied.has(id)) {
      // The server resent it (it should not, given Last-Event-ID): count it
      // so tests can tell, and change nothing.
      this.el.dataset.duplicates = String(Number(this.el.dataset.duplicates || 0) + 1);
      return;
    }
    let data;
    try {
      data = JSON.parse(e.data);
    } catch {
      return;
    }
    this.applied.add(id);
    this.lastId = Math.max(this.lastId, id);
    this.el.dataset.lastEventId = String(this.lastId);
    this.el.dataset.events = String(this.applied.size);
    this.reconnecting(false);

    const c = data.imageId ? this.cards.get(data.imageId) : null;
    switch (type) {
      case 'queued':
        this.total = data.total;
        for (const im of data.images || []) {
          if (!this.cards.has(im.id)) {
            const card = this.card(im.name);
            card.id = im.id;
            card.el.dataset.image = im.id;
            card.set('queued');
            this.cards.set(im.id, card);
          }
        }
        break;
      case 'processing':
        if (c) c.set('processing', { attempt: data.attempt });
        break;
      case 'retrying':
        if (c) c.set('retrying', { attempt: data.attempt, error: data.error });
        break;
      case 'completed':
        if (c) {
          c.set('completed', {
            url: withToken(data.url), width: data.width, height: data.height, bytes: data.bytes,
            variants: (data.variants || []).map((v) => ({ ...v, url: withToken(v.url) })),
          });
        }
        break;
      case 'failed':
        if (c) c.set('failed', { attempts: data.attempts, error: data.error });
        break;
      case 'done':
        this.finish();
        this.el.dataset.state = 'done';
        this.setProgress(100);
        this.status.textContent = `Done: ${data.completed} of ${data.total} completed` +
          (data.failed ? `, ${data.failed} failed.` : '.');
        this.el.classList.toggle('has-failures', data.failed > 0);
        return;
    }
    this.update();
  }

  finish() {
    this.finished = true;
    if (this.es) this.es.close();
    this.reconnecting(false);
  }

  update() {
    let done = 0;
    let failed = 0;
    let working = 0;
    for (const c of this.cards.values()) {
      if (TERMINAL.has(c.state)) done++;
      if (c.state === 'failed') failed++;
      if (c.state === 'processing' || c.state === 'retrying') working++;
    }
    const total = this.total || this.cards.size;
    this.setProgress(total ? Math.floor((done / total) * 100) : 0);
    let s = `${done} of ${plural(total, 'image')} finished`;
    if (working) s += ` · ${working} processing`;
    if (failed) s += ` · ${failed} failed`;
    this.status.textContent = done === 0 && working === 0 ? `Queued: ${plural(total, 'image')}` : s;
  }

  setProgress(pct) {
    this.bar.value = pct;
    this.bar.textContent = pct + '%';
    this.pct.textContent = pct + '%';
  }
}

class Card {
  constructor(name, file) {
    this.name = name;
    this.el = $('#image-template').content.firstElementChild.cloneNode(true);
    this.thumb = $('.thumb', this.el);
    this.badge = $('[data-badge]', this.el);
    this.detail = $('[data-detail]', this.el);
    const title = $('[data-name]', this.el);
    title.textContent = name;
    title.title = name;
    this.state = '';
    if (file && file.type.startsWith('image/')) {
      // A local preview, faded until the result replaces it.
      this.previewURL = URL.createObjectURL(file);
      const img = document.createElement('img');
      img.className = 'preview';
      img.alt = '';
      img.decoding = 'async';
      img.onerror = () => img.remove();
      img.src = this.previewURL;
      this.thumb.prepend(img);
    }
    this.set('uploading');
  }

  set(state, d = {}) {
    // A terminal state is final: nothing after it changes the card.
    if (TERMINAL.has(this.state)) return;
    this.state = state;
    this.el.dataset.state = state;
    let detail = '';
    if (state === 'processing') detail = `Attempt ${d.attempt || 1}`;
    if (state === 'retrying') {
      detail = `Attempt ${d.attempt} failed: ${stop(d.error || 'unknown error')} Trying again.`;
    }
    if (state === 'failed') {
      detail = sentence(d.error || `failed after ${plural(d.attempts || 1, 'attempt')}`);
    }
    this.badge.textContent = state;
    this.detail.textContent = detail;
    if (state === 'completed') this.showResult(d);
  }

  showResult(d) {
    const img = document.createElement('img');
    img.className = 'result';
    img.dataset.result = '';
    img.alt = `${this.name}, resized to ${d.width}×${d.height}`;
    img.decoding = 'async';
    img.onload = () => this.dropPreview();
    img.onerror = () => {
      this.detail.textContent = 'The result could not be shown.';
    };
    img.src = d.url;
    const link = document.createElement('a');
    link.href = d.url;
    link.target = '_blank';
    link.rel = 'noopener';
    link.className = 'result-link';
    link.title = 'Open the resized image';
    link.append(img);
    this.thumb.append(link);
    this.detail.textContent = `${d.width}×${d.height} · ${bytes(d.bytes)}`;
    if (d.variants && d.variants.length) this.showVariants(d.variants);
  }

  // showVariants lists a link to each variant of the image.
  showVariants(variants) {
    this.detail.textContent = plural(variants.length, 'output');
    const list = document.createElement('ul');
    list.className = 'variants';
    for (const v of variants) {
      const li = document.createElement('li');
      const a = document.createElement('a');
      a.href = v.url;
      a.target = '_blank';
      a.rel = 'noopener';
      a.dataset.variant = v.name;
      a.textContent = v.name;
      li.append(a, ` ${v.width}×${v.height} · ${bytes(v.bytes)}`);
      list.append(li);
    }
    $('.meta', this.el).append(list);
  }

  dropPreview() {
    const p = $('.preview', this.thumb);
    if (p) p.remove();
    if (this.previewURL) URL.revokeObjectURL(this.previewURL);
    this.previewURL = null;
  }

  remove() {
    this.dropPreview();
    this.el.remove();
  }
}
