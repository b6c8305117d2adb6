// Orders the module's functions so that gzip finds more of each one in the ones before it.
//
// Why: deflate (gzip) encodes a byte run as a reference to an earlier copy, but only one found
// in the last 32 KB. The linker lays functions out in no order that cares about that, and the
// module is about 150 KB: a state machine of one `async fn` and its twin in another file are
// often too far apart to share anything. Which order the functions are in changes nothing but
// their indices, and it moved the module's gzip size by ±1 KB in the orders tried (by name,
// by size, reversed).
//
// How: the cost of putting function b right after a is what deflating a then b takes more than
// deflating a alone (every pair, level 9). A chain is grown from the first function, each time
// with the function that costs least against what it saves, then improved by moving runs of
// functions elsewhere (a fixed number of moves drawn from a fixed seed) while the code section,
// deflated as a whole, gets smaller. Deterministic: the same module and the same zlib give the
// same order. The order is handed to binaryen by name: this step rewrites the name section so
// that the names sort in the chosen order (imports keep theirs, in their order), and the build
// then runs `wasm-opt --reorder-functions-by-name` and strips the names.
//
// usage: node scripts/order-functions.mjs <in.wasm> <out.wasm>   (in.wasm has a name section)
import { readFileSync, writeFileSync } from "node:fs";
import { deflateRawSync } from "node:zlib";

/** Moves tried after the greedy chain: about 5 ms each on the current module. */
const MOVES = 3000;

function uleb(buf, pos) {
  let value = 0;
  let shift = 0;
  let byte;
  do {
    byte = buf[pos++];
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
  } while (byte & 0x80);
  return [value, pos];
}

function encode(n) {
  const out = [];
  do {
    let byte = n & 0x7f;
    n = Math.floor(n / 128);
    if (n) byte |= 0x80;
    out.push(byte);
  } while (n);
  return Buffer.from(out);
}

function skipName(buf, pos) {
  const [len, p] = uleb(buf, pos);
  return p + len;
}

/** The sections, the number of imported functions and the bodies of the defined ones. */
function read(buf) {
  const sections = [];
  for (let pos = 8; pos < buf.length; ) {
    const [size, body] = uleb(buf, pos + 1);
    sections.push({ id: buf[pos], start: pos, body, end: body + size });
    pos = body + size;
  }
  let imported = 0;
  const bodies = [];
  for (const s of sections) {
    if (s.id === 2) {
      let [count, p] = uleb(buf, s.body);
      for (let i = 0; i < count; i++) {
        p = skipName(buf, skipName(buf, p));
        const kind = buf[p++];
        let limits;
        if (kind === 0) {
          imported++;
          [, p] = uleb(buf, p); // type index
        } else if (kind === 1 || kind === 2) {
          if (kind === 1) p++; // reference type
          limits = buf[p++];
          [, p] = uleb(buf, p);
          if (limits & 1) [, p] = uleb(buf, p);
        } else if (kind === 3) {
          p += 2; // value type, mutability
        } else if (kind === 4) {
          p++; // tag attribute
          [, p] = uleb(buf, p);
        } else {
          throw new Error(`order-functions: an import of unknown kind ${kind}`);
        }
      }
    } else if (s.id === 10) {
      let [count, p] = uleb(buf, s.body);
      for (let i = 0; i < count; i++) {
        const [size, q] = uleb(buf, p);
        bodies.push(buf.subarray(q, q + size));
        p = q + size;
      }
    }
  }
  const names = sections.find((s) => s.id === 0 && buf.subarray(s.body + 1, s.body + 5).toString() === "name" && buf[s.body] === 4);
  if (!names) throw new Error("order-functions: the module has no name section (run wasm-opt with --debuginfo)");
  return { names, imported, bodies };
}

const deflated = (b) => deflateRawSync(b, { level: 9 }).length;

/** The order of the defined functions (indices among them). */
function order(bodies) {
  const n = bodies.length;
  const alone = bodies.map(deflated);
  // saving[a][b] < 0: b costs less after a than on its own
  const after = Array.from({ length: n }, (_, a) => {
    const row = new Int32Array(n);
    for (let b = 0; b < n; b++) if (a !== b) row[b] = deflated(Buffer.concat([bodies[a], bodies[b]])) - alone[a] - alone[b];
    return row;
  });
  const used = new Uint8Array(n);
  const chain = [0];
  used[0] = 1;
  for (let cur = 0; chain.length < n; ) {
    let best = -1;
    for (let b = 0; b < n; b++) if (!used[b] && (best < 0 || after[cur][b] < after[cur][best])) best = b;
    chain.push(best);
    used[best] = 1;
    cur = best;
  }
  const whole = (o) => deflated(Buffer.concat(o.map((i) => bodies[i])));
  let best = chain;
  let size = whole(best);
  let seed = 12345;
  const random = (k) => {
    seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
    return seed % k;
  };
  for (let m = 0; m < MOVES && n > 2; m++) {
    const len = 1 + random(random(4) === 0 ? 40 : 4);
    if (len >= n) continue;
    const i = random(n - len);
    const run = best.slice(i, i + len);
    const rest = best.slice(0, i).concat(best.slice(i + len));
    const j = random(rest.length + 1);
    const tried = rest.slice(0, j).concat(random(2) ? run : run.reverse(), rest.slice(j));
    const s = whole(tried);
    if (s < size) [best, size] = [tried, s];
  }
  return { order: best, before: whole([...bodies.keys()]), after: size };
}

/** `buf` with a name section that names imports `!<index>` and defined functions `o<rank>`. */
function renamed(buf, info, ranks) {
  const parts = [];
  const total = info.imported + ranks.length;
  parts.push(encode(total));
  const name = (idx, text) => parts.push(encode(idx), encode(text.length), Buffer.from(text));
  for (let i = 0; i < info.imported; i++) name(i, "!" + String(i).padStart(7, "0"));
  const rankOf = new Array(ranks.length);
  ranks.forEach((fn, rank) => (rankOf[fn] = rank));
  for (let fn = 0; fn < ranks.length; fn++) name(info.imported + fn, "o" + String(rankOf[fn]).padStart(7, "0"));
  const sub = Buffer.concat(parts);
  const content = Buffer.concat([encode(4), Buffer.from("name"), Buffer.from([1]), encode(sub.length), sub]);
  const section = Buffer.concat([Buffer.from([0]), encode(content.length), content]);
  return Buffer.concat([buf.subarray(0, info.names.start), section, buf.subarray(info.names.end)]);
}

const [input, output] = process.argv.slice(2);
if (!input || !output) throw new Error("usage: node scripts/order-functions.mjs <in.wasm> <out.wasm>");
const buf = readFileSync(input);
const info = read(buf);
const start = Date.now();
const chosen = order(info.bodies);
writeFileSync(output, renamed(buf, info, chosen.order));
console.log(
  `order-functions: ${info.bodies.length} functions; code deflated ${chosen.before} -> ${chosen.after} B (${((Date.now() - start) / 1000).toFixed(1)} s)`,
);
