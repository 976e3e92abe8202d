import { ensureBinaries } from '/work/main/cluster/src/local/binaries.ts';
const t = Date.now();
const b = await ensureBinaries({ log: (l) => console.error(`[${((Date.now()-t)/1000).toFixed(0)}s] ${l}`) });
console.log(JSON.stringify(b, null, 2), (Date.now()-t)/1000);
