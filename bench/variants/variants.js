'use strict';
// Issue 20's four variants, as sharp-variants.js makes them and
// sharp-raw.js dumps them (actors/resize/encbench/variants has Backlot's).
module.exports = [
  { name: 'thumb', width: 100, height: 100, fit: 'cover' },
  { name: 'card', width: 320, height: 320, fit: 'cover' },
  { name: 'view', width: 800, height: 800, fit: 'inside' },
  { name: 'large', width: 1600, height: 1600, fit: 'inside' },
];
