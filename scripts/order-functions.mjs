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
import { encodeName, leb, readLeb, readName, replaced, sections } from "./wasm-bytes.mjs";

/** Moves tried after the greedy chain: about 5 ms each on the current module. */
const MOVES = 3000;

/** The name section, the number of imported functions and the bodies of the defined ones. */
function read(buf) {
  const all = sections(buf);
  let imported = 0;
  const bodies = [];
  for (const s of all) {
    if (s.id === 2) {
      let [count, p] = readLeb(buf, s.body);
      for (let i = 0; i < count; i++) {
        [, p] = readName(buf, p); // module
        [, p] = readName(buf, p); // field
        const kind = buf[p++];
        if (kind === 0) {
          imported++;
          [, p] = readLeb(buf, p); // type index
        } else if (kind === 1 || kind === 2) {
          if (kind === 1) p++; // reference type
          const limits = buf[p++];
          [, p] = readLeb(buf, p);
          if (limits & 1) [, p] = readLeb(buf, p);
        } else if (kind === 3) {
          p += 2; // value type, mutability
        } else if (kind === 4) {
          p++; // tag attribute
          [, p] = readLeb(buf, p);
        } else {
          throw new Error(`order-functions: an import of unknown kind ${kind}`);
        }
      }
    } else if (s.id === 10) {
      let [count, p] = readLeb(buf, s.body);
      for (let i = 0; i < count; i++) {
        const [size, q] = readLeb(buf, p);
        bodies.push(buf.subarray(q, q + size));
        p = q + size;
      }
    }
  }
  const names = all.find((s) => s.name === "name");
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
  const rankOf = new Array(ranks.length);
  ranks.forEach((fn, rank) => (rankOf[fn] = rank));
  const entries = [leb(info.imported + ranks.length)];
  const add = (idx, text) => entries.push(leb(idx), encodeName(text));
  for (let i = 0; i < info.imported; i++) add(i, "!" + String(i).padStart(7, "0"));
  for (let fn = 0; fn < ranks.length; fn++) add(info.imported + fn, "o" + String(rankOf[fn]).padStart(7, "0"));
  const functionNames = Buffer.concat(entries);
  // the custom section's name, then subsection 1 (function names)
  const body = Buffer.concat([encodeName("name"), Buffer.from([1]), leb(functionNames.length), functionNames]);
  return replaced(buf, info.names, 0, body);
}

if (process.argv[2] === "--check") {
  // After `wasm-opt --reorder-functions-by-name --debuginfo`: every defined function is where
  // the order put it (its name `o<rank>`, ranks 0, 1, 2, … in the code section), and none was
  // added or lost. Anything else stops the build: binaryen sorted differently, or a pass between
  // the two steps renamed, merged or dropped functions.
  const [, , , file, count] = process.argv;
  const sorted = read(readFileSync(file));
  const names = functionNames(readFileSync(file), sorted);
  const bad = sorted.bodies.findIndex((_, i) => names.get(sorted.imported + i) !== "o" + String(i).padStart(7, "0"));
  if (sorted.bodies.length !== Number(count) || bad >= 0) {
    console.error(`order-functions: the reordered module is not in the chosen order (${sorted.bodies.length} functions of ${count}; first out of place: ${bad}); see CONTRIBUTING.md, "Build steps"`);
    process.exit(1);
  }
  process.exit(0);
}

/** Function index → name, from the name section. */
function functionNames(buf, info) {
  const out = new Map();
  let [, p] = readName(buf, info.names.body); // the custom section's own name
  while (p < info.names.end) {
    const id = buf[p++];
    const [size, q] = readLeb(buf, p);
    if (id === 1) {
      let [count, r] = readLeb(buf, q);
      for (let i = 0; i < count; i++) {
        let idx, text;
        [idx, r] = readLeb(buf, r);
        [text, r] = readName(buf, r);
        out.set(idx, text);
      }
    }
    p = q + size;
  }
  return out;
}

const [input, output] = process.argv.slice(2);
if (!input || !output) throw new Error("usage: node scripts/order-functions.mjs <in.wasm> <out.wasm> | --check <sorted.wasm> <count>");
const buf = readFileSync(input);
const info = read(buf);
const start = Date.now();
// SG_ORDER_QUICK=1 (tests/build only): the functions reversed, no search: a cheap order unlike
// the linker's, for testing the hand-over to binaryen and its check
const chosen = process.env.SG_ORDER_QUICK
  ? { order: [...info.bodies.keys()].reverse(), before: 0, after: 0 }
  : order(info.bodies);
if (new Set(chosen.order).size !== info.bodies.length) throw new Error("order-functions: the order is not a permutation of the functions");
writeFileSync(output, renamed(buf, info, chosen.order));
writeFileSync(output + ".count", String(info.bodies.length));
console.log(
  `order-functions: ${info.bodies.length} functions; code deflated ${chosen.before} -> ${chosen.after} B (${((Date.now() - start) / 1000).toFixed(1)} s)`,
);
