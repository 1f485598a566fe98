'use strict';
// sharp-variants.js IN OUT: the job of issue 20 as sharp does it, for
// bench/variants.sh: each JPEG of IN made into four WebP variants (q85,
// effort 4, as Backlot's) in OUT, as <name>.<variant>.webp. Two images at
// a time, each pipeline on one libvips thread (sharp.concurrency(1)):
// two cores busy, as Backlot's two resizers. One sharp input per image,
// cloned per variant (sharp's way of making several outputs of one
// input; libvips then decodes once per output, shrinking on load). Prints
// images/s on its last line as JSON.
const fs = require('node:fs/promises');
const path = require('node:path');
const sharp = require(path.join(process.env.NODE_SEED_MODULES || '', 'sharp'));

const VARIANTS = require('./variants.js');

async function main() {
  const [inDir, outDir] = process.argv.slice(2);
  sharp.concurrency(1);
  sharp.cache(false);
  const files = (await fs.readdir(inDir)).filter((f) => f.endsWith('.jpg')).sort();
  await fs.mkdir(outDir, { recursive: true });
  let next = 0;
  const start = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  async function worker() {
    while (next < files.length) {
      const f = files[next++];
      const input = sharp(await fs.readFile(path.join(inDir, f)));
      await Promise.all(VARIANTS.map((v) => input.clone()
        .resize(v.width, v.height, { fit: v.fit })
        .webp({ quality: 85, effort: 4 })
        .toFile(path.join(outDir, `${path.basename(f, '.jpg')}.${v.name}.webp`))));
    }
  }
  await Promise.all([worker(), worker()]);
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  console.log(JSON.stringify({ images: files.length, seconds: secs, imagesPerSecond: files.length / secs,
    cpuMsPerImage: (cpu.user + cpu.system) / 1000 / files.length }));
}

main().catch((e) => { console.error(e); process.exit(1); });
