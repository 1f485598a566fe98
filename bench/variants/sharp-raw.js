'use strict';
// sharp-raw.js IN.jpg OUT: for actors/resize's TestSharpMatch, sharp's
// four variants of IN (as sharp-variants.js makes them, before the WebP
// encode) and its plain decode of IN, as raw RGB files
// OUT.<name>.<w>x<h>.rgb (name: thumb, card, view, large, full).
const fs = require('node:fs/promises');
const path = require('node:path');
const sharp = require(path.join(process.env.NODE_SEED_MODULES || '', 'sharp'));

const VARIANTS = require('./variants.js');

async function main() {
  const [inp, out] = process.argv.slice(2);
  sharp.cache(false);
  const write = async (name, img) => {
    const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
    await fs.writeFile(`${out}.${name}.${info.width}x${info.height}.rgb`, data);
  };
  for (const v of VARIANTS) await write(v.name, sharp(inp).resize(v.width, v.height, { fit: v.fit }));
  await write('full', sharp(inp));
}

main().catch((e) => { console.error(e); process.exit(1); });
