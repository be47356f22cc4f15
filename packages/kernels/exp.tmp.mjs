import * as fs from "node:fs";
const b = fs.readFileSync(process.argv[2]); let p = 8;
const leb = () => { let r = 0, s = 0, c; do { c = b[p++]; r |= (c & 0x7f) << s; s += 7; } while (c & 0x80); return r >>> 0; };
let nImportFn = 0;
while (p < b.length) { const id = b[p++]; const size = leb(); const end = p + size;
  if (id === 2) { const n = leb(); for (let i = 0; i < n; i++) { let l = leb(); p += l; l = leb(); p += l; const kind = b[p++]; if (kind === 0) { leb(); nImportFn++; } else if (kind === 2) { const f = b[p++]; leb(); if (f & 1) leb(); } else if (kind===1){p++; const f=b[p++]; leb(); if(f&1)leb();} else if (kind===3){p+=2;} } }
  if (id === 7) { const n = leb(); for (let i = 0; i < n; i++) { const l = leb(); const name = b.slice(p, p + l).toString(); p += l; const kind = b[p++]; const idx = leb(); if (kind === 0 && process.argv.slice(3).includes(name)) console.log(name, idx); } }
  p = end; }
