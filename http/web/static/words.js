// Small helpers that put numbers and server messages into words.

export function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export function bytes(n) {
  if (!Number.isFinite(n)) return '';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10240 ? 1 : 0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

// stop ends s with a full stop; sentence also capitalises it.
export function stop(s) {
  return /[.!?]$/.test(s) ? s : s + '.';
}

export function sentence(s) {
  return stop(s.charAt(0).toUpperCase() + s.slice(1));
}
